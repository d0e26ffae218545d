"""The runtime against real databases (SQLite file and PostgreSQL): one transaction per step,
typed refusals that change nothing, at-most-once client events, durable timers, outbox rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.clock import FakeClock, to_us
from engine.db import Database
from engine.definition import load_definitions
from engine.errors import (ActionFailed, EventNotAllowed, GuardRejected, InternalEventRefused, StaleVersion,
                           UnknownInstance)
from engine.runtime import Runtime
from tests.conftest import TEST_FLOWS


@pytest.fixture(autouse=True)
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the English messages; test_refusal_messages_are_chinese_by_default the default."""
    monkeypatch.setenv("MCR_LOCALE", "en")


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    runtime = Runtime(db, load_definitions(TEST_FLOWS), clock=clock, worker_id="w1")
    runtime.register_definitions()
    return runtime


def snapshot(db: Database, instance_id: int) -> tuple:
    with db.read() as tx:
        inst = tx.one("SELECT state, version, data FROM flow_instance WHERE id = :i", {"i": instance_id})
        hist = tx.one("SELECT COUNT(*) FROM flow_history WHERE instance_id = :i", {"i": instance_id})[0]
        timers = tx.all("SELECT name, status FROM timer WHERE instance_id = :i ORDER BY id", {"i": instance_id})
        mails = tx.one("SELECT COUNT(*) FROM outbox WHERE instance_id = :i", {"i": instance_id})[0]
    return inst, hist, [tuple(t) for t in timers], mails


def timers(db: Database, instance_id: int) -> list[tuple]:
    with db.read() as tx:
        return [tuple(r) for r in tx.all(
            "SELECT name, status, due_us, note FROM timer WHERE instance_id = :i ORDER BY id", {"i": instance_id})]


def test_start_records_history_and_arms_initial_timers(rt: Runtime, db: Database, clock: FakeClock) -> None:
    res = rt.start("ticket", {"summary": "printer on fire"}, actor="alice")
    assert (res.from_state, res.to_state, res.version) == (None, "new", 1)
    (state, version, _), hist, tms, _ = snapshot(db, res.instance_id)
    assert (state, version, hist) == ("new", 1, 1)
    assert tms == [("sla", "pending")]
    # Thursday 09:00 Shanghai + 2 business days = Monday 09:00 Shanghai (01:00 UTC)
    due = timers(db, res.instance_id)[0][2]
    assert due == to_us(datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc))


def test_event_applies_transition_sets_data_cancels_and_arms_timers_and_queues_mail(
        rt: Runtime, db: Database) -> None:
    iid = rt.start("ticket", {"summary": "printer"}, actor="alice").instance_id
    res = rt.send(iid, "assign", actor="alice", payload={"assignee": "bob@example.com"})
    assert (res.from_state, res.to_state, res.version, res.mails) == ("new", "assigned", 2, 1)
    (state, version, data), hist, tms, mails = snapshot(db, iid)
    assert state == "assigned" and '"assignee":"bob@example.com"' in data
    assert tms[0] == ("sla", "cancelled") and ("nudge", "pending") in tms
    # contact has no birthday: the anchored timer is a visible skip, not an error
    greet = [t for t in timers(db, iid) if t[0] == "greet"][0]
    assert greet[1] == "skipped" and "contact.birthday is empty" in greet[3]
    with db.read() as tx:
        rcpt, subject, body = tx.one("SELECT recipient, subject, body FROM outbox WHERE instance_id = :i", {"i": iid})
    assert rcpt == "bob@example.com" and subject == f"工单 #{iid} 已分派给您" and "printer" in body


def test_event_not_allowed_in_state_is_refused_changes_nothing_and_is_logged(rt: Runtime, db: Database) -> None:
    iid = rt.start("ticket", {}, actor="alice").instance_id
    before = snapshot(db, iid)
    with pytest.raises(EventNotAllowed) as err:
        rt.send(iid, "close", actor="mallory")
    assert "not allowed" in str(err.value) and "'new'" in str(err.value) and "assign" in str(err.value)
    assert snapshot(db, iid) == before
    with db.read() as tx:
        assert tx.one("SELECT code, actor FROM flow_refusal WHERE instance_id = :i", {"i": iid}) == ("not_allowed", "mallory")


