"""`mcr rules register` checks every flow's timers against the rules folder before registering it
(issue 11 item 2/6): a rules path a timer takes its value from that no longer resolves, or whose value
has the wrong type, refuses the registration with the flow file and line — and nothing is registered."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.db import Database
from engine.errors import InvalidRules
from tests.conftest import ROOT

runner = CliRunner()


@pytest.fixture
def mcr(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    monkeypatch.setenv("MCR_DATABASE_URL", db.url)
    monkeypatch.setenv("MCR_RULES_DIR", str(rules))
    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    monkeypatch.delenv("MCR_FLOWS_DIR", raising=False)
    from engine.cli import app

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args))
    run.rules = rules  # type: ignore[attr-defined]
    return run


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def versions(db: Database) -> int:
    with db.read() as tx:
        return int(tx.one("SELECT COUNT(*) FROM rules_version")[0])


def flow_line(flow: str, needle: str) -> int:
    lines = (ROOT / "flows" / flow).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


def test_a_timer_path_that_no_longer_resolves_refuses_the_registration_naming_the_flow_line(mcr: Any, db: Database) -> None:
    assert mcr("rules", "register").exit_code == 0
    edit(mcr.rules / "care.yaml", "  remind_after_business_days:", "  remind_after_days:")
    res = mcr("rules", "register")
    assert res.exit_code == 1 and isinstance(res.exception, InvalidRules)
    message = str(res.exception)
    assert message.startswith("规则未登记：流程定义与")
    line = flow_line("planning/handover.yaml", "rules.care.handover.remind_after_business_days")
    assert f"handover.yaml:{line}: timer 'remind'" in message
    assert "has no 'handover.remind_after_business_days'" in message
    assert versions(db) == 1  # nothing registered


def test_a_timer_value_of_the_wrong_type_refuses_the_registration(mcr: Any, db: Database) -> None:
    edit(mcr.rules / "planning.yaml", "  reminder_days_before: [14, 7, 1]", "  reminder_days_before: 14")
    res = mcr("rules", "register")
    assert isinstance(res.exception, InvalidRules)
    # A timer of a group is reported at each state that uses the group (the line a reader looks at).
    group_lines = {i for i, line in enumerate((ROOT / "flows" / "planning" / "planning_kit.yaml").read_text(
        encoding="utf-8").splitlines(), 1) if "group: deadline" in line}
    found = {int(m[1]) for m in re.finditer(r"planning_kit\.yaml:(\d+): timer 'r': 'each: "
                                            r"rules\.planning\.kit\.reminder_days_before' is not a non-empty list "
                                            r"in the rules \(14\)", str(res.exception))}
    assert found and found == group_lines
    edit(mcr.rules / "planning.yaml", "  reminder_days_before: 14", "  reminder_days_before: [14, 7, 1]")
    edit(mcr.rules / "care.yaml", "remind_after_business_days: ", "remind_after_business_days: soon  # ")
    res = mcr("rules", "register")
    assert isinstance(res.exception, InvalidRules) and "handover.yaml:" in str(res.exception)
    assert versions(db) == 0


def test_a_change_every_timer_still_reads_is_registered(mcr: Any, db: Database) -> None:
    edit(mcr.rules / "planning.yaml", "  reminder_days_before: [14, 7, 1]", "  reminder_days_before: [21, 7, 2, 1]")
    res = mcr("rules", "register")
    assert res.exit_code == 0, res.output
    assert versions(db) == 1


def test_a_negative_minimum_or_a_share_over_100_percent_is_refused_at_registration_with_file_and_line(
        mcr: Any, db: Database) -> None:
    itr = mcr.rules / "itr.yaml"
    edit(itr, "  office: 0.20\n", "  office: 1.5\n")
    edit(itr, "    office: 1\n", "    office: -1\n")
    res = mcr("rules", "register")
    assert isinstance(res.exception, InvalidRules)
    message = str(res.exception)
    lines = itr.read_text(encoding="utf-8").splitlines()
    share = next(i for i, line in enumerate(lines, 1) if line == "  office: 1.5")
    minimum = next(i for i, line in enumerate(lines, 1) if line == "    office: -1")
    assert message.startswith("规则未登记：") and "规则文件有误（2 处）" in message
    assert f"itr.yaml:{share}: quota.office: Value error, 1.5 is not a share" in message
    assert f"itr.yaml:{minimum}: quota.min_allowed.office: Value error, -1 is negative" in message
    assert versions(db) == 0
