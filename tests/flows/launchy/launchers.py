"""Launchers of the launchy test flow."""

from __future__ import annotations

from datetime import timedelta

from engine.registry import action, launcher

CALLS: list[str] = []


@launcher("start_one_per_team")
def start_one_per_team(ctx) -> int:
    started = 0
    for team in ctx.params["teams"]:
        res = ctx.runtime.start("launchy", {"team": team}, actor="launch", subject=f"{team}:{ctx.period_key[:4]}")
        started += 0 if res.duplicate else 1
    return started


@launcher("count_days")
def count_days(ctx) -> int:
    CALLS.append(ctx.period_key)
    return 0


@action("stamp_due")
def stamp_due(ctx) -> None:
    if ctx.data.get("team") == "FAIL":
        ctx.refuse("team FAIL cannot be started")
    ctx.data["due_at"] = (ctx.now + timedelta(days=3)).isoformat()