def test_guard_false_is_refused_naming_the_guard(rt: Runtime, db: Database) -> None:
    iid = rt.start("ticket", {}, actor="alice").instance_id
    before = snapshot(db, iid)
    with pytest.raises(GuardRejected, match="has_assignee"):
        rt.send(iid, "assign", actor="alice", payload={})
    assert snapshot(db, iid) == before


def test_action_refusal_rolls_back_the_whole_step(rt: Runtime, db: Database) -> None:
    iid = rt.start("ticket", {}, actor="alice").instance_id
    before = snapshot(db, iid)
    with pytest.raises(ActionFailed, match="non-empty 'text'"):
        rt.send(iid, "note", actor="alice", payload={"text": ""})
    assert snapshot(db, iid) == before


def test_unknown_instance_is_refused(rt: Runtime) -> None:
    with pytest.raises(UnknownInstance, match="999"):
        rt.send(999, "assign", actor="alice")


def test_stale_version_is_refused(rt: Runtime, db: Database) -> None:
    iid = rt.start("ticket", {}, actor="alice").instance_id
    rt.send(iid, "note", actor="alice", payload={"text": "one"}, expected_version=1)
    before = snapshot(db, iid)
    with pytest.raises(StaleVersion, match="version 2, not 1"):
        rt.send(iid, "note", actor="bob", payload={"text": "two"}, expected_version=1)
    assert snapshot(db, iid) == before


def test_same_client_event_id_is_applied_at_most_once(rt: Runtime, db: Database) -> None:
    iid = rt.start("ticket", {}, actor="alice").instance_id
    first = rt.send(iid, "note", actor="alice", payload={"text": "hello"}, client_event_id="c-1")
    again = rt.send(iid, "note", actor="alice", payload={"text": "hello"}, client_event_id="c-1")
    assert again.duplicate and not first.duplicate and again.version == first.version == 2
    (_, version, data), hist, _, _ = snapshot(db, iid)
    assert version == 2 and hist == 2 and data.count("hello") == 1


def test_send_in_with_a_client_event_id_applies_once_and_a_repeat_gets_the_first_answer(rt: Runtime,
                                                                                        db: Database) -> None:
    iid = rt.start("ticket", {}, actor="alice").instance_id
    with db.tx() as tx:
        first = rt.send_in(tx, iid, "note", actor="alice", payload={"text": "hello"}, client_event_id="c-in")
    with db.tx() as tx:  # a retry in a transaction of its own
        again = rt.send_in(tx, iid, "note", actor="alice", payload={"text": "hello"}, client_event_id="c-in")
    # the same id through `send` (a page retried over the other door) is the same event
    via_send = rt.send(iid, "note", actor="alice", payload={"text": "hello"}, client_event_id="c-in")
    assert not first.duplicate and again.duplicate and via_send.duplicate
    assert (again.instance_id, again.from_state, again.to_state, again.version) == \
        (first.instance_id, first.from_state, first.to_state, first.version) == \
        (via_send.instance_id, via_send.from_state, via_send.to_state, via_send.version)
    (_, version, data), hist, _, _ = snapshot(db, iid)
    assert version == 2 and hist == 2 and data.count("hello") == 1
    with db.read() as tx:  # written with the step's own history row
        assert tx.one("SELECT version FROM flow_history WHERE client_event_id = 'c-in'")[0] == 2


def test_one_transaction_sends_a_client_event_id_once_even_twice_in_the_same_action(rt: Runtime,
                                                                                    db: Database) -> None:
    from engine.steps import one_transaction

    iid = rt.start("ticket", {}, actor="alice").instance_id
    with one_transaction(rt) as steps:
        first = steps.send(iid, "note", actor="alice", payload={"text": "hi"}, client_event_id="c-ot")
        again = steps.send(iid, "note", actor="alice", payload={"text": "hi"}, client_event_id="c-ot")
    assert not first.duplicate and again.duplicate and again.version == first.version == 2
    (_, version, data), hist, _, _ = snapshot(db, iid)
    assert version == 2 and hist == 2 and data.count("hi") == 1


