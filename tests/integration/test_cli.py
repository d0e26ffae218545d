"""The `mcr` command line, run as a user runs it (a subprocess): exit codes, one-line errors,
Chinese by default and English with MCR_LOCALE=en."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_FLOWS


def mcr(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    full = dict(os.environ, PREFECT_SERVER_ANALYTICS_ENABLED="false", **(env or {}))
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"MCR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "MCR_FLOWS_DIR": str(TEST_FLOWS),
            "MCR_MAIL_DIR": str(tmp_path / "mail"), "PREFECT_HOME": str(tmp_path / "prefect")}


def test_validate_prints_every_problem_as_file_line_message_and_exits_1() -> None:
    res = mcr("flows", "validate", "tests/data/bad_flows")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert lines[0].startswith("错误: tests/data/bad_flows/dup_b.yaml:1: duplicate flow 'twin'")
    assert "tests/data/bad_flows/unknowns.yaml:24: unknown state 'nowhere' in 'to'; known states: a, b, done" in lines
    assert "Traceback" not in res.stderr


def test_validate_valid_flows_prints_a_one_line_summary() -> None:
    res = mcr("flows", "validate", str(TEST_FLOWS))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("流程定义校验通过：") and len(res.stdout.strip().splitlines()) == 1
    res_en = mcr("flows", "validate", str(TEST_FLOWS), env={"MCR_LOCALE": "en"})
    assert res_en.stdout.startswith("flow definitions valid:")


def test_show_renders_a_mermaid_state_diagram() -> None:
    res = mcr("flows", "show", "ticket", "--format", "mermaid", "--path", str(TEST_FLOWS))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("stateDiagram-v2\n    [*] --> new\n")
    assert "new --> assigned: assign [has_assignee]" in res.stdout


def test_start_send_show_and_a_refused_event(env: dict[str, str]) -> None:
    res = mcr("instances", "start", "ticket", "--data", '{"summary": "打印机"}', env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "已启动实例 #1（ticket，状态 new）"
    res = mcr("event", "send", "1", "assign", "--payload", '{"assignee": "bob@example.com"}',
              "--client-event-id", "c1", env=env)
    assert res.stdout.strip() == "实例 #1：new → assigned（版本 2）", res.stderr
    again = mcr("event", "send", "1", "assign", "--payload", '{"assignee": "bob@example.com"}',
                "--client-event-id", "c1", env=env)
    assert again.returncode == 0 and "已处理过" in again.stdout
    refused = mcr("event", "send", "1", "close", env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip() == "错误: ticket #1 处于状态“assigned”，不允许事件“close”；允许的事件：note, resolve"
    refused_en = mcr("event", "send", "1", "close", env={**env, "MCR_LOCALE": "en"})
    assert refused_en.stderr.strip() == ("error: event 'close' is not allowed for ticket #1 in state 'assigned'; "
                                         "allowed: note, resolve")
    shown = json.loads(mcr("instances", "show", "1", "--json", env=env).stdout)
    assert shown["state"] == "assigned" and [h["event"] for h in shown["history"]] == ["start", "assign"]
    assert {t["name"]: t["status"] for t in shown["timers"]}["sla"] == "cancelled"
    outbox = mcr("outbox", "list", env=env)
    header, _rule, *rows = outbox.stdout.splitlines()
    assert header.split() == ["编号", "状态", "收件人", "主题", "尝试次数", "错误"]
    assert [r.split()[1:3] for r in rows] == [["pending", "bob@example.com"]]
    sent = mcr("outbox", "send", env=env)
    assert sent.stdout.strip() == "邮件：发送 1，重试 0，失败 0"
    assert (Path(env["MCR_MAIL_DIR"]) / "1.eml").is_file()


def test_an_internal_event_sent_from_the_cli_is_refused_and_logged(env: dict[str, str]) -> None:
    assert mcr("instances", "start", "ticket", "--data", "{}", env=env).returncode == 0
    refused = mcr("event", "send", "1", "sla_breached", env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip() == ("错误: 事件“sla_breached”是流程 ticket 的内部事件，只能由引擎（定时器、启动任务）发送；"
                                      "实例 #1 未改变")
    shown = json.loads(mcr("instances", "show", "1", "--json", env=env).stdout)
    assert shown["state"] == "new" and shown["version"] == 1
    import sqlite3

    with sqlite3.connect(env["MCR_DATABASE_URL"].removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT instance_id, actor, event, code FROM flow_refusal").fetchall()
    assert rows == [(1, f"operator {getpass.getuser()}", "sla_breached", "internal_event")]


def test_an_unknown_as_is_one_line_and_exit_1(env: dict[str, str]) -> None:
    assert mcr("instances", "start", "ticket", "--data", "{}", env=env).returncode == 0
    res = mcr("event", "send", "1", "note", "--as", "NOBODY", env=env)
    assert res.returncode == 1 and res.stderr.strip() == "错误: 没有工号为「NOBODY」的员工：--as 必须是主数据中的员工"
    assert mcr("event", "send", "1", "assign", "--actor", "alice", env=env).returncode == 2  # --actor is gone


def test_bad_json_payload_and_unknown_instance_are_one_line_errors(env: dict[str, str]) -> None:
    res = mcr("event", "send", "1", "assign", "--payload", "{oops", env=env)
    assert res.returncode == 1 and res.stderr.startswith("错误: --payload 不是有效的 JSON")
    assert mcr("init", env=env).returncode == 0
    res = mcr("event", "send", "42", "assign", env=env)
    assert res.returncode == 1 and res.stderr.strip() == "错误: 没有编号为 42 的流程实例"


def test_bad_database_url_is_a_one_line_error(env: dict[str, str]) -> None:
    res = mcr("db", "upgrade", env={**env, "MCR_DATABASE_URL": "mysql://nobody@nowhere/x"})
    assert res.returncode == 1
    assert res.stderr.strip().startswith("错误: bad database URL 'mysql://nobody@nowhere/x'")
    res = mcr("db", "upgrade", env={**env, "MCR_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/x"})
    assert res.returncode == 1 and "无法连接数据库" in res.stderr and "Traceback" not in res.stderr


def test_timers_list_shows_pending_and_skipped(env: dict[str, str]) -> None:
    mcr("instances", "start", "ticket", "--data", "{}", env=env)
    res = mcr("timers", "list", "--json", env=env)
    assert [t["name"] for t in json.loads(res.stdout)] == ["sla"]
