"""`mcr archive --closed-before DATE`: move the per-event rows of closed instances out of the hot tables.

A closed instance is one in a terminal state (`ended_us` set) whose last step is before the cutoff,
with no pending timer and no unsent (pending or failed) mail. Its `flow_history`, `timer` and sent
`outbox` rows move to `<table>_archive` (same columns, same ids, plus `archived_us`) and the instance
is marked in `instance_archive`. The `flow_instance` row stays: the families' tables reference it,
and lists, counters and reports read it as before. Readers reach moved rows through
`engine.sql.with_archive` — the one way to read those tables wherever a row now lives.

Crash safety: each chunk of instances moves in one transaction (copy, delete exactly the copied rows,
mark); a kill mid-run loses at most the open chunk's work, which the next run redoes. A run is
idempotent: marked instances are never picked again.

Two kinds of rows deliberately stay hot:
* mail whose dedupe key is not scoped to the instance (`<instance id>:…`): another instance may queue
  the same key later, and only the hot table's unique key stops that second mail;
* the newest row of each moved table, with its whole instance: SQLite gives a new row the largest
  id + 1, so moving the newest row away would let the next insert reuse its id. That instance waits
  for a later run (reported as `waiting`).
`flow_refusal` (the audit log of refused events) is not moved: it is small and read as a whole.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from typing import Any, Iterator

from engine.clock import Clock, to_us
from engine.db import Database, Tx
from engine.errors import MCRError
from engine.i18n import t
from engine.sql import ARCHIVED_TABLES

DEFAULT_BATCH = 500


class ArchiveDateInvalid(MCRError):
    """--closed-before is not a YYYY-MM-DD date."""


class ArchiveBatchInvalid(MCRError):
    """--batch is not a positive number."""


@dataclass
class ArchiveResult:
    closed_before: str
    dry_run: bool
    instances: int = 0
    history: int = 0
    timers: int = 0
    outbox: int = 0
    outbox_kept: int = 0  # sent mail with a shared dedupe key: stays hot (see the module docstring)
    waiting: int = 0  # instances holding a table's newest row: moved by a later run
    chunks: int = 0
    moved_ids: list[int] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("moved_ids")
        return out


def parse_cutoff(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ArchiveDateInvalid(t("engine.archive.bad_date", value=text)) from None


def check_batch(batch: int) -> None:
    if batch < 1:
        raise ArchiveBatchInvalid(t("engine.archive.bad_batch", value=batch))


# Closed, not yet archived, nothing left to fire or send; walked by id so a run reads each instance once.
_CANDIDATES = """
SELECT fi.id FROM flow_instance fi
WHERE fi.id > :after AND fi.ended_us IS NOT NULL AND fi.updated_us < :cutoff
  AND NOT EXISTS (SELECT 1 FROM instance_archive a WHERE a.instance_id = fi.id)
  AND NOT EXISTS (SELECT 1 FROM timer tm WHERE tm.instance_id = fi.id AND tm.status = 'pending')
  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.instance_id = fi.id AND o.status <> 'sent')
ORDER BY fi.id LIMIT :batch
"""

# Mail whose dedupe key another instance could queue again stays in the hot table's unique key.
_OWN_MAIL = ("(o.dedupe_key IS NULL OR substr(o.dedupe_key, 1, length(CAST(o.instance_id AS TEXT)) + 1) "
             "= CAST(o.instance_id AS TEXT) || ':')")
_WHERE = {"flow_history": "", "timer": "", "outbox": f" AND {_OWN_MAIL}"}
_ALIAS = {"flow_history": "h", "timer": "tm", "outbox": "o"}


def _columns(table: str) -> list[str]:
    from engine import store  # noqa: F401  - registers the tables
    from sqlmodel import SQLModel

    return [c.name for c in SQLModel.metadata.tables[table].columns]


class _Rollback(Exception):
    """Ends a dry-run chunk's transaction without committing it."""


