"""Infrastructure faults, as a user meets them on the command line (a subprocess): each gives one
line in the user's language and a non-zero exit, never a traceback — on a SQLite file and on
PostgreSQL where the fault exists there. Busy databases wait and retry the transaction first."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
from sqlmodel import select

from engine.clock import SystemClock
from engine.auth.principal import Principal
from engine.db import Database, fault_from, retry_busy
from engine.errors import DatabaseBusy, DatabaseMissing, SchemaTooNew
from engine.masterdata.importer import import_file
from engine.masterdata.models import OrgUnit
from tests.conftest import PG_URL, ROOT, TEST_FLOWS

IMPORT = Principal.engine("import")

ORG_CSV = ROOT / "tests" / "data" / "masterdata" / "org.csv"


def mcr(*args: str, url: str, extra: dict[str, str] | None = None,
        as_nobody: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ, MCR_DATABASE_URL=url, MCR_FLOWS_DIR=str(TEST_FLOWS), **(extra or {}))
    env.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="mcr-prefect-"))
    preexec = None
    if as_nobody and os.geteuid() == 0:
        def preexec() -> None:  # root ignores file permissions: run as an ordinary user
            os.setgid(65534)
            os.setuid(65534)
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, preexec_fn=preexec)


def one_clear_line(res: subprocess.CompletedProcess, *words: str) -> str:
    assert res.returncode != 0, res.stdout
    assert "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- not a database


@pytest.mark.parametrize("command", [("instances", "list"), ("outbox", "list"), ("db", "upgrade"), ("init",)])
def test_a_file_that_is_not_a_database_is_one_line_not_a_traceback(tmp_path: Path, command: tuple[str, ...]) -> None:
    path = tmp_path / "mcr.db"
    path.write_bytes(b"this is a spreadsheet, not a database\n" * 200)
    res = mcr(*command, url=f"sqlite:///{path}")
    one_clear_line(res, "不是 SQLite 数据库文件", str(path))


def test_the_not_a_database_line_follows_the_chosen_locale(tmp_path: Path) -> None:
    path = tmp_path / "mcr.db"
    path.write_bytes(b"\x00garbage" * 500)
    res = mcr("instances", "list", url=f"sqlite:///{path}", extra={"MCR_LOCALE": "en"})
    one_clear_line(res, "is not a SQLite database file")


# --------------------------------------------------------------------------- read-only


def test_a_read_only_database_refuses_a_write_with_one_line(db: Database, tmp_path: Path) -> None:
    if db.is_pg:
        url = db.url + "%20-cdefault_transaction_read_only%3Don"  # e.g. a hot standby
    else:
        # The tests run as root, which ignores file permissions; SQLite's read-only open mode
        # gives the same SQLITE_READONLY a read-only file gives an ordinary user.
        path = tmp_path / "ro.db"
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(db.url.removeprefix("sqlite:///"), path)
        url = f"sqlite:///file:{path}?mode=ro&uri=true"
    res = mcr("outbox", "retry", url=url, extra={"MCR_LOCALE": "en"})
    one_clear_line(res, "read-only")
    res = mcr("outbox", "retry", url=url)
    one_clear_line(res, "只读")


# --------------------------------------------------------------------------- newer schema


@pytest.mark.parametrize("command", [("db", "upgrade"), ("serve", "--port", "0")])
def test_a_database_from_a_newer_mcr_is_refused_before_anything_is_written(
        db: Database, command: tuple[str, ...]) -> None:
    with db.engine.begin() as conn:
        before = [r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")]
        conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES ('9999_from_the_future')")
    try:
        res = mcr(*command, url=db.url)
        one_clear_line(res, "9999_from_the_future", "比本程序新")
        with pytest.raises(SchemaTooNew):
            db.upgrade()
    finally:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM alembic_version WHERE version_num = '9999_from_the_future'")
        with db.engine.connect() as conn:
            assert [r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")] == before


# --------------------------------------------------------------------------- missing / unreachable


@pytest.mark.parametrize("command", [("instances", "list"), ("outbox", "list"), ("timers", "list"),
                                     ("instances", "show", "1"), ("event", "send", "1", "go"),
                                     ("export", "customers", "out.csv")])
def test_a_read_command_on_a_typoed_sqlite_path_creates_nothing(tmp_path: Path, command: tuple[str, ...]) -> None:
    path = tmp_path / "typo-folder" / "mcr.db"
    res = mcr(*command, url=f"sqlite:///{path}")
    one_clear_line(res, "没有数据库文件", str(path), "mcr init")
    assert not path.parent.exists()


def test_a_missing_database_object_is_refused_without_creating_it(tmp_path: Path) -> None:
    with pytest.raises(DatabaseMissing):
        Database(f"sqlite:///{tmp_path / 'nope' / 'x.db'}", create=False)
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("command", [("instances", "list"), ("outbox", "list"), ("timers", "list")])
def test_a_misnamed_postgresql_database_is_one_line(command: tuple[str, ...]) -> None:
    url = PG_URL.rsplit("/", 1)[0] + "/no_such_database_mcr"
    res = mcr(*command, url=url)
    one_clear_line(res, "无法连接数据库", "no_such_database_mcr")


def test_an_unreachable_postgresql_server_is_one_line() -> None:
    res = mcr("outbox", "list", url="postgresql://postgres@127.0.0.1:1/test", extra={"MCR_LOCALE": "en"})
    one_clear_line(res, "cannot connect to database")


def test_an_uninitialised_database_says_run_init(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    res = mcr("instances", "list", url=f"sqlite:///{path}")
    one_clear_line(res, "尚未初始化", "mcr init")


# --------------------------------------------------------------------------- busy


def _hold_sqlite_write_lock(path: str, seconds: float, started: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None, timeout=5)
    conn.execute("BEGIN IMMEDIATE")
    started.set()
    time.sleep(seconds)
    conn.execute("ROLLBACK")
    conn.close()


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_SQLITE_BUSY_TIMEOUT_MS", "150")


def test_an_import_that_meets_a_writer_waits_retries_and_succeeds(
        tmp_path: Path, short_busy_timeout: None) -> None:
    db = Database(f"sqlite:///{tmp_path / 'busy.db'}")
    db.upgrade()
    started = threading.Event()
    holder = threading.Thread(target=_hold_sqlite_write_lock, args=(str(tmp_path / "busy.db"), 0.6, started))
    holder.start()
    started.wait(5)
    try:
        with db.session() as session:
            result = import_file(session, "org", ORG_CSV, clock=SystemClock(), principal=IMPORT)
        assert result.inserted > 0
        with db.session() as session:
            assert session.exec(select(OrgUnit)).first() is not None
    finally:
        holder.join()
        db.dispose()


def test_an_import_against_a_database_that_stays_busy_says_so_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    started = threading.Event()
    holder = threading.Thread(target=_hold_sqlite_write_lock, args=(str(path), 8.0, started))
    holder.start()
    started.wait(5)
    try:
        res = mcr("import", "org", str(ORG_CSV), url=f"sqlite:///{path}",
                  extra={"MCR_SQLITE_BUSY_TIMEOUT_MS": "100"})
        one_clear_line(res, "一直被其他进程占用")
    finally:
        holder.join()
    check = Database(f"sqlite:///{path}", create=False)
    with check.session() as session:
        assert session.exec(select(OrgUnit)).first() is None  # nothing written
    check.dispose()


def test_a_transaction_whose_snapshot_went_stale_is_run_again(sqlite_db: Database) -> None:
    # WAL reports a read-then-write transaction whose snapshot another writer changed at once
    # ("database is locked", no waiting): only re-running the whole transaction helps.
    path = sqlite_db.url.removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None)
    calls = []

    def work() -> int:
        calls.append(1)
        with sqlite_db.session() as session:
            session.exec(select(OrgUnit)).all()  # the snapshot starts here
            if len(calls) == 1:
                other.execute("INSERT INTO org_unit (code, name, kind) VALUES ('X9', 'x', 'office')")
            session.add(OrgUnit(code=f"Y{len(calls)}", name="y", kind="office"))
            session.commit()
        return len(calls)

    assert retry_busy(work) == 2
    other.close()


def test_a_lock_held_too_long_is_retried_then_reported_and_goes_through_once_released(
        db: Database, short_busy_timeout: None) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO org_unit (code, name, kind) VALUES ('L1', 'l', 'office')")
    if db.is_pg:
        holder = db.engine.connect()
        trans = holder.begin()
        holder.exec_driver_sql("SELECT * FROM org_unit WHERE code = 'L1' FOR UPDATE")
        release = trans.rollback
    else:
        holder = sqlite3.connect(db.url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        release = lambda: holder.execute("ROLLBACK")  # noqa: E731
    worker = Database(db.url)  # a fresh connection that sees the short busy timeout

    def work() -> None:
        with worker.engine.begin() as conn:
            if worker.is_pg:
                conn.exec_driver_sql("SET LOCAL lock_timeout = '50ms'")
            conn.exec_driver_sql("UPDATE org_unit SET name = 'm' WHERE code = 'L1'")

    try:
        with pytest.raises(DatabaseBusy):
            retry_busy(work, attempts=2, first_wait=0.05)
    finally:
        release()
        holder.close()
    retry_busy(work)  # the lock is gone: it goes through
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name FROM org_unit WHERE code = 'L1'").scalar() == "m"
    worker.dispose()


def test_driver_errors_that_are_not_infrastructure_faults_are_left_alone() -> None:
    assert fault_from(ValueError("a bug")) is None
    assert fault_from(sqlite3.IntegrityError("UNIQUE constraint failed: x.y")) is None
