"""The timer forms of a flow file — rules values, `when:`, timer groups, list timers — are checked when
the definition loads; each mistake is reported as `file:line: message` (docs/flow-authoring.md)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from engine.calendar import builtin_registry
from engine.definition import load_definitions
from engine.errors import InvalidDefinition
from engine.timespec import TimeSpecError, parse_anchor, parse_condition, timer_text
from tests.conftest import ROOT

CN = builtin_registry().get("CN")

HEAD = """\
flow: t
version: 1
events: [go, {name: ping, internal: true}]
"""
TAIL = """\
transitions:
  - {from: a, event: go, to: done}
  - {from: a, event: ping}
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + body + TAIL, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InvalidDefinition) as err:
        load_definitions(path)
    return str(err.value).splitlines()


STATES = """\
states:
  - name: a
    initial: true
    timers:
{timers}
  - {{name: done, terminal: true}}
"""


def states(*timers: str) -> str:
    return STATES.format(timers="\n".join(f"      - {t}" for t in timers))


@pytest.mark.parametrize("timer, fragment", [
    ("{name: x, after: rules.survey.project_callback.nope, event: ping}",
     "timer 'x': unknown rules path 'rules.survey.project_callback.nope': "),
    ("{name: x, after: rules.nosuchfile.due, event: ping}", "unknown rules path 'rules.nosuchfile.due': there is no rules file"),
    ("{name: x, at: '2 days before data.d {rules.planning.kit.nope}', event: ping}",
     "unknown rules path 'rules.planning.kit.nope'"),
    ("{name: x, after: rules.planning.kit.reminder_time, event: ping}", "bad duration '09:00'"),
    ("{name: x, after: 1 hour, when: 'data.a >= 3', event: ping}", "bad condition 'data.a >= 3'"),
    ("{name: x, after: '{item} days', event: ping}", "uses {item} but the timer has no 'each'"),
    ("{name: x, each: rules.planning.kit.deadline, at: '{item} days before data.d', event: ping}",
     "is not a non-empty list in the rules"),
    ("{name: x, each: data.list, at: '{item} days before data.d', event: ping}", "must name a rules list"),
    ("{name: x, each: rules.planning.kit.reminder_days_before, after: '{item} days', every: 1 day, event: ping}",
     "a list timer ('each') cannot also repeat ('every')"),
])
def test_a_bad_timer_form_is_reported_at_the_timer_line(tmp_path: Path, timer: str, fragment: str) -> None:
    path = write(tmp_path, states(timer))
    found = problems(path)
    assert any(p.startswith(f"{path}:8: ") and fragment in p for p in found), found


def test_an_unknown_timer_group_is_reported_where_a_state_uses_it(tmp_path: Path) -> None:
    body = "timer_groups:\n  watch:\n    - {name: x, after: 1 hour, event: ping}\n" + states("{group: wacth}")
    path = write(tmp_path, body)
    found = problems(path)
    assert f"{path}:11: unknown timer group 'wacth' in state 'a'; timer_groups defines: watch" in found
    assert f"{path}:6: timer group 'watch' is used by no state" in found


def test_a_group_is_shared_by_states_and_each_state_gets_its_own_timers(tmp_path: Path) -> None:
    body = """\
timer_groups:
  watch:
    - {name: x, after: rules.survey.project_callback.due, when: data.on, event: ping}
states:
  - {name: a, initial: true, timers: [{group: watch}, {name: y, after: 1 hour, event: ping}]}
  - {name: b, timers: [{group: watch}]}
  - {name: done, terminal: true}
transitions:
  - {from: a, event: go, to: b}
  - {from: b, event: go, to: done}
  - {from: [a, b], event: ping}
"""
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    flow = load_definitions(path).compiled("t", 1)
    assert [t.name for t in flow.states["a"].timers] == ["x", "y"]
    assert [t.name for t in flow.states["b"].timers] == ["x"]
    x = flow.states["b"].timers[0]
    assert x.after_text == "rules.survey.project_callback.due" and x.when is not None and x.when.path == "data.on"
    assert flow.conditional["a"] == (flow.states["a"].timers[0],)


