"""Mail after a crash: `kill -9` of `mcr serve` in the middle of a batch of 200 mails to a slow,
real SMTP server (aiosmtpd) re-sends at most the one message that was in flight — each accepted
message is marked sent at once. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from engine import sql
from engine.clock import SystemClock, to_us
from engine.db import Database
from tests.conftest import ROOT, TEST_FLOWS
from tests.support.smtp import RecordingSMTPServer
from tests.support.serve import wait_for

BATCH = 200


def _queue(db: Database, n: int) -> None:
    now = to_us(SystemClock().now())
    with db.tx() as tx:
        tx.many(sql.INSERT_OUTBOX, [
            {"instance_id": None, "dedupe_key": None, "template": "t", "locale": "zh-CN",
             "recipient": f"user{i}@example.com", "subject": f"提醒 {i}", "body": f"正文 {i}\n", "now": now}
            for i in range(n)])


def _serve(db: Database, smtp_url: str, tmp: Path) -> subprocess.Popen:
    env = dict(os.environ, MCR_DATABASE_URL=db.url, MCR_FLOWS_DIR=str(TEST_FLOWS), MCR_SMTP_URL=smtp_url,
               MCR_MAIL_LEASE_S="2", MCR_RESCAN_S="0.5", MCR_LOG_LEVEL="WARNING",
               PREFECT_HOME=str(tmp / "prefect"))
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _sent(db: Database) -> int:
    with db.read() as tx:
        return tx.one("SELECT COUNT(*) FROM outbox WHERE status = 'sent'")[0]


def _wait(predicate, proc: subprocess.Popen, timeout: float = 90) -> None:
    wait_for(predicate, proc, timeout=timeout, poll=0.02)


@pytest.mark.slow
def test_kill_9_mid_batch_resends_at_most_the_one_message_in_flight(
        db: Database, smtp_server: RecordingSMTPServer, tmp_path: Path) -> None:
    _queue(db, BATCH)
    smtp_server.delay = 0.02  # a slow server: the batch takes ~4 s, several rescans long

    first = _serve(db, smtp_server.url, tmp_path)
    try:
        _wait(lambda: len(smtp_server.messages) >= 60, first)
        os.killpg(first.pid, signal.SIGKILL)  # mid-batch, mid-conversation
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    accepted_before_kill = len(smtp_server.messages)
    assert accepted_before_kill < BATCH
    # Every accepted mail but (at most) the one in flight is already recorded.
    assert _sent(db) >= accepted_before_kill - 1

    smtp_server.delay = 0.0
    second = _serve(db, smtp_server.url, tmp_path)
    try:
        _wait(lambda: _sent(db) == BATCH, second)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(second.pid, signal.SIGKILL)
    log = second.stdout.read().decode(errors="replace") if second.stdout else ""

    ids = Counter(str(m["Message-ID"]) for m in smtp_server.messages)
    assert len(ids) == BATCH  # nothing lost
    assert sum(n - 1 for n in ids.values()) <= 1  # at most one duplicate
    assert "maximum number of running instances" not in log


@pytest.mark.slow
def test_a_long_batch_to_a_slow_server_logs_no_skipped_job_warnings(
        db: Database, smtp_server: RecordingSMTPServer, tmp_path: Path) -> None:
    _queue(db, 150)
    smtp_server.delay = 0.02  # ~3 s of sending against a rescan every 0.5 s
    proc = _serve(db, smtp_server.url, tmp_path)
    try:
        _wait(lambda: _sent(db) == 150, proc)
        time.sleep(1.0)  # a few more rescans after the batch
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    log = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    assert proc.returncode == 0, log
    assert "maximum number of running instances" not in log and "apscheduler" not in log, log
    assert len({str(m["Message-ID"]) for m in smtp_server.messages}) == len(smtp_server.messages) == 150
