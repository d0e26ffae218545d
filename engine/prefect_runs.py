"""Every batch process as a Prefect 3 flow: one flow, `mcr-launch`, for every recurring launch of
every flow definition, its work items as Prefect tasks with retries — the same code whether it runs
inside `mcr serve`/`mcr worker` (engine/prefect_local.py) or as a deployment on a Prefect server
picked up by a process worker (`mcr deploy`, docs/operations.md).

* `mcr_launch(launch, at=None)` runs one launch (`flow:launch`, e.g. `planning_kit:yearly`): the
  occurrence `at`, or — as a scheduled deployment does — its latest occurrence if it has not run yet
  (`engine.launches.run_due_launches`, catch-up policy included). The claim is the unique
  `launch_run (launch, period_key)` row inserted by `engine.launches.run_launch`: two Prefect
  workers, or a worker and `mcr serve`, that start the same occurrence launch it once; the other
  run ends with `already`.
* `PrefectRunner` is the `engine.batch.BatchRunner` of a flow run: one `mcr-item` task per item
  (retries `MCR_PREFECT_RETRIES`, default 2, 1 s apart), each task's state to `on_state`, one
  progress line per item.
* `run_batch(name, body)` runs any other batch (`mcr planning launch`, the launch page) as an
  `mcr-batch` flow in this process, `body(runner)` doing the work.
* `deploy(...)` registers one deployment per launch on the Prefect server of PREFECT_API_URL.

The runtime: inside `mcr serve` the engine's own (`attach`); on a Prefect worker the flow builds it
from the environment (MCR_DATABASE_URL, MCR_FLOWS_DIR, MCR_RULES_DIR — engine/app.py) once per
process. Flow parameters stay plain JSON, as Prefect's API requires.

Logs once: when a caller prints progress itself (`progress=`), each line goes to the Prefect API
(its UI) through a logger that does not propagate to the console handlers, and is printed by the
caller only. Without a caller (a deployment on a worker) the lines go to the run logger, which
prints them in the worker's output and sends them to the API.

Importing this module imports Prefect (≈1 s); the engine core never does (engine/prefect_local.py
imports it in the background).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import asdict
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, TypeVar

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect starts its local API server on the first run in a process (5–25 s on a busy machine); its
# default patience of 20 s failed launches under load.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from engine.batch import BatchResult, Progress, StateHook, error_text, failure_text, progress_line  # noqa: E402
from engine.errors import MCRError  # noqa: E402
from engine.launches import LaunchOutcome, launch_name, run_due_launches, run_launch  # noqa: E402

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("mcr.prefect")

ENTRYPOINT = "engine/prefect_runs.py:mcr_launch"
EARLY_S = 120.0  # how early a scheduled run may start and still take the coming occurrence
ROOT = Path(__file__).resolve().parent.parent  # the folder a process worker runs the entrypoint from


class LaunchFailed(MCRError):
    """A launch occurrence failed; it is recorded as failed and runs again at the next rescan."""


class UnknownLaunch(MCRError):
    """No flow definition declares that launch."""


# ---------------------------------------------------------------------------------------------- runtime

_lock = threading.RLock()      # one in-process flow run at a time: they share `_attached` and `_body`
_attached: dict[str, Any] = {}  # runtime, progress, on_state, body of the in-process run
# Set by engine/prefect_local.py while it starts Prefect's local API: an in-process run waits for it
# rather than start a second API server beside it (Prefect's own start is not thread-safe).
api_ready: Optional[threading.Event] = None


def _wait_for_api() -> None:
    if api_ready is not None:
        api_ready.wait(float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]) + 30)


def _runtime() -> Any:
    rt = _attached.get("runtime")
    if rt is None:  # a deployment's run on a Prefect worker: build it from the environment, once
        from engine.app import build_runtime

        rt = _attached["runtime"] = build_runtime()
    return rt


def _retries() -> int:
    return int(os.environ.get("MCR_PREFECT_RETRIES", "2"))


# ---------------------------------------------------------------------------------------------- tasks


def _api_only_logger() -> logging.Logger:
    """A logger whose records reach the Prefect API (the UI) but no console handler."""
    from prefect.logging.handlers import APILogHandler

    logger = logging.getLogger("mcr.prefect.api")
    if not logger.handlers:
        logger.addHandler(APILogHandler())
        logger.propagate = False
        logger.setLevel(logging.INFO)
    return logger


@task(name="mcr-item", task_run_name="{what}:{name}", retry_delay_seconds=1, cache_policy=NO_CACHE,
      persist_result=False)
def _item(what: str, name: str, fn: Callable[[Any], Any], item: Any, on_state: Optional[StateHook]) -> Any:
    from prefect.runtime import task_run

    if on_state is not None:
        on_state(name, "running", runs=int(task_run.run_count or 1))
    return fn(item)


class PrefectRunner:
    """`engine.batch.BatchRunner` inside a flow run: every item a task, submitted together (Prefect's
    thread pool runs them side by side), results read back in the items' order."""

    def __init__(self, progress: Optional[Progress] = None, on_state: Optional[StateHook] = None) -> None:
        self.progress = progress
        self.on_state = on_state

    def each(self, what: str, items: Sequence[T], fn: Callable[[T], R], *,
             key: Callable[[T], str] = str, describe: Optional[Callable[[R], str]] = None) -> BatchResult[T, R]:
        logger = get_run_logger()
        out: BatchResult[T, R] = BatchResult(what)
        run = _item.with_options(retries=_retries())
        futures = [(item, key(item), run.submit(what, key(item), fn, item, self.on_state)) for item in items]
        for i, (item, name, future) in enumerate(futures, start=1):
            future.wait()
            state = future.state
            if state.is_completed():
                result = future.result()
                out.done.append((item, result))
                text = describe(result) if describe else str(result)
                self._state(name, "completed", result=result)
            else:
                try:
                    future.result()
                    error = str(state.message or state.name)
                except Exception as exc:  # the task's own exception, after its retries
                    error = error_text(exc)
                out.failures[name] = error
                text = failure_text(error)
                self._state(name, "failed", message=error)
            self._say(logger, progress_line(i, len(items), name, text))
        return out

    def _state(self, name: str, state: str, **info: Any) -> None:
        if self.on_state is not None:
            self.on_state(name, state, **info)

    def _say(self, run_logger: Any, line: str) -> None:
        if self.progress is None:
            run_logger.info(line)
            return
        logging.LoggerAdapter(_api_only_logger(), dict(run_logger.extra)).info(line)
        self.progress(line)


