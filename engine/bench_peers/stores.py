"""The three persistence layers the peers write with, each at WAL + the same `synchronous` as mcr, each
step in one write transaction taken up front (BEGIN IMMEDIATE, as mcr's): raw sqlite3, SQLAlchemy Core,
the SQLModel ORM (mcr's own table models, so the schema and the rows are the same)."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

COUNTER = ("UPDATE itr_counter SET n = n + :by WHERE metric = :m AND unit_code = :u AND start_us <= :now "
           "AND end_us > :now")
# Several client threads (`--clients`): a writer that finds the lock taken waits in SQLite's busy
# handler, as mcr's connections do (engine.db.busy_timeout_ms, 30 s by default), rather than fail.
BUSY_TIMEOUT_MS = 30_000
CANCEL = "UPDATE timer SET status = 'cancelled', done_us = :now, note = :note WHERE instance_id = :i AND status = 'pending'"


def _tables() -> dict[str, Any]:
    """mcr's SQLModel table classes by table name (imported here: the bench drives the ITR family)."""
    from engine import store
    from flows.itr import models

    classes = (store.FlowInstance, store.FlowHistory, store.Timer, store.Outbox, models.Issue, models.Dispatch,
               models.Escalation, models.Counter, models.CallbackDecision, models.Callback, models.WeeklyScore)
    return {c.__tablename__: c for c in classes}


# ---------------------------------------------------------------------------------------------- raw sqlite3


