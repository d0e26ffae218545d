"""Database access: one `Database` per URL, SQLite file by default, PostgreSQL by URL.

Two ways in:
* `db.tx()` — a raw DB-API transaction for the hot path (engine/sql.py statements), because
  the ORM alone cannot reach the throughput target (see docs/performance.md);
* `db.session()` — a SQLModel session for everything else.

SQLite runs in WAL mode with `synchronous=FULL` (override with MCR_SQLITE_SYNCHRONOUS) and a
busy timeout, so `mcr serve` and a CLI command can share one file; writers take the write
lock up front (`BEGIN IMMEDIATE`) so a read-then-write step can never deadlock on upgrade.

Infrastructure faults are turned into one readable `DatabaseFault` here and nowhere else
(`fault_from`): not a database, read-only, busy, unreachable, not initialised, schema too new.
A database that is busy beyond the busy timeout is retried as a whole unit of work by
`retry_busy`. `Database(create=False)` — what read commands use — never creates a file or folder.
"""

from __future__ import annotations

import importlib

import os
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session, SQLModel

from engine.errors import ConfigError, DatabaseBusy, DatabaseFault, DatabaseInUse, DatabaseMissing, SchemaTooNew
from engine.i18n import t

DEFAULT_URL = "sqlite:///mcr.db"
T = TypeVar("T")
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

    @contextmanager
    def savepoint(self, name: str = "mcr_step") -> Iterator[None]:
        """The block's writes undone alone if it raises (the exception goes on), kept if it does not:
        how several steps share one transaction without a refused one rolling back its neighbours
        (group commit, one transaction per user action, a start and its first step)."""
        self.cur.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.cur.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.cur.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.cur.execute(f"RELEASE SAVEPOINT {name}")

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
    def __init__(self, url: str | None = None, *, echo: bool = False, create: bool = True) -> None:
        """`create=False`: a SQLite file that does not exist is `DatabaseMissing`, not a new empty file
        (a typo in the path must not silently give an empty database and a new folder)."""
        self.url = database_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise ConfigError(f"bad database URL '{self.url}': {exc}") from exc
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise ConfigError(f"bad database URL '{self.url}': only sqlite:/// and postgresql:// are supported")
        self.is_pg = backend == "postgresql"
        self.sqlite_path: Path | None = None
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_pg:
            if parsed.drivername in ("postgresql", "postgres"):
                parsed = parsed.set(drivername="postgresql+psycopg")
            kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
        else:
            self.sqlite_path = _sqlite_file(parsed.database)
            if self.sqlite_path is not None:
                if not create and not self.sqlite_path.exists():
                    raise DatabaseMissing(t("engine.db.missing", path=self.sqlite_path))
                if create:
                    self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_ms() / 1000}
        try:
            self.engine: Engine = create_engine(parsed, **kwargs)
        except Exception as exc:  # e.g. the driver is missing
            raise ConfigError(f"bad database URL '{self.url}': {exc}") from exc
        if not self.is_pg:
            self._configure_sqlite()
        # Each thread keeps one connection for the hot path: checking a connection out of the
        # pool and resetting it on return costs more than a whole SQLite step's Python work.
        self._local = threading.local()
        self._held: list[tuple[threading.Thread, Any]] = []  # (owner thread, connection)
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
            cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms()}")
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
                if not self.is_pg:
                    # Reading the schema is what detects a file that is not a database.
                    conn.exec_driver_sql("SELECT COUNT(*) FROM sqlite_master")
        except Exception as exc:
            fault = fault_from(exc, self.safe_url)
            if fault is None:
                raise
            raise fault from exc

    @property
    def safe_url(self) -> str:
        return safe_url(self.url)

    def _thread_conn(self) -> Any:
        dbapi = getattr(self._local, "dbapi", None)
        if dbapi is None or (self.is_pg and dbapi.closed):
            raw = self.engine.raw_connection()
            dbapi = raw.driver_connection
            raw.detach()  # ours for the life of this thread; the pool does not manage it
            self._local.dbapi = dbapi
            with self._held_lock:
                # Threads come and go (an asyncio loop's executor per delivery round, a web
                # server's worker threads): close what threads that have ended left open, or a
                # long-running process would pile up connections until the server refuses more.
                ended = [conn for thread, conn in self._held if not thread.is_alive()]
                self._held = [(thread, conn) for thread, conn in self._held if thread.is_alive()]
                self._held.append((threading.current_thread(), dbapi))
            for conn in ended:
                try:
                    conn.close()
                except Exception:  # already broken: nothing left to release
                    pass
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
            # A failed COMMIT (a deferred constraint, disk full) can leave SQLite's transaction open:
            # it is rolled back like a failed step, or this thread's next BEGIN would fail.
            try:
                yield tx
                if self.is_pg:
                    dbapi.commit()
                else:
                    tx.cur.execute("COMMIT")
            except BaseException:
                if self.is_pg:
                    if not dbapi.closed:
                        dbapi.rollback()
                else:
                    _sqlite_rollback(tx)
                raise
        finally:
            self._local.depth = 0
            tx.cur.close()

    def in_transaction(self) -> bool:
        """True while this thread has a `tx()` or `read()` open (a new one would join it)."""
        return bool(getattr(self._local, "depth", 0))

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

    def hold_server_lock(self) -> None:
        """Refuse a second `mcr serve` on the same SQLite file; held until this process ends.

        An exclusive `flock` on `<file>.serve.lock`: the kernel releases it when the process dies,
        even by `kill -9`, so a crash never leaves a stale lock behind. PostgreSQL needs none —
        several servers share one database safely (leases, SKIP LOCKED)."""
        if self.is_pg or self.sqlite_path is None or getattr(self, "_server_lock", None) is not None:
            return
        import fcntl

        lock_path = self.sqlite_path.with_name(self.sqlite_path.name + ".serve.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DatabaseInUse(t("engine.db.in_use", pid=holder, path=self.sqlite_path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._server_lock = fd  # kept open: closing the descriptor would release the lock

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
        for _, dbapi in held:
            try:
                dbapi.close()
            except Exception:  # already broken: nothing left to release
                pass
        self._local = threading.local()
        self.engine.dispose()


def _sqlite_file(database: str | None) -> Path | None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def busy_timeout_ms() -> int:
    """How long SQLite waits for another writer before it reports busy (MCR_SQLITE_BUSY_TIMEOUT_MS)."""
    raw = os.environ.get("MCR_SQLITE_BUSY_TIMEOUT_MS", "30000")
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"MCR_SQLITE_BUSY_TIMEOUT_MS={raw!r}: use a number of milliseconds") from None
    if value < 0:
        raise ConfigError(f"MCR_SQLITE_BUSY_TIMEOUT_MS={raw!r}: use a number of milliseconds")
    return value


