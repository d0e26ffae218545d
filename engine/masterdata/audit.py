"""The master-data audit log: every read of a personal card and every change (import upsert, tier
change, owner change), refused attempts included — who, when, what, which record.

The detail is JSON and never carries a sensitive value (family, pain points): only the names of
the fields that changed, so reading the log cannot leak what the visibility rule protects.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, select

from engine.clock import Clock, from_us, to_us
from engine.masterdata.models import SENSITIVE_CONTACT_FIELDS, AuditEntry



class AuditRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    at_us: int
    actor: str
    action: str
    entity: str
    entity_key: str
    allowed: bool
    detail: dict[str, Any]

    @property
    def at(self) -> Any:
        return from_us(self.at_us)


def record(session: Session, clock: Clock, *, actor: str, action: str, entity: str, key: str,
           allowed: bool = True, **detail: Any) -> AuditEntry:
    """Add one audit row to the session (the caller's transaction commits it)."""
    entry = AuditEntry(**entry_values(clock, actor=actor, action=action, entity=entity, key=key, allowed=allowed,
                                      **detail))
    session.add(entry)
    return entry


def entry_values(clock: Clock, *, actor: str, action: str, entity: str, key: str, allowed: bool = True,
                 **detail: Any) -> dict[str, Any]:
    """The columns of one audit row, for a caller that writes many at once (the importer)."""
    return {"at_us": to_us(clock.now()), "actor": actor, "action": action, "entity": entity, "entity_key": key,
            "allowed": allowed, "detail": _DETAIL.encode(detail)}


# json.dumps with options builds an encoder per call; an import writes an audit row per record.
_DETAIL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, default=str)


def changed_fields(changes: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """The `changed` detail of an update: old → new for plain fields, only the name for sensitive ones."""
    out: dict[str, Any] = {}
    for name, (old, new) in changes.items():
        out[name] = "(sensitive)" if name in SENSITIVE_CONTACT_FIELDS else [_plain(old), _plain(new)]
    return out


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def entries(session: Session, *, entity: Optional[str] = None, key: Optional[str] = None,
            actor: Optional[str] = None, action: Optional[str] = None, limit: int = 1000) -> list[AuditRecord]:
    """Audit rows, oldest first, filtered by entity/key/actor/action."""
    query = select(AuditEntry)
    if entity is not None:
        query = query.where(AuditEntry.entity == entity)
    if key is not None:
        query = query.where(AuditEntry.entity_key == key)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    rows = session.exec(query.order_by(col(AuditEntry.id)).limit(limit)).all()
    return [AuditRecord(id=r.id or 0, at_us=r.at_us, actor=r.actor, action=r.action, entity=r.entity,
                        entity_key=r.entity_key, allowed=r.allowed, detail=json.loads(r.detail)) for r in rows]


def may_audit(principal: Any) -> bool:
    """The audit log is for operators and QA (it shows who read or changed what, refusals included)."""
    return bool(principal.is_operator or principal.is_qa)


def require_auditor(session: Session, clock: Clock, principal: Any) -> None:
    """Refuse anyone but operators and QA: `NotVisible`, with a refused `audit_read` row."""
    from engine.errors import NotVisible
    from engine.i18n import t

    if may_audit(principal):
        return
    record(session, clock, actor=principal.actor, action="audit_read", entity="audit", key="-", allowed=False)
    session.commit()
    raise NotVisible(t("web.audit.not_allowed", locale=principal.locale))


def entries_for(session: Session, clock: Clock, *, principal: Any, entity: Optional[str] = None,
                key: Optional[str] = None, actor: Optional[str] = None, action: Optional[str] = None,
                limit: int = 1000) -> list[AuditRecord]:
    """`entries`, for an operator or QA only (anyone else: `NotVisible` and a refused row)."""
    require_auditor(session, clock, principal)
    return entries(session, entity=entity, key=key, actor=actor, action=action, limit=limit)
