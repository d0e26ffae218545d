"""`mcr planning …` and `mcr care …` through typer's CliRunner, on both databases: Chinese by default,
English with MCR_LOCALE=en, user mistakes raised as MCRError (engine.cli.main prints them as one line)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ImportRejected, MCRError
from flows.planning.cli import register
from flows.planning.sample import FLOWS_DIR, load_sample
from flows.planning.workbook import workbook_from_rows

runner = CliRunner()


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MCR_DATABASE_URL", db.url)
    monkeypatch.setenv("MCR_FLOWS_DIR", str(FLOWS_DIR))
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    monkeypatch.delenv("MCR_LOCALE", raising=False)
    load_sample(db, FakeClock(datetime(2026, 11, 1, tzinfo=timezone.utc)))
    app = typer.Typer()
    register(app)

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args))
    return run


def test_launch_status_submit_review_and_budget(cli: Any, tmp_path: Path) -> None:
    out = cli("planning", "launch", "--year", "2027", "--direct")
    assert out.exit_code == 0, out.output
    assert "[2/2] T-SZ-OP：已发放" in out.output and "2 个新发放" in out.output
    again = cli("planning", "launch", "--year", "2027", "--direct")
    assert "0 个新发放，2 个已存在" in again.output
    book = tmp_path / "kits" / "2027" / "T-SZ-OP-2027-客户关系规划三件套.xlsx"
    assert not book.exists()  # written on its first request, not at issue
    got = cli("planning", "kit", "T-SZ-OP", "--year", "2027", "--as", "E101")
    assert got.exit_code == 0, got.output
    assert got.output.strip() == str(book) and book.is_file()

    wb = workbook_from_rows(tmp_path / "filled.xlsx", team="T-SZ-OP", year=2027,
                            assessments=[{"customer_code": "C001", "contact_code": "K001", "acceptance": 2,
                                          "acceptance_evidence": "参观"}],
                            objectives=[{"customer_code": "C001", "relationship_target": "CXO 支持"}],
                            plan=[{"customer_code": "C001", "activity_type": "公司参观", "title": "参观",
                                   "project_code": "P001", "planned_date": "2027-05-01", "budget": "12,000"}])
    out = cli("planning", "submit", "T-SZ-OP", str(wb), "--as", "E101")
    assert out.exit_code == 0, out.output
    assert "supervisor_review" in out.output
    out = cli("planning", "review", "approve", "T-SZ-OP", "--year", "2027", "--as", "E100")
    assert out.exit_code == 0 and "done" in out.output

    out = cli("planning", "status", "--year", "2027")
    assert "地区部 R-S\t共 2\t完成 1" in out.output and "完成率 50.0%" in out.output
    out = cli("planning", "budget", "--year", "2027")
    assert "T-SZ-OP\t深圳运营商系统部\t1\t12,000" in out.output and "合计\t12,000" in out.output


def test_english_with_mcr_locale_en(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_LOCALE", "en")
    out = cli("planning", "launch", "--year", "2027", "--direct")
    assert "2027 planning kits: 2 issued, 0 already there, 0 failed (2 team(s))" in out.output
    out = cli("planning", "status", "--year", "2027")
    assert "region R-S\tkits 2\tdone 0" in out.output


def test_a_bad_workbook_lists_every_problem_and_records_nothing(cli: Any, db: Database, tmp_path: Path) -> None:
    cli("planning", "launch", "--year", "2027", "--direct")
    bad = workbook_from_rows(tmp_path / "bad.xlsx", team="T-SZ-OP", year=2027,
                             assessments=[{"customer_code": "C001", "contact_code": "K001", "acceptance": 4,
                                           "acceptance_evidence": "x"}],
                             plan=[{"customer_code": "C001", "activity_type": "公司参观", "title": "参观",
                                    "project_code": "P002", "planned_date": "2027-06-15"}])
    out = cli("planning", "submit", "T-SZ-OP", str(bad), "--as", "E101")
    assert isinstance(out.exception, ImportRejected)
    text = str(out.exception)
    assert "4 个问题" in text  # the plan names P002 only: the region-level P001 has no activity (kit check)
    assert "地区部级项目 P001" in text
    assert "工作表「客户关系现状评估表」第 2 行，列「接受认可度」（N2）" in text
    assert "工作表「客户关系公关计划」第 2 行，列「计划日期」（F2）" in text
    assert "工作表「客户关系公关计划」第 2 行，列「预算（元）」（G2）" in text
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM planning_submission")[0] == 0


def test_care_commands(cli: Any, db: Database) -> None:
    out = cli("care", "visit", "log", "K001", "--as", "E101", "--date", "2025-11-20")
    assert out.exit_code == 0 and "2025-11-27" in out.output
    out = cli("care", "visit", "log", "K001", "--as", "E010", "--date", "2025-11-20", "--kind", "sponsor_meeting")
    assert out.exit_code == 0 and "赞助人会面" in out.output
    out = cli("care", "scan", "--date", "2027-02-03")
    assert out.exit_code == 0 and "2027-02-03 客户关怀扫描" in out.output
    out = cli("care", "handover", "start", "--contact", "K001", "--reason", "department", "--to", "X999", "--as", "E100")
    assert isinstance(out.exception, MCRError) and "不是本组织的员工" in str(out.exception)
    out = cli("care", "handover", "start", "--contact", "K002", "--reason", "company", "--customer", "C003",
              "--as", "E102")
    assert out.exit_code == 0 and "K002 从 E102 交给 E201" in out.output
    with db.read() as tx:
        iid = tx.one("SELECT id FROM flow_instance WHERE flow = 'handover'")[0]
    out = cli("care", "handover", "introduce", str(iid), "--as", "E102", "--note", "已引荐")
    assert out.exit_code == 0 and "交接完成" in out.output


def test_the_mcr_entry_point_prints_one_line_for_a_refusal(db: Database, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from engine import cli as engine_cli

    monkeypatch.setenv("MCR_DATABASE_URL", db.url)
    monkeypatch.setenv("MCR_FLOWS_DIR", str(FLOWS_DIR))
    load_sample(db, FakeClock(datetime(2026, 11, 1, tzinfo=timezone.utc)))
    monkeypatch.setattr(engine_cli, "_register_plugins", lambda: register(engine_cli.app)
                        if "planning" not in {g.name for g in engine_cli.app.registered_groups} else None)
    monkeypatch.setattr(sys, "argv", ["mcr", "care", "visit", "log", "K001", "--as", "E101", "--date", "2099-01-01"])
    with pytest.raises(SystemExit) as exit_:
        engine_cli.main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("错误: 拜访日期 2099-01-01")
