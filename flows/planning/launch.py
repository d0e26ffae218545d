"""The annual planning launch as a Prefect flow run from the CLI (`mcr planning launch`) and the launch
page: `flows.planning.kit.launch_kits` with one Prefect task per team (retries, each task's state to
`on_state`, one progress line per team), through the engine's generic batch flow
(engine/prefect_runs.py `run_batch`). The recurring 1 December launch is the same function run by the
`mcr-launch` flow (flows/planning/actions.py `launch_planning_kits`), in `mcr serve` or on a Prefect
worker.

Issuing is idempotent (one kit instance per team and year), so a re-run — after a crash, or by a
nervous user — issues only what is missing. Importing this module does not import Prefect; running a
launch does (≈1 s), and the first flow run of a process starts Prefect's local API unless
PREFECT_API_URL names a server (5–25 s here; `mcr serve` starts it ahead of time).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from engine.batch import StateHook
from flows.planning.kit import LaunchReport, launch_kits


def run_launch(runtime: Any, year: int, *, progress: Optional[Callable[[str], None]] = None,
               on_state: Optional[StateHook] = None, teams: Optional[list[str]] = None) -> LaunchReport:
    """Issue the `year` kits as an `mcr-batch` Prefect flow run against `runtime`.

    `on_state(team, state, result=…, runs=…, message=…)` hears each team's task state; `teams`
    restricts the launch to a confirmed list; `progress` gets one line per team."""
    from engine.prefect_runs import run_batch

    return run_batch(runtime, f"planning-kits-{year}", lambda runner: launch_kits(runtime, year, runner, teams=teams),
                     progress=progress, on_state=on_state)
