"""Timers declared in the flow (docs/flow-authoring.md "Conditions, groups, lists"), on a real SQLite
file and PostgreSQL: a `when:` that is false arms nothing, a step that stays in its state and makes it
true arms the timer (no self-transition), a list timer arms one timer per item of a rules list, and
the rules an instance started under — not a later change — decide its timers."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from engine.clock import FakeClock, from_us
from engine.db import Database
from engine.definition import load_definitions
from engine.runtime import Runtime

FLOW = """\
flow: alarm
version: 1
events:
  - start_work
  - raise_flag
  - lower_flag
  - finish
  - {name: ring, internal: true}
  - {name: report, internal: true}
timer_groups:
  watch:
    - name: r
      each: rules.alarm.reminders_before
      at: "{item} days before data.deadline {rules.alarm.remind_time}"
      event: ring
      once: true
    - {name: report, after: rules.alarm.report_every, every: rules.alarm.report_every, when: data.flag, event: report}
states:
  - name: waiting
    initial: true
    timers: [{group: watch}]
  - name: working
    timers: [{group: watch}]
  - name: done
    terminal: true
transitions:
  - {from: waiting, event: start_work, to: working}
  - {from: [waiting, working], event: raise_flag, actions: [{set: {flag: true}}]}
  - {from: [waiting, working], event: lower_flag, actions: [{set: {flag: false}}]}
  - {from: [waiting, working], event: ring}
  - {from: [waiting, working], event: report}
  - {from: [waiting, working], event: finish, to: done}
