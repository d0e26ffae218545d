"""Database access: one `Database` per URL, SQLite file by default, PostgreSQL by URL.

Two ways in:
* `db.tx()` — a raw DB-API transaction for the hot path (engine/sql.py statements), because
  the ORM alone cannot reach the throughput target (see docs/performance.md);
* `db.session()` — a SQLModel session for everything else.

SQLite runs in WAL mode with `synchronous=FULL` (override with MCR_SQLITE_SYNCHRONOUS) and a
busy timeout, so `mcr serve` and a CLI command can share one file; writers take the write
lock up front (`BEGIN IMMEDIATE`) so a read-then-write step can never deadlock on upgrade.
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlmodel import Session, SQLModel

from engine.errors import ConfigError

DEFAULT_URL = "sqlite:///mcr.db"
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("MCR_DATABASE_URL") or DEFAULT_URL


class Tx:
    """A raw transaction: `execute(sql, params)` with `:name` parameters on every backend."""

    def __init__(self, dbapi_conn: Any, is_pg: bool) -> None:
        self.conn = dbapi_conn
        self.is_pg = is_pg
        self.cur = dbapi_conn.cursor()

    def sql(self, statement: str) -> str:
        return _to_pyformat(statement) if self.is_pg else statement

    def execute(self, statement: str, params: dict[str, Any] | Sequence[Any] = ()) -> Any:
        self.cur.execute(self.sql(statement), params)
        return self.cur

    def one(self, statement: str, params: dict[str, Any] | Sequence[Any] = ()) -> Any:
        self.cur.execute(self.sql(statement), params)
        return self.cur.fetchone()

    def all(self, statement: str, params: dict[str, Any] | Sequence[Any] = ()) -> list[Any]:
        self.cur.execute(self.sql(statement), params)
        return self.cur.fetchall()

    def many(self, statement: str, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.cur.executemany(self.sql(statement), rows)

    def run(self, statement: Any) -> Any:
        """Execute a SQLAlchemy Core statement (e.g. `insert(Issue.__table__).values(...)`) inside
        this same raw transaction — so an action can use the domain tables without a second
        connection (which would break one-transaction-per-step, and wait on SQLite's write lock)."""
        compiled = statement.compile(dialect=_dialect(self.is_pg), compile_kwargs={"render_postcompile": True})
        params = compiled.params
        if compiled.positiontup:  # pragma: no cover - named dialects never produce positional params
            raise RuntimeError("positional parameters are not supported")
        self.cur.execute(str(compiled), params)
        return self.cur

    def insert_row(self, table: str, values: dict[str, Any], *, returning: str | None = None) -> Any:
        """INSERT one row into a known table (column names are code, never input); the statement text
        is cached, so a step's domain rows cost no SQLAlchemy compile (≈1 ms each on the hot path)."""
        key = (table, tuple(values), returning)
        text = _insert_cache.get(key)
        if text is None:
            text = (f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join(':' + c for c in values)})"
                    + (f" RETURNING {returning}" if returning else ""))
            _insert_cache[key] = text
        self.cur.execute(self.sql(text), values)
        return self.cur.fetchone()[0] if returning else None


_pyformat_cache: dict[str, str] = {}
_insert_cache: dict[tuple[str, tuple[str, ...], str | None], str] = {}
_dialects: dict[bool, Any] = {}


def _dialect(is_pg: bool) -> Any:
    found = _dialects.get(is_pg)
    if found is None:
        if is_pg:
            from sqlalchemy.dialects.postgresql import psycopg

            found = psycopg.dialect(paramstyle="pyformat")
        else:
            from sqlalchemy.dialects import sqlite

            found = sqlite.dialect(paramstyle="named")
        _dialects[is_pg] = found
    return found


def _to_pyformat(statement: str) -> str:
    cached = _pyformat_cache.get(statement)
    if cached is None:
        cached = _NAMED.sub(r"%(\1)s", statement.replace("%", "%%"))
        _pyformat_cache[statement] = cached
    return cached