def archive_closed(db: Database, clock: Clock, closed_before: datetime, *, batch: int = DEFAULT_BATCH,
                   dry_run: bool = False) -> ArchiveResult:
    """Move the rows of instances closed before `closed_before` (aware) into the archive tables.

    `dry_run` runs every chunk exactly as a real run would and rolls it back: the counts are the
    ones a real run would print now."""
    check_batch(batch)
    result = ArchiveResult(closed_before=closed_before.isoformat(), dry_run=dry_run)
    cutoff = to_us(closed_before)
    after = 0
    while True:
        chunk = _Chunk()
        try:
            with db.tx() as tx:
                after = chunk.run(tx, db.is_pg, after, cutoff, batch, to_us(clock.now()))
                if dry_run:
                    raise _Rollback
        except _Rollback:
            pass
        if chunk.scanned == 0:
            return result
        result.chunks += 1
        result.instances += len(chunk.moved)
        result.moved_ids.extend(chunk.moved)
        result.history += chunk.rows["flow_history"]
        result.timers += chunk.rows["timer"]
        result.outbox += chunk.rows["outbox"]
        result.outbox_kept += chunk.kept
        result.waiting += chunk.waiting


class _Chunk:
    """One transaction's worth: up to `batch` candidate instances, moved completely or not at all."""

    def __init__(self) -> None:
        self.scanned = 0
        self.moved: list[int] = []
        self.rows = {name: 0 for name in ARCHIVED_TABLES}
        self.kept = 0
        self.waiting = 0

    def run(self, tx: Tx, is_pg: bool, after: int, cutoff: int, batch: int, now: int) -> int:
        lock = " FOR UPDATE OF fi SKIP LOCKED" if is_pg else ""  # a second archiver takes other instances
        ids = [r[0] for r in tx.all(_CANDIDATES + lock, {"after": after, "cutoff": cutoff, "batch": batch})]
        self.scanned = len(ids)
        if not ids:
            return after
        newest = set(_newest_owners(tx))
        self.moved = [i for i in ids if i not in newest]
        self.waiting = len(ids) - len(self.moved)
        if self.moved:
            self._move(tx, now)
        return ids[-1]

    def _move(self, tx: Tx, now: int) -> None:
        params: dict[str, Any] = {f"i{n}": i for n, i in enumerate(self.moved)}
        inside = ", ".join(f":{k}" for k in params)
        params["now"] = now
        for table in ARCHIVED_TABLES:
            a = _ALIAS[table]
            cols = _columns(table)
            picked = f"{a}.instance_id IN ({inside}){_WHERE[table]}"
            copied = tx.execute(f"INSERT INTO {table}_archive ({', '.join(cols)}, archived_us) "
                                f"SELECT {', '.join(f'{a}.{c}' for c in cols)}, :now FROM {table} {a} WHERE {picked}",
                                params).rowcount
            # Delete exactly what was copied: a row the copy did not see is never lost.
            deleted = tx.execute(f"DELETE FROM {table} WHERE id IN (SELECT x.id FROM {table}_archive x "
                                 f"WHERE x.instance_id IN ({inside}) AND x.archived_us = :now)", params).rowcount
            if copied != deleted:
                raise RuntimeError(f"archive: {table} copied {copied} row(s) but deleted {deleted}; rolled back")
            self.rows[table] = copied
        self.kept = int(tx.one(f"SELECT COUNT(*) FROM outbox o WHERE o.instance_id IN ({inside})", params)[0])
        # A second archiver that committed this instance after our candidate read (PostgreSQL, READ
        # COMMITTED) left nothing to copy above; its mark stands.
        tx.many("INSERT INTO instance_archive (instance_id, archived_us) VALUES (:i, :now) ON CONFLICT DO NOTHING",
                [{"i": i, "now": now} for i in self.moved])


def _newest_owners(tx: Tx) -> Iterator[int]:
    for table in ARCHIVED_TABLES:
        row = tx.one(f"SELECT instance_id FROM {table} WHERE id = (SELECT MAX(id) FROM {table})")
        if row is not None and row[0] is not None:
            yield int(row[0])


def midnight(day: date, tz: Any) -> datetime:
    """The start of `day` in the company's time zone: what "closed before DATE" means."""
    return datetime.combine(day, time(0), tzinfo=tz)