class SqliteStore:
    """The stdlib driver, statements written by hand."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", f"busy_timeout={BUSY_TIMEOUT_MS}",
                       "foreign_keys=ON"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.cur = self.conn.cursor()
        self._sql: dict[tuple[Any, ...], str] = {}

    @contextmanager
    def tx(self) -> Iterator["SqliteStore"]:
        self.cur.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.cur.execute("ROLLBACK")
            raise
        self.cur.execute("COMMIT")

    def one(self, sql: str, params: dict[str, Any]) -> Any:
        return self.cur.execute(sql, params).fetchone()

    def all(self, sql: str, params: dict[str, Any]) -> list[Any]:
        return self.cur.execute(sql, params).fetchall()

    def insert(self, table: str, values: dict[str, Any], *, want_id: bool = False) -> Optional[int]:
        key = (table, *values)
        sql = self._sql.get(key)
        if sql is None:
            sql = self._sql[key] = (f"INSERT INTO {table} ({', '.join(values)}) "
                                    f"VALUES ({', '.join(':' + c for c in values)})")
        self.cur.execute(sql, values)
        return self.cur.lastrowid

    def update(self, table: str, key: int, values: dict[str, Any]) -> None:
        self.cur.execute(f"UPDATE {table} SET {', '.join(f'{c} = :{c}' for c in values)} WHERE id = :_id",
                         {**values, "_id": key})

    def bump(self, metric: str, unit: str, now_us: int, by: int = 1) -> None:
        self.cur.execute(COUNTER, {"by": by, "m": metric, "u": unit, "now": now_us})

    def cancel_timers(self, instance_id: int, now_us: int, note: str) -> None:
        self.cur.execute(CANCEL, {"now": now_us, "note": note, "i": instance_id})

    def close(self) -> None:
        self.conn.close()


# ---------------------------------------------------------------------------------------------- SQLAlchemy


def sqlalchemy_engine(path: Path, synchronous: str) -> Any:
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None  # we BEGIN ourselves (the stdlib driver would defer it to the first write)
        for pragma in ("journal_mode=WAL", f"synchronous={synchronous}", f"busy_timeout={BUSY_TIMEOUT_MS}",
                       "foreign_keys=ON"):
            dbapi.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class _TextReads:
    """The reads both SQLAlchemy peers write as text(): each statement built once, run on the peer's
    connection or session (`_runner`)."""

    _text: dict[str, Any]

    def _runner(self) -> Any:
        raise NotImplementedError

    def _q(self, sql: str) -> Any:
        from sqlalchemy import text

        q = self._text.get(sql)
        if q is None:
            q = self._text[sql] = text(sql)
        return q

    def one(self, sql: str, params: dict[str, Any]) -> Any:
        return self._runner().execute(self._q(sql), params).fetchone()

    def all(self, sql: str, params: dict[str, Any]) -> list[Any]:
        return self._runner().execute(self._q(sql), params).fetchall()


class CoreStore(_TextReads):
    """SQLAlchemy Core as its documentation has it: statements built once on mcr's Table objects and
    executed with parameters (so the compiled form comes from SQLAlchemy's cache), reads as text()."""

    def __init__(self, path: Path, synchronous: str) -> None:
        from sqlalchemy import and_, bindparam, insert, update

        self.engine = sqlalchemy_engine(path, synchronous)
        self.t = {name: cls.__table__ for name, cls in _tables().items()}
        self._text = {}
        self._insert = {name: insert(t) for name, t in self.t.items()}
        self._update: dict[tuple[str, ...], Any] = {}
        self._bindparam, self._upd = bindparam, update
        c, tm = self.t["itr_counter"].c, self.t["timer"]
        self._bump = update(self.t["itr_counter"]).where(and_(
            c.metric == bindparam("m"), c.unit_code == bindparam("u"), c.start_us <= bindparam("now"),
            c.end_us > bindparam("now2"))).values(n=c.n + bindparam("by"))
        self._cancel = update(tm).where(and_(tm.c.instance_id == bindparam("i"), tm.c.status == "pending")).values(
            status="cancelled", done_us=bindparam("now"), note=bindparam("note_"))
        self.conn: Any = None

    @contextmanager
    def tx(self) -> Iterator["CoreStore"]:
        with self.engine.begin() as conn:
            self.conn = conn
            yield self

    def _runner(self) -> Any:
        return self.conn

    def insert(self, table: str, values: dict[str, Any], *, want_id: bool = False) -> Optional[int]:
        result = self.conn.execute(self._insert[table], values)
        return result.inserted_primary_key[0] if want_id else None

    def update(self, table: str, key: int, values: dict[str, Any]) -> None:
        shape = (table, *values)
        stmt = self._update.get(shape)
        if stmt is None:
            t = self.t[table]
            stmt = self._update[shape] = self._upd(t).where(t.c.id == self._bindparam("_id")).values(
                {c: self._bindparam(f"v_{c}") for c in values})
        self.conn.execute(stmt, {"_id": key, **{f"v_{c}": v for c, v in values.items()}})

    def bump(self, metric: str, unit: str, now_us: int, by: int = 1) -> None:
        self.conn.execute(self._bump, {"m": metric, "u": unit, "now": now_us, "now2": now_us, "by": by})

    def cancel_timers(self, instance_id: int, now_us: int, note: str) -> None:
        self.conn.execute(self._cancel, {"i": instance_id, "now": now_us, "note_": note})

    def close(self) -> None:
        self.engine.dispose()


class OrmStore(_TextReads):
    """SQLModel sessions: rows are model objects added to the session, the issue row loaded and changed;
    the counters and the timer cancel are bulk UPDATEs (what a SQLModel user writes for n = n + 1),
    without the session synchronisation none of their rows needs."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self.engine = sqlalchemy_engine(path, synchronous)
        self.models = _tables()
        self._text = {}
        self.session: Any = None

    @contextmanager
    def tx(self) -> Iterator["OrmStore"]:
        from sqlmodel import Session

        with Session(self.engine) as session, session.begin():
            self.session = session
            yield self

    def _runner(self) -> Any:
        return self.session

    def get(self, table: str, key: int) -> Any:
        return self.session.get(self.models[table], key)

    def insert(self, table: str, values: dict[str, Any], *, want_id: bool = False) -> Optional[int]:
        row = self.models[table](**values)
        self.session.add(row)
        if want_id:
            self.session.flush()
            return row.id
        return None

    def update(self, table: str, key: int, values: dict[str, Any]) -> None:
        row = self.get(table, key)
        for column, value in values.items():
            setattr(row, column, value)

    def bump(self, metric: str, unit: str, now_us: int, by: int = 1) -> None:
        from sqlmodel import update

        m = self.models["itr_counter"]
        self.session.execute(update(m).where(m.metric == metric, m.unit_code == unit, m.start_us <= now_us,
                                             m.end_us > now_us).values(n=m.n + by)
                             .execution_options(synchronize_session=False))  # no counter object is in the session

    def cancel_timers(self, instance_id: int, now_us: int, note: str) -> None:
        from sqlmodel import update

        m = self.models["timer"]
        self.session.execute(update(m).where(m.instance_id == instance_id, m.status == "pending")
                             .values(status="cancelled", done_us=now_us, note=note)
                             .execution_options(synchronize_session=False))

    def close(self) -> None:
        self.engine.dispose()