class Database:
    def __init__(self, url: str | None = None, *, echo: bool = False) -> None:
        self.url = database_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise ConfigError(f"bad database URL '{self.url}': {exc}") from exc
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ConfigError(f"bad database URL '{self.url}': only sqlite:/// and postgresql:// are supported")
        self.is_pg = backend == "postgresql"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_pg:
            if parsed.drivername in ("postgresql", "postgres"):
                parsed = parsed.set(drivername="postgresql+psycopg")
            kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
        else:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        try:
            self.engine: Engine = create_engine(parsed, **kwargs)
        except Exception as exc:  # e.g. the driver is missing
            raise ConfigError(f"bad database URL '{self.url}': {exc}") from exc
        if not self.is_pg:
            self._configure_sqlite()
        # Each thread keeps one connection for the hot path: checking a connection out of the
        # pool and resetting it on return costs more than a whole SQLite step's Python work.
        self._local = threading.local()
        self._held: list[Any] = []
        self._held_lock = threading.Lock()

    def _configure_sqlite(self) -> None:
        sync = os.environ.get("MCR_SQLITE_SYNCHRONOUS", "FULL").upper()
        if sync not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ConfigError(f"MCR_SQLITE_SYNCHRONOUS={sync!r}: use OFF, NORMAL, FULL or EXTRA")
        self.sqlite_synchronous = sync

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Autocommit at the driver level: we issue BEGIN ourselves, so SELECTs are inside
            # the transaction too (the stdlib driver would otherwise start it only at the first write).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

    def check(self) -> None:
        """Connect once, turning driver errors into one readable line."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigError(f"cannot connect to database {self.safe_url}: {reason}") from exc

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def _thread_conn(self) -> Any:
        dbapi = getattr(self._local, "dbapi", None)
        if dbapi is None or (self.is_pg and dbapi.closed):
            raw = self.engine.raw_connection()
            dbapi = raw.driver_connection
            raw.detach()  # ours for the life of this thread; the pool does not manage it
            self._local.dbapi = dbapi
            with self._held_lock:
                self._held.append(dbapi)
        return dbapi

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """One raw write transaction; commits on success, rolls back on any exception.

        Called while this thread already has a transaction open, it joins that transaction
        (the outer one commits or rolls back everything)."""
        dbapi = self._thread_conn()
        if getattr(self._local, "depth", 0):
            yield from self._joined(dbapi)
            return
        tx = Tx(dbapi, self.is_pg)
        self._local.depth = 1
        try:
            if not self.is_pg:
                tx.cur.execute("BEGIN IMMEDIATE")
            try:
                yield tx
            except BaseException:
                if self.is_pg:
                    if not dbapi.closed:
                        dbapi.rollback()
                else:
                    _sqlite_rollback(tx)
                raise
            else:
                if self.is_pg:
                    dbapi.commit()
                else:
                    tx.cur.execute("COMMIT")
        finally:
            self._local.depth = 0
            tx.cur.close()

    def _joined(self, dbapi: Any) -> Iterator[Tx]:
        tx = Tx(dbapi, self.is_pg)
        self._local.depth += 1
        try:
            yield tx
        finally:
            self._local.depth -= 1
            tx.cur.close()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A raw read-only transaction (no write lock taken on SQLite)."""
        dbapi = self._thread_conn()
        if getattr(self._local, "depth", 0):
            yield from self._joined(dbapi)
            return
        tx = Tx(dbapi, self.is_pg)
        self._local.depth = 1
        try:
            if not self.is_pg:
                tx.cur.execute("BEGIN")
            yield tx
        finally:
            self._local.depth = 0
            if self.is_pg:
                if not dbapi.closed:
                    dbapi.rollback()
            else:
                _sqlite_rollback(tx)
            tx.cur.close()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def is_empty(self) -> bool:
        return not inspect(self.engine).get_table_names()

    def upgrade(self, revision: str = "heads") -> None:
        from engine import migrate  # local import: alembic is only needed here

        migrate.upgrade(self, revision)

    def dispose(self) -> None:
        with self._held_lock:
            held, self._held = self._held, []
        for dbapi in held:
            try:
                dbapi.close()
            except Exception:  # already broken: nothing left to release
                pass
        self._local = threading.local()
        self.engine.dispose()


def _sqlite_rollback(tx: Tx) -> None:
    try:
        tx.cur.execute("ROLLBACK")
    except Exception:  # no transaction open (e.g. BEGIN itself failed): nothing to undo
        pass


def metadata() -> Any:
    import engine.store  # noqa: F401  - registers the engine tables
    import engine.masterdata.models  # noqa: F401
    import flows.itr.models  # noqa: F401
    import flows.planning.models  # noqa: F401
    import flows.survey.models  # noqa: F401

    return SQLModel.metadata