# --- infrastructure faults -------------------------------------------------------------------


def _driver_error(exc: BaseException) -> BaseException | None:
    """The sqlite3 / psycopg / alembic error under `exc` (SQLAlchemy wraps them), or None."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        module = type(current).__module__
        if isinstance(current, sqlite3.Error) or module.startswith(("psycopg", "alembic")):
            return current
        todo.extend([getattr(current, "orig", None), current.__cause__, current.__context__])
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


_NO_TABLE = re.compile(r'(?:no such table:|relation) "?([\w.]+)"?')


def is_busy(exc: BaseException) -> bool:
    """True when `exc` says another connection holds the lock (worth waiting and trying again)."""
    err = _driver_error(exc)
    if err is None:
        return False
    if isinstance(err, sqlite3.Error):
        text = str(err).lower()
        return "database is locked" in text or "database is busy" in text or "database table is locked" in text
    return type(err).__name__ in ("LockNotAvailable", "DeadlockDetected", "SerializationFailure")


def fault_from(exc: BaseException, where: str | None = None) -> DatabaseFault | None:
    """The one readable line for an infrastructure fault under `exc`; None if it is not one."""
    if isinstance(exc, DatabaseFault):
        return exc
    err = _driver_error(exc)
    if err is None:
        return None
    where = where or safe_url(database_url())
    name = type(err).__name__
    text = _first_line(err)
    low = text.lower()
    if type(err).__module__.startswith("alembic"):
        found = re.search(r"revision identified by '([^']+)'", text)
        if found:
            return SchemaTooNew(t("engine.db.schema_too_new", where=where, revision=found.group(1)))
        return DatabaseFault(t("engine.db.fault", where=where, reason=text))
    if is_busy(err):
        return DatabaseBusy(t("engine.db.busy", where=where, attempts=1))
    if isinstance(err, sqlite3.Error):
        if "file is not a database" in low or "malformed" in low:
            return DatabaseFault(t("engine.db.not_a_database", path=where))
        if "readonly" in low or "read-only" in low:
            return DatabaseFault(t("engine.db.read_only", where=where))
        if "unable to open database file" in low:
            return DatabaseFault(t("engine.db.cannot_open", where=where, reason=text))
        if "disk is full" in low or "disk i/o error" in low:
            return DatabaseFault(t("engine.db.disk_full", where=where, reason=text))
        if low.startswith("no such table"):
            return DatabaseFault(t("engine.db.not_initialised", where=where, table=text.split(":", 1)[1].strip()))
        if type(err) in (sqlite3.OperationalError, sqlite3.DatabaseError):  # not an IntegrityError: a rule
            return DatabaseFault(t("engine.db.fault", where=where, reason=text))
        return None
    # psycopg
    if name == "UndefinedTable":
        found = _NO_TABLE.search(text)
        return DatabaseFault(t("engine.db.not_initialised", where=where, table=found.group(1) if found else "?"))
    if name in ("ReadOnlySqlTransaction", "InsufficientPrivilege"):
        return DatabaseFault(t("engine.db.read_only", where=where))
    if name == "DiskFull":
        return DatabaseFault(t("engine.db.disk_full", where=where, reason=text))
    if name in ("OperationalError", "InterfaceError") or "connection" in low:
        return DatabaseFault(t("engine.db.unreachable", where=where, reason=text))
    return None


def retry_busy(work: Callable[[], T], *, attempts: int = 4, first_wait: float = 0.2,
               where: str | None = None) -> T:
    """Run `work` (a whole transaction: it must roll back on error) again while the database is busy.

    SQLite already waits up to the busy timeout for a lock; this covers what that wait cannot:
    a transaction that read first and finds, when it wants to write, that another process
    wrote in between (WAL's "busy snapshot" is reported at once, without waiting). After the
    last attempt the user gets `DatabaseBusy`, one line, and nothing was written.
    """
    wait = first_wait
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as exc:
            if not is_busy(exc):
                raise
            if attempt == attempts:
                raise DatabaseBusy(t("engine.db.busy", where=where or safe_url(database_url()), attempts=attempts)) from exc
        # Real time, not business time: how long to let the other writer finish.
        time.sleep(wait)
        wait *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _sqlite_rollback(tx: Tx) -> None:
    try:
        tx.cur.execute("ROLLBACK")
    except Exception:  # no transaction open (e.g. BEGIN itself failed): nothing to undo
        pass


def metadata() -> Any:
    import engine.store  # noqa: F401  - registers the engine tables
    import engine.masterdata.models  # noqa: F401
    import engine.auth.models  # noqa: F401
    from engine import plugins

    for module in plugins.model_modules():  # each flow family's tables
        importlib.import_module(module)

    return SQLModel.metadata
