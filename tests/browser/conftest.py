"""Browser tests: Debian's Chromium (/usr/bin/chromium, never a downloaded browser) driven by
Playwright against a real `mcr serve` subprocess on loopback, with a real database (a SQLite file,
or a fresh PostgreSQL schema) seeded with the ITR scenarios' small organisation through the
master-data importer, and accounts made with `mcr user add … --password-stdin`.

The serve process runs on a fixed clock (MCR_FAKE_NOW, a Thursday 10:00 in Shanghai: business
hours), so deadlines and lock-outs do not depend on the day the suite runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from engine.auth import accounts
from engine.clock import FakeClock
from engine.db import Database
from tests.conftest import PG_URL, ROOT, _pg_schema_url

CHROMIUM = "/usr/bin/chromium"
FAKE_NOW = "2026-11-26T10:00:00+08:00"
PASSWORD = "correct horse 9"
# Everyone the browser tests sign in as (tests/scenarios/itr/data/org.yaml).
STAFF = ("SZ-AM1", "SZ-AM2", "SZ-H1", "SZ-H2", "SZ-SUP", "SZ-CC", "GZ-H1", "R-H1", "R-SUP", "HQ-QA", "HQ-H1",
         "SZ-HL")
MCR = str(Path(sys.executable).with_name("mcr"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent.name == "browser":
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """One running `mcr serve` and its database (for checking what the pages changed)."""

    url: str
    db: Database
    process: subprocess.Popen[bytes]
    log: Path

    def history_count(self, instance_id: int, event: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM flow_history WHERE instance_id = :i" + (" AND event = :e" if event else "")
        with self.db.read() as tx:
            return int(tx.one(sql, {"i": instance_id, "e": event})[0])

    def state(self, instance_id: int) -> str:
        with self.db.read() as tx:
            return str(tx.one("SELECT state FROM flow_instance WHERE id = :i", {"i": instance_id})[0])


def _seed(url: str, env: dict[str, str], workdir: Path) -> Database:
    import yaml

    from flows.itr.replay import insert_org

    db = Database(url)
    db.upgrade()
    org = yaml.safe_load((ROOT / "tests" / "scenarios" / "itr" / "data" / "org.yaml").read_text(encoding="utf-8"))
    insert_org(db, org, FakeClock(datetime.fromisoformat(FAKE_NOW)))  # the master-data importer
    # The first account through the CLI as an administrator makes it; the rest through the same
    # function the CLI calls (one process start each would cost seconds).
    first, *rest = STAFF
    subprocess.run([MCR, "user", "add", first, "--password-stdin"], input=(PASSWORD + "\n").encode(), env=env,
                   cwd=workdir, check=True, capture_output=True, timeout=60)
    clock = FakeClock(datetime.fromisoformat(FAKE_NOW))
    for emp in rest:
        accounts.add_account(db, emp, PASSWORD, clock=clock)
    subprocess.run([MCR, "issue", "cases", "load"], env=env, cwd=workdir, check=True, capture_output=True,
                   timeout=60)  # the shipped handling guides, for the case-library search
    return db


def start_server(url: str, workdir: Path, **extra_env: str) -> LiveServer:
    """Migrate and seed the database, then run `mcr serve` on a free loopback port until it answers."""
    port = _free_port()
    env = {**os.environ, "MCR_DATABASE_URL": url, "MCR_FAKE_NOW": FAKE_NOW, "MCR_LOCALE": "zh-CN",
           "MCR_MAIL_DIR": str(workdir / "mail"), "MCR_BASE_URL": f"http://127.0.0.1:{port}",
           "MCR_RULES_DIR": str(ROOT / "rules")}
    env.pop("MCR_SMTP_URL", None)  # the caller's shell never decides; a test may pass one in extra_env
    env.update(extra_env)
    db = _seed(url, env, workdir)
    log = workdir / "serve.log"
    proc = subprocess.Popen([MCR, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=workdir,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/signin", timeout=2) as resp:
                if resp.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"mcr serve did not start:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.2)
    return LiveServer(url=base, db=db, process=proc, log=log)


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`mcr serve` on a SQLite file, shared by the tests of one module."""
    work = tmp_path_factory.mktemp("serve")
    live = start_server(f"sqlite:///{work / 'mcr.db'}", work)
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`mcr serve` on a fresh PostgreSQL schema (dropped afterwards)."""
    from sqlalchemy import create_engine

    schema = f"b_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    work = tmp_path_factory.mktemp("serve-pg")
    live = start_server(_pg_schema_url(schema), work)
    yield live
    stop_server(live)
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk (see .ci/run)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """A fresh browser context (own cookies) per person; `new_page(width=375)` for phone width."""
    contexts: list[Any] = []

    def make(width: int = 1280, height: int = 900) -> Any:
        ctx = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
        ctx.set_default_timeout(10_000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


def sign_in(page: Any, base: str, emp_no: str, password: str = PASSWORD, next_path: str = "/inbox") -> None:
    page.goto(f"{base}/signin?next={next_path}")
    page.fill("input[name=emp_no]", emp_no)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state()


def as_user(new_page: Callable[..., Any], server: LiveServer, emp_no: str, **size: int) -> Any:
    page = new_page(**size)
    sign_in(page, server.url, emp_no)
    assert "/signin" not in page.url, f"{emp_no} could not sign in: {page.content()[:500]}"
    return page
