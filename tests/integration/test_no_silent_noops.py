"""No silent success: an unknown id, an unknown filter value or a row in the wrong state is refused
with one line naming it and a non-zero exit — never "nothing printed, exit 0"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_FLOWS


def mcr(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {"MCR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "MCR_FLOWS_DIR": str(TEST_FLOWS),
              "MCR_MAIL_DIR": str(tmp_path / "mail"), "PREFECT_HOME": str(tmp_path / "prefect")}
    assert mcr("init", env=values).returncode == 0
    return values


def refused(res: subprocess.CompletedProcess, *words: str) -> None:
    assert res.returncode != 0, res.stdout
    assert "Traceback" not in res.stderr
    (line,) = res.stderr.strip().splitlines()
    for word in words:
        assert word in line, line


def test_outbox_retry_of_an_unknown_id_is_refused(env: dict[str, str]) -> None:
    refused(mcr("outbox", "retry", "99999", env=env), "#99999", "未做任何修改")


def test_outbox_retry_of_mail_that_did_not_fail_is_refused(env: dict[str, str]) -> None:
    mcr("instances", "start", "ticket", "--data", '{"summary": "x"}', env=env)
    assert mcr("event", "send", "1", "assign", "--payload", '{"assignee": "b@example.com"}',
               env=env).returncode == 0
    refused(mcr("outbox", "retry", "1", env=env), "#1 (pending)")


def test_outbox_retry_without_ids_says_how_many_it_put_back(env: dict[str, str]) -> None:
    res = mcr("outbox", "retry", env=env)
    assert res.returncode == 0 and res.stdout.strip() == "已把 0 封失败的邮件重新放回发送队列"


@pytest.mark.parametrize("args, option", [
    (("timers", "list", "--status", "bogus"), "--status"),
    (("outbox", "list", "--status", "bogus"), "bogus"),
    (("instances", "list", "--flow", "no_such_flow"), "--flow"),
    (("instances", "list", "--state", "no_such_state"), "--state"),
    (("instances", "list", "--flow", "ticket", "--state", "no_such_state"), "--state"),
])
def test_an_unknown_filter_value_is_refused_with_the_allowed_ones(
        env: dict[str, str], args: tuple[str, ...], option: str) -> None:
    res = mcr(*args, env=env)
    refused(res, option)
    assert "可用" in res.stderr


def test_known_filter_values_still_list(env: dict[str, str]) -> None:
    for args in (("timers", "list", "--status", "all"), ("instances", "list", "--flow", "ticket", "--state", "new")):
        res = mcr(*args, env=env)
        assert res.returncode == 0, res.stderr


def test_an_unknown_instance_is_refused(env: dict[str, str]) -> None:
    refused(mcr("instances", "show", "99999", env=env), "99999")
    refused(mcr("event", "send", "99999", "assign", env=env), "99999")
