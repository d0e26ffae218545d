"""The engine's tables (SQLModel) — the schema Alembic migrates and the ORM reads.

Instants are stored as integer microseconds since the epoch, UTC (`*_us` columns): cheap to
compare and index on both SQLite and PostgreSQL, and never ambiguous. The hot path writes
these tables with the named statements of engine/sql.py; everything else may use the ORM.

Exactly-once is built into the schema, not left to care:
* `flow_history.client_event_id` is unique — the same client event (and the same timer firing,
  whose id is `timer:<id>`) is applied at most once;
* `timer.timer_key` is unique per instance/state entry/timer, and a timer leaves `pending` once;
* `outbox.dedupe_key` is unique — a reminder for the same thing and day is queued once;
* `launch_run (launch, period_key)` is unique — a recurring launch runs once per period.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, Column, Index, Integer, Table, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def _us(nullable: bool = False, index: bool = False) -> Column:
    return Column(BigInteger, nullable=nullable, index=index)


class FlowDefinitionRow(SQLModel, table=True):
    """Each definition version ever started, with its source, so old instances keep their version."""

    __tablename__ = "flow_definition"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_flow_definition_name_version"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(Text, nullable=False))
    version: int
    digest: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))
    source_file: str = Field(sa_column=Column(Text, nullable=False))
    registered_us: int = Field(sa_column=_us())


class RulesVersion(SQLModel, table=True):
    """A registered state of the rules folder (engine/rules.py): which file contents it holds, who
    registered it and when, and what changed against the version before. Instances started after
    it run on it (`flow_instance.rules_version`)."""

    __tablename__ = "rules_version"
    __table_args__ = (Index("ix_rules_version_digest", "digest"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    digest: str = Field(sa_column=Column(Text, nullable=False), description="sha256 over the files' names and digests")
    files: str = Field(sa_column=Column(Text, nullable=False), description="JSON {file name: sha256 of its bytes}")
    registered_us: int = Field(sa_column=_us())
    registered_by: str = Field(sa_column=Column(Text, nullable=False))
    changes: str = Field(sa_column=Column(Text, nullable=False), description="JSON [{file, change, diff}]")


class RulesSource(SQLModel, table=True):
    """The text of one rules file content, by its digest (shared by every version that holds it)."""

    __tablename__ = "rules_source"
    __table_args__ = (UniqueConstraint("digest", name="uq_rules_source_digest"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    digest: str = Field(sa_column=Column(Text, nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))


class FlowInstance(SQLModel, table=True):
    __tablename__ = "flow_instance"
    __table_args__ = (
        # One instance per flow and business subject (e.g. team T1's kit for 2027), so re-running a
        # launch can never create a second one.
        Index("uq_flow_instance_subject", "flow", "subject", unique=True,
              sqlite_where=text("subject IS NOT NULL"), postgresql_where=text("subject IS NOT NULL")),
        Index("ix_flow_instance_flow_state", "flow", "state"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    flow: str = Field(sa_column=Column(Text, nullable=False))
    flow_version: int
    state: str = Field(sa_column=Column(Text, nullable=False))
    version: int = Field(default=1, description="optimistic-lock counter, +1 per step")
    subject: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    calendar: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    locale: str = Field(default="zh-CN", sa_column=Column(Text, nullable=False))
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_us: int = Field(sa_column=_us())
    updated_us: int = Field(sa_column=_us())
    ended_us: Optional[int] = Field(default=None, sa_column=_us(nullable=True))
    rules_version: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True),
                                         description="rules_version.id the instance started under (NULL: before 0007)")


class FlowHistory(SQLModel, table=True):
    __tablename__ = "flow_history"
    __table_args__ = (
        UniqueConstraint("client_event_id", name="uq_flow_history_client_event_id"),
        Index("ix_flow_history_instance", "instance_id", "id"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    instance_id: int = Field(sa_column=Column(Integer, nullable=False))
    at_us: int = Field(sa_column=_us())
    actor: str = Field(sa_column=Column(Text, nullable=False))
    event: str = Field(sa_column=Column(Text, nullable=False))
    from_state: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    to_state: str = Field(sa_column=Column(Text, nullable=False))
    payload: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    client_event_id: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    version: int = Field(description="the instance version this step produced")


class Timer(SQLModel, table=True):
    __tablename__ = "timer"
    __table_args__ = (
        UniqueConstraint("timer_key", name="uq_timer_key"),
        # The sweep only ever looks at pending timers by due time: a partial index keeps the
        # empty sweep at microseconds even with a million fired rows behind it.
        Index("ix_timer_pending_due", "due_us",
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
        Index("ix_timer_instance", "instance_id", "status"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    instance_id: int = Field(sa_column=Column(Integer, nullable=False))
    timer_key: str = Field(sa_column=Column(Text, nullable=False))
    name: str = Field(sa_column=Column(Text, nullable=False))
    event: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(sa_column=Column(Text, nullable=False))
    due_us: int = Field(sa_column=_us())
    catch_up: str = Field(default="fire_late", sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", sa_column=Column(Text, nullable=False))
    claimed_by: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    claimed_until_us: Optional[int] = Field(default=None, sa_column=_us(nullable=True))
    done_us: Optional[int] = Field(default=None, sa_column=_us(nullable=True))
    note: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
        Index("ix_outbox_pending", "next_attempt_us",
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
        # What `mcr archive` checks (no unsent mail) and moves, per instance.
        Index("ix_outbox_instance", "instance_id"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    instance_id: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True))
    dedupe_key: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    template: str = Field(sa_column=Column(Text, nullable=False))
    locale: str = Field(sa_column=Column(Text, nullable=False))
    recipient: str = Field(sa_column=Column(Text, nullable=False))
    subject: str = Field(sa_column=Column(Text, nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", sa_column=Column(Text, nullable=False))
    attempts: int = 0
    next_attempt_us: int = Field(sa_column=_us())
    claimed_by: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    claimed_until_us: Optional[int] = Field(default=None, sa_column=_us(nullable=True))
    last_error: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    created_us: int = Field(sa_column=_us())
    sent_us: Optional[int] = Field(default=None, sa_column=_us(nullable=True))
    # mail, wecom or dingtalk; a robot's name (rules/notify.yaml) in target; calendar entries as JSON.
    channel: str = Field(default="mail", sa_column=Column(Text, nullable=False, server_default="mail"))
    target: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    invite: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))


class LaunchRun(SQLModel, table=True):
    __tablename__ = "launch_run"
    __table_args__ = (UniqueConstraint("launch", "period_key", name="uq_launch_run_period"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    launch: str = Field(sa_column=Column(Text, nullable=False))
    period_key: str = Field(sa_column=Column(Text, nullable=False))
    due_us: int = Field(sa_column=_us())
    status: str = Field(sa_column=Column(Text, nullable=False))
    started: int = 0
    note: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))
    at_us: int = Field(sa_column=_us())


class Refusal(SQLModel, table=True):
    """Every refused event, so a refusal is visible in the log even though nothing changed."""

    __tablename__ = "flow_refusal"

    id: Optional[int] = Field(default=None, primary_key=True)
    instance_id: Optional[int] = Field(default=None, sa_column=Column(Integer, nullable=True, index=True))
    at_us: int = Field(sa_column=_us())
    actor: str = Field(sa_column=Column(Text, nullable=False))
    event: str = Field(sa_column=Column(Text, nullable=False))
    code: str = Field(sa_column=Column(Text, nullable=False))
    message: str = Field(sa_column=Column(Text, nullable=False))


# --- archive -----------------------------------------------------------------------------------
# `mcr archive` (engine/archive.py) moves the per-event rows of closed instances here: the same
# columns as the hot table (ids kept) plus when they moved. The hot tables' partial indexes and
# unique keys stay small; readers see both through `engine.sql.with_archive`. The instance row
# itself stays in flow_instance (the families' tables reference it), marked in `instance_archive`.

def _archive_of(hot: Table, *indexes: tuple[str, tuple[str, ...], bool]) -> Table:
    columns = [Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable, autoincrement=False)
               for c in hot.columns]
    name = f"{hot.name}_archive"
    return Table(name, SQLModel.metadata, *columns, Column("archived_us", BigInteger, nullable=False),
                 *(Index(f"{'uq' if unique else 'ix'}_{name}_{label}", *cols, unique=unique)
                   for label, cols, unique in indexes))


FLOW_HISTORY_ARCHIVE = _archive_of(FlowHistory.__table__,  # type: ignore[attr-defined]
                                   ("instance", ("instance_id", "id"), False),
                                   ("client_event_id", ("client_event_id",), True))
TIMER_ARCHIVE = _archive_of(Timer.__table__, ("instance", ("instance_id",), False))  # type: ignore[attr-defined]
OUTBOX_ARCHIVE = _archive_of(Outbox.__table__, ("instance", ("instance_id",), False))  # type: ignore[attr-defined]


class InstanceArchive(SQLModel, table=True):
    """An instance whose history, timers and sent mail live in the archive tables (one row per instance)."""

    __tablename__ = "instance_archive"

    instance_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    archived_us: int = Field(sa_column=_us())
