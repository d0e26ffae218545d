"""The annual planning launch as a Prefect 3 flow: fan out over the teams due a kit, one task per
team with retries, progress in the Prefect log (and to an optional callback), safe to re-run.

The flow only orchestrates; every step is a plain function of flows/planning/kit.py
(`teams_due_a_kit`, `issue_kit`) that tests call directly. Issuing is idempotent (one kit
instance per team and year), so a re-run — after a crash, or by a nervous user — issues only
what is missing. Prefect is NOT on the per-event path: a first flow run in a fresh process costs
7–12 s (ephemeral API server start-up, measured here), fine for a once-a-year launch from the CLI,
wrong for the scheduler thread — the 1 Dec recurring launch calls the plain functions directly
(flows/planning/actions.py).

Each team's task reports its state (running, then completed or failed, with the Prefect state's
message) to an optional `on_state` callback: the sales-management page (flows/planning/progress.py)
records them in `planning_launch_task` and shows them live. Launches in one process run one at a
time (`_run_lock`): the tasks find the runtime in a module global.

Importing this module imports Prefect (≈0.8 s): only `mcr planning launch`, the launch page's
background thread and their tests do.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Optional

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect starts its local API server on the first run in a process (≈10 s, more on a busy machine); its
# default patience of 20 s failed launches from `mcr serve` under load. Once a year, waiting is fine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from flows.planning.kit import LaunchReport, issue_kit, teams_due_a_kit  # noqa: E402
from engine import i18n  # noqa: E402
from flows.planning.rules import kit_tiers, load_planning_rules  # noqa: E402

# The runtime of the current launch. Flow parameters must be serialisable for Prefect's API, a
# Runtime (database, clock, calendars) is not; the tasks run in Prefect's worker threads of this
# same process and read it from here.
_lock = threading.Lock()
_run_lock = threading.Lock()
_current: dict[str, Any] = {}

# on_state(team, state, *, outcome=None, instance_id=None, runs=None, message=None)
StateHook = Callable[..., None]


def _runtime() -> Any:
    with _lock:
        return _current["runtime"]


@task(name="issue-planning-kit", retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def issue_kit_task(team: str, year: int, tiers: list[str]) -> dict[str, Any]:
    from prefect.runtime import task_run

    _state(team, "running", runs=int(task_run.run_count or 1))
    outcome = issue_kit(_runtime(), team, year, tiers=tiers)
    get_run_logger().info("%s %s: %s", team, year, outcome.describe())
    return {"team": team, "status": outcome.status, "instance_id": outcome.instance_id, "path": outcome.path}


def _state(team: str, state: str, **info: Any) -> None:
    with _lock:
        hook: Optional[StateHook] = _current.get("on_state")
    if hook is not None:
        hook(team, state, **info)


@flow(name="mcr-planning-kit-launch", validate_parameters=False)
def planning_kit_launch(year: int, teams: Optional[list[str]] = None) -> dict[str, Any]:
    """Issue the `year` planning kit to every team that owns a customer of the kit tiers (or to `teams`,
    the list a manager confirmed on the launch page)."""
    logger = get_run_logger()
    runtime = _runtime()
    rules = load_planning_rules()
    tiers = kit_tiers(rules)
    if teams is None:
        with runtime.db.session() as session:
            teams = teams_due_a_kit(session, year, tiers)
    logger.info("planning kits %s: %d team(s) own a customer of tier %s", year, len(teams), "/".join(tiers))
    futures = [(team, issue_kit_task.submit(team, year, tiers)) for team in teams]
    report = LaunchReport(year, teams)
    progress: Optional[Callable[[str], None]] = _current.get("progress")
    for i, (team, future) in enumerate(futures, start=1):
        state = future.wait() or future.state
        if state.is_completed():
            result = future.result()
            from flows.planning.kit import IssueOutcome

            outcome = IssueOutcome(team, year, result["status"], result["instance_id"], result["path"])
            report.outcomes.append(outcome)
            text = outcome.describe()
            _state(team, "completed", outcome=outcome.status, instance_id=outcome.instance_id)
        else:
            error = str(state.message or state.name)
            report.failures[team] = error
            text = i18n.t("planning.outcome_failed", error=error)
            _state(team, "failed", message=error)
        line = i18n.t("planning.launch_progress", i=i, n=len(teams), team=team, outcome=text)
        logger.info(line)
        if progress is not None:
            progress(line)
    logger.info(report.summary())
    return {"year": year, "teams": teams, "issued": report.issued, "already": report.already,
            "failures": report.failures, "outcomes": [o.__dict__ for o in report.outcomes]}


def run_launch(runtime: Any, year: int, *, progress: Optional[Callable[[str], None]] = None,
               on_state: Optional[StateHook] = None, teams: Optional[list[str]] = None) -> LaunchReport:
    """Run the Prefect flow for `year` against `runtime`; returns the same report as the direct launch.

    `on_state` hears each team's task state; `teams` restricts the launch to a confirmed list."""
    with _run_lock:
        with _lock:
            _current.update(runtime=runtime, progress=progress, on_state=on_state)
        try:
            result = planning_kit_launch(year, teams)
        finally:
            with _lock:
                _current.clear()
    from flows.planning.kit import IssueOutcome

    report = LaunchReport(year, result["teams"])
    report.outcomes = [IssueOutcome(**o) for o in result["outcomes"]]
    report.failures = dict(result["failures"])
    return report
