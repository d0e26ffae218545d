"""The annual planning-kit launch as a deployment on a real Prefect server, run by process workers.

A `prefect server start` on a loopback port keeps its own database on the test PostgreSQL (a fresh
database, dropped at the end); `mcr deploy` registers the launch on a process work pool; two
`prefect worker` processes pick up two runs of the same 1 December occurrence, started together —
one naming the occurrence (`at`), one as a schedule would (the latest occurrence not run yet). The
mcr side is a real PostgreSQL database with the sample organisation. Each team gets its kit once and
`launch_run` holds one row: the unique claim decides, not Prefect.

Bounded: every wait has a deadline; the server, the workers and both databases go in the teardown.
About 60–100 s here (server start on a fresh database ≈ 20 s, each flow run a fresh subprocess)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine.clock import FakeClock
from engine.db import Database
from flows.planning.sample import planning_runtime
from tests.conftest import PG_URL, ROOT, _pg_schema_url

SH = timezone(timedelta(hours=8))
LAUNCH = "planning_kit:yearly"
OCCURRENCE = datetime(2026, 12, 1, 9, 0, tzinfo=SH)
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, check: Any, deadline_s: float, procs: list[subprocess.Popen], logs: list[Path]) -> Any:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{p.args} exited with {p.returncode} while waiting for {what}:\n"
                                     + "\n".join(log.read_text(errors="replace")[-3000:] for log in logs))
        time.sleep(0.5)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}:\n"
                         + "\n".join(log.read_text(errors="replace")[-3000:] for log in logs))


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture
def mcr_pg() -> Iterator[Database]:
    """A migrated PostgreSQL schema of its own (the workers are other processes: no shared session schema)."""
    schema = f"pfx_{uuid.uuid4().hex[:10]}"
    admin = Database(PG_URL)
    with admin.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    db = Database(_pg_schema_url(schema))
    try:
        db.upgrade()
        yield db
    finally:
        db.dispose()
        with admin.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def prefect_db() -> Iterator[str]:
    """A fresh database for the Prefect server on the test PostgreSQL; its asyncpg URL."""
    name = f"prefect_{uuid.uuid4().hex[:10]}"
    admin = Database(PG_URL)
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


@pytest.mark.slow
def test_two_prefect_workers_run_the_deployed_annual_launch_once(mcr_pg: Database, prefect_db: str,
                                                                  tmp_path: Path) -> None:
    # The organisation, registered the day before the launch.
    planning_runtime(mcr_pg, FakeClock(OCCURRENCE - timedelta(days=1)))
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = dict(os.environ, PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL=api,
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_WORKER_QUERY_SECONDS="1",
               PREFECT_WORKER_PREFETCH_SECONDS="0", MCR_DATABASE_URL=mcr_pg.url, MCR_KIT_DIR=str(tmp_path / "kits"),
               MCR_FAKE_NOW=(OCCURRENCE + timedelta(seconds=30)).isoformat(), MCR_LOG_LEVEL="WARNING")
    procs: list[subprocess.Popen] = []
    logs: list[Path] = []

    def start(name: str, args: list[str], extra: dict[str, str] | None = None) -> subprocess.Popen:
        log = tmp_path / f"{name}.log"
        logs.append(log)
        proc = subprocess.Popen(args, cwd=ROOT, env=dict(env, **(extra or {})), stdout=log.open("wb"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        return proc

    try:
        server_env = {"PREFECT_API_DATABASE_CONNECTION_URL": prefect_db, "PREFECT_SERVER_UI_ENABLED": "false"}
        started = time.monotonic()
        start("server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port),
                         "--no-services", "--no-ui"], server_env)
        _wait("the Prefect server", lambda: _healthy(api), 180, procs, logs)
        print(f"Prefect server on PostgreSQL up in {time.monotonic() - started:.1f} s")

        deployed = subprocess.run([str(BIN / "mcr"), "deploy", "--pool", "mcr-test", "--launch", LAUNCH,
                                   "--no-schedule"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "mcr-launch/planning-kit-yearly" in deployed.stdout
        print(f"deployed at {time.monotonic() - started:.1f} s")

        for n in (1, 2):
            start(f"worker{n}", [str(BIN / "prefect"), "worker", "start", "--pool", "mcr-test", "--type", "process",
                                 "--name", f"w{n}"])

        from prefect.client.orchestration import get_client
        from prefect.deployments import run_deployment
        from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings

        with temporary_settings({PREFECT_API_URL: api, PREFECT_HOME: str(tmp_path / "prefect")}):
            runs = [run_deployment("mcr-launch/planning-kit-yearly", timeout=0,
                                   parameters={"launch": LAUNCH, "at": OCCURRENCE.isoformat()}),
                    run_deployment("mcr-launch/planning-kit-yearly", timeout=0, parameters={"launch": LAUNCH})]

            def finished() -> list[Any] | None:
                with get_client(sync_client=True) as client:
                    states = [client.read_flow_run(r.id).state for r in runs]
                return states if all(s is not None and s.is_final() for s in states) else None

            states = _wait("both flow runs", finished, 240, procs, logs)
            print(f"both runs final at {time.monotonic() - started:.1f} s")
        assert [s.type.value for s in states] == ["COMPLETED", "COMPLETED"], [s.message for s in states]
    finally:
        _stop(procs)

    with mcr_pg.read() as tx:
        claims = tx.all("SELECT period_key, status, started FROM launch_run WHERE launch = :l", {"l": LAUNCH})
        kits = tx.all("SELECT subject, COUNT(*) FROM flow_instance WHERE flow = 'planning_kit' GROUP BY subject "
                      "ORDER BY subject")
    assert claims == [("2026-12-01T09:00", "done", 2)]
    assert kits == [("kit:T-SZ-FI:2027", 1), ("kit:T-SZ-OP:2027", 1)]
    worker_logs = "".join((tmp_path / f"worker{n}.log").read_text(errors="replace") for n in (1, 2))
    # One run issued both kits as two tasks; the other found the occurrence claimed.
    assert worker_logs.count("[1/2] T-SZ-FI") == 1 and worker_logs.count("[2/2] T-SZ-OP") == 1, worker_logs[-4000:]
    assert (f"launch {LAUNCH} 2026-12-01T09:00: already" in worker_logs
            or f"launch {LAUNCH}: nothing due" in worker_logs), worker_logs[-4000:]


def test_mcr_deploy_without_a_prefect_server_says_so_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(MCR_DATABASE_URL=f"sqlite:///{tmp_path / 'mcr.db'}", MCR_LOCALE="en")
    res = subprocess.run([sys.executable, "-m", "engine.cli", "deploy"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: PREFECT_API_URL is not set: start a Prefect server (docs/operations.md) and point PREFECT_API_URL at it"]
