"""`mcr worker` runs its launches as Prefect flow runs: Prefect's local API starts once in the
background while the engine already works, the 1 December launch becomes an `mcr-launch` flow run with
a task per team, and each progress line is printed once. (The deployed path, on a Prefect server with
process workers, is test_prefect_server_launch.py.) Then the worker is killed with SIGKILL and its
Prefect API must stop too (engine/orphan_guard.py). About 30–45 s, most of it Prefect's API start."""

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


def _children(pid: int, needle: str) -> list[int]:
    """This machine's processes whose parent is `pid` and whose command line contains `needle`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and needle in cmd:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits for a parent


@pytest.mark.slow
def test_mcr_worker_runs_the_annual_launch_as_a_prefect_flow_and_prints_each_line_once_and_its_api_dies_with_it(tmp_path: Path) -> None:
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
        api = _children(proc.pid, "uvicorn")
        assert len(api) == 1, _children(proc.pid, "")
        os.kill(proc.pid, signal.SIGKILL)  # no atexit, no signal handler: only the guard can stop the API now
        proc.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(api[0]):
            time.sleep(0.2)
        assert not _alive(api[0]), "Prefect's local API outlived the killed worker"
    finally:
        try:  # whatever of the group is left (all of it if an assertion failed first)
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except ProcessLookupError:
            pass
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