def test_one_transaction_stops_at_a_refused_step_but_a_batch_keeps_going_and_both_log_the_refusal(
        rt: Runtime, db: Database) -> None:
    """One user action (default): the steps after a refused one are not sent. A batch (`keep_going`, the
    day's care digests): the refused step alone is undone, the others commit; both record the refusal
    and raise it after the commit."""
    from engine.steps import one_transaction

    for keep_going, expected_third in ((False, 1), (True, 2)):
        a, b, c = (rt.start("ticket", {}, actor="alice").instance_id for _ in range(3))
        with pytest.raises(EventNotAllowed):
            with one_transaction(rt, keep_going=keep_going) as steps:
                steps.send(a, "note", actor="alice", payload={"text": "one"})
                steps.send(b, "close", actor="mallory")  # not allowed in 'new'
                steps.send(c, "note", actor="alice", payload={"text": "three"})
        assert snapshot(db, a)[0][1] == 2, keep_going
        assert snapshot(db, b)[0][1] == 1 and snapshot(db, b)[1] == 1, keep_going
        assert snapshot(db, c)[0][1] == expected_third, keep_going
        with db.read() as tx:
            assert tx.one("SELECT code, actor FROM flow_refusal WHERE instance_id = :i", {"i": b}) == (
                "not_allowed", "mallory")


def test_start_with_same_subject_returns_existing_instance(rt: Runtime, db: Database) -> None:
    a = rt.start("ticket", {}, actor="x", subject="team:T1:2027")
    b = rt.start("ticket", {}, actor="x", subject="team:T1:2027")
    assert b.duplicate and b.instance_id == a.instance_id
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM flow_instance")[0] == 1


def test_due_timer_fires_once_and_moves_the_instance(rt: Runtime, db: Database, clock: FakeClock) -> None:
    iid = rt.start("ticket", {}, actor="alice").instance_id
    assert rt.sweep() == 0
    clock.advance(timedelta(days=4, hours=1))  # past Monday 09:00
    assert rt.sweep() == 1
    assert rt.sweep() == 0
    (state, version, _), hist, tms, _ = snapshot(db, iid)
    assert state == "escalated" and tms[0] == ("sla", "fired")
    with db.read() as tx:
        actor, = tx.one("SELECT actor FROM flow_history WHERE instance_id = :i AND event = 'sla_breached'", {"i": iid})
    assert actor == "timer:sla"


def test_an_internal_event_from_outside_is_refused_logged_and_changes_nothing(rt: Runtime, db: Database) -> None:
    iid = rt.start("ticket", {}, actor="alice").instance_id
    before = snapshot(db, iid)
    with pytest.raises(InternalEventRefused, match="sla_breached") as err:
        rt.send(iid, "sla_breached", actor="mallory")
    assert err.value.code == "internal_event" and snapshot(db, iid) == before
    with db.read() as tx:
        logged = tx.all("SELECT instance_id, actor, event, code FROM flow_refusal")
    assert [tuple(r) for r in logged] == [(iid, "mallory", "sla_breached", "internal_event")]
    # the engine's own path (a launch, a scan) may send it
    assert rt.send(iid, "sla_breached", actor="engine", internal=True).to_state == "escalated"


def test_timer_fired_directly_twice_fires_once(rt: Runtime, db: Database, clock: FakeClock) -> None:
    iid = rt.start("ticket", {}, actor="alice").instance_id
    clock.advance(timedelta(days=5))
    claimed = rt.claim_due_timers()
    assert len(claimed) == 1
    assert rt.fire_timer(claimed[0]) is not None
    assert rt.fire_timer(claimed[0]) is None
    _, hist, _, _ = snapshot(db, iid)
    assert hist == 2


def test_claimed_timer_is_not_claimed_again_until_its_lease_expires(rt: Runtime, db: Database,
                                                                   clock: FakeClock) -> None:
    rt.start("ticket", {}, actor="alice")
    clock.advance(timedelta(days=5))
    other = Runtime(rt.db, rt.definitions, clock=clock, worker_id="w2", lease=timedelta(seconds=30))
    assert len(rt.claim_due_timers()) == 1
    assert other.claim_due_timers() == []
    clock.advance(timedelta(seconds=rt.lease.total_seconds() + 1))
    assert len(other.claim_due_timers()) == 1  # the first worker died: its lease ran out


