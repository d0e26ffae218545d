"""`mcr profiles …` and `mcr watch …` through typer's CliRunner on both databases: the commands call the
services as the employee of `--as`, refusals are `MCRError`s naming the field (one line from `mcr`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.clock import FakeClock
from engine.db import Database
from flows.profiles.sections import ProfileInvalid
from tests.conftest import ROOT
from tests.integration.test_profiles import ASSESSMENTS, CONTACTS, CUSTOMERS, ORG, load

runner = CliRunner()


@pytest.fixture
def mcr(db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Any:
    from engine import cli

    monkeypatch.setenv("MCR_DATABASE_URL", db.url)
    monkeypatch.setenv("MCR_RULES_DIR", str(ROOT / "rules"))
    monkeypatch.delenv("MCR_LOCALE", raising=False)
    db.upgrade()
    load(db, clock, org=ORG, customers=CUSTOMERS, contacts=CONTACTS, assessments=ASSESSMENTS,
         orders=[{"customer": "C2", "month": "2026-09", "amount_usd": 10}])
    if not any(g.name == "profiles" for g in cli.app.registered_groups):
        cli._register_plugins()
    return lambda *args: runner.invoke(cli.app, list(args))


def test_launch_save_export_and_the_watch_from_the_command_line(mcr: Any, tmp_path: Path) -> None:
    res = mcr("profiles", "launch", "--year", "2027", "--as", "E001")
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "2"
    res = mcr("profiles", "save", "VP", "C1", "2027", "--as", "E011", "--sections",
              json.dumps({"overview": {"comparison": {"competitors": ["甲公司", "乙公司", "丙公司"]}}}))
    assert isinstance(res.exception, ProfileInvalid) and "overview.comparison.competitors" in str(res.exception)
    res = mcr("profiles", "save", "VP", "C1", "2027", "--as", "E011", "--sections",
              json.dumps({"summary": {"summary": "排名第二"}}))
    assert res.exit_code == 0 and res.output.strip().endswith("→ drafting")
    assert mcr("profiles", "export", "VP", "C1", "2027", str(tmp_path / "vp.xlsx"), "--as", "E011").exit_code == 0
    assert (tmp_path / "vp.xlsx").stat().st_size > 0
    report = json.loads(mcr("watch", "run", "2026-Q4", "--as", "E001", "--json").output)
    assert [r["customer"] for r in report["abnormal"]] == ["C2"]
    table = mcr("watch", "report", "2026-Q4", "--as", "E001").output
    assert "O1 深圳代表处" in table and "R1 华南地区部" in table
