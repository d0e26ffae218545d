"""Crash drill: `kill -9` a running `mcr serve` between claiming timers and firing them, restart
it, and check that every timer fired exactly once and every mail was delivered exactly once —
on a SQLite file and on PostgreSQL, with a real SMTP server receiving the mail."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from engine.clock import SystemClock
from engine.db import Database
from engine.definition import load_definitions
from engine.runtime import Runtime
from tests.conftest import ROOT, TEST_FLOWS
from tests.support.serve import wait_for

N = 40


def _serve(db: Database, smtp_url: str, tmp: Path, pause: float) -> subprocess.Popen:
    env = dict(os.environ, MCR_DATABASE_URL=db.url, MCR_FLOWS_DIR=str(TEST_FLOWS), MCR_SMTP_URL=smtp_url,
               MCR_TIMER_LEASE_S="3", MCR_RESCAN_S="1", MCR_FAULT_PAUSE_AFTER_CLAIM_S=str(pause),
               MCR_LOG_LEVEL="WARNING", PREFECT_HOME=str(tmp / "prefect"))
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _count(db: Database, sql: str) -> int:
    with db.read() as tx:
        return tx.one(sql)[0]


def _wait(predicate, proc: subprocess.Popen, timeout: float = 60) -> None:
    wait_for(predicate, proc, timeout=timeout, poll=0.1)


@pytest.mark.slow
def test_kill_9_between_claim_and_fire_loses_nothing_and_duplicates_nothing(db: Database, smtp_server, tmp_path: Path) -> None:
    clock = SystemClock()
    rt = Runtime(db, load_definitions(TEST_FLOWS), clock=clock)
    rt.register_definitions()
    due = (clock.now() - timedelta(seconds=1)).isoformat()
    ids = [rt.start("crash_reminder", {"due_at": due, "owner": f"owner{i}@example.com"}, actor="drill").instance_id
           for i in range(N)]

    first = _serve(db, smtp_server.url, tmp_path, pause=60)
    try:
        _wait(lambda: _count(db, "SELECT COUNT(*) FROM timer WHERE status = 'pending' AND claimed_by IS NOT NULL") == N,
              first)
        os.killpg(first.pid, signal.SIGKILL)  # between claiming and firing
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert _count(db, "SELECT COUNT(*) FROM timer WHERE status = 'fired'") == 0
    assert _count(db, "SELECT COUNT(*) FROM outbox") == 0

    second = _serve(db, smtp_server.url, tmp_path, pause=0)
    try:
        _wait(lambda: _count(db, "SELECT COUNT(*) FROM outbox WHERE status = 'sent'") == N, second, timeout=90)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(second.pid, signal.SIGKILL)
    assert second.returncode == 0, second.stdout.read().decode(errors="replace") if second.stdout else ""

    with db.read() as tx:
        fired = Counter(r[0] for r in tx.all("SELECT instance_id FROM flow_history WHERE event = 'due'"))
        states = {r[0] for r in tx.all("SELECT state FROM flow_instance")}
    assert fired == Counter({i: 1 for i in ids})
    assert states == {"reminded"}
    assert _count(db, "SELECT COUNT(*) FROM timer WHERE status = 'fired'") == N
    message_ids = Counter(m["Message-ID"] for m in smtp_server.messages)
    assert len(message_ids) == N and set(message_ids.values()) == {1}
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(f"owner{i}@example.com" for i in range(N))
    assert {m["Subject"] for m in smtp_server.messages} == {f"提醒 #{i}" for i in ids}