def test_repeating_timer_rearms_while_in_state_and_stops_on_leaving(rt: Runtime, db: Database,
                                                                    clock: FakeClock) -> None:
    iid = rt.start("ticket", {}, actor="alice").instance_id
    rt.send(iid, "assign", actor="alice", payload={"assignee": "bob@example.com"})
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        assert rt.sweep() == 1
    (_, _, data), _, tms, _ = snapshot(db, iid)
    assert '"reminders":3' in data
    assert [t for t in tms if t[0] == "nudge"] == [("nudge", "fired")] * 3 + [("nudge", "pending")]
    rt.send(iid, "resolve", actor="bob")
    assert [t for t in timers(db, iid) if t[0] == "nudge"][-1][1] == "cancelled"


def test_timer_whose_event_no_longer_applies_is_recorded_as_skipped(rt: Runtime, db: Database,
                                                                    clock: FakeClock) -> None:
    iid = rt.start("ticket", {"blocked": True}, actor="alice").instance_id
    rt.send(iid, "assign", actor="alice", payload={"assignee": "bob@example.com"})
    rt.send(iid, "resolve", actor="bob")
    clock.advance(timedelta(days=3, minutes=1))
    assert rt.sweep() == 0
    auto = [t for t in timers(db, iid) if t[0] == "autoclose"][0]
    assert auto[1] == "skipped" and "blocked" in auto[3]
    (state, *_), *_ = snapshot(db, iid)
    assert state == "resolved"


def test_missed_timer_with_skip_policy_is_skipped_and_recorded(rt: Runtime, db: Database,
                                                               clock: FakeClock) -> None:
    iid = rt.start("ticket", {"contact": {"name": "王伟", "birthday": "1980-11-29"}}, actor="a").instance_id
    rt.send(iid, "assign", actor="a", payload={"assignee": "bob@example.com"})
    greet = [t for t in timers(db, iid) if t[0] == "greet"][0]
    # 1 day before 29 Nov, 09:00 Shanghai
    assert greet[1] == "pending" and greet[2] == to_us(datetime(2026, 11, 28, 1, 0, tzinfo=timezone.utc))
    clock.set(datetime(2026, 11, 30, 0, 0, tzinfo=timezone.utc))  # engine was down over the due time
    rt.sweep()
    greet = [t for t in timers(db, iid) if t[0] == "greet"][0]
    assert greet[1] == "skipped" and "missed while the engine was down" in greet[3]
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM outbox WHERE template = 'birthday'")[0] == 0


def test_missed_timer_with_fire_late_policy_fires_late_and_says_so(rt: Runtime, db: Database,
                                                                   clock: FakeClock) -> None:
    iid = rt.start("ticket", {}, actor="alice").instance_id
    clock.advance(timedelta(days=30))
    assert rt.sweep() == 1
    sla = timers(db, iid)[0]
    assert sla[1] == "fired" and "fired late by" in sla[3]


def test_instance_keeps_the_definition_version_it_started_on(db: Database, clock: FakeClock, tmp_path) -> None:
    import shutil

    flows = tmp_path / "flows"
    shutil.copytree(TEST_FLOWS / "ticket", flows / "ticket")
    rt1 = Runtime(db, load_definitions(flows), clock=clock)
    rt1.register_definitions()
    old = rt1.start("ticket", {}, actor="a").instance_id
    text = (flows / "ticket" / "ticket.yaml").read_text()
    (flows / "ticket" / "ticket.yaml").write_text(
        text.replace("version: 1", "version: 2").replace("  - name: escalated\n", "  - name: escalated\n    title: {en: Escalated}\n"))
    # Both versions loaded (the old one from its own file copy kept beside the new one)
    (flows / "ticket_v1").mkdir()
    (flows / "ticket_v1" / "ticket.yaml").write_text(text)
    shutil.copy(flows / "ticket" / "actions.py", flows / "ticket_v1" / "actions.py")
    shutil.copytree(flows / "ticket" / "templates", flows / "ticket_v1" / "templates")
    rt2 = Runtime(db, load_definitions(flows), clock=clock)
    rt2.register_definitions()
    new = rt2.start("ticket", {}, actor="a").instance_id
    with db.read() as tx:
        versions = dict(tx.all("SELECT id, flow_version FROM flow_instance"))
    assert versions == {old: 1, new: 2}
    rt2.send(old, "note", actor="a", payload={"text": "still on v1"})


