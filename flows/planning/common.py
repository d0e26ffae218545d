"""Small helpers shared by the planning and care services (no business rule lives here)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Optional

from engine.db import Database
from engine.errors import MCRError
from engine.steps import one_transaction


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


@dataclass(frozen=True)
class Kick:
    """One instance for `start_and_kick_many` to start and kick."""

    subject: str
    data: dict[str, Any]
    payload: dict[str, Any]
    locale: str | None = None


KICK_CHUNK = 50  # instances per transaction: one commit for them all, the write lock held for tens of ms


def start_and_kick_many(runtime: Any, flow: str, kicks: list[Kick], *, event: str,
                        actor: str) -> dict[str, tuple[int, bool]]:
    """`start_and_kick` for a batch of independent subjects (the day's care digests): `KICK_CHUNK` of
    them per transaction — one commit (one fsync on SQLite) instead of one each — with every start
    and kick in its own savepoint, so a refused one is undone alone and the others go on. Repeats
    take `start_and_kick`'s way, one by one. Returns {subject: (instance id, started now)} of those
    that did not fail; every refusal is recorded, and the first raised after all were tried."""
    if runtime.definitions.get(flow).started_by == "service":
        return {k.subject: start_and_kick(runtime, flow, k.data, subject=k.subject, event=event, actor=actor,
                                          payload=k.payload, locale=k.locale) for k in kicks}
    out: dict[str, tuple[int, bool]] = {}
    repeats: list[Kick] = []
    first: MCRError | None = None
    for i in range(0, len(kicks), KICK_CHUNK):
        try:
            with one_transaction(runtime, keep_going=True) as steps:
                for k in kicks[i:i + KICK_CHUNK]:
                    res = steps.start(flow, k.data, actor=actor, subject=k.subject, locale=k.locale)
                    if res is None:
                        continue
                    if res.duplicate:
                        repeats.append(k)
                    elif steps.send(res.instance_id, event, actor=actor, payload=k.payload, internal=True) is not None:
                        out[k.subject] = (res.instance_id, True)
        except MCRError as exc:  # recorded by one_transaction; the next chunk still runs
            first = first or exc
    for k in repeats:
        try:
            out[k.subject] = start_and_kick(runtime, flow, k.data, subject=k.subject, event=event, actor=actor,
                                            payload=k.payload, locale=k.locale)
        except MCRError as exc:
            first = first or exc
    if first is not None:
        raise first
    return out


def kit_dir() -> Path:
    """Where kit workbooks are written: MCR_KIT_DIR, default ./kits."""
    return Path(os.environ.get("MCR_KIT_DIR") or "kits").resolve()



def iso(value: date | datetime | None) -> Optional[str]:
    return value.isoformat() if value is not None else None