# ---------------------------------------------------------------------------------------------- flows


def find_launch(runtime: Any, name: str) -> tuple[Any, Any]:
    for defn in runtime.definitions.latest():
        for spec in defn.launches:
            if launch_name(defn, spec) == name:
                return defn, spec
    raise UnknownLaunch(f"{UnknownLaunch.__doc__} {name}")


def launch_names(runtime: Any) -> list[str]:
    return [launch_name(d, s) for d in runtime.definitions.latest() for s in d.launches]


@flow(name="mcr-launch", flow_run_name="{launch}", validate_parameters=False)
def mcr_launch(launch: str, at: Optional[str] = None, note: Optional[str] = None) -> list[dict[str, Any]]:
    """Run the launch `launch` (`flow:launch`): the occurrence `at` (ISO 8601), or its latest
    occurrence if that has not run yet. Fails (after recording it) if the launcher failed."""
    logger = get_run_logger()
    runtime = _runtime()
    runner = PrefectRunner(_attached.get("progress"), _attached.get("on_state"))
    if at is None:
        defn, spec = find_launch(runtime, launch)
        # A scheduled run that starts a little before its occurrence (this machine's clock behind the
        # Prefect server's) waits for it rather than find the previous period done and miss this one.
        coming = spec.recurrence.next(runtime.clock.now())
        early = (coming - runtime.clock.now()).total_seconds()
        if early <= EARLY_S:
            time.sleep(max(early, 0.0))
            outcomes = [run_launch(runtime, defn, spec, coming, runner=runner)]
        else:
            outcomes = run_due_launches(runtime, only={launch}, run=partial(run_launch, runner=runner))
    else:
        defn, spec = find_launch(runtime, launch)
        outcomes = [run_launch(runtime, defn, spec, datetime.fromisoformat(at), note=note, runner=runner)]
    for out in outcomes:
        logger.info("launch %s %s: %s (%d started)%s", out.launch, out.period_key, out.status, out.started,
                    f" — {out.note}" if out.note else "")
    if not outcomes:
        logger.info("launch %s: nothing due", launch)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise LaunchFailed("; ".join(f"{o.launch} {o.period_key}: {o.note}" for o in failed))
    return [asdict(o) for o in outcomes]


