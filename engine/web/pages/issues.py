"""ITR pages: issue lists and queues, open an issue, one issue with the actions its viewer may take.

Every read and every action goes through flows.itr.service with the principal; a form carries a
one-time `client_event_id`, so a form sent twice is applied once.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from engine.diagram import mermaid
from engine.web.deps import CsrfChecked, PagePrincipal, Runtime
from engine.web.pages.common import form_of, opt, page, see_other
from engine.web.pages.instances import diagram_with_state, event_titles, history_of

router = APIRouter()


def _itr() -> Any:
    from flows.itr import service

    return service


def _words(locale: str) -> dict[str, Any]:
    """The ITR words a page shows for codes (levels, reasons, type, severity, source), in `locale`."""
    from engine import i18n

    def level_title(level: Optional[str]) -> str:
        return i18n.t(f"itr.level.{level}", locale=locale) if level else "—"

    def label(kind: str, value: Optional[str]) -> str:
        return i18n.label(f"itr.{kind}", value, locale)

    return {"level_title": level_title, "reason_title": lambda r: i18n.label("itr.reason", r, locale), "label": label}


# ---------------------------------------------------------------------------------------------- lists


def _states(rt: Any, locale: str) -> list[tuple[str, str]]:
    defn = rt.definitions.get("itr_issue")
    return [(s.name, s.title.get(locale) or s.title.get("zh-CN") or s.name) for s in defn.states]


def _queues_of(rt: Any, principal: Any) -> list[Any]:
    """The queues (office, region, HQ) of the units the principal belongs to."""
    from engine.masterdata.service import get_unit, office_of, region_of

    if not principal.unit_code:
        return []
    with rt.db.session() as s:
        units = [office_of(s, principal.unit_code), region_of(s, principal.unit_code)]
        me = get_unit(s, principal.unit_code)
        if me.kind == "hq":
            units.append(me)
    seen: dict[str, Any] = {}
    for u in units:
        if u is not None and u.code not in seen:
            seen[u.code] = u
    return list(seen.values())


OPEN_STATES = ("received", "dispatched", "handling", "escalated_region", "escalated_hq", "resolved",
               "callback_pending", "qa_review")
PER_STATE = 200  # a page lists at most this many issues of one state


def _by_states(rt: Any, principal: Any, states: Any, *, office: Optional[str] = None) -> list[Any]:
    """The issues in `states` this person may see (the service filters), oldest first within a state."""
    out: list[Any] = []
    for state in states:
        out += _itr().list_issues(rt, principal=principal, state=state, office=office, limit=PER_STATE)
    return sorted(out, key=lambda i: i.id)


@router.get("/issues", response_class=HTMLResponse)
def issues_page(request: Request, rt: Runtime, principal: PagePrincipal, state: Optional[str] = None) -> Response:
    from engine.i18n import t

    issues = _by_states(rt, principal, [state] if state else OPEN_STATES)
    return page(request, "issues.html", {"issues": issues, "queues": _queues_of(rt, principal), "state": state,
                                         "states": _states(rt, principal.locale),
                                         "heading": t("web.issues.title", locale=principal.locale)},
                principal=principal)


@router.get("/queues/{unit}", response_class=HTMLResponse)
def queue_page(request: Request, unit: str, rt: Runtime, principal: PagePrincipal) -> Response:
    """The open issues waiting at one unit's level: an office's, a region's or HQ's queue."""
    from engine.i18n import t
    from engine.masterdata.service import get_unit

    with rt.db.session() as s:
        u = get_unit(s, unit)
    # Queue order is the service's (customer tier, then deadline: rules/itr.yaml queue_order).
    issues = _itr().queue_issues(rt, principal=principal, unit=unit, limit=PER_STATE)
    return page(request, "issues.html", {"issues": issues, "queues": _queues_of(rt, principal), "state": None,
                                         "states": _states(rt, principal.locale),
                                         "heading": f"{t('web.issues.queue', locale=principal.locale)} · {u.name}"},
                principal=principal)


# ---------------------------------------------------------------------------------------------- open an issue


def _new_issue_context(rt: Any, principal: Any, form: dict[str, str]) -> dict[str, Any]:
    from engine.masterdata.service import visible_contacts, visible_customers
    from flows.itr.rules import SOURCES, TYPES, load_itr_rules

    with rt.db.session() as s:
        customers = visible_customers(s, principal=principal)
        contacts = visible_contacts(s, principal=principal, customer_code=form["customer"]) if form.get("customer") else []
    return {"customers": customers, "contacts": contacts, "form": form, "types": TYPES, "sources": SOURCES,
            "severities": list(load_itr_rules().sla.severities), **_words(principal.locale)}


@router.get("/issues/new", response_class=HTMLResponse)
def new_issue_page(request: Request, rt: Runtime, principal: PagePrincipal, customer: Optional[str] = None) -> Response:
    return page(request, "issue_new.html", _new_issue_context(rt, principal, {"customer": customer or ""}),
                principal=principal)


@router.get("/issues/new/contacts", response_class=HTMLResponse)
def contact_options(request: Request, rt: Runtime, principal: PagePrincipal, customer: str = "") -> Response:
    """htmx: the contact picker's options for the chosen customer (only contacts this person may see)."""
    from engine.masterdata.service import visible_contacts

    with rt.db.session() as s:
        contacts = visible_contacts(s, principal=principal, customer_code=customer) if customer else []
    return page(request, "_contact_options.html", {"contacts": contacts, "form": None}, principal=principal)


