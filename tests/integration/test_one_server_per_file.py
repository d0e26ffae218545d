"""One `mcr serve` per SQLite file: a second one refuses to start with one clear line; a `kill -9`
leaves no stale lock behind. PostgreSQL keeps allowing several servers on one database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.db import Database
from tests.conftest import ROOT, TEST_FLOWS


def _serve(db: Database, tmp: Path) -> subprocess.Popen:
    env = dict(os.environ, MCR_DATABASE_URL=db.url, MCR_FLOWS_DIR=str(TEST_FLOWS), MCR_MAIL_DIR=str(tmp / "mail"),
               MCR_LOG_LEVEL="WARNING", PREFECT_HOME=str(tmp / "prefect"))
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", "0"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _wait_serving(proc: subprocess.Popen, timeout: float = 60) -> None:
    assert proc.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "mcr 已启动" in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"mcr serve exited with {proc.returncode}")
    raise AssertionError("mcr serve did not start")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_a_second_server_on_one_sqlite_file_is_refused_and_postgresql_allows_several(
        db: Database, tmp_path: Path) -> None:
    first = _serve(db, tmp_path)
    second = third = None
    try:
        _wait_serving(first)
        second = _serve(db, tmp_path)
        if db.is_pg:
            _wait_serving(second)  # several servers share a PostgreSQL database
            assert second.poll() is None and first.poll() is None
            return
        out, err = second.communicate(timeout=60)
        assert second.returncode != 0
        assert "Traceback" not in err
        (line,) = err.strip().splitlines()
        assert "另一个 mcr 服务" in line and str(first.pid) in line and db.url.removeprefix("sqlite:///") in line
        assert first.poll() is None  # the first one is untouched

        os.killpg(first.pid, signal.SIGKILL)  # the kernel drops the lock with the process
        first.wait(10)
        third = _serve(db, tmp_path)
        _wait_serving(third)
    finally:
        for proc in (first, second, third):
            if proc is not None:
                _stop(proc)
