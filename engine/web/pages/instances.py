"""Any flow instance's page (/instances/{id}): facts, full history, the diagram with the current
state marked. An ITR issue's instance is shown by its own page (/issues/{id}).

Who may open an instance page: someone with the instance in their inbox, or an operator, QA or
sales management (they oversee every flow). Flows other than ITR offer their actions through
their own pages and the CLI; this page is read-only for them.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import col, select

from engine.clock import from_us
from engine.diagram import mermaid
from engine.store import FlowHistory, FlowInstance
from engine.web.deps import PagePrincipal, Runtime
from engine.web.pages.common import page, see_other

router = APIRouter()

# Mermaid's class for the state an instance is in now (the diagram is the flow's, the mark is the instance's).
CURRENT_STYLE = "fill:#ffd33d,stroke:#9a6700,stroke-width:3px,color:#1f2328,font-weight:bold"


def diagram_with_state(text: str, state: str, events: Optional[dict[str, str]] = None) -> str:
    """The flow's Mermaid text (engine/diagram.py) with `state` highlighted.

    For a reader on a page the timer notes and the stay-in-place loops (a note, a progress report)
    are left out: they repeat on every state and shrink the picture; docs/diagrams.md keeps them.
    `events` names the transitions in the reader's language (guards are dropped with the name)."""
    lines = []
    for line in text.splitlines():
        parts = line.strip().split()
        if line.strip().startswith("note right of"):
            continue
        if len(parts) >= 3 and parts[1] == "-->" and parts[0] == parts[2].rstrip(":"):
            continue
        if events and "-->" in line and ": " in line:
            head, label = line.split(": ", 1)
            name = label.split(" ")[0]
            line = f"{head}: {_label(events.get(name, name))}"
        lines.append(line)
    return "\n".join(lines) + f"\n    classDef current {CURRENT_STYLE}\n    class {state} current\n"


def _label(text: str) -> str:
    return text.replace(":", "：").replace('"', "'")


def _title(titles: dict[str, str], locale: str, default: str) -> str:
    return titles.get(locale) or titles.get("zh-CN") or default


def _detail(payload: dict[str, Any]) -> str:
    """The parts of an event's payload a reader cares about, as one line."""
    shown = {k: v for k, v in payload.items() if v not in (None, "", [], {}) and not k.startswith("_")}
    return "; ".join(f"{k}: {v}" for k, v in shown.items())


def event_titles(defn: Any, locale: str) -> dict[str, str]:
    return {e.name: _title(e.title, locale, e.name) for e in defn.events}


def history_of(rt: Any, instance_id: int, flow: str, locale: str) -> list[dict[str, Any]]:
    """Every step of the instance, oldest first: when, who, what, from which state to which."""
    from engine.web.pages.common import Names

    defn = rt.definitions.get(flow)
    from engine.i18n import t

    events = {"start": t("web.instance.started", locale),
              **event_titles(defn, locale)}
    states = {s.name: _title(s.title, locale, s.name) for s in defn.states}
    names = Names(rt)
    with rt.db.session() as s:
        rows = s.exec(select(FlowHistory).where(FlowHistory.instance_id == instance_id)
                      .order_by(col(FlowHistory.id))).all()
    return [{"at": from_us(h.at_us), "actor": h.actor, "actor_name": names.get(h.actor, h.actor),
             "event": h.event, "event_title": events.get(h.event, h.event),
             "from_title": states.get(h.from_state or "", h.from_state), "to_title": states.get(h.to_state, h.to_state),
             "detail": _detail(json.loads(h.payload or "{}"))} for h in rows]


def _may_view(rt: Any, instance_id: int, principal: Any) -> None:
    """Overseers see every instance; others those in their inbox. Refused: NotVisible (403)."""
    from engine.errors import NotVisible
    from engine.inbox import inbox
    from engine.i18n import t

    if principal.is_operator or principal.is_qa or principal.is_sales_management:
        return
    if any(item.instance_id == instance_id for item in inbox(rt, principal=principal).items):
        return
    raise NotVisible(t("web.instance.not_visible", locale=principal.locale, id=instance_id))


@router.get("/instances/{instance_id}", response_class=HTMLResponse)
def instance_page(request: Request, instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    with rt.db.session() as s:
        inst = s.get(FlowInstance, instance_id)
    if inst is None:
        from fastapi import HTTPException

        raise HTTPException(status_code=404)
    if inst.flow == "itr_issue":
        return see_other(f"/issues/{instance_id}")
    _may_view(rt, instance_id, principal)
    defn = rt.definitions.get(inst.flow, inst.flow_version)
    locale = principal.locale
    state = defn.state_by_name(inst.state)
    data = json.loads(inst.data or "{}")
    facts = [(k, v) for k, v in data.items() if isinstance(v, (str, int, float)) and not k.startswith("_")]
    return page(request, "instance.html", {
        "instance": {"id": inst.id, "flow": inst.flow, "flow_version": inst.flow_version, "subject": inst.subject,
                     "created": from_us(inst.created_us), "updated": from_us(inst.updated_us), "version": inst.version},
        "flow_title": defn.title_of(locale), "state_title": _title(state.title, locale, inst.state),
        "facts": facts, "history": history_of(rt, instance_id, inst.flow, locale),
        "diagram": diagram_with_state(mermaid(defn, locale), inst.state, event_titles(defn, locale)),
    }, principal=principal)