@router.post("/issues/new", dependencies=[CsrfChecked])
async def open_issue(request: Request, rt: Runtime, principal: PagePrincipal) -> Response:
    """受理: record the issue and dispatch it by type to the owning queue (one form, two steps)."""
    form = await form_of(request)
    svc = _itr()
    fields = {k: opt(form.get(k)) for k in ("customer", "contact", "title", "description", "type", "severity",
                                             "source")}
    view = svc.open_issue(rt, principal=principal, client_event_id=form.get("client_event_id"),
                          **{k: v for k, v in fields.items() if v is not None})
    if view.state == "received":
        svc.dispatch(rt, view.id, principal=principal, client_event_id=f"{form.get('client_event_id')}:dispatch",
                     answer=False)
    return see_other(f"/issues/{view.id}")


# ---------------------------------------------------------------------------------------------- one issue


@router.get("/issues/{issue_id}", response_class=HTMLResponse)
def issue_page(request: Request, issue_id: int, rt: Runtime, principal: PagePrincipal,
               open: Optional[str] = None) -> Response:
    svc = _itr()
    issue = svc.get_issue(rt, issue_id, principal=principal)
    actions = svc.allowed_actions(rt, issue_id, principal=principal)
    care_reps: list[Any] = []
    if "declare_major" in actions:
        from engine.masterdata.service import employees_with_role

        with rt.db.session() as s:
            care_reps = employees_with_role(s, "customer_care")
    from flows.itr.rules import REASONS

    defn = rt.definitions.get("itr_issue")
    return page(request, "issue.html", {
        "issue": issue, "actions": actions, "open_form": open, "reasons": REASONS, "care_reps": care_reps,
        "outlook": svc.escalation_outlook(rt, issue_id, principal=principal) if "escalate" in actions else None,
        "qa_decisions": svc.QA_DECISIONS, **_words(principal.locale),
        "diagram": diagram_with_state(mermaid(defn, principal.locale), issue.state,
                                      event_titles(defn, principal.locale)),
        "history": history_of(rt, issue_id, "itr_issue", principal.locale),
    }, principal=principal)


def _back(issue_id: int) -> Response:
    return see_other(f"/issues/{issue_id}")


@router.post("/issues/{issue_id}/{action}", dependencies=[CsrfChecked])
async def issue_action(request: Request, issue_id: int, action: str, rt: Runtime, principal: PagePrincipal) -> Response:
    """One form per action; each calls the one service function that does it."""
    form = await form_of(request)
    svc = _itr()
    # The page redirects to the issue and reads it there: the actions need not answer with it.
    common = {"principal": principal, "client_event_id": form.get("client_event_id"), "answer": False}
    if action == "dispatch":
        svc.dispatch(rt, issue_id, **common)
    elif action == "accept":
        svc.accept(rt, issue_id, **common)
    elif action == "note":
        svc.note(rt, issue_id, text=form.get("text", ""), **common)
    elif action == "resolve":
        svc.resolve(rt, issue_id, solution=form.get("solution", ""), case=opt(form.get("case")),
                    add_to_library=form.get("add_to_library") == "1", **common)
    elif action == "escalate":
        svc.escalate(rt, issue_id, reason=opt(form.get("reason")), note=opt(form.get("note")),
                     override_by=opt(form.get("override_by")), override_why=opt(form.get("override_why")), **common)
    elif action == "close":
        svc.close(rt, issue_id, **common)
    elif action == "callback":
        reached = form.get("reached") == "1"
        svc.record_callback(rt, issue_id, score=form.get("score") if reached else None, reached=reached,
                            note=opt(form.get("note")), **common)
    elif action == "major":
        svc.declare_major(rt, issue_id, care_rep=form.get("care_rep", ""), **common)
    elif action == "reject":
        svc.reject(rt, issue_id, reason=form.get("reason", ""), **common)
    else:
        raise HTTPException(status_code=404)
    return _back(issue_id)


@router.post("/issues/{issue_id}/qa/{case_id}", dependencies=[CsrfChecked])
async def qa_decision(request: Request, issue_id: int, case_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    form = await form_of(request)
    _itr().qa_decide(rt, case_id, principal=principal, client_event_id=form.get("client_event_id"),
                     decision=form.get("decision", ""), accountable=opt(form.get("accountable")),
                     note=opt(form.get("note")))
    return _back(issue_id)


@router.get("/cases/search", response_class=HTMLResponse)
def case_search(request: Request, rt: Runtime, principal: PagePrincipal, q: str = "") -> Response:
    """htmx: case-library hits as the handler types."""
    hits = _itr().search_cases(rt, q, principal=principal, limit=8) if q.strip() else []
    return page(request, "_case_hits.html", {"hits": hits, "q": q}, principal=principal)