"""

RULES = "reminders_before: [14, 7, 1]\nremind_time: \"09:00\"\nreport_every: 1 hour\n"


@pytest.fixture
def rt(db: Database, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "alarm.yaml").write_text(RULES, encoding="utf-8")
    monkeypatch.setenv("MCR_RULES_DIR", str(rules))
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "alarm.yaml").write_text(FLOW, encoding="utf-8")
    runtime = Runtime(db, load_definitions(tmp_path / "flows"), clock=clock, worker_id="w1")
    runtime.register_definitions()
    return runtime


def rows(db: Database, iid: int) -> list[tuple[str, str, datetime]]:
    with db.read() as tx:
        found = tx.all("SELECT name, status, due_us FROM timer WHERE instance_id = :i ORDER BY id", {"i": iid})
    return [(r[0], r[1], from_us(r[2])) for r in found]


def pending(db: Database, iid: int) -> dict[str, datetime]:
    return {name: due for name, status, due in rows(db, iid) if status == "pending"}


def deadline_in(rt: Runtime, days: int) -> date:
    return (rt.clock.now() + timedelta(days=days)).astimezone(rt.calendars.get(None).tz).date()


def at_nine(rt: Runtime, d: date) -> datetime:
    return datetime.combine(d, time(9, 0), rt.calendars.get(None).tz).astimezone(timezone.utc)


def test_a_false_when_arms_nothing_not_even_a_skipped_row(rt: Runtime, db: Database) -> None:
    iid = rt.start("alarm", {"deadline": deadline_in(rt, 30).isoformat()}, actor="a").instance_id
    assert [name for name, _, _ in rows(db, iid)] == ["r1", "r2", "r3"]
    rt.send(iid, "start_work", actor="a")
    assert "report" not in {name for name, _, _ in rows(db, iid)}


def test_a_step_that_stays_and_makes_when_true_arms_the_timer_and_false_cancels_it(
        rt: Runtime, db: Database, clock: FakeClock) -> None:
    iid = rt.start("alarm", {"deadline": deadline_in(rt, 30).isoformat()}, actor="a").instance_id
    before = rt.send(iid, "raise_flag", actor="a")  # an internal transition: the state is not re-entered
    assert before.to_state == "waiting"
    assert pending(db, iid)["report"] == clock.now() + timedelta(hours=1)
    clock.advance(timedelta(hours=1))
    assert rt.sweep() == 1
    assert pending(db, iid)["report"] == clock.now() + timedelta(hours=1)  # repeats while data.flag holds
    rt.send(iid, "lower_flag", actor="a")
    assert "report" not in pending(db, iid)
    assert [s for n, s, _ in rows(db, iid) if n == "report"] == ["fired", "cancelled"]
    assert sorted(pending(db, iid)) == ["r1", "r2", "r3"]  # the other timers are left alone


def test_a_list_timer_arms_one_timer_per_rules_item_and_its_event_carries_the_item(
        rt: Runtime, db: Database, clock: FakeClock) -> None:
    deadline = deadline_in(rt, 30)
    iid = rt.start("alarm", {"deadline": deadline.isoformat()}, actor="a").instance_id
    assert pending(db, iid) == {"r1": at_nine(rt, deadline - timedelta(days=14)),
                                "r2": at_nine(rt, deadline - timedelta(days=7)),
                                "r3": at_nine(rt, deadline - timedelta(days=1))}
    clock.set(at_nine(rt, deadline - timedelta(days=7)))
    assert rt.sweep() == 2
    with db.read() as tx:
        payloads = [json.loads(r[0]) for r in tx.all(
            "SELECT payload FROM flow_history WHERE instance_id = :i AND event = 'ring' ORDER BY id", {"i": iid})]
    assert [(p["timer"], p["item"]) for p in payloads] == [("r1", 14), ("r2", 7)]
    # `once`: entering the next state does not arm the reminders that already went out
    rt.send(iid, "start_work", actor="a")
    assert sorted(pending(db, iid)) == ["r3"]


def test_any_number_of_reminders_comes_from_the_rules_list(rt: Runtime, db: Database, tmp_path: Path) -> None:
    (tmp_path / "rules" / "alarm.yaml").write_text(RULES.replace("[14, 7, 1]", "[21, 14, 10, 7, 3, 1]"),
                                                    encoding="utf-8")
    rt.register_rules("E-OPS")
    iid = rt.start("alarm", {"deadline": deadline_in(rt, 30).isoformat()}, actor="a").instance_id
    assert sorted(pending(db, iid)) == ["r1", "r2", "r3", "r4", "r5", "r6"]


def test_a_rules_change_after_start_does_not_change_a_running_instances_timers(
        rt: Runtime, db: Database, tmp_path: Path, clock: FakeClock) -> None:
    deadline = deadline_in(rt, 30)
    old = rt.start("alarm", {"deadline": deadline.isoformat()}, actor="a").instance_id
    (tmp_path / "rules" / "alarm.yaml").write_text(
        "reminders_before: [2]\nremind_time: \"10:00\"\nreport_every: 3 hours\n", encoding="utf-8")
    rt.register_rules("E-OPS")
    new = rt.start("alarm", {"deadline": deadline.isoformat()}, actor="a").instance_id
    for iid in (old, new):  # re-arm everything: enter the next state, raise the flag
        rt.send(iid, "start_work", actor="a")
        rt.send(iid, "raise_flag", actor="a")
    assert pending(db, old) == {"r1": at_nine(rt, deadline - timedelta(days=14)),
                                "r2": at_nine(rt, deadline - timedelta(days=7)),
                                "r3": at_nine(rt, deadline - timedelta(days=1)),
                                "report": clock.now() + timedelta(hours=1)}
    assert pending(db, new) == {"r1": at_nine(rt, deadline - timedelta(days=2)) + timedelta(hours=1),
                                "report": clock.now() + timedelta(hours=3)}


def test_two_items_on_the_same_instant_are_armed_once(rt: Runtime, db: Database, tmp_path: Path) -> None:
    (tmp_path / "rules" / "alarm.yaml").write_text(RULES.replace("[14, 7, 1]", "[7, 7, 1]"), encoding="utf-8")
    rt.register_rules("E-OPS")
    iid = rt.start("alarm", {"deadline": deadline_in(rt, 30).isoformat()}, actor="a").instance_id
    assert sorted(pending(db, iid)) == ["r1", "r2"]



def test_raising_the_version_keeps_a_running_instance_on_its_stored_version(
        rt: Runtime, db: Database, clock: FakeClock, tmp_path: Path) -> None:
    old = rt.start("alarm", {"deadline": deadline_in(rt, 30).isoformat()}, actor="a").instance_id
    flow = tmp_path / "flows" / "alarm.yaml"
    flow.write_text(FLOW.replace("version: 1", "version: 2").replace("  - name: r\n", "  - name: reminder\n"),
                    encoding="utf-8")
    again = Runtime(db, load_definitions(tmp_path / "flows"), clock=clock, worker_id="w1")
    again.register_definitions()  # version 1 is gone from the files; the running instance needs it
    assert again.send(old, "start_work", actor="a").to_state == "working"
    assert sorted(pending(db, old)) == ["r1", "r2", "r3"]  # armed by version 1's timers
    new = again.start("alarm", {"deadline": deadline_in(rt, 30).isoformat()}, actor="a").instance_id
    assert sorted(pending(db, new)) == ["reminder1", "reminder2", "reminder3"]
