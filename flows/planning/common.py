"""Small helpers shared by the planning and care services (no business rule lives here)."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator, Optional

from engine import sql
from engine.db import Database, Tx
from engine.errors import MCRError
from engine.runtime import StepResult


@dataclass(frozen=True)
class InstanceRef:
    id: int
    flow: str
    state: str
    version: int
    subject: Optional[str]
    data: dict[str, Any]


def find_instance(db: Database, flow: str, subject: str) -> InstanceRef | None:
    """The instance of `flow` for a business subject (one per subject by the schema), or None."""
    with db.read() as tx:
        row = tx.one("SELECT id, flow, state, version, subject, data FROM flow_instance WHERE flow = :f AND subject = :s",
                     {"f": flow, "s": subject})
    return InstanceRef(row[0], row[1], row[2], row[3], row[4], json.loads(row[5])) if row else None


def get_instance(db: Database, instance_id: int) -> InstanceRef | None:
    with db.read() as tx:
        row = tx.one("SELECT id, flow, state, version, subject, data FROM flow_instance WHERE id = :i",
                     {"i": instance_id})
    return InstanceRef(row[0], row[1], row[2], row[3], row[4], json.loads(row[5])) if row else None


def instances(db: Database, flow: str, subject_like: str | None = None) -> list[InstanceRef]:
    sql = "SELECT id, flow, state, version, subject, data FROM flow_instance WHERE flow = :f"
    params: dict[str, Any] = {"f": flow}
    if subject_like is not None:
        sql += " AND subject LIKE :s"
        params["s"] = subject_like
    with db.read() as tx:
        rows = tx.all(sql + " ORDER BY id", params)
    return [InstanceRef(r[0], r[1], r[2], r[3], r[4], json.loads(r[5])) for r in rows]


class OneTransaction:
    """The steps of one user action written in ONE transaction: one commit (one fsync on SQLite) for the
    action instead of one per step, as `flows/survey/service.py` closes a project.

    Each step runs in a savepoint. A step refused (or failing) is undone alone, what came before it in
    the action still commits — exactly what the separate transactions kept — no later step is sent,
    and after the commit the refusal is recorded (`flow_refusal`, as `Runtime.send` does) and raised.
    Use it through `one_transaction(rt)`; the caller's own rows go through `.tx`."""

    def __init__(self, runtime: Any, tx: Tx) -> None:
        self.runtime = runtime
        self.tx = tx
        self.done: list[Any] = []  # the StepResults to wake the scheduler for, after the commit
        self.failed: tuple[Optional[int], str, str, BaseException] | None = None  # (instance, actor, event, error)

    def start(self, flow: str, data: dict[str, Any], *, actor: str, subject: Optional[str] = None,
              calendar: Optional[str] = None, locale: Optional[str] = None) -> Any:
        """`Runtime.start_in`; None when it failed (raised after the commit)."""
        return self._step(None, actor, "start", lambda: self.runtime.start_in(
            self.tx, flow, data, actor=actor, subject=subject, calendar=calendar, locale=locale))

    def send(self, instance_id: int, event: str, *, actor: str, payload: Optional[dict[str, Any]] = None,
             principal: Any = None, internal: bool = False, client_event_id: Optional[str] = None) -> Any:
        """`Runtime.send_in`, idempotent by `client_event_id` like `Runtime.send`; None when refused."""
        def step() -> Any:
            if client_event_id is not None:
                seen = self.tx.one(sql.SELECT_CLIENT_EVENT, {"cid": client_event_id})
                if seen is not None:
                    return StepResult(seen[0], seen[1], seen[2], seen[3], duplicate=True)
            res = self.runtime.send_in(self.tx, instance_id, event, actor=actor, payload=payload,
                                       principal=principal, internal=internal)
            if client_event_id is not None:
                # `send_in` takes no client_event_id: the step's own history row gets it here, in the step's
                # transaction (the unique index refuses a second use, as `send` would).
                self.tx.execute("UPDATE flow_history SET client_event_id = :cid WHERE instance_id = :i AND version = :v",
                                {"cid": client_event_id, "i": res.instance_id, "v": res.version})
            return res
        return self._step(instance_id, actor, event, step)

    def _step(self, instance_id: Optional[int], actor: str, event: str, work: Any) -> Any:
        if self.failed is not None:
            return None
        self.tx.execute("SAVEPOINT planning_step")
        try:
            res = work()
        except Exception as exc:
            self.tx.execute("ROLLBACK TO SAVEPOINT planning_step")
            self.tx.execute("RELEASE SAVEPOINT planning_step")
            self.failed = (instance_id, actor, event, exc)
            return None
        self.tx.execute("RELEASE SAVEPOINT planning_step")
        self.done.append(res)
        return res


@contextmanager
def one_transaction(runtime: Any) -> Iterator[OneTransaction]:
    """`with one_transaction(rt) as steps: steps.send(...)`: commits once; then wakes the scheduler for
    the steps applied and records and raises the step that failed (see `OneTransaction`)."""
    with runtime.db.tx() as tx:
        steps = OneTransaction(runtime, tx)
        yield steps
    for res in steps.done:
        runtime.wake(res)
    if steps.failed is not None:
        instance_id, actor, event, exc = steps.failed
        if isinstance(exc, MCRError):
            runtime.record_refusal(instance_id, actor, event, exc)
        raise exc


def start_and_kick(runtime: Any, flow: str, data: dict[str, Any], *, subject: str, event: str, actor: str,
                   payload: dict[str, Any] | None = None, calendar: str | None = None,
                   locale: str | None = None) -> tuple[int, bool]:
    """Start an instance for `subject` and send its first event — safe to repeat.

    The engine runs no actions on start, so a flow that must act at once (mail the kit, the
    digest, the alert) starts in a waiting state and is kicked by `event`: both in one transaction.
    A kick that is refused leaves the instance waiting in its initial state (committed, the refusal
    recorded and raised); a repeat — or an instance an older version left there — is kicked now, once
    (`kick:<flow>:<subject>`); an instance already past it is left alone. Returns (instance id, started now).
    """
    if runtime.definitions.get(flow).started_by == "service":  # refused by `start` itself, as it always was
        runtime.start(flow, data, actor=actor, subject=subject, calendar=calendar, locale=locale)
    initial = runtime.definitions.get(flow).initial.name
    with one_transaction(runtime) as steps:
        res = steps.start(flow, data, actor=actor, subject=subject, calendar=calendar, locale=locale)
        if res is not None and not res.duplicate:
            steps.send(res.instance_id, event, actor=actor, payload=payload or {}, internal=True)
    if not res.duplicate:
        return res.instance_id, True
    found = get_instance(runtime.db, res.instance_id)
    if (found.state if found else res.to_state) == initial:
        runtime.send(res.instance_id, event, actor=actor, payload=payload or {},
                     client_event_id=f"kick:{flow}:{subject}", internal=True)  # the kick is the engine's own
        return res.instance_id, True
    return res.instance_id, False


def kit_dir() -> Path:
    """Where kit workbooks are written: MCR_KIT_DIR, default ./kits."""
    return Path(os.environ.get("MCR_KIT_DIR") or "kits").resolve()



def iso(value: date | datetime | None) -> Optional[str]:
    return value.isoformat() if value is not None else None
