"""Launches as Prefect flow runs inside `mcr serve` / `mcr worker`, without a start-up penalty per run.

`LocalPrefect.start()` imports Prefect and makes sure an API is there in a background thread, once
per process, while the engine already serves: the Prefect server of PREFECT_API_URL when that is
set, else Prefect's own local API (a subprocess on a loopback port, 5–25 s to start here). Its
`run` is the `run` hook of `engine.launches.run_due_launches` that the scheduler passes:

* an occurrence already claimed (the `launch_run` row) is answered from that row — no flow run
  every rescan;
* a skipped occurrence (catch-up policy) is only a row: recorded directly;
* anything else runs as an `mcr-launch` flow run (engine/prefect_runs.py), its items as tasks.

If Prefect cannot start (a broken installation, no free port) or fails under a run (its API stopped
before the engine), the launch runs directly, with one warning in the log: a 1 December launch must not wait for a dashboard. MCR_PREFECT=off skips
Prefect altogether (`wanted`).
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime
from typing import Any

from engine import orphan_guard
from engine.launches import LaunchOutcome, has_run, launch_name, run_launch

log = logging.getLogger("mcr.prefect")


def wanted() -> bool:
    """Whether the engine runs its launches as Prefect flows (MCR_PREFECT, default on)."""
    return os.environ.get("MCR_PREFECT", "on").strip().lower() not in ("off", "0", "false", "no")


class LocalPrefect:
    def __init__(self, runtime: Any, *, wait: float = 300.0) -> None:
        self.runtime = runtime
        self.wait = wait
        self.ready = threading.Event()
        self.failed: str | None = None
        self.api_url: str | None = None
        self._warned = False

    def start(self) -> "LocalPrefect":
        threading.Thread(target=self._warm_up, name="mcr-prefect-start", daemon=True).start()
        return self

    def _warm_up(self) -> None:
        try:
            import engine.prefect_runs  # imports Prefect and registers the flows

            engine.prefect_runs.api_ready = self.ready

            # Prefect's HTTP client logs every request at INFO: one line per state change otherwise.
            logging.getLogger("httpx").setLevel(logging.WARNING)
            self.api_url = os.environ.get("PREFECT_API_URL") or self._local_api()
            log.info("launches run as Prefect flows (API %s)", self.api_url)
        except Exception as exc:  # recorded; launches then run directly
            self.failed = f"{type(exc).__name__}: {exc}".splitlines()[0]
            log.warning("Prefect unavailable, launches run directly: %s", self.failed)
        finally:
            self.ready.set()

    @staticmethod
    def _local_api() -> str:
        # The same singleton Prefect's client starts on a first flow run: started here, ahead of time,
        # every later run in this process finds it up.
        from prefect.server.api.server import SubprocessASGIServer

        server = SubprocessASGIServer()
        server.start(timeout=int(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]))
        if server.server_process is not None:
            # A `kill -9` of this process skips Prefect's atexit stop: the guard stops the API then.
            orphan_guard.guard(server.server_process.pid)
        return server.api_url

    def run(self, runtime: Any, defn: Any, spec: Any, occurrence: datetime, *, skip: bool = False,
            note: str | None = None) -> LaunchOutcome:
        name = launch_name(defn, spec)
        key = spec.recurrence.period_key(occurrence)
        if has_run(runtime, name, key):
            return LaunchOutcome(name, key, "already")
        if skip:
            return run_launch(runtime, defn, spec, occurrence, skip=True, note=note)
        if not self.ready.wait(self.wait) or self.failed is not None:
            if not self._warned:
                self._warned = True
                log.warning("launch %s %s runs without Prefect: %s", name, key, self.failed or "Prefect not ready")
            return run_launch(runtime, defn, spec, occurrence, note=note)
        from engine.prefect_runs import run_occurrence

        try:
            return run_occurrence(runtime, name, occurrence, note=note)
        except Exception as exc:
            # Prefect's own failure (its API gone, e.g. stopped with the process group): the launcher's
            # failures never get here (`run_launch` records them). The claim makes running it directly
            # safe: an occurrence the flow run claimed answers `already`, one it did not runs now.
            log.warning("launch %s %s: Prefect failed (%s); running it directly", name, key,
                        f"{type(exc).__name__}: {exc}".splitlines()[0])
            return run_launch(runtime, defn, spec, occurrence, note=note)
