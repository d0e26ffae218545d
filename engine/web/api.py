"""The JSON API under /api: the same services as the pages, with the same principal.

Authenticated by the session cookie (state-changing calls then need `X-CSRF-Token`) or by a
personal token (`Authorization: Bearer mcr_…`, from `mcr user token EMP`). Refusals are JSON
`{"error": code, "message": text}` with 401/403/404/409/422/429 (engine/web/errors.py). The OpenAPI
document is /api/openapi.json. No rule lives here: every handler is one service call.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Header
from pydantic import BaseModel, Field

from engine.web.deps import ApiPrincipal, CsrfChecked, Runtime

router = APIRouter(prefix="/api", tags=["api"])
acts = APIRouter(tags=["api"], dependencies=[CsrfChecked])  # state-changing: CSRF when by cookie

# A client's id for one action: sent again (a retry, a double click), the engine applies it once.
ClientEventId = Annotated[Optional[str], Header(alias="X-Client-Event-Id", max_length=200)]


class Me(BaseModel):
    emp_no: str
    name: str
    roles: list[str]
    unit_code: Optional[str]
    locale: str
    operator: bool
    via: str


class InboxItemOut(BaseModel):
    kind: str
    title: str
    flow: str
    instance_id: Optional[int]
    state: str
    due: Optional[str]
    overdue: bool
    link: str
    detail: str


class InboxOut(BaseModel):
    items: list[InboxItemOut]
    counts: dict[str, int]


class NewIssue(BaseModel):
    customer: str
    contact: str
    type: str
    severity: str
    source: str
    title: str
    description: Optional[str] = None
    contract: Optional[str] = None


class NoteIn(BaseModel):
    text: str = Field(min_length=1)


class EscalateIn(BaseModel):
    reason: str
    note: Optional[str] = None
    override_by: Optional[str] = None
    override_why: Optional[str] = None


class ResolveIn(BaseModel):
    solution: str = Field(min_length=1)
    case: Optional[str] = None
    add_to_library: bool = False


class CallbackIn(BaseModel):
    score: Optional[int] = None
    reached: bool = True
    note: Optional[str] = None


class QaDecisionIn(BaseModel):
    decision: str
    accountable: Optional[str] = None
    note: Optional[str] = None


class MajorIn(BaseModel):
    care_rep: str


def _out(value: Any) -> Any:
    """A service's view (pydantic model, dataclass, list of them) as JSON-ready data."""
    if isinstance(value, list):
        return [_out(v) for v in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


# ---------------------------------------------------------------------------------------------- who, my work


@router.get("/me", response_model=Me)
def me(principal: ApiPrincipal) -> Me:
    """The signed-in employee (401 without credentials)."""
    return Me(emp_no=principal.emp_no, name=principal.name, roles=sorted(principal.roles),
              unit_code=principal.unit_code, locale=principal.locale, operator=principal.is_operator,
              via=principal.via)


@router.get("/inbox", response_model=InboxOut)
def my_inbox(rt: Runtime, principal: ApiPrincipal) -> InboxOut:
    """我的待办: every open item of the caller across flows, due first, with counts per kind."""
    from engine.inbox import inbox

    box = inbox(rt, principal=principal)
    return InboxOut(items=[InboxItemOut(kind=i.kind, title=i.title, flow=i.flow, instance_id=i.instance_id,
                                        state=i.state, due=i.due.isoformat() if i.due else None, overdue=i.overdue,
                                        link=i.link, detail=i.detail) for i in box.items], counts=box.counts)


# ---------------------------------------------------------------------------------------------- issues (ITR)


@router.get("/issues")
def list_issues(rt: Runtime, principal: ApiPrincipal, office: Optional[str] = None, state: Optional[str] = None,
                customer: Optional[str] = None, limit: int = 50) -> Any:
    """Issues the caller may see: a queue (office + state), an office, a customer."""
    from flows.itr import service

    return _out(service.list_issues(rt, principal=principal, office=office, state=state, customer=customer,
                                    limit=min(max(limit, 1), 500)))


@router.get("/issues/{issue_id}")
def get_issue(rt: Runtime, principal: ApiPrincipal, issue_id: int) -> Any:
    from flows.itr import service

    return _out(service.get_issue(rt, issue_id, principal=principal))


@acts.post("/issues", status_code=201)
def open_issue(rt: Runtime, principal: ApiPrincipal, body: NewIssue, cid: ClientEventId = None) -> Any:
    """受理: open an issue for a customer contact the caller may see."""
    from flows.itr import service

    return _out(service.open_issue(rt, principal=principal, client_event_id=cid,
                                   **body.model_dump(exclude_none=True)))


@acts.post("/issues/{issue_id}/accept")
def accept(rt: Runtime, principal: ApiPrincipal, issue_id: int, cid: ClientEventId = None) -> Any:
    from flows.itr import service

    return _out(service.accept(rt, issue_id, principal=principal, client_event_id=cid))


@acts.post("/issues/{issue_id}/note")
def note(rt: Runtime, principal: ApiPrincipal, issue_id: int, body: NoteIn, cid: ClientEventId = None) -> Any:
    from flows.itr import service

    return _out(service.note(rt, issue_id, principal=principal, client_event_id=cid, text=body.text))


@acts.post("/issues/{issue_id}/escalate")
def escalate(rt: Runtime, principal: ApiPrincipal, issue_id: int, body: EscalateIn, cid: ClientEventId = None) -> Any:
    from flows.itr import service

    return _out(service.escalate(rt, issue_id, principal=principal, client_event_id=cid, **body.model_dump()))


@acts.post("/issues/{issue_id}/resolve")
def resolve(rt: Runtime, principal: ApiPrincipal, issue_id: int, body: ResolveIn, cid: ClientEventId = None) -> Any:
    from flows.itr import service

    return _out(service.resolve(rt, issue_id, principal=principal, client_event_id=cid, **body.model_dump()))


@acts.post("/issues/{issue_id}/close")
def close(rt: Runtime, principal: ApiPrincipal, issue_id: int, cid: ClientEventId = None) -> Any:
    from flows.itr import service

    return _out(service.close(rt, issue_id, principal=principal, client_event_id=cid))


@acts.post("/issues/{issue_id}/callback")
def callback(rt: Runtime, principal: ApiPrincipal, issue_id: int, body: CallbackIn, cid: ClientEventId = None) -> Any:
    from flows.itr import service

    return _out(service.record_callback(rt, issue_id, principal=principal, client_event_id=cid, **body.model_dump()))


@acts.post("/issues/{issue_id}/declare-major")
def declare_major(rt: Runtime, principal: ApiPrincipal, issue_id: int, body: MajorIn, cid: ClientEventId = None) -> Any:
    from flows.itr import service

    return _out(service.declare_major(rt, issue_id, principal=principal, client_event_id=cid, care_rep=body.care_rep))


@acts.post("/qa-cases/{case_id}/decision")
def qa_decision(rt: Runtime, principal: ApiPrincipal, case_id: int, body: QaDecisionIn, cid: ClientEventId = None) -> Any:
    from flows.itr import service

    return _out(service.qa_decide(rt, case_id, principal=principal, client_event_id=cid, **body.model_dump()))


@router.get("/cases/search")
def search_cases(rt: Runtime, principal: ApiPrincipal, q: str, limit: int = 10) -> Any:
    """The case library (案例库), full-text: any signed-in employee may search it."""
    from flows.itr import service

    return _out(service.search_cases(rt, q, principal=principal, limit=min(max(limit, 1), 50)))


# ---------------------------------------------------------------------------------------------- master data


@router.get("/customers")
def customers(rt: Runtime, principal: ApiPrincipal) -> Any:
    """The customers the caller may see (上级可以看下级，同级之间不能互相看)."""
    from engine.masterdata import service

    with rt.db.session() as session:
        return _out(service.visible_customers(session, principal=principal))


@router.get("/customers/{code}/contacts")
def customer_contacts(rt: Runtime, principal: ApiPrincipal, code: str) -> Any:
    from engine.masterdata import service

    with rt.db.session() as session:
        service.get_customer_for(session, code, principal=principal, clock=rt.clock)
        return _out(service.visible_contacts(session, code, principal=principal))


@router.get("/contacts/{code}")
def contact_card(rt: Runtime, principal: ApiPrincipal, code: str) -> Any:
    """A key contact's card; sensitive fields only for the owner and the chain above. A record outside
    the caller's view is 403 and an audit row."""
    from engine.masterdata import service

    with rt.db.session() as session:
        return _out(service.get_contact_card(session, code, principal=principal, clock=rt.clock))


router.include_router(acts)
