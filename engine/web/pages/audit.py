"""The audit page for operators and QA: who read or changed what, refused attempts included.

Two sources, newest first: the master-data audit (card reads, tier and owner changes, refused
reads) and the flows' refusals (`flow_refusal`: events the engine or a service refused).
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from engine.clock import from_us
from engine.web.deps import PagePrincipal, Runtime
from engine.web.pages.common import opt, page

router = APIRouter()

LIMIT = 500


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, rt: Runtime, principal: PagePrincipal, actor: Optional[str] = None,
               entity: Optional[str] = None, key: Optional[str] = None, outcome: Optional[str] = None) -> Response:
    from engine.masterdata.audit import entries_for
    from engine.store import FlowInstance, Refusal as FlowRefusal

    f = {"actor": opt(actor), "entity": opt(entity), "key": opt(key), "outcome": opt(outcome)}
    rows: list[dict[str, Any]] = []
    with rt.db.session() as s:  # the service decides who may read the log (operators and QA)
        found = entries_for(s, rt.clock, principal=principal, entity=f["entity"], key=f["key"], actor=f["actor"])
    if f["entity"] in (None, "customer", "contact", "assessment", "sponsor", "project", "activity"):
        for r in found:
            rows.append({"at": r.at, "actor": r.actor, "action": r.action, "entity": r.entity,
                         "key": r.entity_key, "allowed": r.allowed, "detail": r.detail or ""})
    if f["entity"] in (None, "flow"):
        with rt.db.session() as s:
            q = select(FlowRefusal, FlowInstance.flow).join(
                FlowInstance, col(FlowInstance.id) == col(FlowRefusal.instance_id), isouter=True)
            if f["actor"]:
                q = q.where(FlowRefusal.actor == f["actor"])
            if f["key"] and f["key"].isdigit():
                q = q.where(FlowRefusal.instance_id == int(f["key"]))
            for r, flow in s.exec(q.order_by(col(FlowRefusal.id).desc()).limit(LIMIT)):
                rows.append({"at": from_us(r.at_us), "actor": r.actor, "action": r.event,
                             "entity": "flow", "key": f"{flow or ''} #{r.instance_id or '—'}", "allowed": False,
                             "detail": r.message})
    if f["outcome"] == "refused":
        rows = [r for r in rows if not r["allowed"]]
    elif f["outcome"] == "allowed":
        rows = [r for r in rows if r["allowed"]]
    rows.sort(key=lambda r: r["at"], reverse=True)
    return page(request, "audit.html", {"rows": rows[:LIMIT], "f": f,
                                        "entities": ["customer", "contact", "assessment", "flow"]},
                principal=principal)
