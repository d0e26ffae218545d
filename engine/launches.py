"""Recurring launches (e.g. the planning kit on 1 Dec 09:00 Asia/Shanghai): once per period.

A launch occurrence is claimed by inserting its `launch_run (launch, period_key)` row — the
unique key makes a second run of the same period impossible, across restarts and processes.
After downtime, the last missed occurrence runs late or is recorded as skipped, per the launch's
catch-up policy. Only occurrences after the flow was first registered are caught up, so a new
install does not replay last year's launch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable

from engine import sql
from engine.batch import BatchRunner, DirectRunner
from engine.clock import from_us, to_us
from engine.definition import FlowDefinition, LaunchSpec

if TYPE_CHECKING:
    from engine.runtime import Runtime

log = logging.getLogger("mcr.launches")


@dataclass
class LaunchContext:
    runtime: "Runtime"
    flow: FlowDefinition
    launch: LaunchSpec
    occurrence: datetime
    period_key: str
    params: dict[str, Any] = field(default_factory=dict)
    # How the launcher's work items run: one after the other here, or as Prefect tasks
    # (engine/prefect_runs.py) when the occurrence runs as a Prefect flow.
    runner: BatchRunner = field(default_factory=DirectRunner)


@dataclass
class LaunchOutcome:
    launch: str
    period_key: str
    status: str  # done | skipped | failed | already
    started: int = 0
    note: str | None = None


def launch_name(defn: FlowDefinition, spec: LaunchSpec) -> str:
    return f"{defn.name}:{spec.name}"


def run_launch(runtime: "Runtime", defn: FlowDefinition, spec: LaunchSpec, occurrence: datetime,
               *, skip: bool = False, note: str | None = None, runner: BatchRunner | None = None) -> LaunchOutcome:
    name = launch_name(defn, spec)
    key = spec.recurrence.period_key(occurrence)
    now = runtime.clock.now()
    with runtime.db.tx() as tx:
        row = tx.one(sql.INSERT_LAUNCH_RUN, {"launch": name, "period_key": key, "due_us": to_us(occurrence),
                                             "status": "skipped" if skip else "running", "note": note,
                                             "now": to_us(now)})
        if row is None:
            prev = tx.one("SELECT id, status FROM launch_run WHERE launch = :l AND period_key = :k",
                          {"l": name, "k": key})
            if prev[1] != "failed" or skip:
                return LaunchOutcome(name, key, "already")
            tx.execute("UPDATE launch_run SET status = 'running', at_us = :now WHERE id = :id",
                       {"id": prev[0], "now": to_us(now)})
            run_id = prev[0]
        else:
            run_id = row[0]
    if skip:
        return LaunchOutcome(name, key, "skipped", note=note)
    fn = runtime.registry.launchers[spec.launcher]
    try:
        started = int(fn(LaunchContext(runtime, defn, spec, occurrence, key, dict(spec.params),
                                         runner or DirectRunner())) or 0)
    except Exception as exc:  # recorded as failed; the next rescan retries it
        log.exception("launch %s %s failed", name, key)
        _finish(runtime, run_id, "failed", 0, f"{type(exc).__name__}: {exc}")
        return LaunchOutcome(name, key, "failed", note=str(exc))
    _finish(runtime, run_id, "done", started, note)
    return LaunchOutcome(name, key, "done", started, note)


def _finish(runtime: "Runtime", run_id: int, status: str, started: int, note: str | None) -> None:
    with runtime.db.tx() as tx:
        tx.execute(sql.FINISH_LAUNCH_RUN, {"id": run_id, "status": status, "started": started, "note": note,
                                           "now": to_us(runtime.clock.now())})


def first_registered(runtime: "Runtime", flow: str) -> datetime | None:
    with runtime.db.read() as tx:
        row = tx.one("SELECT MIN(registered_us) FROM flow_definition WHERE name = :n", {"n": flow})
    return from_us(row[0]) if row and row[0] is not None else None


RunLaunch = Callable[..., LaunchOutcome]


def has_run(runtime: "Runtime", name: str, period_key: str) -> bool:
    """Whether the occurrence is claimed already (and not failed): a cheap read before any costly
    start (a Prefect flow run); the claim itself is still the insert of `run_launch`."""
    with runtime.db.read() as tx:
        row = tx.one("SELECT status FROM launch_run WHERE launch = :l AND period_key = :k",
                     {"l": name, "k": period_key})
    return row is not None and row[0] != "failed"


def run_due_launches(runtime: "Runtime", grace: timedelta | None = None,
                     only: set[str] | None = None, run: RunLaunch | None = None) -> list[LaunchOutcome]:
    """Run (or skip, per policy) every launch whose latest occurrence has not run yet
    (`only`: restrict to these `flow:launch` names; `run`: how one occurrence runs, by default
    `run_launch` in this thread — engine/prefect_runs.py passes one that makes it a Prefect flow)."""
    run = run or run_launch
    grace = grace or runtime.catch_up_grace
    now = runtime.clock.now()
    outcomes = []
    for defn in runtime.definitions.latest():
        if not defn.launches:
            continue
        since = first_registered(runtime, defn.name)
        for spec in defn.launches:
            if only is not None and launch_name(defn, spec) not in only:
                continue
            occurrence = spec.recurrence.previous(now)
            if occurrence is None or since is None or occurrence < since:
                continue
            late = now - occurrence
            if late > grace and spec.catch_up == "skip":
                out = run(runtime, defn, spec, occurrence, skip=True,
                          note=f"missed while the engine was down (late by {late}); catch-up policy is skip")
            else:
                out = run(runtime, defn, spec, occurrence,
                          note=f"ran late by {late}" if late > grace else None)
            if out.status != "already":
                outcomes.append(out)
    return outcomes


def next_launch(runtime: "Runtime", only: set[str] | None = None) -> datetime | None:
    now = runtime.clock.now()
    times = [spec.recurrence.next(now) for d in runtime.definitions.latest() for spec in d.launches
             if only is None or launch_name(d, spec) in only]
    return min(times) if times else None
