"""`mcr user …` run as an administrator runs it (a subprocess): passwords only from a hidden prompt
or standard input, unknown employees refused in one line, tokens shown once and revocable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integration.test_cli import mcr


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = {"MCR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "PREFECT_HOME": str(tmp_path / "prefect")}
    res = mcr("import", "org", str(ROOT / "tests" / "data" / "masterdata" / "org.csv"), env=env)
    assert res.returncode == 0, res.stderr
    return env


def _first_employee(env: dict[str, str]) -> str:
    return "E1"  # 任总, the first employee of tests/data/masterdata/org.csv


def mcr_in(args: list[str], stdin: str, env: dict[str, str]):  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=dict(os.environ, **env),
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_add_list_token_revoke_and_disable(env: dict[str, str]) -> None:
    emp = _first_employee(env)
    res = mcr_in(["user", "add", emp, "--operator", "--password-stdin"], "a long password\n", env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"已为 {emp}")
    listed = mcr("user", "list", env=env)
    assert listed.stdout.startswith(f"{emp}\t") and "operator" in listed.stdout and "tokens 0" in listed.stdout
    token = mcr("user", "token", emp, env=env)
    assert token.returncode == 0 and token.stdout.strip().startswith("mcr_") and "只显示这一次" in token.stderr
    assert "tokens 1" in mcr("user", "list", env=env).stdout
    revoked = mcr("user", "token", emp, "--revoke", env=env)
    assert revoked.returncode == 0 and "1" in revoked.stdout
    assert mcr("user", "disable", emp, env=env).returncode == 0
    assert "disabled" in mcr("user", "list", env=env).stdout


def test_password_prompt_is_hidden_and_asked_twice(env: dict[str, str]) -> None:
    emp = _first_employee(env)
    res = mcr_in(["user", "add", emp], "pass word 1\npass word 1\n", env)
    assert res.returncode == 0, res.stderr
    assert "pass word 1" not in res.stdout + res.stderr
    res = mcr_in(["user", "passwd", emp], "another one\nanother one\n", env)
    assert res.returncode == 0, res.stderr


def test_password_is_never_an_argument(env: dict[str, str]) -> None:
    res = mcr("user", "add", _first_employee(env), "--password", "secret123", env=env)
    assert res.returncode != 0


def test_unknown_employee_is_refused_in_one_line_before_any_prompt(env: dict[str, str]) -> None:
    res = mcr_in(["user", "add", "NOBODY"], "", env)
    assert res.returncode == 1
    assert res.stderr.strip() == "错误: 主数据中没有工号为 NOBODY 的员工"
    assert "Traceback" not in res.stderr
    res = mcr("user", "token", "NOBODY", env=dict(env, MCR_LOCALE="en"))
    assert res.returncode == 1 and res.stderr.strip() == "error: employee NOBODY has no account"


def test_short_password_from_stdin_is_refused(env: dict[str, str]) -> None:
    res = mcr_in(["user", "add", _first_employee(env), "--password-stdin"], "short\n", env)
    assert res.returncode == 1 and "至少需要 8 个字符" in res.stderr
