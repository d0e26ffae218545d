"""Recurring launches run once per period (also across restarts) and honour their catch-up policy;
the APScheduler wiring wakes the sweep at the next due time instead of polling."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

import pytest

from engine.clock import FakeClock, SystemClock
from engine.db import Database
from engine.definition import load_definitions
from engine.launches import next_launch, run_due_launches
from engine.runtime import Runtime
from engine.scheduler import EngineScheduler
from tests.conftest import TEST_FLOWS

SH = timezone(timedelta(hours=8))


def launch_rows(db: Database) -> list[tuple]:
    with db.read() as tx:
        return [tuple(r) for r in tx.all("SELECT launch, period_key, status, started FROM launch_run ORDER BY id")]


@pytest.fixture
def rt(db: Database) -> Runtime:
    clock = FakeClock(datetime(2026, 11, 30, 12, 0, tzinfo=SH))
    runtime = Runtime(db, load_definitions(TEST_FLOWS), clock=clock)
    runtime.register_definitions()
    return runtime


def test_yearly_launch_runs_once_at_its_time_and_never_twice(rt: Runtime, db: Database) -> None:
    assert run_due_launches(rt) == []  # today's 07:00 was before the flow existed; 1 Dec not yet
    assert next_launch(rt) == datetime(2026, 12, 1, 7, 0, tzinfo=SH)
    rt.clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
    outcomes = {o.launch: o for o in run_due_launches(rt)}
    assert outcomes["launchy:yearly"].status == "done" and outcomes["launchy:yearly"].started == 3
    assert outcomes["launchy:daily"].status == "skipped"  # 07:00 was two hours ago and it skips missed days
    assert run_due_launches(rt) == []  # same period again: nothing
    restarted = Runtime(db, rt.definitions, clock=rt.clock)
    assert run_due_launches(restarted) == []  # and not after a restart either
    assert ("launchy:yearly", "2026-12-01T09:00", "done", 3) in launch_rows(db)
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM flow_instance WHERE flow = 'launchy'")[0] == 3


def test_missed_launch_with_skip_policy_is_recorded_not_run(rt: Runtime, db: Database) -> None:
    calls = sys.modules[next(m for m in sys.modules if m.startswith("mcr_flowmod_") and
                             hasattr(sys.modules[m], "CALLS"))].CALLS
    calls.clear()
    rt.clock.set(datetime(2026, 12, 1, 7, 1, tzinfo=SH))
    assert [o.status for o in run_due_launches(rt) if o.launch == "launchy:daily"] == ["done"]
    assert calls == ["2026-12-01T07:00"]
    rt.clock.set(datetime(2026, 12, 3, 12, 0, tzinfo=SH))  # down over 1–3 Dec 07:00
    outcomes = {o.launch: o for o in run_due_launches(rt)}
    assert outcomes["launchy:daily"].status == "skipped" and "missed while the engine was down" in outcomes["launchy:daily"].note
    assert outcomes["launchy:yearly"].status == "done"  # fire_late: the 1 Dec launch still runs, late
    assert calls == ["2026-12-01T07:00"]
    assert ("launchy:daily", "2026-12-03T07:00", "skipped", 0) in launch_rows(db)


def test_launch_occurrences_before_the_flow_was_registered_are_not_replayed(db: Database) -> None:
    clock = FakeClock(datetime(2027, 1, 10, 12, 0, tzinfo=SH))  # a fresh install in January
    rt = Runtime(db, load_definitions(TEST_FLOWS), clock=clock)
    rt.register_definitions()
    assert [o.launch for o in run_due_launches(rt)] == []  # neither last 1 Dec nor this morning's 07:00


def test_scheduler_wakes_the_sweep_at_the_next_due_time_without_polling(db: Database) -> None:
    """Driven by a fake clock, not by waiting: the commit plans one sweep job for the timer's due time
    (no polling job but the hourly rescan), and that job, run when it is due, fires the timer."""
    clock = FakeClock(datetime(2026, 11, 26, 9, 0, tzinfo=SH))
    rt = Runtime(db, load_definitions(TEST_FLOWS), clock=clock)
    rt.register_definitions()
    sched = EngineScheduler(rt, rescan=timedelta(hours=1))
    sched.scheduler.start(paused=True)  # jobs are planned, none runs on its own
    try:
        due = clock.now() + timedelta(seconds=90)
        iid = rt.start("crash_reminder", {"due_at": due.isoformat(), "owner": "o@example.com"}, actor="t").instance_id
        jobs = {j.id: j for j in sched.scheduler.get_jobs()}
        assert set(jobs) == {"sweep"}  # woken for the due time: no interval job polls for it
        planned = jobs["sweep"].trigger.run_date
        assert timedelta(seconds=85) <= planned - SystemClock().now() <= timedelta(seconds=90)
        # A later timer does not move the sweep planned for the earlier one.
        rt.start("crash_reminder", {"due_at": (due + timedelta(hours=1)).isoformat(), "owner": "p@example.com"},
                 actor="t")
        assert sched.scheduler.get_job("sweep").trigger.run_date == planned
        clock.set(due)
        jobs["sweep"].func()  # what APScheduler runs at `planned`
        with db.read() as tx:
            assert tx.one("SELECT state FROM flow_instance WHERE id = :i", {"i": iid})[0] == "reminded"
    finally:
        sched.scheduler.shutdown(wait=False)
