"""Usage errors of `mcr` (typer's own checks: missing option, bad integer, unknown option or command)
are said in the chosen language, with the usage line and where help is."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from engine import cli
from engine.cli_usage import usage_message

ZH = {"MCR_LOCALE": "zh-CN"}
EN = {"MCR_LOCALE": "en"}


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    cli._register_plugins()
    return CliRunner()


def test_a_non_integer_id_gives_a_chinese_usage_message(runner: CliRunner) -> None:
    res = runner.invoke(cli.app, ["instances", "show", "abc"], env=ZH)
    assert res.exit_code == 2
    assert res.output.splitlines() == [
        "用法：root instances show [OPTIONS] {instance_id}",
        "运行 'root instances show --help' 查看帮助。",
        "",
        "错误: 'instance_id' 的值无效：“abc”不是整数",
    ]


def test_the_same_mistake_in_english(runner: CliRunner) -> None:
    res = runner.invoke(cli.app, ["instances", "show", "abc"], env=EN)
    assert res.exit_code == 2
    assert "Usage: root instances show" in res.output
    assert "error: invalid value for 'instance_id': 'abc' is not a whole number" in res.output


def test_a_missing_option_is_named(runner: CliRunner) -> None:
    res = runner.invoke(cli.app, ["issue", "reject", "1"], env=ZH)
    assert res.exit_code == 2 and "错误: 缺少选项 '--reason'" in res.output
    res = runner.invoke(cli.app, ["issue", "reject", "1"], env=EN)
    assert res.exit_code == 2 and "error: missing option '--reason'" in res.output


def test_a_missing_argument_an_unknown_option_and_an_unknown_command(runner: CliRunner) -> None:
    assert "错误: 缺少参数 'instance_id'" in runner.invoke(cli.app, ["event", "send"], env=ZH).output
    assert "错误: 没有选项 --bogus" in runner.invoke(cli.app, ["instances", "list", "--bogus"], env=ZH).output
    out = runner.invoke(cli.app, ["instancs"], env=ZH).output
    assert "错误: 没有命令“instancs”（是不是要用：'instances'？）" in out
    assert "error: option --data needs a value" in runner.invoke(cli.app, ["instances", "start", "x", "--data"],
                                                                 env=EN).output


def test_a_message_typer_has_no_structure_for_is_shown_as_typer_wrote_it() -> None:
    from typer._click.exceptions import UsageError

    assert usage_message(UsageError("something new from typer")) == "something new from typer"


def test_commands_that_succeed_still_exit_zero(runner: CliRunner) -> None:
    res = runner.invoke(cli.app, ["flows", "validate"], env=EN)
    assert res.exit_code == 0 and res.output.startswith("flow definitions valid")
