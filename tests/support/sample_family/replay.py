from __future__ import annotations

from typing import Any

from engine.replay import ReplayContext, scenario_command


@scenario_command("sample_family.echo")
def _echo(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return args
