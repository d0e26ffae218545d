"""Chaos drill for scale-out: three `mcr worker` processes share one PostgreSQL database while
20,000 timers fall due, each mailing its owner through a real SMTP server (aiosmtpd on loopback).
Workers are killed with `kill -9` at random moments and restarted. At the end every timer has fired
exactly once (the flow history holds one `due` step per instance) and every mail has arrived, with
at most one duplicate delivery per kill (a worker killed after the SMTP server accepted a message
but before it marked the row sent: the lease expires and another worker sends it again — the same
Message-ID, so a mail client shows it once).

Size: MCR_CHAOS_N (default 20,000). Bounded: the test fails if the work is not done in 9 minutes
(about 3 on an idle 2-core machine)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from engine.clock import SystemClock
from engine.db import Database
from engine.definition import load_definitions
from engine.runtime import Runtime
from tests.conftest import ROOT, TEST_FLOWS, _empty_pg

N = int(os.environ.get("MCR_CHAOS_N", "20000"))
WORKERS = 3
KILLS = 6
DEADLINE_S = 540


def _worker(db: Database, smtp_url: str, tmp: Path, n: int) -> subprocess.Popen:
    env = dict(os.environ, MCR_DATABASE_URL=db.url, MCR_FLOWS_DIR=str(TEST_FLOWS), MCR_SMTP_URL=smtp_url,
               MCR_TIMER_LEASE_S="5", MCR_MAIL_LEASE_S="5", MCR_RESCAN_S="1", MCR_LOG_LEVEL="ERROR",
               PREFECT_HOME=str(tmp / "prefect"))
    log = open(tmp / f"worker{n}.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "worker"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def _count(db: Database, sql: str) -> int:
    with db.read() as tx:
        return int(tx.one(sql)[0])


def _seed(db: Database, n: int) -> list[int]:
    clock = SystemClock()
    rt = Runtime(db, load_definitions(TEST_FLOWS), clock=clock)
    rt.register_definitions()
    due = (clock.now() - timedelta(seconds=1)).isoformat()
    ids: list[int] = []
    for first in range(0, n, 2000):  # the engine's own start, 2,000 per transaction (seeding is not under test)
        with db.tx() as tx:
            ids += [rt.start_in(tx, "crash_reminder", {"due_at": due, "owner": f"owner{i}@example.com"},
                                actor="drill").instance_id for i in range(first, min(n, first + 2000))]
    return ids


@pytest.fixture
def pg_db(_pg_schema: str):
    """The session's PostgreSQL schema, emptied (the server unreachable: the fixture errors loudly).
    PostgreSQL only: several workers share one database; a SQLite file takes one process."""
    database = Database(_pg_schema)
    _empty_pg(database)
    yield database
    database.dispose()


@pytest.mark.slow
@pytest.mark.timeout(720)
def test_three_workers_killed_at_random_fire_every_timer_once_and_deliver_every_mail(
        pg_db: Database, smtp_server, tmp_path: Path) -> None:
    db = pg_db
    ids = _seed(db, N)
    rng = random.Random(7)
    procs = [_worker(db, smtp_server.url, tmp_path, i) for i in range(WORKERS)]
    kills = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < DEADLINE_S:
            sent = _count(db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'")
            if sent == N:
                break
            time.sleep(rng.uniform(0.5, 3.0))
            if kills < KILLS:
                victim = rng.randrange(WORKERS)
                os.killpg(procs[victim].pid, signal.SIGKILL)
                procs[victim].wait(10)
                kills += 1
                procs[victim] = _worker(db, smtp_server.url, tmp_path, victim)
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
    logs = "\n".join((tmp_path / f"worker{i}.log").read_text(errors="replace")[-2000:] for i in range(WORKERS))
    assert _count(db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'") == N, f"not done in {DEADLINE_S} s\n{logs}"
    assert kills == KILLS

    with db.read() as tx:
        fired = Counter(r[0] for r in tx.all("SELECT instance_id FROM flow_history WHERE event = 'due'"))
        states = Counter(r[0] for r in tx.all("SELECT state FROM flow_instance"))
    assert fired == Counter({i: 1 for i in ids})          # every timer fired, none twice
    assert states == Counter({"reminded": N})

    received = Counter(str(m["Message-ID"]) for m in smtp_server.messages)
    assert len(received) == N                               # every mail arrived
    duplicates = sum(received.values()) - N
    assert duplicates <= kills, f"{duplicates} duplicate deliveries for {kills} kills"
    print(f"\nchaos: {N} timers + {N} mails, {WORKERS} workers, {kills} kill -9, {elapsed:.0f} s, "
          f"{duplicates} duplicate deliveries")
