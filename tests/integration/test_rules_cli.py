"""`mcr rules register|history|show` on both databases: registering records the operator and what
changed, an unchanged folder makes no version, and `show` gives back a version's texts and diff."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.auth.principal import Principal, os_user
from engine.db import Database
from engine.errors import MCRError
from tests.conftest import ROOT

runner = CliRunner()


@pytest.fixture
def mcr(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    monkeypatch.setenv("MCR_DATABASE_URL", db.url)
    monkeypatch.setenv("MCR_RULES_DIR", str(rules))
    monkeypatch.delenv("MCR_LOCALE", raising=False)
    from engine.cli import app

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args))
    run.rules = rules  # type: ignore[attr-defined]
    return run


def test_register_records_the_operator_and_the_diff_and_show_returns_each_version(mcr: Any) -> None:
    assert mcr("rules", "history").output.strip() == "尚未登记任何规则版本"
    first = mcr("rules", "register")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("规则已登记为版本 1：care.yaml 新增、festivals.yaml 新增、itr.yaml 新增")
    assert mcr("rules", "register").output.strip() == "规则未变化，当前版本 1"

    itr = mcr.rules / "itr.yaml"
    old_text = itr.read_text(encoding="utf-8")
    itr.write_text(old_text.replace("  office: 0.20\n", "  office: 0.25\n"), encoding="utf-8")
    second = mcr("rules", "register")
    assert second.output.startswith("规则已登记为版本 2：itr.yaml 修改"), second.output

    operator = Principal.operator_only(os_user()).actor
    history = json.loads(mcr("rules", "history", "--json").output)
    assert [(v["version"], v["registered_by"]) for v in history] == [(1, operator), (2, operator)]
    assert [c["file"] for c in history[1]["changes"]] == ["itr.yaml"]
    table = mcr("rules", "history").output.splitlines()
    assert table[0].split() == ["版本", "登记时间", "登记人", "变更"]
    assert table[-1].split()[0] == "2" and operator in table[-1] and "itr.yaml 修改" in table[-1]

    shown = mcr("rules", "show").output
    assert shown.startswith("规则版本 2（摘要 ") and f"由 {operator} 登记" in shown
    assert "-  office: 0.20\n+  office: 0.25\n" in shown
    assert mcr("rules", "show", "1", "--file", "itr.yaml").output == old_text


def test_show_refuses_an_unknown_version_or_file_naming_what_exists(mcr: Any) -> None:
    mcr("rules", "register")
    missing = mcr("rules", "show", "7")
    assert missing.exit_code == 1 and isinstance(missing.exception, MCRError)
    assert str(missing.exception) == "规则版本 7 不存在（已登记：1）"
    no_file = mcr("rules", "show", "1", "--file", "nope.yaml")
    assert isinstance(no_file.exception, MCRError) and "没有文件 nope.yaml" in str(no_file.exception)


def test_a_runtime_started_after_a_cli_registration_runs_new_instances_on_that_version(mcr: Any, db: Database) -> None:
    from engine.app import build_runtime

    mcr("rules", "register")
    (mcr.rules / "itr.yaml").write_text("# emptied\n", encoding="utf-8")
    assert mcr("rules", "register").output.startswith("规则已登记为版本 2")
    rt = build_runtime(db, migrate=False)
    assert rt.current_rules().version == 2
    with db.read() as tx:  # the runtime's own start-up registration found nothing new to record
        assert tx.one("SELECT COUNT(*) FROM rules_version")[0] == 2
