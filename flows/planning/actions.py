"""The Python side of the planning and care flows: importing this module registers every guard,
action and launcher the YAML files under flows/planning/ name (`module: flows.planning.actions`).

Launchers run in the scheduler's thread. They call the plain step functions directly rather than
the Prefect flow of flows/planning/launch.py: a Prefect flow run costs 7–12 s of start-up in a
fresh process (docs/planning.md, "Why the scheduler does not use Prefect"), and the steps are
idempotent anyway, so a failed launch is simply run again at the next rescan.
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
    from flows.planning.kit import launch_kits_direct

    year = ctx.occurrence.astimezone(ctx.launch.recurrence.tz).year + 1
    report = launch_kits_direct(ctx.runtime, year)
    if report.failures:  # recorded as a failed launch; the next rescan runs it again (issued kits are kept)
        raise MCRError(report.summary() + ": " + "; ".join(f"{t}: {e}" for t, e in report.failures.items()))
    return report.issued