def test_duplicate_timer_names_from_a_group_and_the_state_are_reported(tmp_path: Path) -> None:
    body = "timer_groups:\n  watch:\n    - {name: x, after: 1 hour, event: ping}\n" + states(
        "{group: watch}", "{name: x, after: 2 hours, event: ping}")
    found = problems(write(tmp_path, body))
    assert any("duplicate timer in state 'a' 'x'" in p for p in found), found


@pytest.mark.parametrize("text, data, holds", [
    ("data.major", {"major": True}, True),
    ("data.major", {}, False),
    ("not data.major", {}, True),
    ("data.issue.severity == urgent", {"issue": {"severity": "urgent"}}, True),
    ("data.severity == 'major'", {"severity": "minor"}, False),
    ("data.level != 2", {"level": 2}, False),
    ("data.level != 2", {"level": 3}, True),
])
def test_when_conditions(text: str, data: dict, holds: bool) -> None:
    assert parse_condition(text).holds(data) is holds


@pytest.mark.parametrize("text", ["major", "data.", "data.x > 1", "payload.x"])
def test_bad_conditions_are_refused(text: str) -> None:
    with pytest.raises(TimeSpecError, match="bad condition"):
        parse_condition(text)


def test_timer_text_fills_rules_values_and_the_item() -> None:
    values = {"rules.planning.kit.reminder_time": "09:00", "rules.survey.project_callback.due": "5 business days"}
    assert timer_text("rules.survey.project_callback.due", values.__getitem__) == "5 business days"
    assert timer_text("{item} days before data.deadline {rules.planning.kit.reminder_time}", values.__getitem__,
                      7) == "7 days before data.deadline 09:00"


def test_on_a_workday_moves_a_day_off_to_the_workday_before() -> None:
    anchor = parse_anchor("4 days before data.deadline 09:00, on a workday")  # 27 Mar 2027 is a Saturday
    due = anchor.resolve({"deadline": "2027-03-31"}, datetime(2027, 1, 1, tzinfo=CN.tz), CN, CN.tz)
    assert due is not None and due.astimezone(CN.tz) == datetime(2027, 3, 26, 9, 0, tzinfo=CN.tz)


def _kit_reminder_text() -> str:
    """The planning kit's reminder timer as the flow file declares it."""
    kit = load_definitions(ROOT / "flows" / "planning" / "planning_kit.yaml").get("planning_kit")
    return next(t.at for t in kit.timer_groups["deadline"] if t.each)  # type: ignore[return-value]


@pytest.mark.parametrize("deadline, days, expected", [
    (date(2027, 3, 31), 14, date(2027, 3, 17)),
    (date(2027, 3, 31), 1, date(2027, 3, 30)),
    (date(2029, 3, 30), 7, date(2029, 3, 23)),
    # Spring Festival 2026: 7 days before 28 Feb (21 Feb) is a holiday and rolls back to the 调休 Saturday 14 Feb
    (date(2026, 2, 28), 7, date(2026, 2, 14)),
    (date(2026, 2, 28), 14, date(2026, 2, 14)),
])
def test_the_kit_reminders_land_at_nine_on_the_workday_on_or_before_n_days_ahead_of_the_deadline(
        deadline: date, days: int, expected: date) -> None:
    text = timer_text(_kit_reminder_text(), {"rules.planning.kit.reminder_time": "09:00"}.__getitem__, days)
    due = parse_anchor(text).resolve({"deadline": deadline.isoformat()}, datetime(2025, 12, 1, tzinfo=CN.tz), CN, CN.tz)
    assert due is not None and due.astimezone(CN.tz) == datetime.combine(expected, datetime.min.time().replace(hour=9),
                                                                          CN.tz)


def test_the_diagrams_show_each_timers_source_condition_and_group() -> None:
    from engine.diagram import mermaid

    defs = load_definitions(ROOT / "flows")
    itr, kit = mermaid(defs.get("itr_issue")), mermaid(defs.get("planning_kit"))
    assert ("note right of handling: ⏱ progress after 1 hour, every 1 hour, when data.major_incident → "
            "progress_report [group open_issue]") in itr
    assert ("note right of issued: ⏱ r1…N each rules.planning.kit.reminder_days_before, at (item) days before "
            "data.deadline (rules.planning.kit.reminder_time), on a workday, once → remind [group deadline]") in kit
