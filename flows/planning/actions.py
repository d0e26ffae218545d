"""The Python side of the planning and care flows: importing this module registers every guard,
action and launcher the YAML files under flows/planning/ name (`module: flows.planning.actions`).

Launchers hand their work items to `ctx.runner` (engine/batch.py): one Prefect task per item when
the occurrence runs as a Prefect flow (engine/prefect_runs.py — inside `mcr serve`/`mcr worker` or
on a Prefect worker), one after the other otherwise. The steps are idempotent, so a failed launch
is simply run again at the next rescan and does only what is missing.
"""

from __future__ import annotations

from typing import Any

from engine.errors import MCRError
from engine.registry import launcher
from flows.planning import kit_actions  # noqa: F401  - registers the kit's guards and actions
from flows.planning import care, handover, rhythm, strategy  # noqa: F401  - and the others'


@launcher("launch_planning_kits")
def launch_planning_kits(ctx: Any) -> int:
    """1 Dec: issue the next planning year's kit to every team that owns an S/A customer."""
    from flows.planning.kit import launch_kits

    year = ctx.occurrence.astimezone(ctx.launch.recurrence.tz).year + 1
    report = launch_kits(ctx.runtime, year, ctx.runner)
    if report.failures:  # recorded as a failed launch; the next rescan runs it again (issued kits are kept)
        raise MCRError(report.summary() + ": " + "; ".join(f"{t}: {e}" for t, e in report.failures.items()))
    return report.issued
