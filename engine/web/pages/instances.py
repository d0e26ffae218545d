"""Any flow instance's page (/instances/{id}): facts, full history, the diagram with the current
state marked. An ITR issue's instance is shown by its own page (/issues/{id}).

Who may open an instance page and what it offers are the services' answers: `engine.instances.
read_instance` (the people the instance's data names, their chain, the overseers; else 403 and a
`flow_refusal` row) and `allowed_actions` (the flow's non-internal events in this state that the
step's own permission check accepts). A planning kit also offers its workbook for download and an
upload of the filled one (validated as `mcr planning submit` does; problems listed by sheet/row/column).
"""

from __future__ import annotations

import json
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.clock import from_us
from engine.diagram import mermaid
from engine.sql import with_archive
from engine.store import FlowInstance
from engine.web.deps import CsrfChecked, PagePrincipal, Runtime
from engine.web.pages.common import form_of, page, see_other

router = APIRouter()

# The form of each event the page can send (field name, kind); the service keeps only the fields the
# step reads and decides whether the event is offered at all.
_SCORES = tuple((item, "score") for item in ("product", "solution", "delivery", "service_attitude"))
FORMS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("planning_kit", "approve"): (("comment", "textarea"),),
    ("planning_kit", "send_back"): (("step", "step"), ("comment", "textarea")),
    ("self_check", "submit"): (("progress", "number"), ("note", "textarea")),
    ("card_review", "review"): (("kept", "text"), ("committed", "text"), ("pbc", "textarea"), ("note", "textarea")),
    ("card_review", "confirm"): (("comment", "textarea"),),
    ("half_year_review", "complete"): (("summary", "textarea"),),
    ("annual_evaluation", "submit"): (("process_score", "number"), ("result_score", "number"), ("summary", "textarea")),
    ("annual_evaluation", "approve"): (("summary", "textarea"),),
    ("tier_review", "propose"): (("tier", "text"), ("reason", "textarea")),
    ("tier_review", "approve"): (("comment", "textarea"),),
    ("tier_review", "reject"): (("comment", "textarea"),),
    ("win_rate_alert", "acknowledge"): (("note", "textarea"),),
    ("handover", "introduce"): (("date", "date"), ("note", "textarea")),
    ("project_callback", "record"): (("reached", "reached"), *_SCORES, ("comment", "textarea")),
    ("project_callback", "cancel"): (("reason", "textarea"),),
    ("activity_callback", "record"): (("contact", "contact"), ("reached", "reached"), ("score", "number"),
                                      ("comment", "textarea")),
    ("activity_callback", "cancel"): (("reason", "textarea"),),
}

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
    with rt.db.read() as tx:  # archived instances' steps too (mcr archive)
        rows = tx.all(with_archive("SELECT id, at_us, actor, event, from_state, to_state, payload FROM {flow_history} "
                                   "WHERE instance_id = :i") + " ORDER BY id", {"i": instance_id})
    return [{"at": from_us(at_us), "actor": actor, "actor_name": names.get(actor, actor),
             "event": event, "event_title": events.get(event, event),
             "from_title": states.get(src or "", src), "to_title": states.get(dst, dst),
             "detail": _detail(json.loads(payload or "{}"))} for _id, at_us, actor, event, src, dst, payload in rows]


@router.get("/instances/{instance_id}", response_class=HTMLResponse)
def instance_page(request: Request, instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    return _instance_page(request, instance_id, rt, principal)


def _instance_page(request: Request, instance_id: int, rt: Any, principal: Any, *, problems: Any = None,
                   status_code: int = 200) -> Response:
    from engine.instances import allowed_actions, read_instance

    with rt.db.session() as s:
        inst = s.get(FlowInstance, instance_id)
    if inst is None:
        from fastapi import HTTPException

        raise HTTPException(status_code=404)
    if inst.flow == "itr_issue":
        return see_other(f"/issues/{instance_id}")
    read_instance(rt, instance_id, principal=principal)
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
        "actions": allowed_actions(rt, instance_id, principal=principal), "data": data, "forms": FORMS,
        "event_titles": event_titles(defn, locale),
        "has_kit": inst.flow == "planning_kit" and bool(data.get("kit_path")), "problems": problems or [],
    }, principal=principal, status_code=status_code)


@router.get("/instances/{instance_id}/kit")
def kit_download(instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    """The kit workbook, for those who may read the kit (the service decides; else 403)."""
    from fastapi.responses import FileResponse

    from flows.planning.service import kit_workbook

    path = kit_workbook(rt, instance_id, principal=principal)
    return FileResponse(path, filename=path.name,
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@router.post("/instances/{instance_id}/kit", dependencies=[CsrfChecked])
async def kit_upload(request: Request, instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    """The filled workbook: checked like `mcr import` (type, size), validated like `mcr planning submit`."""
    import tempfile
    from pathlib import Path

    from engine.errors import ImportRejected
    from engine.masterdata.importer import check_upload
    from flows.planning.service import upload_kit

    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise ValueError("file")
    content = await upload.read()
    name = Path(upload.filename or "kit.xlsx").name
    try:
        check_upload(len(content), name)
        with tempfile.TemporaryDirectory(prefix="mcr-kit-") as folder:
            path = Path(folder) / ("upload" + Path(name).suffix.lower())
            path.write_bytes(content)
            cid = form.get("client_event_id")
            upload_kit(rt, instance_id, path, principal=principal, client_event_id=cid if isinstance(cid, str) else None)
    except ImportRejected as exc:
        return _instance_page(request, instance_id, rt, principal, problems=[p.message for p in exc.problems],
                              status_code=422)
    return see_other(f"/instances/{instance_id}")


@router.post("/instances/{instance_id}/act/{event}", dependencies=[CsrfChecked])
async def instance_action(request: Request, instance_id: int, event: str, rt: Runtime,
                          principal: PagePrincipal) -> Response:
    """One form per event; the instance's family service sends it (and the step checks who may)."""
    from engine.instances import take_action

    form = await form_of(request)
    take_action(rt, instance_id, event, principal=principal, form=form, client_event_id=form.get("client_event_id"))
    return see_other(f"/instances/{instance_id}")
