"""`mcr issue …` and `mcr itr …` with typer's CliRunner on a SQLite file: text in zh-CN by default and
English with MCR_LOCALE=en, --json everywhere, refusals as MCRErrors (the main CLI prints one line
and exits 1 — checked once through the real `mcr` entry point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from engine.auth.principal import UnknownEmployee, os_user
from engine.db import Database
from engine.errors import MCRError, NotPermitted
from flows.itr.cli import register
from flows.itr.errors import EscalationReasonMissing, IssueNotVisible, ItrUsageError, UnknownCustomer
from flows.itr.replay import insert_org
from tests.conftest import ROOT

ORG_FILE = ROOT / "tests" / "scenarios" / "itr" / "data" / "org.yaml"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'mcr.db'}"
    values = {"MCR_DATABASE_URL": url, "MCR_FLOWS_DIR": str(ROOT / "flows" / "itr"),
              "MCR_RULES_DIR": str(ROOT / "rules"), "MCR_LOCALE": "zh-CN"}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("MCR_USER", raising=False)
    db = Database(url)
    db.upgrade()
    insert_org(db, yaml.safe_load(ORG_FILE.read_text(encoding="utf-8")))
    db.dispose()
    return values


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()
    register(root)
    return root


def run(app: typer.Typer, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=True)


OPEN = ("issue", "open", "--customer", "C-BIG", "--contact", "K-BIG1", "--type", "technical", "--severity", "normal",
        "--source", "hotline", "--title", "光模块告警", "--as", "SZ-HL")


def test_open_prints_the_issue_number_and_deadline_in_chinese(env: dict, app: typer.Typer) -> None:
    res = run(app, *OPEN)
    assert res.exit_code == 0, res.output
    assert res.output.startswith("已登记问题 #1（已受理），时限 24 h，截止 ")


def test_open_speaks_english_with_mcr_locale_en(env: dict, app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_LOCALE", "en")
    res = run(app, *OPEN)
    assert res.output.startswith("issue #1 recorded (received), time limit 24 h, due ")


def test_open_json_and_show_json(env: dict, app: typer.Typer) -> None:
    opened = json.loads(run(app, *OPEN, "--json").output)
    assert (opened["id"], opened["state"], opened["office"]) == (1, "received", "OFF-SZ")
    shown = json.loads(run(app, "issue", "show", "1", "--json").output)
    assert shown["title"] == "光模块告警" and shown["dispatches"] == []


def test_unknown_customer_is_an_mcr_error_with_exit_code_1(env: dict, app: typer.Typer) -> None:
    res = run(app, *[a if a != "C-BIG" else "C-NOPE" for a in OPEN])
    assert res.exit_code == 1 and isinstance(res.exception, UnknownCustomer)
    assert str(res.exception) == "客户“C-NOPE”不存在，问题未登记"


def test_the_mcr_command_prints_one_line_and_exits_1(env: dict) -> None:
    mcr = Path(sys.executable).parent / "mcr"
    args = [a if a != "C-BIG" else "C-NOPE" for a in OPEN]
    res = subprocess.run([str(mcr), *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=120)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == ["错误: 客户“C-NOPE”不存在，问题未登记"]
    assert "Traceback" not in res.stderr


def test_the_whole_life_of_an_issue_through_the_cli(env: dict, app: typer.Typer) -> None:
    assert run(app, *OPEN).exit_code == 0
    assert run(app, "issue", "dispatch", "1", "--as", "SZ-HL").output.strip() == "问题 #1：已分派（代表处）"
    assert run(app, "issue", "accept", "1", "--as", "SZ-H1").exit_code == 0
    assert run(app, "issue", "note", "1", "已到现场", "--as", "SZ-H1").exit_code == 0
    assert run(app, "issue", "resolve", "1", "--solution", "更换光模块", "--add-case", "--as", "SZ-H1").exit_code == 0
    refused = run(app, "issue", "close", "1", "--as", "SZ-H1")
    assert refused.exit_code == 1 and "只有问题提交人 SZ-HL 可以关闭" in str(refused.exception)
    assert run(app, "issue", "close", "1", "--as", "SZ-HL").output.strip() == "问题 #1：待回访"
    bad = run(app, "issue", "callback", "1", "--score", "7", "--as", "SZ-CC")
    assert bad.exit_code == 1 and "1 到 5" in str(bad.exception)
    assert run(app, "issue", "callback", "1", "--score", "4", "--as", "SZ-CC").output.strip() == "问题 #1：已关闭"
    shown = run(app, "issue", "show", "1").output
    assert "[已关闭]" in shown and "callback decision" in shown and "K-BIG1: 4" in shown
    listed = run(app, "issue", "list", "--json")
    assert [i["state"] for i in json.loads(listed.output)] == ["closed"]
    header, _rule, *rows = run(app, "issue", "list").output.splitlines()
    assert header.split() == ["编号", "状态", "层级", "严重度", "客户", "处理人", "标题"]
    assert len(rows) == 1 and rows[0].split()[:2] == ["#1", "已关闭"]


def test_an_issue_action_without_as_is_refused_even_with_mcr_user_set(env: dict, app: typer.Typer,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_USER", "SZ-HL")  # no longer names anyone: identity is never self-declared
    res = run(app, *[a for a in OPEN if a not in ("--as", "SZ-HL")])
    assert res.exit_code == 1 and isinstance(res.exception, NotPermitted) and "--as" in str(res.exception)
    assert run(app, "issue", "list", "--json").output.strip() == "[]"


def test_an_unknown_as_is_refused_with_one_line_and_nothing_done(env: dict, app: typer.Typer) -> None:
    res = run(app, *[a if a != "SZ-HL" else "NOBODY" for a in OPEN])
    assert res.exit_code == 1 and isinstance(res.exception, UnknownEmployee)
    assert str(res.exception) == "没有工号为「NOBODY」的员工：--as 必须是主数据中的员工"
    assert run(app, "issue", "list", "--json").output.strip() == "[]"


def test_as_is_recorded_in_history_as_the_operator_for_the_employee(env: dict, app: typer.Typer) -> None:
    run(app, *OPEN)
    run(app, "issue", "dispatch", "1", "--as", "SZ-HL")
    user = os_user()
    db = Database(env["MCR_DATABASE_URL"])
    with db.read() as tx:
        actors = [r[0] for r in tx.all("SELECT actor FROM flow_history WHERE instance_id = 1 ORDER BY id")]
        submitter = tx.one("SELECT submitter_emp_no FROM itr_issue WHERE id = 1")[0]
    db.dispose()
    assert actors == [f"operator {user} for SZ-HL"] * 2 and submitter == "SZ-HL"


def test_issue_reads_follow_who_may_see_the_issue(env: dict, app: typer.Typer) -> None:
    run(app, *OPEN)
    run(app, "issue", "dispatch", "1", "--as", "SZ-HL")
    assert run(app, "issue", "show", "1", "--as", "SZ-H1").exit_code == 0      # its handler
    refused = run(app, "issue", "show", "1", "--as", "GZ-H1")                  # a handler of another office
    assert refused.exit_code == 1 and isinstance(refused.exception, IssueNotVisible)
    assert json.loads(run(app, "issue", "list", "--json", "--as", "GZ-H1").output) == []
    assert [i["id"] for i in json.loads(run(app, "issue", "list", "--json", "--as", "SZ-QA").output)] == [1]


def test_escalate_without_reason_is_refused(env: dict, app: typer.Typer) -> None:
    run(app, *OPEN)
    run(app, "issue", "dispatch", "1", "--as", "SZ-HL")
    res = run(app, "issue", "escalate", "1", "--as", "SZ-H1")
    assert res.exit_code == 1 and isinstance(res.exception, EscalationReasonMissing)


def test_escalate_past_the_quota_with_override(env: dict, app: typer.Typer) -> None:
    for issue in ("1", "2"):
        run(app, *OPEN)
        run(app, "issue", "dispatch", issue, "--as", "SZ-HL")
    # The first escalation of the quarter is the one always allowed (quota.min_allowed.office: 1).
    first = json.loads(run(app, "issue", "escalate", "1", "--reason", "no_owner", "--as", "SZ-H1", "--json").output)
    assert (first["decision"], first["qa_flag"]) == ("granted", False)
    refused = run(app, "issue", "escalate", "2", "--reason", "no_owner", "--as", "SZ-H2")  # its handler
    assert refused.exit_code == 1 and "2/2 = 100.0%（上限 20%，每期保底可升级 1 次）" in str(refused.exception)
    ok = run(app, "issue", "escalate", "2", "--reason", "no_owner", "--override-by", "SZ-SUP",
             "--override-why", "客户高层要求", "--as", "SZ-H2", "--json")
    esc = json.loads(ok.output)
    assert (esc["decision"], esc["qa_flag"], esc["handler"]) == ("overridden", True, "R-H1")
    qa = json.loads(run(app, "itr", "qa-cases", "--json").output)
    assert [(q["kind"], q["issue"]) for q in qa] == [("escalation_override", 2)]
    decided = run(app, "issue", "qa-decide", str(qa[0]["id"]), "--decision", "justified", "--as", "SZ-QA")
    assert decided.output.strip() == f"QA 案例 #{qa[0]['id']} 已决定：justified"


def test_case_library_load_and_search(env: dict, app: typer.Typer) -> None:
    assert run(app, "issue", "cases", "load", "--as", "SZ-H1").output.strip() == "已载入 5 条案例/指导书"
    hits = json.loads(run(app, "issue", "cases", "search", "断站", "电源", "--json").output)
    assert hits[0]["code"] == "G-TECH-002"
    assert "G-NONTECH-001" in run(app, "issue", "cases", "search", "付款").output
    assert run(app, "issue", "cases", "add", "--code", "C-9", "--title", "OLT 掉电", "--body", "检查电源",
               "--as", "SZ-H1").output.strip() == "案例 C-9 已保存"


def test_report_text_and_json(env: dict, app: typer.Typer) -> None:
    run(app, *OPEN)
    text = run(app, "itr", "report", "--week", "2026-W48", "--office", "OFF-SZ")
    assert text.exit_code == 0 and "【代表处问题周例会】深圳代表处 2026-W48" in text.output
    assert "分派一次准确率" in text.output and "问题自行解决率" in text.output
    data = json.loads(run(app, "itr", "report", "--week", "2026-W48", "--office", "OFF-SZ", "--json").output)
    assert {"new_valid_issues", "dispatch", "closure", "self_resolution", "escalations", "callbacks",
            "qa_cases_open"} <= set(data)
    region = json.loads(run(app, "itr", "report", "--month", "2026-11", "--region", "R-SOUTH", "--json").output)
    assert region["unit_kind"] == "region"


@pytest.mark.parametrize("args, message", [
    (("--week", "2026-48", "--office", "OFF-SZ"), "2026-W48"),
    (("--week", "2026-W48", "--office", "R-SOUTH"), "R-SOUTH"),
    (("--office", "OFF-SZ",), "--week"),
])
def test_report_arguments_are_checked(env: dict, app: typer.Typer, args: tuple, message: str) -> None:
    res = run(app, "itr", "report", *args)
    assert res.exit_code == 1 and isinstance(res.exception, ItrUsageError) and message in str(res.exception)
    assert isinstance(res.exception, MCRError)


def test_weekly_check_lists_teams(env: dict, app: typer.Typer) -> None:
    run(app, *OPEN)
    out = run(app, "itr", "weekly-check", "--week", "2026-W48").output
    assert "T-SZ1\tC-BIG\t有效问题" in out and "T-GZ1\tC-GZ" in out
