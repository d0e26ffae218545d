"""The ITR service layer: what the CLI, the replay plugin and the web app call.

Each write is one flow step (one transaction) through the runtime: the business rules run in the
flow's actions (flows/itr/actions.py), so a refusal changes nothing and is recorded in
`flow_refusal`. This layer adds what a step cannot do for itself: intake before the instance
exists (`open_issue`), the refused-escalation audit row (written after the refused step rolled
back), readable views (pydantic models) and the reports. Reads use `db.session()` / `db.read()`,
never the step's transaction.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel
from sqlalchemy import and_, or_, union
from sqlmodel import Session, col, select

from engine import sql
from engine.clock import from_us, to_us
from engine.auth.principal import Principal
from engine.errors import EventNotAllowed, MCRError, NotVisible, TransitionRefused
from engine.i18n import has, locale as current_locale, t
from engine.rules import rules_dir
from engine.store import FlowInstance
from engine.yamlsrc import YamlSyntaxError, load_yaml
from engine.masterdata.read import MasterData
from flows.itr.errors import (InvalidIssueInput, IssueNotVisible, IssueStateRefused,
                              ItrUsageError, NotQa, UnknownIssue, UnknownRecord)
from flows.itr.intake import prepare, record
from flows.itr.models import (Callback, CallbackDecision, CaseEntry, Dispatch, Escalation, Issue, QaCase,
                              WeeklyScore)
from flows.itr.reports import ItrReport, WeeklyCheck, build_report, read_report, run_weekly_check
from flows.itr.rules import TYPES, ItrRules
from flows.itr.search import search as _search, upsert_entry

FLOW = "itr_issue"


# ---------------------------------------------------------------------------------------------- views


class DispatchView(BaseModel):
    seq: int
    at: str
    actor: str
    queue: str
    handler: Optional[str]
    redispatch: bool
    reason: Optional[str]


class EscalationView(BaseModel):
    id: int
    issue: int
    title: str
    at: str
    actor: str
    from_level: str
    to_level: str
    unit: str
    reason: str
    note: Optional[str]
    decision: str
    automatic: bool
    counted: bool
    override_by: Optional[str]
    override_why: Optional[str]
    qa_flag: bool
    escalated_before: int
    unit_issues: int
    quota_limit: str
    handler: Optional[str]
    message: Optional[str]


class CallbackDecisionView(BaseModel):
    id: int
    at: str
    required: bool
    reason: str
    seed: int
    draw: float
    threshold: float
    coverage_done: int
    coverage_base: int
    contact: str
    last_callback: Optional[str]
    not_before: Optional[str]
    carry_pending: bool
    carried_from: Optional[int]
    carried_to: Optional[int]


class CallbackView(BaseModel):
    id: int
    at: str
    actor: str
    contact: str
    reached: bool
    score: Optional[int]
    note: Optional[str]


class QaCaseView(BaseModel):
    id: int
    issue: int
    title: str
    office: str
    kind: str
    opened: str
    opened_by: str
    reason: str
    score: Optional[int]
    escalation: Optional[int]
    status: str
    decision: Optional[str]
    accountable: Optional[str]
    decided_by: Optional[str]
    decided: Optional[str]
    note: Optional[str]


class IssueView(BaseModel):
    """One issue as users see it (mcr issue show, replay output, web app)."""

    id: int
    state: str
    state_title: str
    title: str
    description: Optional[str]
    type: str
    severity: str
    source: str
    customer: str
    contact: str
    submitter: str
    office: str
    region: Optional[str]
    team: Optional[str]
    contract: Optional[str]
    level: str
    queue: Optional[str]
    handler: Optional[str]
    major_incident: bool
    care_rep: Optional[str]
    sla_hours: float
    calendar: str
    sla_due: Optional[str]
    sla_breaches: int
    valid: bool
    opened: str
    dispatched: Optional[str]
    resolved: Optional[str]
    resolved_level: Optional[str]
    closed: Optional[str]
    resolution: Optional[str]
    callback_required: Optional[bool]
    tier: Optional[str] = None  # the customer's tier, filled in by queue_issues (queue order)
    dispatches: list[DispatchView] = []
    escalations: list[EscalationView] = []
    callback_decisions: list[CallbackDecisionView] = []
    callbacks: list[CallbackView] = []
    qa_cases: list[QaCaseView] = []
    notes: list[dict[str, Any]] = []


class CaseHit(BaseModel):
    code: str
    kind: str
    title: str
    score: float
    matched: int
    snippet: str


# ---------------------------------------------------------------------------------------------- helpers


def _log_refusal(rt: Any, instance_id: Optional[int], actor: str, event: str, exc: MCRError) -> None:
    """Record a refusal raised outside a flow step, in the same log the runtime uses (flow_refusal)."""
    with rt.db.tx() as tx:
        tx.execute(sql.INSERT_REFUSAL, {"instance_id": instance_id, "now": to_us(rt.clock.now()), "actor": actor,
                                        "event": event, "code": getattr(exc, "code", type(exc).__name__),
                                        "message": str(exc)})


def _local(us: Optional[int], tz: Any) -> Optional[str]:
    return from_us(us).astimezone(tz).isoformat(timespec="minutes") if us is not None else None


def _tz(rt: Any, calendar: Optional[str]) -> Any:
    return rt.calendars.get(calendar if calendar in rt.calendars else None).tz


def _state_title(rt: Any, state: str, locale: Optional[str] = None) -> str:
    spec = rt.definitions.get(FLOW).state_by_name(state)
    return spec.title.get(locale or current_locale()) or spec.title.get("zh-CN") or state


def _event_title(rt: Any, event: str) -> str:
    spec = next((e for e in rt.definitions.get(FLOW).events if e.name == event), None)
    return (spec.title.get(current_locale()) or spec.title.get("zh-CN") or event) if spec else event


def _require_issue(rt: Any, issue_id: Any, principal: Principal, event: str) -> int:
    try:
        iid = int(issue_id)
    except (TypeError, ValueError):
        iid = -1
    with rt.db.read() as tx:
        found = tx.one("SELECT id FROM itr_issue WHERE id = :i", {"i": iid}) if iid >= 0 else None
    if found is None:
        exc = UnknownIssue(t("itr.unknown_issue", id=issue_id), instance_id=None, event=event)
        _log_refusal(rt, None, principal.actor, event, exc)
        raise exc
    return iid


def _send(rt: Any, issue_id: Any, event: str, *, principal: Principal, payload: Optional[dict[str, Any]] = None,
          client_event_id: Optional[str] = None) -> Any:
    # `client_event_id` (a form's nonce): the same submission twice is applied once.
    iid = _require_issue(rt, issue_id, principal, event)
    try:
        return rt.send(iid, event, actor=principal.actor, principal=principal, payload=payload or {},
                       client_event_id=client_event_id)
    except EventNotAllowed as exc:
        # Already in flow_refusal (the runtime logs it); say it in the user's words.
        state = exc.state or "?"
        if has(f"itr.state_word.{state}"):
            msg = t("itr.state_ended", id=iid, state=t(f"itr.state_word.{state}"), event=_event_title(rt, event))
        else:
            compiled = rt.definitions.compiled(FLOW, rt.definitions.get(FLOW).version)
            allowed, internal = compiled.allowed.get(state, []), compiled.internal
            msg = t("itr.state_refused", id=iid, state=_state_title(rt, state), event=_event_title(rt, event),
                    allowed=", ".join(_event_title(rt, e) for e in allowed if e not in internal))
        raise IssueStateRefused(msg, instance_id=iid, event=event, state=state) from exc


# ---------------------------------------------------------------------------------------------- intake


def open_issue(rt: Any, *, principal: Principal, client_event_id: Optional[str] = None, **fields: Any) -> IssueView:
    """受理: record a new issue (validated against master data) and start its flow, in one transaction.

    The submitter defaults to the principal's employee; the operator alone (no `--as`) must name one.
    `client_event_id` (a form's one-time id) becomes the instance's subject, unique per flow by the
    schema: the same form sent twice opens one issue and answers with it both times.
    """
    rules = rt.current_rules().get("itr.yaml", ItrRules)
    now = rt.clock.now()
    actor = principal.actor
    def open_in(tx: Any) -> Any:
        intake = prepare(tx, rt, rules, fields, actor=principal.emp_no, now=now)
        # The engine has no public "start inside my transaction" outside a step; _start_in is
        # what StepContext.start uses. Instance and issue row commit together or not at all.
        subject = f"form:{client_event_id}" if client_event_id else None
        res = rt._start_in(tx, FLOW, intake.data, actor=actor, subject=subject, calendar=intake.calendar,
                           locale=intake.locale, now=now, principal=principal)
        if not res.duplicate:
            record(tx, res.instance_id, intake, rules, now)
        return res

    try:
        # `rt.commit`: one transaction, shared with concurrent requests under group commit (mcr serve).
        res = rt.commit(open_in)
    except TransitionRefused as exc:
        _log_refusal(rt, None, actor, "open", exc)
        raise
    if res.earliest_timer is not None and rt.on_timer_armed is not None:
        rt.on_timer_armed(res.earliest_timer)
    return _acted(rt, res.instance_id)


def open_issue_in(ctx: Any, **fields: Any) -> int:
    """Open an improvement issue inside another flow's step (e.g. a survey's low score); returns its number.

    Same checks as `open_issue`; a refusal refuses the calling step. `submitter` defaults to the
    step's actor — a timer-driven step must name one.
    """
    rules = ctx.runtime.current_rules().get("itr.yaml", ItrRules)  # what the new issue will be pinned to
    intake = prepare(ctx.tx, ctx.runtime, rules, fields, actor=ctx.emp_no, now=ctx.now)
    issue_id = ctx.start(FLOW, intake.data, calendar=intake.calendar, locale=intake.locale)
    record(ctx.tx, issue_id, intake, rules, ctx.now)
    return issue_id


# ---------------------------------------------------------------------------------------------- handling


def dispatch(rt: Any, issue_id: Any, *, principal: Principal, queue: Optional[str] = None,
             handler: Optional[str] = None, client_event_id: Optional[str] = None,
             answer: bool = True) -> Optional[IssueView]:
    """分派 by type to the owning queue (or the named queue / handler)."""
    _send(rt, issue_id, "dispatch", principal=principal, payload={"queue": queue, "handler": handler},
          client_event_id=client_event_id)
    return _acted(rt, issue_id, answer)


def redispatch(rt: Any, issue_id: Any, *, principal: Principal, reason: str, queue: Optional[str] = None,
               handler: Optional[str] = None, client_event_id: Optional[str] = None,
               answer: bool = True) -> Optional[IssueView]:
    _send(rt, issue_id, "redispatch", principal=principal,
          payload={"queue": queue, "handler": handler, "reason": reason}, client_event_id=client_event_id)
    return _acted(rt, issue_id, answer)


def accept(rt: Any, issue_id: Any, *, principal: Principal, client_event_id: Optional[str] = None,
           answer: bool = True) -> Optional[IssueView]:
    _send(rt, issue_id, "accept", principal=principal, client_event_id=client_event_id)
    return _acted(rt, issue_id, answer)


def reject(rt: Any, issue_id: Any, *, principal: Principal, reason: str,
           client_event_id: Optional[str] = None,
           answer: bool = True) -> Optional[IssueView]:
    _send(rt, issue_id, "reject", principal=principal, payload={"reason": reason}, client_event_id=client_event_id)
    return _acted(rt, issue_id, answer)


def note(rt: Any, issue_id: Any, *, principal: Principal, text: str,
         client_event_id: Optional[str] = None,
         answer: bool = True) -> Optional[IssueView]:
    _send(rt, issue_id, "note", principal=principal, payload={"text": text}, client_event_id=client_event_id)
    return _acted(rt, issue_id, answer)


def declare_major(rt: Any, issue_id: Any, *, principal: Principal, care_rep: str,
                  client_event_id: Optional[str] = None,
                  answer: bool = True) -> Optional[IssueView]:
    """重大事故: names the customer-care representative; hourly progress reports start."""
    _send(rt, issue_id, "declare_major", principal=principal, payload={"care_rep": care_rep},
          client_event_id=client_event_id)
    return _acted(rt, issue_id, answer)


def resolve(rt: Any, issue_id: Any, *, principal: Principal, solution: str, case: Optional[str] = None,
            add_to_library: bool = False, client_event_id: Optional[str] = None,
            answer: bool = True) -> Optional[IssueView]:
    _send(rt, issue_id, "resolve", principal=principal,
          payload={"solution": solution, "case": case, "add_to_library": add_to_library},
          client_event_id=client_event_id)
    return _acted(rt, issue_id, answer)


def escalate(rt: Any, issue_id: Any, *, principal: Principal, reason: Optional[str], note: Optional[str] = None,
             override_by: Optional[str] = None, override_why: Optional[str] = None,
             client_event_id: Optional[str] = None,
             answer: bool = True) -> Optional[EscalationView]:
    """升级 with one of the allowed reasons; past the quota only with an override (who, why), flagged for QA."""
    payload = {"reason": reason, "note": note, "override_by": override_by, "override_why": override_why}
    # A refusal past the quota is kept as an itr_escalation row by the error itself (on_refused).
    _send(rt, issue_id, "escalate", principal=principal, client_event_id=client_event_id, payload=payload)
    return escalations(rt, issue_id=int(issue_id), principal=Principal.engine())[-1] if answer else None


# ---------------------------------------------------------------------------------------------- close, callback, QA


def close(rt: Any, issue_id: Any, *, principal: Principal, client_event_id: Optional[str] = None,
          answer: bool = True) -> Optional[IssueView]:
    """关闭 — only the submitter; the callback policy decides whether a callback comes first."""
    _send(rt, issue_id, "close", principal=principal, client_event_id=client_event_id)
    return _acted(rt, issue_id, answer)


def record_callback(rt: Any, issue_id: Any, *, principal: Principal, score: Any = None, reached: bool = True,
                    note: Optional[str] = None, client_event_id: Optional[str] = None,
                    answer: bool = True) -> Optional[IssueView]:
    """回访 result: score 1–5 (≥ 3 closes, < 3 opens a QA retrospective), or not reached."""
    _send(rt, issue_id, "callback", principal=principal, payload={"score": score, "reached": reached, "note": note},
          client_event_id=client_event_id)
    return _acted(rt, issue_id, answer)


QA_DECISIONS = {"low_score": ("close", "reopen"), "escalation_override": ("justified", "unjustified")}


def qa_decide(rt: Any, case_id: Any, *, principal: Principal, client_event_id: Optional[str] = None, decision: str, accountable: Optional[str] = None,
              note: Optional[str] = None) -> QaCaseView:
    """流程QA decides a case: a low-score retrospective closes or reopens the issue; an override is judged."""
    with rt.db.session() as s:
        case = s.get(QaCase, int(case_id)) if str(case_id).isdigit() else None
    if case is None:
        exc: TransitionRefused = UnknownRecord(t("itr.unknown_qa_case", case=case_id), event="qa_decide")
        _log_refusal(rt, None, principal.actor, "qa_decide", exc)
        raise exc
    allowed = QA_DECISIONS[case.kind]
    if decision not in allowed:
        exc = InvalidIssueInput(t("itr.bad_qa_decision", decision=decision, allowed=", ".join(allowed)),
                                instance_id=case.issue_id, event="qa_decide")
        _log_refusal(rt, case.issue_id, principal.actor, "qa_decide", exc)
        raise exc
    if case.kind == "low_score":
        _send(rt, case.issue_id, "qa_close" if decision == "close" else "qa_reopen", principal=principal, client_event_id=client_event_id,
              payload={"case": case.id, "accountable": accountable, "note": note})
        return qa_case(rt, case.id, principal=Principal.engine())
    with rt.db.tx() as tx:
        refusal: Optional[TransitionRefused] = None
        if not principal.is_qa:
            refusal = NotQa(t("itr.not_qa", id=case.issue_id, actor=principal.actor), instance_id=case.issue_id,
                            event="qa_decide")
        elif case.status != "open":
            refusal = InvalidIssueInput(t("itr.qa_case_decided", case=case.id), instance_id=case.issue_id,
                                        event="qa_decide")
        elif accountable and tx.one("SELECT 1 FROM employee WHERE emp_no = :e", {"e": accountable}) is None:
            refusal = UnknownRecord(t("itr.unknown_employee", emp=accountable), instance_id=case.issue_id,
                                    event="qa_decide")
        else:
            tx.execute("UPDATE itr_qa_case SET status = 'decided', decision = :d, accountable_emp_no = :a, "
                       "decided_by = :by, decided_us = :now, note = :n WHERE id = :c AND status = 'open'",
                       {"d": decision, "a": accountable, "by": principal.actor, "now": to_us(rt.clock.now()), "n": note,
                        "c": case.id})
    if refusal is not None:
        _log_refusal(rt, case.issue_id, principal.actor, "qa_decide", refusal)
        raise refusal
    return qa_case(rt, case.id, principal=Principal.engine())


# ---------------------------------------------------------------------------------------------- case library


def search_cases(rt: Any, query: str, *, principal: Principal, limit: int = 10,
                 kind: Optional[str] = None) -> list[CaseHit]:
    """Search cases and handling guides (works for Chinese on SQLite and PostgreSQL). The library is
    shared knowledge: every authenticated principal may search it (the principal is still required)."""
    with rt.db.read() as tx:
        return [CaseHit(code=h.code, kind=h.kind, title=h.title, score=h.score, matched=h.matched, snippet=h.snippet)
                for h in _search(tx, query, limit=limit, kind=kind)]


def add_case(rt: Any, *, principal: Principal, code: str, kind: str, title: str, body: str, issue_type: Optional[str] = None,
             tags: Optional[str] = None) -> int:
    if kind not in ("case", "guide"):
        raise ItrUsageError(t("itr.bad_choice", field="kind", value=kind, allowed="case, guide"))
    if not (code and title and body):
        raise ItrUsageError(t("itr.missing_field", field="code / title / body"))
    with rt.db.tx() as tx:
        return upsert_entry(tx, code=code, kind=kind, title=title, body=body, issue_type=issue_type, tags=tags,
                            source_issue_id=None, now_us=to_us(rt.clock.now()), actor=principal.actor)


def load_case_library(rt: Any, path: Optional[Path] = None, *, principal: Principal) -> int:
    """Load handling guides and cases from YAML files (default: rules/case-library/*.yaml); same code = replace."""
    root = Path(path) if path else rules_dir() / "case-library"
    files = sorted(root.glob("*.yaml")) if root.is_dir() else [root]
    n = 0
    for f in files:
        try:
            entries = load_yaml(f)
        except YamlSyntaxError as exc:
            raise ItrUsageError(str(exc.problem)) from exc
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ItrUsageError(t("itr.bad_case_file", file=f))
        for e in entries:
            add_case(rt, principal=principal, code=str(e.get("code") or ""), kind=str(e.get("kind") or "guide"),
                     title=str(e.get("title") or ""), body=str(e.get("body") or ""), issue_type=e.get("issue_type"),
                     tags=", ".join(e["tags"]) if isinstance(e.get("tags"), list) else e.get("tags"))
            n += 1
    return n


# ---------------------------------------------------------------------------------------------- monitoring


def weekly_check(rt: Any, week: str, *, principal: Principal) -> WeeklyCheck:
    """每周有效问题检查: which big customers' teams fell short of the weekly minimum (entries written once).
    It checks every office: the engine, operators, process QA and sales management may run it."""
    if not _sees_every_unit(principal):
        exc = NotVisible(t("itr.report.not_covered", actor=principal.actor, unit="*"))
        _log_refusal(rt, None, principal.actor, "weekly_check", exc)
        raise exc
    with rt.db.tx() as tx:
        return run_weekly_check(tx, rt, rt.current_rules().get("itr.yaml", ItrRules), week, rt.clock.now())


def _sees_every_unit(principal: Principal) -> bool:
    return principal.is_engine or principal.is_operator or principal.is_qa or principal.is_sales_management


def report_units(rt: Any, *, principal: Principal) -> list[tuple[str, str, str]]:
    """(code, kind, name) of the offices, regions and HQ whose report `principal` may read."""
    with rt.db.read() as tx:
        md = MasterData(tx)
        units = [u for kind in ("hq", "region", "office") for u in md.units_of_kind(kind)]
        if _sees_every_unit(principal):
            return [(u.code, u.kind, u.name) for u in units]
        mine = principal.unit_code
        return [(u.code, u.kind, u.name) for u in units
                if mine and mine in {p.code for p in md.unit_path(u.code)}]


def report(rt: Any, *, principal: Principal, week: Optional[str] = None, month: Optional[str] = None,
           office: Optional[str] = None, region: Optional[str] = None, unit: Optional[str] = None,
           types: Optional[list[str]] = None, now: Optional[datetime] = None) -> ItrReport:
    """`mcr itr report --week 2026-W48 --office X`: the monitoring figures of one unit and period.

    Who may read it: the engine, operators, process QA and sales management any unit's; anyone else
    the report of their own unit or of a unit below it (an office's people their office's, a region's
    people their region's and its offices'). Otherwise `NotVisible`, logged like a refused read."""
    if (week is None) == (month is None):
        raise ItrUsageError(t("itr.report_period"))
    bad = sorted(set(types or []) - set(TYPES))
    if bad:
        raise ItrUsageError(t("itr.bad_choice", field="type", value=", ".join(bad), allowed=", ".join(TYPES)))
    code = office or region or unit
    with rt.db.read() as tx:
        if code is None:
            row = tx.one("SELECT code FROM org_unit WHERE kind = 'hq' ORDER BY code LIMIT 1")
            code = row[0] if row else "?"
        found = tx.one("SELECT kind FROM org_unit WHERE code = :c", {"c": code})
        expected = "office" if office else "region" if region else None
        if found is None or (expected and found[0] != expected):
            raise ItrUsageError(t("itr.report_unit", code=code, kind=expected or "office / region / hq"))
        covered = _sees_every_unit(principal) or (principal.unit_code is not None and principal.unit_code in
                                                  {u.code for u in MasterData(tx).unit_path(code)})
    if not covered:
        exc = NotVisible(t("itr.report.not_covered", actor=principal.actor, unit=code))
        _log_refusal(rt, None, principal.actor, "report", exc)
        raise exc
    args: dict[str, Any] = dict(period=str(week or month), unit_code=code, now=now or rt.clock.now(),
                                kind="week" if week else "month", types=types)
    rules = rt.current_rules().get("itr.yaml", ItrRules)
    return read_report(rt.db, lambda tx, create: build_report(tx, rt, rules, create=create, **args))


# ---------------------------------------------------------------------------------------------- reads


def _escalation_view(e: Escalation, tz: Any, title: str) -> EscalationView:
    return EscalationView(id=e.id, issue=e.issue_id, title=title, at=_local(e.at_us, tz), actor=e.actor, from_level=e.from_level,
                          to_level=e.to_level, unit=e.unit_code, reason=e.reason, note=e.note, decision=e.decision,
                          automatic=e.automatic, counted=e.counted, override_by=e.override_by,
                          override_why=e.override_why, qa_flag=e.qa_flag, escalated_before=e.escalated_before,
                          unit_issues=e.unit_issues, quota_limit=e.quota_limit, handler=e.handler_emp_no,
                          message=e.message)


def _qa_view(q: QaCase, tz: Any, title: str) -> QaCaseView:
    return QaCaseView(id=q.id, issue=q.issue_id, title=title, office=q.office_code, kind=q.kind, opened=_local(q.opened_us, tz),
                      opened_by=q.opened_by, reason=q.reason, score=q.score, escalation=q.escalation_id,
                      status=q.status, decision=q.decision, accountable=q.accountable_emp_no,
                      decided_by=q.decided_by, decided=_local(q.decided_us, tz), note=q.note)


def _rows(tx: Any, model: Any, where: str, params: dict[str, Any], order: str = "id") -> list[Any]:
    """Rows of an ITR table as attribute objects, read on the raw connection: a view is rebuilt after every
    service call, and the ORM's per-query overhead was most of that call's cost."""
    key = (model.__tablename__, where, order)
    found = _ROWS_SQL.get(key)
    if found is None:  # built once per query shape: walking the Table's columns on every call cost more than the read
        cols = tuple(c.name for c in model.__table__.columns)
        found = _ROWS_SQL[key] = (cols, f"SELECT {', '.join(cols)} FROM {model.__tablename__} WHERE {where} ORDER BY {order}")
    cols, statement = found
    return [SimpleNamespace(**dict(zip(cols, r))) for r in tx.all(statement, params)]


_ROWS_SQL: dict[tuple[str, str, str], tuple[tuple[str, ...], str]] = {}


def _issue_view(rt: Any, tx: Any, issue: Any, inst: Any, *, detail: bool) -> IssueView:
    tz = _tz(rt, issue.calendar)
    # The lists are handed to the constructor (not assigned after it): pydantic would otherwise deep-copy
    # each list field's default on construction first — a view is built after every service call.
    lists: dict[str, Any] = _issue_lists(tx, issue, inst, tz) if detail else {}
    return IssueView(
        id=issue.id, state=inst.state, state_title=_state_title(rt, inst.state), title=issue.title,
        description=issue.description, type=issue.type, severity=issue.severity, source=issue.source,
        customer=issue.customer_code, contact=issue.contact_code, submitter=issue.submitter_emp_no,
        office=issue.office_code, region=issue.region_code, team=issue.team_code, contract=issue.contract,
        level=issue.level, queue=issue.queue, handler=issue.handler_emp_no, major_incident=issue.major_incident,
        care_rep=issue.care_rep_emp_no, sla_hours=issue.sla_hours, calendar=issue.calendar,
        sla_due=_local(issue.sla_due_us, tz), sla_breaches=issue.sla_breaches, valid=issue.valid,
        opened=_local(issue.opened_us, tz), dispatched=_local(issue.dispatched_us, tz),
        resolved=_local(issue.resolved_us, tz), resolved_level=issue.resolved_level, closed=_local(issue.closed_us, tz),
        resolution=issue.resolution, callback_required=issue.callback_required, **lists)


def _issue_lists(tx: Any, issue: Any, inst: Any, tz: Any) -> dict[str, Any]:
    """The issue's dispatches, escalations, callback decisions, callbacks, QA cases and notes (its detail view)."""
    iid = issue.id
    return {
        "dispatches": [DispatchView(seq=d.seq, at=_local(d.at_us, tz), actor=d.actor, queue=d.queue,  # type: ignore[arg-type]
                                    handler=d.handler_emp_no, redispatch=d.redispatch, reason=d.reason)
                       for d in _rows(tx, Dispatch, "issue_id = :i", {"i": iid}, "seq")],
        "escalations": [_escalation_view(e, tz, issue.title) for e in _rows(tx, Escalation, "issue_id = :i", {"i": iid})],
        "callback_decisions": [
            CallbackDecisionView(id=d.id, at=_local(d.at_us, tz),  # type: ignore[arg-type]
                                 required=d.required, reason=d.reason, seed=d.seed,
                                 draw=d.draw, threshold=d.threshold, coverage_done=d.coverage_done,
                                 coverage_base=d.coverage_base, contact=d.contact_code,
                                 last_callback=_local(d.last_callback_us, tz), not_before=_local(d.not_before_us, tz),
                                 carry_pending=d.carry_pending, carried_from=d.carried_from, carried_to=d.carried_to)
            for d in _rows(tx, CallbackDecision, "issue_id = :i", {"i": iid})],
        "callbacks": [CallbackView(id=c.id, at=_local(c.at_us, tz), actor=c.actor, contact=c.contact_code,  # type: ignore[arg-type]
                                   reached=c.reached, score=c.score, note=c.note)
                      for c in _rows(tx, Callback, "issue_id = :i", {"i": iid})],
        "qa_cases": [_qa_view(q, tz, issue.title) for q in _rows(tx, QaCase, "issue_id = :i", {"i": iid})],
        "notes": list(json.loads(inst.data).get("notes") or []),
    }


# Who may read an issue (docs/itr.md, "Who may see an issue"): the people on it (submitter,
# every handler it had, its care representative) and the supervisors above them; the handlers of
# its queue in its office (and of the region / HQ once it is escalated there); the office's
# callback agents; process QA and sales management; the operator and the engine.


class _IssueReader:
    """The read rule for one principal, with what it needs loaded once per call."""

    def __init__(self, rt: Any, principal: Principal) -> None:
        self.principal = principal
        self.everyone = (principal.is_engine or principal.is_operator or principal.is_qa
                         or principal.is_sales_management)
        self.rt = rt
        self.rules = rt.current_rules().get("itr.yaml", ItrRules)
        self.path: set[str] = set()
        self.kind: dict[str, str] = {}
        if not self.everyone and principal.unit_code:
            with rt.db.read() as tx:
                self.kind = {u.code: u.kind for u in MasterData(tx).unit_path(principal.unit_code)}
            self.path = set(self.kind)
        self.unit = principal.unit_code

    def _handlers(self, iid: int) -> set[str]:
        with self.rt.db.read() as tx:
            rows = tx.all(f"SELECT handler_emp_no FROM {Dispatch.__tablename__} WHERE issue_id = :i UNION "
                          f"SELECT handler_emp_no FROM {Escalation.__tablename__} WHERE issue_id = :i", {"i": iid})
        return {r[0] for r in rows if r[0]}

    def may_see(self, issue: Any) -> bool:
        if self.everyone:
            return True
        p = self.principal
        people = {issue.submitter_emp_no, issue.handler_emp_no, issue.care_rep_emp_no}
        if p.emp_no in people or any(p.supervises(x) for x in people):
            return True
        roles, dispatch = p.roles, self.rules.dispatch
        queue_role = dispatch.queues[issue.queue].role if issue.queue in dispatch.queues else None
        in_office = issue.office_code in self.path  # the principal works in the issue's office (or below it)
        if in_office and (queue_role in roles or self.rules.callback.agent_role in roles):
            return True
        if dispatch.upper_role in roles:
            if issue.level in ("region", "hq") and self.unit == issue.region_code:
                return True
            if issue.level == "hq" and self.kind.get(self.unit or "") == "hq":
                return True
        handlers = self._handlers(issue.id or 0)
        return p.emp_no in handlers or any(p.supervises(x) for x in handlers)


    def condition(self) -> Any:
        """`may_see` as one SQL condition on `itr_issue` (None: everything), so a list is filtered
        and limited by the database, not row by row."""
        if self.everyone:
            return None
        p, dispatch = self.principal, self.rules.dispatch
        people = sorted({p.emp_no} | set(p.below))
        conds = [col(Issue.submitter_emp_no).in_(people), col(Issue.handler_emp_no).in_(people),
                 col(Issue.care_rep_emp_no).in_(people)]
        if self.path:
            if self.rules.callback.agent_role in p.roles:
                conds.append(col(Issue.office_code).in_(sorted(self.path)))
            queues = sorted(q for q, rule in dispatch.queues.items() if rule.role in p.roles)
            if queues:
                conds.append(and_(col(Issue.office_code).in_(sorted(self.path)), col(Issue.queue).in_(queues)))
        if dispatch.upper_role in p.roles and self.unit:
            conds.append(and_(col(Issue.region_code) == self.unit, col(Issue.level).in_(("region", "hq"))))
            if self.kind.get(self.unit) == "hq":
                conds.append(col(Issue.level) == "hq")
        handled = union(select(Dispatch.issue_id).where(col(Dispatch.handler_emp_no).in_(people)),
                        select(Escalation.issue_id).where(col(Escalation.handler_emp_no).in_(people)))
        conds.append(col(Issue.id).in_(select(handled.subquery().c.issue_id)))
        return or_(*conds)


def _refuse_read(rt: Any, principal: Principal, issue_id: Any) -> None:
    exc = IssueNotVisible(t("itr.not_visible_issue", actor=principal.actor, id=issue_id))
    _log_refusal(rt, int(issue_id) if str(issue_id).isdigit() else None, principal.actor, "read", exc)
    raise exc


def get_issue(rt: Any, issue_id: Any, *, principal: Principal) -> IssueView:
    """One issue with its history, for someone who may see it; otherwise `IssueNotVisible`, logged."""
    view = _issue(rt, issue_id, _IssueReader(rt, principal))
    if view is None:
        _refuse_read(rt, principal, issue_id)
    assert view is not None
    return view


def _issue(rt: Any, issue_id: Any, reader: Optional[_IssueReader]) -> Optional[IssueView]:
    """The issue's view; None when `reader` may not see it (no reader: the caller just acted on it)."""
    with rt.db.read() as tx:
        found = _rows(tx, Issue, "id = :i", {"i": int(issue_id)}) if str(issue_id).isdigit() else []
        inst = tx.one("SELECT state, data FROM flow_instance WHERE id = :i", {"i": found[0].id}) if found else None
        if not found or inst is None:
            raise UnknownIssue(t("itr.unknown_issue", id=issue_id))
        if reader is not None and not reader.may_see(found[0]):
            return None
        return _issue_view(rt, tx, found[0], SimpleNamespace(state=inst[0], data=inst[1]), detail=True)


def _acted(rt: Any, issue_id: Any, answer: bool = True) -> Optional[IssueView]:
    """The issue as it is after the principal's own step (they may have handed it on: no read check).

    Every action answers with it unless called with `answer=False` (then None): the web page redirects
    to the issue and reads it there, so reading it here too (a read transaction, seven queries) is waste."""
    if not answer:
        return None
    view = _issue(rt, issue_id, None)
    assert view is not None
    return view


def list_issues(rt: Any, *, principal: Principal, office: Optional[str] = None, state: Optional[str] = None,
                customer: Optional[str] = None, limit: int = 50, detail: bool = False) -> list[IssueView]:
    """The issues `principal` may see (a queue, an office, a customer), oldest first, at most `limit`."""
    reader = _IssueReader(rt, principal)
    with rt.db.session() as s:
        q = select(Issue, FlowInstance).join(FlowInstance, col(FlowInstance.id) == col(Issue.id))
        if office:
            q = q.where(Issue.office_code == office)
        if customer:
            q = q.where(Issue.customer_code == customer)
        if state:
            q = q.where(FlowInstance.state == state)
        visible = reader.condition()
        if visible is not None:
            q = q.where(visible)
        with rt.db.read() as tx:
            return [_issue_view(rt, tx, i, f, detail=detail) for i, f in s.exec(q.order_by(col(Issue.id)).limit(limit))]


_QUEUE_STATES = {"office": ("received", "dispatched", "handling"), "region": ("escalated_region",),
                 "hq": ("escalated_hq",)}


def queue_issues(rt: Any, *, principal: Principal, unit: str, limit: int = 200) -> list[IssueView]:
    """The open issues waiting at one unit's level that `principal` may see, in queue order
    (需求接纳的优先级, rules/itr.yaml `queue_order`): the customer's tier first (S before C by default),
    then the nearest deadline, then the oldest. The database sorts and limits, so an S issue is never
    cut off behind older C issues."""
    from sqlalchemy import case

    from engine.masterdata.models import Customer

    rules = rt.current_rules().get("itr.yaml", ItrRules)
    reader = _IssueReader(rt, principal)
    with rt.db.read() as tx:
        found = MasterData(tx).unit(unit)
    if found is None or found.kind not in _QUEUE_STATES:
        raise ItrUsageError(t("itr.report_unit", code=unit, kind="office / region / hq"))
    order = rules.queue_order
    rank = case({tier: i for i, tier in enumerate(order.tiers)}, value=col(Customer.tier), else_=len(order.tiers))
    with rt.db.session() as s:
        q = (select(Issue, FlowInstance, Customer.tier)
             .join(FlowInstance, col(FlowInstance.id) == col(Issue.id))
             .join(Customer, col(Customer.code) == col(Issue.customer_code), isouter=True)
             .where(col(FlowInstance.state).in_(_QUEUE_STATES[found.kind])))
        if found.kind == "office":
            q = q.where(Issue.office_code == unit)
        elif found.kind == "region":
            q = q.where(Issue.region_code == unit)
        visible = reader.condition()
        if visible is not None:
            q = q.where(visible)
        q = q.order_by(rank, col(Issue.sla_due_us), col(Issue.id)).limit(limit)
        out = []
        with rt.db.read() as tx:
            for i, f, tier in s.exec(q):
                view = _issue_view(rt, tx, i, f, detail=False)
                view.tier = tier
                out.append(view)
        return out


def escalations(rt: Any, *, principal: Principal, issue_id: Optional[int] = None) -> list[EscalationView]:
    """Escalation decisions of the issues `principal` may see (one issue's, or all)."""
    reader = _IssueReader(rt, principal)
    with rt.db.read() as tx:
        rows = _rows(tx, Escalation, "issue_id = :i" if issue_id is not None else "1 = 1", {"i": issue_id})
        issues = {i.id: i for i in _rows(tx, Issue, "id IN (SELECT issue_id FROM itr_escalation"
                                         + (" WHERE issue_id = :i)" if issue_id is not None else ")"), {"i": issue_id})}
    return [_escalation_view(e, _tz(rt, issues[e.issue_id].calendar), issues[e.issue_id].title) for e in rows
            if reader.may_see(issues[e.issue_id])]


def qa_case(rt: Any, case_id: int, *, principal: Principal) -> QaCaseView:
    reader = _IssueReader(rt, principal)
    with rt.db.session() as s:
        q = s.get(QaCase, case_id)
        issue = s.get(Issue, q.issue_id) if q else None
        if q is None:
            raise ItrUsageError(t("itr.unknown_qa_case", case=case_id))
        visible = issue is None or reader.may_see(issue)
        if visible:
            return _qa_view(q, _tz(rt, issue.calendar if issue else None), issue.title if issue else "")
    _refuse_read(rt, principal, q.issue_id)
    raise AssertionError("unreachable")


def qa_cases(rt: Any, *, principal: Principal, status: Optional[str] = None) -> list[QaCaseView]:
    reader = _IssueReader(rt, principal)
    with rt.db.session() as s:
        q = select(QaCase, Issue).join(Issue, col(Issue.id) == col(QaCase.issue_id))
        if status:
            q = q.where(QaCase.status == status)
        return [_qa_view(c, _tz(rt, i.calendar), i.title) for c, i in s.exec(q.order_by(col(QaCase.id)))
                if reader.may_see(i)]


def weekly_scores(rt: Any) -> list[dict[str, Any]]:
    with rt.db.session() as s:
        return [{"week": w.week, "kind": w.kind, "office": w.office_code, "team": w.team_code,
                 "customer": w.customer_code, "issue": w.issue_id, "valid_issues": w.valid_issues,
                 "required": w.required, "points": w.points, "reason": w.reason}
                for w in s.exec(select(WeeklyScore).order_by(col(WeeklyScore.id)))]


def cases(rt: Any) -> list[dict[str, Any]]:
    with rt.db.session() as s:
        return [{"code": c.code, "kind": c.kind, "title": c.title, "source_issue": c.source_issue_id}
                for c in s.exec(select(CaseEntry).order_by(col(CaseEntry.id)))]


# ---------------------------------------------------------------------------------------------- what a person may do now


_OPEN_STATES = ("received", "dispatched", "handling", "escalated_region", "escalated_hq")
_HANDLER_EVENTS = {"accept": ("dispatched",), "resolve": ("dispatched", "handling", "escalated_region", "escalated_hq"),
                   "escalate": ("dispatched", "handling", "escalated_region")}


class EscalationOutlook(BaseModel):
    """Where the unit of the issue's current level stands against its quota (问题自行解决率), this window."""

    unit: str
    level: str
    issues: int
    escalated: int
    limit: float
    min_allowed: int = 0
    remaining: int
    self_resolution_rate: Optional[float]
    window_start: datetime
    window_end: datetime


def allowed_actions(rt: Any, issue_id: Any, *, principal: Any) -> list[str]:
    """The events of `issue_id` that `principal` may send now (the page offers exactly these).

    The same questions the flow's actions ask (flows/itr/actions.py): in this state, is this person
    the current handler, a head of the level's unit, the submitter, QA? `qa_decide` stands for the
    QA decision on an open case of the issue.
    """
    with rt.db.session() as s:
        issue = s.get(Issue, int(issue_id)) if str(issue_id).isdigit() else None
        inst = s.get(FlowInstance, issue.id) if issue else None
        open_qa = bool(issue) and s.exec(select(QaCase.id).where(QaCase.issue_id == issue.id)
                                         .where(QaCase.status == "open")).first() is not None
    if issue is None or inst is None:
        return []
    me, state = principal.emp_no, inst.state
    handler = issue.handler_emp_no
    out: list[str] = []
    for event, states in _HANDLER_EVENTS.items():
        if state in states and me == handler:
            out.append(event)
    if "escalate" not in out and state in _HANDLER_EVENTS["escalate"]:
        unit = issue.office_code if issue.level == "office" else issue.region_code
        with rt.db.read() as tx:
            heads = {p.emp_no for p in MasterData(tx).heads(unit, ["supervisor"])} if unit else set()
        if me in heads:
            out.append("escalate")
    if state == "received" and (me == issue.submitter_emp_no or principal.covers(issue.submitter_emp_no)):
        out.append("dispatch")
    if state in _OPEN_STATES and (me == handler or principal.supervises(handler)):
        out.append("declare_major")
    if state == "resolved" and me == issue.submitter_emp_no:
        out.append("close")
    if state == "callback_pending" and (me == issue.submitter_emp_no or principal.has_role("customer_care")):
        from flows.itr.actions import handlers_of
        with rt.db.read() as tx:
            if me not in handlers_of(tx, issue.id, json.loads(inst.data)):
                out.append("callback")
    if open_qa and principal.is_qa:
        out.append("qa_decide")
    if not inst.ended_us and (me in (handler, issue.submitter_emp_no, issue.care_rep_emp_no)
                              or principal.supervises(handler) or principal.is_qa):
        out.append("note")
    return out


def escalation_outlook(rt: Any, issue_id: Any, *, principal: Any) -> Optional[EscalationOutlook]:
    """The quota figures the escalate form shows (counted as the escalate action counts them); None
    when the issue cannot be escalated further."""
    from flows.itr.actions import escalation_counts
    from flows.itr.policy import check_quota, self_resolution_rate

    rules = rt.current_rules().get("itr.yaml", ItrRules)
    with rt.db.session() as s:
        issue = s.get(Issue, int(issue_id)) if str(issue_id).isdigit() else None
    if issue is None or issue.level not in ("office", "region"):
        return None
    unit = issue.office_code if issue.level == "office" else issue.region_code
    if not unit:
        return None
    with rt.db.tx() as tx:  # a counter row is made on first use
        escalated, issues, start, end = escalation_counts(tx, rules, level=issue.level, unit=unit, issue_id=issue.id,
                                                          now=rt.clock.now(), tz=_tz(rt, issue.calendar))
    limit, minimum = rules.quota.limit(issue.level), rules.quota.minimum(issue.level)
    remaining = 0
    while check_quota(escalated + remaining, issues, limit, minimum).allowed:
        remaining += 1
    return EscalationOutlook(unit=unit, level=issue.level, issues=issues, escalated=escalated, limit=float(limit),
                             min_allowed=minimum, remaining=remaining, self_resolution_rate=self_resolution_rate(issues, escalated),
                             window_start=start, window_end=end)


# ---------------------------------------------------------------------------------------------- pre-visit brief


class BriefIssue(BaseModel):
    id: int
    title: str
    severity: str
    state: str
    opened: str  # ISO date-time, UTC


class BriefCallback(BaseModel):
    issue: int
    contact: str
    reached: bool
    score: Optional[int]
    at: str  # ISO date-time, UTC


class CustomerBrief(BaseModel):
    """What a customer still has open with us, for the owner's visit (检查客户还有哪些遗留问题没有被解决)."""

    customer: str
    open_issues: list[BriefIssue]
    open_total: int
    callbacks: list[BriefCallback]


def customer_brief(session: Session, customer: str, *, principal: Principal, issues: int = 5,
                   callbacks: int = 3) -> CustomerBrief:
    """Read only: the customer's open valid issues (oldest first, at most `issues`) and its last
    `callbacks` callbacks — for the engine (the daily care scan) or someone who may see the
    customer (its owner, backup and the chain above them); anyone else gets `IssueNotVisible`."""
    from engine.masterdata.models import Contact, Customer
    from engine.masterdata.visibility import can_see_customer

    if not principal.is_engine:
        row = session.exec(select(Customer).where(Customer.code == customer)).first()
        contacts = list(session.exec(select(Contact).where(Contact.customer_code == customer)))
        if row is None or not can_see_customer(principal, row, contacts):
            raise IssueNotVisible(t("itr.brief_not_visible", viewer=principal.actor, customer=customer))
    # raw reads on the session's transaction: the daily care scan asks this for every customer it
    # sends a visit reminder about, and building two ORM statements per call cost more than the reads
    session.flush()  # what the session holds is seen, as an ORM read would autoflush it
    tx = MasterData.of_session(session).tx
    open_rows = tx.all(_BRIEF_OPEN_ISSUES, {"c": customer})
    calls = tx.all(_BRIEF_CALLBACKS, {"c": customer, "n": callbacks}) if callbacks else []
    return CustomerBrief(
        customer=customer, open_total=len(open_rows),
        open_issues=[BriefIssue(id=iid, title=title, severity=severity, state=state, opened=from_us(opened).isoformat())
                     for iid, title, severity, state, opened in open_rows[:issues]],
        callbacks=[BriefCallback(issue=iid, contact=contact, reached=bool(reached), score=score,
                                 at=from_us(at).isoformat()) for iid, contact, reached, score, at in calls])


# The customer's open valid issues, oldest first, with their flow state; and its latest callbacks.
_BRIEF_OPEN_ISSUES = ("SELECT i.id, i.title, i.severity, f.state, i.opened_us FROM itr_issue i "
                      "JOIN flow_instance f ON f.id = i.id WHERE i.customer_code = :c AND i.closed_us IS NULL "
                      "AND i.valid ORDER BY i.opened_us, i.id")
_BRIEF_CALLBACKS = ("SELECT c.issue_id, c.contact_code, c.reached, c.score, c.at_us FROM itr_callback c "
                    "JOIN itr_issue i ON i.id = c.issue_id WHERE i.customer_code = :c "
                    "ORDER BY c.at_us DESC, c.id DESC LIMIT :n")
