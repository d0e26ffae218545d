"""`mcr worker` runs its launches as Prefect flow runs: Prefect's local API starts once in the
background while the engine already works, the 1 December launch becomes an `mcr-launch` flow run with
a task per team, and each progress line is printed once. (The deployed path, on a Prefect server with
process workers, is test_prefect_server_launch.py.) About 30–45 s, most of it Prefect's API start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.db import Database
from flows.planning.sample import FLOWS_DIR, planning_runtime
from tests.conftest import ROOT

SH = timezone(timedelta(hours=8))
OCCURRENCE = datetime(2026, 12, 1, 9, 0, tzinfo=SH)


@pytest.mark.slow
def test_mcr_worker_runs_the_annual_launch_as_a_prefect_flow_and_prints_each_line_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mcr.db'}"
    db = Database(url)
    db.upgrade()
    planning_runtime(db, FakeClock(OCCURRENCE - timedelta(days=1)))
    env = dict(os.environ, MCR_PREFECT="on", MCR_DATABASE_URL=url, MCR_FLOWS_DIR=str(FLOWS_DIR),
               MCR_FAKE_NOW=(OCCURRENCE + timedelta(seconds=30)).isoformat(), MCR_RESCAN_S="1",
               MCR_KIT_DIR=str(tmp_path / "kits"), MCR_MAIL_DIR=str(tmp_path / "mail"),
               PREFECT_HOME=str(tmp_path / "prefect"), MCR_LOG_LEVEL="INFO")
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "worker.log"
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "worker"], cwd=ROOT, env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        done = None
        while time.monotonic() < deadline and done is None:
            assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
            with db.read() as tx:
                done = tx.one("SELECT status, started FROM launch_run WHERE launch = 'planning_kit:yearly'")
            done = done if done is not None and done[0] != "running" else None
            time.sleep(0.5)
        assert done == ("done", 2), log.read_text(errors="replace")[-4000:]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # as Ctrl+C or a service manager: Prefect's API child too
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        db.dispose()
    out = log.read_text(errors="replace")
    assert "launches run as Prefect flows" in out
    assert "Beginning flow run 'planning_kit:yearly' for flow 'mcr-launch'" in out
    assert out.count("[1/2] T-SZ-FI") == 1 and out.count("[2/2] T-SZ-OP") == 1, out[-4000:]
    assert "Traceback" not in out, out[-4000:]
    with db.read() as tx:
        assert tx.all("SELECT subject FROM flow_instance WHERE flow = 'planning_kit' ORDER BY subject") == [
            ("kit:T-SZ-FI:2027",), ("kit:T-SZ-OP:2027",)]