@flow(name="mcr-batch", flow_run_name="{name}", validate_parameters=False)
def mcr_batch(name: str) -> Any:
    """An in-process batch (`run_batch`): its body is this process's, not a parameter."""
    body = _attached["body"]
    return body(PrefectRunner(_attached.get("progress"), _attached.get("on_state")))


# ---------------------------------------------------------------------------------------------- in-process entry points


def run_occurrence(runtime: Any, name: str, occurrence: datetime, *, note: Optional[str] = None,
                   progress: Optional[Progress] = None, on_state: Optional[StateHook] = None) -> LaunchOutcome:
    """One launch occurrence as an `mcr-launch` flow run in this process, against `runtime`."""
    key = find_launch(runtime, name)[1].recurrence.period_key(occurrence)
    _wait_for_api()
    with _lock:
        _attached.update(runtime=runtime, progress=progress, on_state=on_state)
        try:
            state = mcr_launch(name, occurrence.isoformat(), note, return_state=True)
        finally:
            _attached.clear()
    if state.is_completed():
        found = state.result()
        return LaunchOutcome(**found[0]) if found else LaunchOutcome(name, key, "already")
    try:
        state.result()
    except Exception as exc:
        return LaunchOutcome(name, key, "failed", note=error_text(exc))
    return LaunchOutcome(name, key, "failed", note=str(state.message or state.name))


def run_batch(runtime: Any, name: str, body: Callable[[PrefectRunner], R], *, progress: Optional[Progress] = None,
              on_state: Optional[StateHook] = None) -> R:
    """`body(runner)` as an `mcr-batch` flow run named `name` in this process (its items Prefect tasks)."""
    _wait_for_api()
    with _lock:
        _attached.update(runtime=runtime, progress=progress, on_state=on_state, body=body)
        try:
            return mcr_batch(name)
        finally:
            _attached.clear()


# ---------------------------------------------------------------------------------------------- deployments


def cron_of(recurrence: Any) -> str:
    """The cron line of a launch's recurrence (in its own time zone). A day past 28 fires on the
    28th too: the flow runs the latest occurrence not run yet, so an early look only finds nothing."""
    t = recurrence.at_time
    day = recurrence.day if recurrence.day <= 28 else "28-31"
    return {
        "daily": f"{t.minute} {t.hour} * * *",
        "weekly": f"{t.minute} {t.hour} * * {(recurrence.weekday + 1) % 7}",
        "monthly": f"{t.minute} {t.hour} {day} * *",
        "quarterly": f"{t.minute} {t.hour} {day} 1,4,7,10 *",
        "yearly": f"{t.minute} {t.hour} {day} {recurrence.month} *",
    }[recurrence.kind]


def deployment_name(launch: str) -> str:
    return launch.replace(":", "-").replace("_", "-")


def ensure_pool(pool: str) -> bool:
    """Create the process work pool `pool` if the server has none of that name; True if created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            return True


def deploy(runtime: Any, pool: str, *, only: Optional[list[str]] = None, schedule: bool = True,
           source: Optional[Path] = None) -> list[tuple[str, str, Optional[str]]]:
    """Register one `mcr-launch` deployment per launch (or per name in `only`) on the Prefect server
    of PREFECT_API_URL, run by process workers of `pool` from `source` (default: this installation).
    Returns (launch, deployment, cron) for each."""
    from prefect.schedules import Cron

    names = only or launch_names(runtime)
    remote = mcr_launch.from_source(source=str(source or ROOT), entrypoint=ENTRYPOINT)
    done = []
    for name in names:
        spec = find_launch(runtime, name)[1]
        cron = cron_of(spec.recurrence)
        remote.deploy(name=deployment_name(name), work_pool_name=pool, parameters={"launch": name},
                      schedules=[Cron(cron, timezone=str(spec.recurrence.tz))] if schedule else [],
                      tags=["mcr"], description=f"{name}: every {spec.every}", print_next_steps=False,
                      build=False, push=False)
        done.append((name, f"mcr-launch/{deployment_name(name)}", cron if schedule else None))
    return done
