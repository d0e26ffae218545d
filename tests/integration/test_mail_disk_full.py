"""A full disk under the mail folder: the folder sink cannot write a message, the row stays pending
with the reason and a later retry, no half-written .eml is left behind; once there is room again,
every mail is written exactly once. The "disk" is a file-size limit (RLIMIT_FSIZE) on a real sender
process, so the write really fails in the kernel. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from engine import sql
from engine.clock import FakeClock, SystemClock, to_us
from engine.db import Database
from engine.mailers import FolderMailer
from engine.notify import OutboxSender
from tests.conftest import ROOT

# 3.3 MB of UTF-8 in the database, 4.5 MB once base64-encoded in the .eml: the "disk" has room for
# the database file (SQLite lives under the same limit) but not for the message.
BIG = "邮件正文。" * 220_000
LIMIT = 4_000_000


def _queue(db: Database, n: int) -> None:
    now = to_us(SystemClock().now())
    with db.tx() as tx:
        tx.many(sql.INSERT_OUTBOX, [
            {"instance_id": None, "dedupe_key": None, "template": "t", "locale": "zh-CN",
             "recipient": f"user{i}@example.com", "subject": f"提醒 {i}", "body": BIG, "now": now}
            for i in range(n)])


def _full_disk() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write (EFBIG), not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_a_full_mail_disk_loses_nothing_and_duplicates_nothing(db: Database, tmp_path: Path) -> None:
    _queue(db, 1)
    if not db.is_pg:
        with db.engine.connect() as conn:  # the queued row into the database file, the WAL emptied
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    box = tmp_path / "mail"
    env = dict(os.environ, MCR_DATABASE_URL=db.url, MCR_MAIL_DIR=str(box), PREFECT_HOME=str(tmp_path / "prefect"))
    done = subprocess.run([sys.executable, "-m", "engine.cli", "outbox", "send"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, preexec_fn=_full_disk)
    assert "Traceback" not in done.stderr
    with db.read() as tx:
        status, attempts, last_error, claimed_by = tx.one("SELECT status, attempts, last_error, claimed_by FROM outbox")
    assert status == "pending" and claimed_by is None
    if db.is_pg:
        # The database is elsewhere: the message could not be written, the row says why and waits.
        assert done.returncode == 0 and done.stdout.strip() == "邮件：发送 0，重试 1，失败 0"
        assert attempts == 1 and "File too large" in last_error
    else:
        # The SQLite file shares the full disk: the sender cannot even record its claim. One line,
        # a non-zero exit, and the row is exactly as it was.
        assert done.returncode == 1 and done.stderr.strip().splitlines() == [done.stderr.strip()]
        assert "无法写入磁盘" in done.stderr
        assert attempts == 0 and last_error is None
    assert not [p for p in box.iterdir() if p.suffix == ".eml"] if box.exists() else True  # nothing half-published
    assert not list(box.glob(".*.part")) if box.exists() else True  # and no temporary left over

    later = FakeClock(SystemClock().now() + timedelta(hours=1))  # past the backoff; room again
    sender = OutboxSender(db, FolderMailer(box), later, worker_id="room-again")
    assert sender.deliver_due_sync().sent == 1
    assert sender.deliver_due_sync().claimed == 0
    files = list(box.iterdir())
    assert len(files) == 1 and files[0].suffix == ".eml" and files[0].stat().st_size > LIMIT
