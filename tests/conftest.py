"""Shared fixtures: real databases (a SQLite file and the PostgreSQL server), a fake clock,
and a real SMTP server on loopback.

Every storage test takes the `db` fixture, which runs it once on SQLite and once on
PostgreSQL. PostgreSQL comes from MCR_TEST_POSTGRES_URL (default: the local server on
127.0.0.1:5432, database `test`); when the server is unreachable the tests FAIL, they are not
skipped. The test session migrates one PostgreSQL schema with Alembic (dropped at the end) and
empties it before each test; each SQLite test gets a copy of one migrated template file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest

from engine.clock import FakeClock
from engine.db import Database

ROOT = Path(__file__).resolve().parent.parent
TEST_FLOWS = ROOT / "tests" / "flows"
# The PostgreSQL half is never skipped: an unreachable server fails the tests loudly. Without a
# server, run the SQLite half only, on purpose: `pytest -k "not postgres"`.
PG_URL = os.environ.get("MCR_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"

# Prefect must never write into the user's home or phone home from the test suite.
os.environ.setdefault("PREFECT_HOME", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"mcr-prefect-{os.getpid()}"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The `mcr serve` processes of the tests run their launches directly: a local Prefect API per server
# (5–25 s of CPU, a subprocess a kill -9 leaves behind) would only slow the crash drills down. The
# tests of the Prefect path (tests/integration/test_prefect_*.py) turn it on.
os.environ.setdefault("MCR_PREFECT", "off")


def pytest_configure(config: pytest.Config) -> None:
    # The flow families reach the engine through entry points (engine/plugins.py); an install made
    # before pyproject.toml declared them sees none, and every flow test would fail for that reason.
    from engine import plugins

    if not plugins.plugins():
        pytest.exit("no flow family is installed (entry points mcr.flows): run `make install` "
                    "(or `.venv/bin/pip install -e . -c constraints.txt --no-deps`)", returncode=4)


def _backends() -> list[str]:
    return ["sqlite", "postgres"]


def _pg_schema_url(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"  # type: ignore[operator]
    return f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test session; each test gets a copy (migrating costs ~1 s)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    with database.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_schema() -> Iterator[str]:
    """One migrated PostgreSQL schema per test session; each test starts from emptied tables."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(PG_URL)
    admin.check()  # unreachable server: this raises, the tests error out loudly
    with admin.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = _pg_schema_url(schema)
    database = Database(url)
    try:
        database.upgrade()
        database.dispose()
        yield url
    finally:
        with admin.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def _empty_pg(database: Database) -> None:
    """Empty the tables the previous test wrote to and restart every id sequence (TRUNCATE of all
    ~40 tables would cost ~0.5 s per test)."""
    with database.engine.begin() as conn:
        tables = [r[0] for r in conn.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'")]
        probe = " UNION ALL ".join(f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables)
        used = [r[0] for r in conn.exec_driver_sql(probe)] if tables else []
        if used:
            conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in used) + " CASCADE")
        conn.exec_driver_sql(
            "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'S' AND n.nspname = current_schema()")


@pytest.fixture(params=_backends())
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: a SQLite file, or the session's schema on the PostgreSQL server."""
    if request.param == "sqlite":
        path = tmp_path / "mcr.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        database = Database(f"sqlite:///{path}")
        yield database
        database.dispose()
        return
    database = Database(request.getfixturevalue("_pg_schema"))
    _empty_pg(database)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'mcr.db'}")
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    # A Thursday morning in Shenzhen: 2026-11-26 09:00 Asia/Shanghai.
    return FakeClock(datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc))


@pytest.fixture
def smtp_server() -> Iterator["object"]:
    from tests.support.smtp import RecordingSMTPServer

    server = RecordingSMTPServer()
    server.start()
    yield server
    server.stop()
