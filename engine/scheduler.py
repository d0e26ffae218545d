"""APScheduler wiring: wake the timer sweep at the next due time, run launches, send mail.

The engine's own rows (timer, launch_run, outbox) are the truth; APScheduler only decides
*when* to look. So its jobs are few and cheap:

* `sweep`   — a one-shot job at the next due timer, moved earlier whenever a step in this
              process arms an earlier timer (`Runtime.on_timer_armed`), re-planned after each run;
* `rescan`  — MCR_RESCAN_S seconds (default 30) after the previous one ended: re-reads the next
              due time (timers armed by another process, e.g. `mcr event send`), runs missed
              launches, wakes the mail thread;
* `launch`  — a one-shot job at the next launch occurrence, re-planned after each run.

Mail is not an APScheduler job: one `mcr-mail` thread delivers, woken by the sweep and the
rescan (`_deliver` only sets an event), so a long batch to a slow server never overlaps itself,
never holds up the sweep, and never makes APScheduler skip a job ("maximum number of running
instances reached" every few seconds). Likewise a timer armed while the sweep runs does not
re-plan the sweep job under its feet: the sweep re-reads the next due time when it ends.

Every job uses `misfire_grace_time=None` and `coalesce=True`: APScheduler 3's default grace
silently drops jobs that come due while the process is busy or paused (measured: 10,000 of
10,000 dropped), and a dropped wake-up must never mean a lost timer.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from engine.clock import SystemClock
from engine.db import fault_from
from engine.launches import RunLaunch, next_launch, run_due_launches
from engine.runtime import Runtime

log = logging.getLogger("mcr.scheduler")


class EngineScheduler:
    def __init__(self, runtime: Runtime, sender: Any | None = None, *,
                 rescan: timedelta | None = None, pause_after_claim: float = 0.0,
                 run_launch: RunLaunch | None = None) -> None:
        self.runtime = runtime
        self.run_launch = run_launch  # how one launch occurrence runs (engine/prefect_local.py: a Prefect flow)
        self.sender = sender
        self.rescan = rescan or timedelta(seconds=float(os.environ.get("MCR_RESCAN_S", "30")))
        self.pause_after_claim = pause_after_claim
        self.mail_batch = 200
        self._lock = threading.Lock()
        self._planned: datetime | None = None
        self._sweeping = False
        self._mail_wanted = threading.Event()
        self._stopping = threading.Event()
        self._mail_thread: threading.Thread | None = None
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1})
        runtime.on_timer_armed = self.wake_at

    def start(self) -> None:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        if self.sender is not None:
            self._mail_thread = threading.Thread(target=self._mail_loop, name="mcr-mail", daemon=True)
            self._mail_thread.start()
        self.scheduler.start()
        self._plan_rescan(SystemClock().now())
        self._plan_launch()

    def shutdown(self, mail_grace: float = 10.0) -> None:
        self._stopping.set()
        self.scheduler.shutdown(wait=True)
        self._mail_wanted.set()
        if self._mail_thread is not None:
            # A batch still running after the grace is abandoned with the process: every mail the
            # server accepted is already marked sent, the rest go again when the lease runs out.
            self._mail_thread.join(mail_grace)

    # ------------------------------------------------------------------ jobs

    def wake_at(self, when: datetime) -> None:
        """Make sure the sweep runs no later than `when` (called after a step commits)."""
        with self._lock:
            if self._sweeping:
                return  # the running sweep re-reads the next due time when it ends
            if (self._planned is not None and self._planned <= when
                    and self.scheduler.get_job("sweep") is not None):
                return
            self._planned = when
            self.scheduler.add_job(self._sweep, DateTrigger(run_date=self._real_time(when)), id="sweep",
                                   replace_existing=True)

    def _real_time(self, when: datetime) -> datetime:
        # Timer due times follow the runtime's clock; APScheduler follows the wall clock. The wait is
        # the runtime clock's distance to `when`, counted from the wall clock's now: the same instant
        # with the system clock, and no busy loop on a fixed test clock (MCR_FAKE_NOW).
        wait = max(when - self.runtime.clock.now(), timedelta(0))
        return (SystemClock().now() + wait).astimezone(timezone.utc)

    def _sweep(self) -> None:
        with self._lock:
            self._planned = None
            self._sweeping = True
        try:
            fired = self.runtime.sweep(pause_after_claim=self.pause_after_claim)
            if fired:
                log.info("fired %d timer(s)", fired)
            self._deliver()
        except Exception as exc:  # keep the service alive; the rows are still there for the next sweep
            _log_failure("sweep failed", exc)
        finally:
            # Before reading the next due time: a timer armed from here on plans its own wake-up.
            with self._lock:
                self._sweeping = False
        self._plan_sweep(after_sweep=True)

    def _plan_sweep(self, after_sweep: bool = False) -> None:
        due = self.runtime.next_due()
        if due is None:
            return
        now = self.runtime.clock.now()
        if after_sweep and due <= now:
            # Still due right after a sweep: another worker holds its lease (or a crashed one did).
            # Look again when such a lease can have run out, instead of spinning.
            due = now + min(self.runtime.lease, self.rescan)
        self.wake_at(due)

    def _plan_rescan(self, when: datetime) -> None:
        # A one-shot job that plans the next one when it ends (not an interval): a rescan that takes
        # longer than the interval (a big launch) delays the next one instead of overlapping it.
        self.scheduler.add_job(self._rescan_job, DateTrigger(run_date=when), id="rescan", replace_existing=True)

    def _rescan_job(self) -> None:
        try:
            self._rescan()
        finally:
            if not self._stopping.is_set():
                self._plan_rescan(SystemClock().now() + self.rescan)

    def _rescan(self) -> None:
        try:
            for out in run_due_launches(self.runtime, run=self.run_launch):
                log.info("launch %s %s: %s (%d started)", out.launch, out.period_key, out.status, out.started)
            self._plan_sweep()
            self._deliver()
        except Exception as exc:
            _log_failure("rescan failed", exc)

    def _deliver(self) -> None:
        """Ask the mail thread for a round; never waits for it."""
        if self.sender is not None:
            self._mail_wanted.set()

    def _mail_loop(self) -> None:
        while True:
            self._mail_wanted.wait()
            if self._stopping.is_set():
                return
            self._mail_wanted.clear()
            try:
                report = self.sender.deliver_due_sync(self.mail_batch)
                if getattr(report, "sent", 0) or getattr(report, "failed", 0):
                    log.info("mail: %s", report)
                if getattr(report, "claimed", 0) >= self.mail_batch:
                    self._mail_wanted.set()  # a full batch: more may be waiting
            except Exception as exc:
                _log_failure("mail delivery failed", exc)

    def _plan_launch(self) -> None:
        when = next_launch(self.runtime)
        if when is None:
            return
        self.scheduler.add_job(self._launch, DateTrigger(run_date=self._real_time(when)), id="launch",
                               replace_existing=True)

    def _launch(self) -> None:
        self._rescan()
        self._plan_launch()


def _log_failure(what: str, exc: Exception) -> None:
    """A database that is busy, full or gone is an operating condition, not a bug: one line, no
    traceback, every time it recurs (the work is retried at the next round). Anything else is
    logged with its traceback."""
    fault = fault_from(exc)
    if fault is not None:
        log.error("%s: %s", what, fault)
    else:
        log.exception(what)
