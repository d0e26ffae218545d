"""Group commit: steps arriving together from several threads share ONE transaction, a savepoint each.

Why: every commit costs a durable write (an fsync on SQLite with synchronous=FULL, a WAL flush and
a round trip on PostgreSQL) and, on SQLite, the single write lock; with many concurrent requests
the threads mostly wait for each other's commits. Here the first caller to arrive becomes the
leader: it takes every step queued so far, opens one transaction, runs each step between
`SAVEPOINT` and `RELEASE` (a refused step is undone with `ROLLBACK TO SAVEPOINT`, so it never
rolls back its neighbours), commits once, then hands each caller its own result or exception.
While it commits, the next steps queue up; the first of them leads the next group.

Guarantees (tests/integration/test_group_commit.py):
* a caller returns only after the transaction holding its step committed — post-commit work
  (the scheduler's wake-up, the refusal record) runs in the caller's thread after that;
* a step's refusal is raised in its own caller, as `Runtime.send` raises it; its neighbours commit;
* if the COMMIT itself fails (disk full, a deferred constraint, a lost connection), every member
  of the group gets `GroupCommitFailed` and none is reported done: nothing is applied twice, and
  nothing is reported committed that was not (members are not retried: after a lost connection
  the outcome of a COMMIT is unknown, and a retry could apply a step twice);
* a caller already inside a transaction of its own (a service's `db.tx()`) is not grouped: its
  step joins that transaction exactly as before.

Opt-in per runtime (`Runtime.group_commit = GroupCommitter(db)`); `mcr serve`, whose web requests
are the concurrent callers, turns it on where it pays (`wanted`: SQLite; see docs/architecture.md).
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from typing import Any, Callable, Generic, TypeVar

from engine.db import Database, Tx, fault_from
from engine.errors import ConfigError, DatabaseFault
from engine.i18n import t

log = logging.getLogger("mcr.group_commit")

T = TypeVar("T")
DEFAULT_MAX_GROUP = 64
_SAVEPOINT = "mcr_group_step"


class GroupCommitFailed(DatabaseFault):
    """The shared transaction holding this step could not commit; the step was not applied."""

    status = 503  # the web answer: nothing was wrong with the request, sending it again is safe


def wanted(db: Database) -> bool:
    """MCR_GROUP_COMMIT: `auto` (the default) is on for SQLite and off for PostgreSQL; `on`/`off` force it.

    SQLite has one write lock and every commit is an fsync, so concurrent writers mostly wait (and
    back off in sleeps); grouping measured 5-7× their rate. PostgreSQL already shares one WAL flush
    among concurrent commits, and its 16 connections overlap their round trips, which one leader's
    connection would serialize: grouping measured 0.2× there (docs/performance.md, "Group commit")."""
    raw = os.environ.get("MCR_GROUP_COMMIT", "auto").strip().lower()
    if raw in ("1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    if raw != "auto":
        raise ConfigError(f"MCR_GROUP_COMMIT={raw!r}: use auto, on or off")
    return not db.is_pg


class _Member(Generic[T]):
    __slots__ = ("work", "context", "ready", "done", "promoted", "result", "error")

    def __init__(self, work: Callable[[Tx], T]) -> None:
        self.work = work
        # The caller's context variables (a request's settings, a log context): the step runs on
        # the leader's thread but must see what it would have seen on its own.
        self.context = contextvars.copy_context()
        self.ready = threading.Event()
        self.done = False
        self.promoted = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def outcome(self) -> T:
        if self.error is not None:
            raise self.error
        return self.result  # type: ignore[return-value]


class GroupCommitter:
    """Runs `work(tx)` callables from many threads in shared transactions (see the module docstring)."""

    def __init__(self, db: Database, *, max_group: int = DEFAULT_MAX_GROUP) -> None:
        self.db = db
        self.max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Member[Any]] = []
        self._leading = False
        # For tests and the benchmark: how many groups committed, with how many members in all.
        self.groups = 0
        self.members = 0

    @property
    def queued(self) -> int:
        """Steps waiting for the next group."""
        with self._lock:
            return len(self._queue)

    def run(self, work: Callable[[Tx], T]) -> T:
        """Run `work` in a savepoint of a shared transaction; return its result once that committed."""
        if self.db.in_transaction():
            with self.db.tx() as tx:  # joins the caller's own transaction, which commits it
                return work(tx)
        member: _Member[T] = _Member(work)
        with self._lock:
            self._queue.append(member)
            lead = not self._leading
            self._leading = True
        if not lead:
            member.ready.wait()
            lead = member.promoted and not member.done
        if lead:
            self._lead()
        return member.outcome()

    def _lead(self) -> None:
        """Commit one group (this thread's own step is its first member), then pass the lead on."""
        with self._lock:
            group = self._queue[:self.max_group]
            del self._queue[:len(group)]
        try:
            self._commit(group)
        finally:
            with self._lock:
                if self._queue:
                    # The next waiting caller leads the next group: no thread keeps serving others
                    # for long, and no dedicated thread has to be started or stopped.
                    nxt = self._queue[0]
                    nxt.promoted = True
                    nxt.ready.set()
                else:
                    self._leading = False
            for m in group:
                if not m.done:  # the leader died with something other than an Exception
                    m.error = m.error or GroupCommitFailed(t("engine.group_commit.failed", reason="interrupted"))
                    m.done = True
                m.ready.set()

    def _commit(self, group: list[_Member[Any]]) -> None:
        ok: list[_Member[Any]] = []
        try:
            with self.db.tx() as tx:
                for m in group:
                    try:
                        # Undo this step only; if even that fails the transaction is unusable and
                        # the outer handler fails the whole group.
                        with tx.savepoint(_SAVEPOINT):
                            m.result = m.context.run(m.work, tx)
                    except Exception as exc:
                        m.error = exc
                        m.done = True
                        continue
                    ok.append(m)
        except Exception as exc:
            fault = fault_from(exc, self.db.safe_url)
            text = str(exc).strip()
            reason = str(fault) if fault is not None else \
                f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
            log.error("group of %d step(s) not committed: %s", len(group), reason)
            for m in group:
                if m in ok or not m.done:
                    m.result = None
                    m.error = GroupCommitFailed(t("engine.group_commit.failed", reason=reason))
                    m.error.__cause__ = exc
                    m.done = True
            return
        for m in ok:
            m.done = True
        self.groups += 1
        self.members += len(group)