def test_changing_a_definition_without_raising_its_version_is_refused(db: Database, clock: FakeClock,
                                                                      tmp_path) -> None:
    import shutil

    from engine.errors import InvalidDefinition

    flows = tmp_path / "flows"
    shutil.copytree(TEST_FLOWS / "ticket", flows / "ticket")
    rt = Runtime(db, load_definitions(flows), clock=clock)
    rt.register_definitions()
    f = flows / "ticket" / "ticket.yaml"
    f.write_text(f.read_text().replace("after: 3 days", "after: 4 days"))
    Runtime(db, load_definitions(flows), clock=clock).register_definitions()  # no instance yet: accepted
    Runtime(db, load_definitions(flows), clock=clock).start("ticket", {}, actor="a")
    f.write_text(f.read_text().replace("after: 4 days", "after: 5 days"))
    with pytest.raises(InvalidDefinition, match=r"differs from the copy 1 instance\(s\) were started on; raise 'version'"):
        Runtime(db, load_definitions(flows), clock=clock).register_definitions()


def test_timer_duration_and_instant_can_come_from_the_instance_data(rt: Runtime, db: Database,
                                                                    clock: FakeClock) -> None:
    iid = rt.start("ticket", {"followup_after": "4 business hours", "due_at": "2026-12-01T15:30:00+08:00"},
                   actor="a").instance_id
    clock.advance(timedelta(days=4, hours=1))  # Monday 10:00 Shanghai: the SLA escalates
    rt.sweep()
    by_name = {t[0]: t for t in timers(db, iid)}
    # escalated when the sweep ran, Monday 10:00, + 4 business hours (lunch 12:00-13:30) = 15:30
    assert by_name["followup"][2] == to_us(datetime(2026, 11, 30, 7, 30, tzinfo=timezone.utc))
    assert by_name["deadline"][2] == to_us(datetime(2026, 12, 1, 7, 30, tzinfo=timezone.utc))


def test_timer_with_empty_duration_field_is_a_recorded_skip(rt: Runtime, db: Database, clock: FakeClock) -> None:
    iid = rt.start("ticket", {}, actor="a").instance_id
    clock.advance(timedelta(days=5))
    rt.sweep()
    by_name = {t[0]: t for t in timers(db, iid)}
    assert by_name["followup"][1] == "skipped" and by_name["followup"][3] == "not armed: data.followup_after is empty"


def test_refusal_messages_are_chinese_by_default(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCR_LOCALE")
    iid = rt.start("ticket", {}, actor="alice").instance_id
    with pytest.raises(EventNotAllowed) as err:
        rt.send(iid, "close", actor="mallory")
    assert str(err.value) == f"ticket #{iid} 处于状态“new”，不允许事件“close”；允许的事件：assign, note"
    with pytest.raises(GuardRejected, match="条件 'has_assignee' 不成立"):
        rt.send(iid, "assign", actor="alice", payload={})


def test_on_start_actions_run_in_the_start_step_and_feed_the_initial_timers(rt: Runtime, db: Database,
                                                                             clock: FakeClock) -> None:
    iid = rt.start("launchy", {"team": "T9"}, actor="planner").instance_id
    (state, version, data), hist, tms, _ = snapshot(db, iid)
    assert (state, version, hist) == ("open", 1, 1)
    assert '"opened_by":"planner"' in data and '"due_at"' in data
    assert timers(db, iid)[0][:3] == ("due", "pending", to_us(clock.now() + timedelta(days=3)))


def test_an_on_start_action_that_refuses_starts_nothing(rt: Runtime, db: Database) -> None:
    with pytest.raises(ActionFailed, match="team FAIL cannot be started"):
        rt.start("launchy", {"team": "FAIL"}, actor="planner")
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM flow_instance")[0] == 0
        assert tx.one("SELECT code FROM flow_refusal")[0] == "action_refused"
