"""Flow definitions are validated at load time with `file:line: message` problems a person can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.definition import load_definitions
from engine.errors import InvalidDefinition
from tests.conftest import ROOT, TEST_FLOWS

BAD = ROOT / "tests" / "data" / "bad_flows"


def problems(path: Path) -> list[str]:
    with pytest.raises(InvalidDefinition) as err:
        load_definitions(path)
    return str(err.value).splitlines()


def test_valid_test_flow_loads_with_its_transitions_compiled() -> None:
    defs = load_definitions(TEST_FLOWS)
    ticket = defs.get("ticket")
    assert ticket.version == 1 and ticket.initial.name == "new"
    assert defs.compiled("ticket", 1).allowed["new"] == ["assign", "note", "sla_breached"]


def test_yaml_syntax_error_names_file_and_line() -> None:
    assert problems(BAD / "syntax.yaml") == [f"{BAD / 'syntax.yaml'}:4: YAML syntax error: expected ',' or ']', but got ':'"]


@pytest.mark.parametrize("line, fragment", [
    (15, "duplicate state 'a' (first defined at line 5)"),
    (19, "unknown guard 'no_such_guard'"),
    (19, "unknown action 'no_such_action'"),
    (24, "unknown state 'nowhere' in 'to'; known states: a, b, done"),
    (27, "unknown event 'jump' in transition"),
    (31, "unknown template 'no_such_template'"),
    (8, "bad duration '2 bizness days'"),
    (11, "unknown event 'nope' in timer 't2'"),
    (11, "bad date '32 Mar' in '32 Mar': no such day"),
    (34, "bad date '31 Foo'"),
    (34, "unknown launcher 'no_such_launcher'"),
])
def test_each_unknown_name_or_bad_expression_is_reported_at_its_line(line: int, fragment: str) -> None:
    prefix = f"{BAD / 'unknowns.yaml'}:{line}: "
    assert any(p.startswith(prefix) and fragment in p for p in problems(BAD / "unknowns.yaml")), fragment


def test_unreachable_state_and_state_without_path_to_terminal_are_reported() -> None:
    found = problems(BAD / "graph.yaml")
    assert f"{BAD / 'graph.yaml'}:8: state 'island' is unreachable from the initial state" in found
    assert f"{BAD / 'graph.yaml'}:7: state 'spinning' has no path to a terminal state" in found


def test_schema_errors_name_the_field() -> None:
    found = problems(BAD / "shape.yaml")
    assert f"{BAD / 'shape.yaml'}:4: colour: unknown field" in found
    assert any(p.startswith(f"{BAD / 'shape.yaml'}:2: version:") for p in found)


def test_duplicate_flow_name_and_version_across_files_is_reported() -> None:
    found = problems(BAD)
    assert any("dup_b.yaml:1: duplicate flow 'twin' version 1 (also in" in p for p in found)


def test_all_problems_of_a_folder_are_reported_at_once() -> None:
    assert len(problems(BAD)) >= 15


def test_missing_path_is_reported() -> None:
    assert problems(BAD / "nope") == [f"{BAD / 'nope'}:0: no such file or directory"]


def test_two_initial_states_and_no_terminal_state_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "f.yaml"
    f.write_text("flow: f\nversion: 1\nevents: [go]\nstates:\n  - {name: a, initial: true}\n"
                 "  - {name: b, initial: true}\ntransitions:\n  - {from: a, event: go, to: b}\n")
    found = problems(f)
    assert f"{f}:1: a flow needs exactly one initial state, found 2 (a, b)" in found
    assert f"{f}:1: a flow needs at least one terminal state" in found


def test_module_that_fails_to_import_is_reported_at_the_module_line(tmp_path: Path) -> None:
    f = tmp_path / "f.yaml"
    (tmp_path / "acts.py").write_text("raise RuntimeError('boom')\n")
    f.write_text("flow: f\nversion: 1\nmodule: acts.py\nevents: [go]\nstates:\n  - {name: a, initial: true}\n"
                 "  - {name: b, terminal: true}\ntransitions:\n  - {from: a, event: go, to: b}\n")
    assert problems(f) == [f"{f}:3: cannot import module 'acts.py': RuntimeError: boom"]


def test_every_timer_event_of_the_shipped_flows_is_internal() -> None:
    """No user may forge what only a timer sends (sla_breached, progress_report, reminders, deadlines)."""
    from engine.rules import flows_dir

    defs = load_definitions(flows_dir())
    loose = sorted({(d.name, tm.event) for d in defs.by_key.values() for s in d.states for tm in s.timers}
                   - {(d.name, e.name) for d in defs.by_key.values() for e in d.events if e.internal})
    assert loose == []
    assert defs.compiled("itr_issue", defs.get("itr_issue").version).internal >= {"sla_breached", "progress_report"}
