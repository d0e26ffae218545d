"""Guards, actions and launchers of the ITR flows (flows/itr/itr_issue.yaml, itr_review.yaml).

Each action runs inside the flow step's single transaction: it reads master data and ITR rows
through `ctx.tx`, writes its rows with `ctx.tx.run(...)`, updates `ctx.data`, queues mail with
`ctx.mail`, or refuses with a typed error (the step is rolled back and the refusal logged).
Business rules with numbers come from rules/itr.yaml and the pure functions of policy.py; this
module only wires them to the step. It never opens a session, commits, or reads the clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Optional

from sqlalchemy import update

from engine.clock import to_us
from engine.contacts import last_callback_at, planned_callbacks
from engine.masterdata.settings import MasterDataRules
from engine.registry import action, guard, launcher
from engine.masterdata.read import MasterData, Person
from flows.itr import counters
from flows.itr.errors import (CallbackByHandler, CallbackTooSoon, EscalationQuotaExceeded, EscalationReasonMissing,
                              InvalidIssueInput, NoHandler, NotHandler, NotQa, NotSubmitter, OverrideNotAllowed,
                              ScoreOutOfRange, UnknownRecord)
from flows.itr.intake import care_rep as _named_care_rep, progress_every
from engine.i18n import label, t
from flows.itr.messages import labels, type_names
from flows.itr.models import CallbackDecision as DecisionRow, Callback, Dispatch, Escalation, QaCase
from flows.itr.policy import (CallbackInputs, check_quota, closes_with_score, contact_free, decide_callback,
                              draw, sla_due, window_bounds)
from flows.itr.rules import REASONS, ItrRules
from flows.itr.search import upsert_entry

NEXT_LEVEL = {"office": "region", "region": "hq"}


# ---------------------------------------------------------------------------------------------- helpers


def _rules(ctx: Any) -> ItrRules:
    """rules/itr.yaml as registered when this issue started (pinned: a later change never reaches it)."""
    return ctx.rules.get("itr.yaml", ItrRules)


def _gap_days(ctx: Any) -> int:
    """The same-contact gap — one setting for every flow, in rules/masterdata.yaml."""
    return ctx.rules.get("masterdata.yaml", MasterDataRules).callback_gap_days


def _update_issue(ctx: Any, **values: Any) -> None:
    sets = ", ".join(f"{c} = :{c}" for c in values)
    ctx.tx.execute(f"UPDATE itr_issue SET {sets} WHERE id = :_id", {**values, "_id": ctx.instance_id})


_DEFAULTS: dict[str, dict[str, Any]] = {}


def _defaults(table: Any) -> dict[str, Any]:
    """The table's scalar column defaults (what SQLAlchemy's insert() would have filled in)."""
    found = _DEFAULTS.get(table.name)
    if found is None:
        found = {c.name: c.default.arg for c in table.columns
                 if c.default is not None and getattr(c.default, "is_scalar", False)}
        _DEFAULTS[table.name] = found
    return found


def _insert(ctx: Any, table: Any, **values: Any) -> int:
    return int(ctx.tx.insert_row(table.name, {**_defaults(table), **values}, returning="id"))


def _refuse(ctx: Any, error: type, key: str, **kwargs: Any) -> None:
    ctx.refuse(t(key, id=ctx.instance_id, **kwargs), error=error)


def _state_title(ctx: Any, state: str | None, locale: str) -> str:
    if not state:
        return ""
    spec = ctx.flow.defn.state_by_name(state)
    return spec.title.get(locale) or spec.title.get("zh-CN") or state


def _mail_person(ctx: Any, template: str, person: Optional[Person], **variables: Any) -> None:
    if person is None or not person.email:
        return
    locale = person.locale if person.locale in ("zh-CN", "en") else "zh-CN"
    ctx.mail(template, person.email, locale=locale, recipient_name=person.name,
             status=_state_title(ctx, ctx.target, locale), label=labels(ctx.data, locale), **variables)


def _note(ctx: Any, text: str) -> None:
    ctx.data.setdefault("notes", []).append({"at": ctx.now.isoformat(), "by": ctx.actor, "text": text})


def _is_current_handler(ctx: Any) -> bool:
    return ctx.data.get("handler") is not None and ctx.emp_no == ctx.data.get("handler")


def _unit_of_level(data: dict[str, Any], level: str) -> Optional[str]:
    return {"office": data.get("office"), "region": data.get("region"), "hq": data.get("hq")}[level]


def _rate_text(check: Any) -> str:
    # itrrules: a minimum allowance (rules/itr.yaml quota.min_allowed) is named when there is one.
    return t("itr.rate_text_min" if check.minimum else "itr.rate_text", n=check.escalated_before + 1, base=check.issues,
             pct=f"{float(check.rate_after):.1%}", limit=f"{float(check.limit):.0%}", minimum=check.minimum)


def _set_handler(ctx: Any, person: Optional[Person]) -> None:
    ctx.data["handler"] = person.emp_no if person else None
    ctx.data["handler_name"] = person.name if person else None


def _qa_people(tx: Any, data: dict[str, Any]) -> list[Person]:
    """Process QA (流程QA) nearest to the office: the office's, else the region's, else HQ's."""
    for unit in (data.get("office"), data.get("region"), data.get("hq")):
        if unit:
            md = MasterData(tx)
            found = md.people_with_role("qa", md.subtree(unit) if unit == data.get("office") else [unit])
            if found:
                return found
    return []


def _open_qa_case(ctx: Any, *, kind: str, reason: str, score: Optional[int] = None,
                  escalation_id: Optional[int] = None) -> int:
    case_id = _insert(ctx, QaCase.__table__, issue_id=ctx.instance_id, office_code=ctx.data["office"], kind=kind,
                      opened_us=to_us(ctx.now), opened_by=ctx.actor, reason=reason, score=score,
                      escalation_id=escalation_id, status="open")
    for qa in _qa_people(ctx.tx, ctx.data):
        _mail_person(ctx, "qa_case_opened", qa, case_id=case_id, kind=kind, reason=reason, score=score)
    ctx.data.setdefault("qa_cases", []).append(case_id)
    return case_id


# ---------------------------------------------------------------------------------------------- guards


@guard("itr_level_office")
def level_office(ctx: Any) -> bool:
    return ctx.data.get("level") == "office"


@guard("itr_level_region")
def level_region(ctx: Any) -> bool:
    return ctx.data.get("level") == "region"


@guard("itr_level_hq")
def level_hq(ctx: Any) -> bool:
    return ctx.data.get("level") == "hq"


@guard("itr_callback_needed")
def callback_needed(ctx: Any) -> bool:
    """The callback policy (回访) decides at the submitter's close request; see policy.decide_callback."""
    return bool(_callback_decision(ctx)["required"])


@guard("itr_callback_unreached")
def callback_unreached(ctx: Any) -> bool:
    return ctx.payload.get("reached") is False


@guard("itr_callback_score_ok")
def callback_score_ok(ctx: Any) -> bool:
    score = _score(ctx.payload.get("score"))
    return score is not None and closes_with_score(score, _rules(ctx).callback.close_min_score)


# ---------------------------------------------------------------------------------------------- dispatch


def _queue_handler(ctx: Any, rules: ItrRules, queue: str, requested: Optional[str]) -> Person:
    rule = rules.dispatch.queues[queue]
    office = ctx.data["office"]
    md = MasterData(ctx.tx)
    candidates = md.people_with_role(rule.role, md.subtree(office))
    if requested:
        chosen = next((p for p in candidates if p.emp_no == requested), None)
        if chosen is None:
            _refuse(ctx, NoHandler, "itr.not_queue_handler", emp=requested, queue=queue, unit=office)
        return chosen  # type: ignore[return-value]
    if rule.prefer_account_owner:
        cust = md.customer(ctx.data["customer"])
        owner = next((p for p in candidates if cust is not None and p.emp_no == cust.owner_emp_no), None)
        if owner is not None:
            return owner
    chosen = md.least_loaded(candidates)
    if chosen is None:
        _refuse(ctx, NoHandler, "itr.no_queue_handler", queue=queue, unit=office, role=rule.role)
    return chosen  # type: ignore[return-value]


def _record_dispatch(ctx: Any, *, queue: str, handler: Person, redispatch: bool, reason: Optional[str]) -> None:
    seq = int(ctx.tx.one("SELECT COALESCE(MAX(seq), 0) FROM itr_dispatch WHERE issue_id = :i",
                         {"i": ctx.instance_id})[0]) + 1
    _insert(ctx, Dispatch.__table__, issue_id=ctx.instance_id, seq=seq, at_us=to_us(ctx.now), actor=ctx.actor,
            queue=queue, level="office", unit_code=ctx.data["office"], handler_emp_no=handler.emp_no,
            redispatch=redispatch, reason=reason)
    ctx.data["queue"] = queue
    _set_handler(ctx, handler)
    ctx.data["dispatches"] = seq
    values: dict[str, Any] = {"queue": queue, "handler_emp_no": handler.emp_no}
    if seq == 1:
        values["dispatched_us"] = to_us(ctx.now)
    _update_issue(ctx, **values)
    counters.report_dispatched(ctx.tx, ctx.instance_id, seq, to_us(ctx.now))  # report counters (itrweb)
    _mail_person(ctx, "dispatched", handler, redispatch=redispatch, reason=reason or "", reopened=False)


@action("itr_dispatch")
def dispatch(ctx: Any) -> None:
    """受理后分派: by type to the owning queue (non-technical → the office's sales organisation)."""
    rules = _rules(ctx)
    queue = ctx.payload.get("queue") or rules.dispatch.by_type[ctx.data["type"]]
    if queue not in rules.dispatch.queues:
        _refuse(ctx, InvalidIssueInput, "itr.bad_choice", field="queue", value=queue,
                allowed=", ".join(rules.dispatch.queues))
    handler = _queue_handler(ctx, rules, queue, ctx.payload.get("handler"))
    _record_dispatch(ctx, queue=queue, handler=handler, redispatch=False, reason=None)


@action("itr_redispatch")
def redispatch(ctx: Any) -> None:
    """A correction of the dispatch: recorded, so first-time dispatch accuracy can be measured."""
    rules = _rules(ctx)
    reason = str(ctx.payload.get("reason") or "").strip()
    if not reason:
        _refuse(ctx, InvalidIssueInput, "itr.redispatch_reason")
    queue = ctx.payload.get("queue") or ctx.data.get("queue") or rules.dispatch.by_type[ctx.data["type"]]
    if queue not in rules.dispatch.queues:
        _refuse(ctx, InvalidIssueInput, "itr.bad_choice", field="queue", value=queue,
                allowed=", ".join(rules.dispatch.queues))
    if queue == ctx.data.get("queue") and not ctx.payload.get("handler"):
        _refuse(ctx, InvalidIssueInput, "itr.redispatch_same", queue=queue)
    handler = _queue_handler(ctx, rules, queue, ctx.payload.get("handler"))
    _record_dispatch(ctx, queue=queue, handler=handler, redispatch=True, reason=reason)


@action("itr_accept")
def accept(ctx: Any) -> None:
    """首问负责制: the receiving handler takes ownership."""
    if not _is_current_handler(ctx):
        _refuse(ctx, NotHandler, "itr.not_handler", handler=ctx.data.get("handler") or "∅", actor=ctx.actor)
    ctx.data["accepted_at"] = ctx.now.isoformat()


@action("itr_reject")
def reject(ctx: Any) -> None:
    """Not a valid issue (无效问题): it leaves the counts of valid issues."""
    reason = str(ctx.payload.get("reason") or "").strip()
    if not reason:
        _refuse(ctx, InvalidIssueInput, "itr.reject_reason")
    ctx.data["rejected_reason"] = reason
    row = ctx.tx.one("SELECT office_code, region_code, opened_us, valid FROM itr_issue WHERE id = :i",
                     {"i": ctx.instance_id})
    _update_issue(ctx, valid=False)
    if row is not None and row[3]:
        counters.issue_opened(ctx.tx, row[0], row[1], row[2], -1)
        counters.report_rejected(ctx.tx, ctx.instance_id)  # report counters (itrweb)


@action("itr_note")
def add_note(ctx: Any) -> None:
    text = str(ctx.payload.get("text") or "").strip()
    if not text:
        _refuse(ctx, InvalidIssueInput, "itr.note_text")
    _note(ctx, text)


# ---------------------------------------------------------------------------------------------- escalation


def _window_title(window: str) -> str:
    return label("itr.window", window)


def escalation_counts(tx: Any, rules: ItrRules, *, level: str, unit: str, issue_id: int, now: datetime,
                      tz: Any) -> tuple[int, int, datetime, datetime]:
    """The unit's counted escalations and its issues in the quota window holding `now` (the issue
    being escalated always counted among the issues); also what the escalate form shows."""
    window = rules.quota.window
    start, end = window_bounds(window, now, tz)
    before = counters.count(tx, "esc", unit, start, end, window=window)
    issues = counters.count(tx, "issues", unit, start, end, window=window, level=level)
    opened = tx.one("SELECT opened_us FROM itr_issue WHERE id = :i", {"i": issue_id})[0]
    if not (to_us(start) <= opened < to_us(end)):
        issues += 1  # the issue being escalated is always one of the unit's issues
    return before, issues, start, end


def _escalation_counts(ctx: Any, rules: ItrRules, level: str, unit: str) -> tuple[int, int, datetime, datetime]:
    if ctx.tx.is_pg:
        # Two escalations of one unit in parallel must not both see the last free place in the quota:
        # the unit's row lock serialises them (SQLite's write lock already does).
        ctx.tx.one("SELECT code FROM org_unit WHERE code = :u FOR UPDATE", {"u": unit})
    return escalation_counts(ctx.tx, rules, level=level, unit=unit, issue_id=ctx.instance_id, now=ctx.now,
                             tz=ctx.calendar.tz)


def _escalate(ctx: Any, *, reason: str, note: Optional[str], automatic: bool,
              override_by: Optional[str], override_why: Optional[str]) -> None:
    rules = _rules(ctx)
    level = ctx.data.get("level", "office")
    to_level = NEXT_LEVEL.get(level)
    if to_level is None:
        _refuse(ctx, InvalidIssueInput, "itr.escalate_top")
    unit = _unit_of_level(ctx.data, level)
    target_unit = _unit_of_level(ctx.data, to_level)  # type: ignore[arg-type]
    if not unit or not target_unit:
        _refuse(ctx, NoHandler, "itr.no_upper_unit", level=t(f"itr.level.{to_level}"), office=ctx.data.get("office"))
    before, issues, start, end = _escalation_counts(ctx, rules, level, unit)  # type: ignore[arg-type]
    check = check_quota(before, issues, rules.quota.limit(level), rules.quota.minimum(level))  # itrrules: fair minimum
    decision = "granted"
    if override_by or override_why:
        if not (override_by and override_why and str(override_why).strip()):
            _refuse(ctx, InvalidIssueInput, "itr.override_incomplete")
        _check_override(ctx, rules, unit, str(override_by))  # type: ignore[arg-type]
    if not check.allowed:
        if automatic:
            decision, override_by, override_why = "overridden", "system", t("itr.auto_override_why")
        elif override_by and override_why:
            decision = "overridden"
        else:
            details = {"level": level, "to_level": to_level, "unit": unit, "reason": reason, "note": note,
                       "escalated_before": before, "unit_issues": issues, "quota_limit": str(check.limit),
                       "window_start_us": to_us(start), "window_end_us": to_us(end)}
            raise EscalationQuotaExceeded(
                t("itr.quota_exceeded", id=ctx.instance_id, unit=unit, level=t(f"itr.level.{level}"),
                  rate=_rate_text(check), window=_window_title(rules.quota.window)),
                details=details, instance_id=ctx.instance_id, event=ctx.event, state=ctx.state)
    else:
        override_by = override_why = None  # within quota: no override needed, none recorded
    md = MasterData(ctx.tx)
    handler = md.least_loaded(md.people_with_role(rules.dispatch.upper_role, [target_unit]))
    if handler is None and not automatic:
        _refuse(ctx, NoHandler, "itr.no_upper_handler", level=t(f"itr.level.{to_level}"), unit=target_unit,
                role=rules.dispatch.upper_role)
    esc_id = _insert(ctx, Escalation.__table__, issue_id=ctx.instance_id, at_us=to_us(ctx.now), actor=ctx.actor,
                     from_level=level, to_level=to_level, unit_code=unit, reason=reason, note=note,
                     decision=decision, automatic=automatic, counted=True, override_by=override_by,
                     override_why=override_why, qa_flag=decision == "overridden", escalated_before=before,
                     unit_issues=issues, quota_limit=str(check.limit), window_start_us=to_us(start),
                     window_end_us=to_us(end), handler_emp_no=handler.emp_no if handler else None)
    counters.add(ctx.tx, "esc", unit, to_us(ctx.now))
    counters.report_escalation(ctx.tx, ctx.instance_id, decision=decision, automatic=automatic, counted=True,
                               unit=unit, at_us=to_us(ctx.now))  # report counters (itrweb)
    due = sla_due(ctx.calendar, ctx.now, float(ctx.data["sla_hours"]))
    ctx.data.update(level=to_level, sla_due=due.astimezone(ctx.calendar.tz).isoformat(),
                    escalations=int(ctx.data.get("escalations", 0)) + 1)
    _set_handler(ctx, handler)
    _update_issue(ctx, level=to_level, handler_emp_no=handler.emp_no if handler else None, sla_due_us=to_us(due))
    _note(ctx, t("itr.note_escalated", level=t(f"itr.level.{to_level}"), reason=label("itr.reason", reason)))
    if decision == "overridden":
        _open_qa_case(ctx, kind="escalation_override", escalation_id=esc_id,
                      reason=t("itr.qa_override_reason", by=override_by, why=override_why, rate=_rate_text(check)))
    loc = handler.locale if handler else None
    _mail_person(ctx, "escalated", handler, from_level=t(f"itr.level.{level}", locale=loc),
                 to_level=t(f"itr.level.{to_level}", locale=loc), reason=label("itr.reason", reason, loc), automatic=automatic,
                 note=note or "")


def _check_override(ctx: Any, rules: Any, unit: str, override_by: str) -> None:
    """The approver named by `--override-by` exists, is allowed by rules/itr.yaml (quota.override_by),
    and is neither the escalating employee nor the issue's handler (利益不相关原则)."""
    person = MasterData(ctx.tx).person(override_by)
    if person is None:
        _refuse(ctx, UnknownRecord, "itr.unknown_employee", emp=override_by)
    if override_by in (ctx.emp_no, ctx.data.get("handler")):
        _refuse(ctx, OverrideNotAllowed, "itr.override_self", by=override_by)
    allowed = rules.quota.override_by
    unit_heads = {p.emp_no for p in MasterData(ctx.tx).heads(unit, ["supervisor"])}
    if any(override_by in unit_heads if a == "unit_supervisor" else a in person.roles for a in allowed):
        return
    _refuse(ctx, OverrideNotAllowed, "itr.override_not_allowed", by=override_by,
            allowed=", ".join(t("itr.override_unit_supervisor", unit=unit) if a == "unit_supervisor" else a
                              for a in allowed))


@action("itr_escalate")
def escalate(ctx: Any) -> None:
    """升级 office → region → HQ with one of the four allowed reasons, within the quota or overridden."""
    reason = str(ctx.payload.get("reason") or "").strip()
    if reason not in REASONS:
        _refuse(ctx, EscalationReasonMissing, "itr.reason_missing" if not reason else "itr.reason_unknown",
                reason=reason, allowed=", ".join(REASONS))
    level = ctx.data.get("level", "office")
    unit = _unit_of_level(ctx.data, level)
    heads = {p.emp_no for p in MasterData(ctx.tx).heads(unit, ["supervisor"])} if unit else set()
    if not _is_current_handler(ctx) and ctx.emp_no not in heads:
        _refuse(ctx, NotHandler, "itr.not_handler_escalate", handler=ctx.data.get("handler") or "∅", actor=ctx.actor)
    _escalate(ctx, reason=reason, note=ctx.payload.get("note"), automatic=False,
              override_by=ctx.payload.get("override_by"), override_why=ctx.payload.get("override_why"))


@action("itr_auto_escalate")
def auto_escalate(ctx: Any) -> None:
    """SLA breach timer: escalate with "time limit exceeded"; it counts against the quota."""
    ctx.data["sla_breaches"] = int(ctx.data.get("sla_breaches", 0)) + 1
    _update_issue(ctx, sla_breaches=ctx.data["sla_breaches"])
    _escalate(ctx, reason="time_limit_exceeded", note=t("itr.note_sla_breach", sla=ctx.data.get("sla")), automatic=True,
              override_by=None, override_why=None)


@action("itr_sla_breach_top")
def sla_breach_top(ctx: Any) -> None:
    """The time limit is exceeded at HQ as well: there is no level above; record it (the report lists it)."""
    ctx.data["sla_breaches"] = int(ctx.data.get("sla_breaches", 0)) + 1
    _update_issue(ctx, sla_breaches=ctx.data["sla_breaches"])
    _note(ctx, t("itr.note_sla_breach", sla=ctx.data.get("sla")))


# ---------------------------------------------------------------------------------------------- major incident


@action("itr_declare_major")
def declare_major(ctx: Any) -> None:
    """重大事故: name the customer-care representative; hourly progress reports start now."""
    care = _named_care_rep(ctx.tx, ctx.payload.get("care_rep"))
    ctx.data.update(major_incident=True, care_rep=care.emp_no, care_rep_name=care.name,
                    progress_every=progress_every(ctx.flow.defn, ctx.target))
    _update_issue(ctx, major_incident=True, care_rep_emp_no=care.emp_no)
    _progress_mail(ctx)


def _progress_mail(ctx: Any) -> None:
    email = ctx.data.get("contact_email")
    if not email:
        return
    ctx.data["progress_reports"] = int(ctx.data.get("progress_reports", 0)) + 1
    locale = ctx.data.get("locale") or "zh-CN"
    notes = ctx.data.get("notes") or []
    ctx.mail("progress_report", email, locale=locale, status=_state_title(ctx, ctx.target, locale),
             level=t(f"itr.level.{ctx.data.get('level', 'office')}", locale=locale),
             latest=notes[-1]["text"] if notes else "", report_no=ctx.data["progress_reports"],
             at=ctx.local_now.strftime("%Y-%m-%d %H:%M %Z"))


@action("itr_progress_report")
def progress_report(ctx: Any) -> None:
    """The hourly progress report of a major incident to the customer contact (wall time)."""
    if ctx.data.get("major_incident"):
        _progress_mail(ctx)


# ---------------------------------------------------------------------------------------------- resolve


@action("itr_resolve")
def resolve(ctx: Any) -> None:
    """The handler carried out the plan agreed with the customer; the submitter is told."""
    if not _is_current_handler(ctx):
        _refuse(ctx, NotHandler, "itr.not_handler", handler=ctx.data.get("handler") or "∅", actor=ctx.actor)
    solution = str(ctx.payload.get("solution") or "").strip()
    if not solution:
        _refuse(ctx, InvalidIssueInput, "itr.solution_required")
    level = ctx.data.get("level", "office")
    ctx.data.update(resolution=solution, resolved_at=ctx.now.isoformat(), resolved_level=level,
                    case_used=ctx.payload.get("case"))
    _update_issue(ctx, resolution=solution, resolved_us=to_us(ctx.now), resolved_level=level)
    if ctx.payload.get("add_to_library"):
        code = f"ISSUE-{ctx.instance_id}"
        upsert_entry(ctx.tx, code=code, kind="case", title=ctx.data["title"],
                     body=f"{ctx.data.get('description') or ''}\n{solution}".strip(), issue_type=ctx.data["type"],
                     tags=None, source_issue_id=ctx.instance_id, now_us=to_us(ctx.now), actor=ctx.actor)
        ctx.data["case_added"] = code
    submitter = MasterData(ctx.tx).person(ctx.data["submitter"])
    _mail_person(ctx, "resolved", submitter, solution=solution)


# ---------------------------------------------------------------------------------------------- close and callback


def _window_counts(ctx: Any, rules: ItrRules) -> tuple[int, int]:
    """Coverage so far in the office's window, this issue counted once in the base (not yet as done)."""
    window = rules.callback.window
    start, end = window_bounds(window, ctx.now, ctx.calendar.tz)
    office = ctx.data["office"]
    base = counters.count(ctx.tx, "cb_base", office, start, end, window=window)
    done = counters.count(ctx.tx, "cb_done", office, start, end, window=window)
    mine = _decided_in(ctx.tx, ctx.instance_id, to_us(start), to_us(end))
    return done - int(mine == "required"), base - int(mine is not None) + 1


def _decided_in(tx: Any, issue_id: int, start_us: int, end_us: int, *, other_than: Optional[int] = None) -> Optional[str]:
    """Whether the issue already has a callback decision in the window: 'required', 'decided' or None."""
    row = tx.one("SELECT MAX(CASE WHEN required = :yes THEN 1 ELSE 0 END), COUNT(*) FROM itr_callback_decision "
                 "WHERE issue_id = :i AND at_us >= :s AND at_us < :e AND id <> :other",
                 {"yes": True, "i": issue_id, "s": start_us, "e": end_us, "other": other_than or -1})
    if not row or not row[1]:
        return None
    return "required" if row[0] else "decided"


def _last_reached(tx: Any, contact: str) -> Optional[datetime]:
    """The latest successful callback to the contact in ANY flow: the 10-day rule spans ITR and the
    satisfaction-survey callbacks (engine/contacts.py asks every flow family)."""
    return last_callback_at(tx, contact)


def _survey_call_planned(tx: Any, contact: str) -> bool:
    return bool(planned_callbacks(tx, contact))


def _last_callback(tx: Any, contact: str, exclude_issue: int, now: datetime) -> tuple[Optional[datetime], bool]:
    """The latest successful callback to the contact, and whether another callback to them is pending
    (another issue's, or a survey callback already assigned)."""
    last = _last_reached(tx, contact)
    pending = tx.one("SELECT COUNT(*) FROM itr_callback_decision d JOIN flow_instance f ON f.id = d.issue_id "
                     "WHERE d.contact_code = :c AND d.required = :yes AND f.flow = 'itr_issue' AND f.state = 'callback_pending' "
                     "AND d.issue_id <> :me", {"c": contact, "yes": True, "me": exclude_issue})[0]
    return last, bool(pending) or _survey_call_planned(tx, contact)


def _callback_decision(ctx: Any) -> dict[str, Any]:
    cached = getattr(ctx, "_itr_callback", None)
    if cached is not None:
        return cached
    rules = _rules(ctx)
    cb = rules.callback
    contact = ctx.data["contact"]
    last, pending = _last_callback(ctx.tx, contact, ctx.instance_id, ctx.now)
    owed = ctx.tx.one("SELECT issue_id FROM itr_callback_decision WHERE office_code = :o AND carry_pending = :yes "
                      "AND carried_to IS NULL AND issue_id <> :me ORDER BY id LIMIT 1",
                      {"o": ctx.data["office"], "yes": True, "me": ctx.instance_id})
    done, base = _window_counts(ctx, rules)
    value = draw(cb.seed, ctx.instance_id)
    # A callback to this contact still pending for another issue blocks like one made just now.
    effective_last = ctx.now if pending else last
    result = decide_callback(CallbackInputs(
        urgent=ctx.data["severity"] == "urgent", draw=value, min_rate=cb.min_rate, urgent_rate=cb.urgent,
        coverage_done=done, coverage_base=base, last_callback=effective_last, now=ctx.now,
        gap_days=_gap_days(ctx), owed_by=int(owed[0]) if owed else None,
        reopened=int(ctx.data.get("reopened", 0)) > 0))
    not_before = result.not_before
    if result.reason.endswith("_after_gap") and pending and last is not None and contact_free(
            last, ctx.now, _gap_days(ctx)):
        not_before = None  # blocked only by a pending call: it may happen as soon as that one is 10 days old
    decision = {"required": result.required, "reason": result.reason, "seed": cb.seed, "draw": round(value, 6),
                "threshold": (cb.urgent if result.reason.startswith("urgent") else
                              1.0 if result.reason.startswith("reopened") else cb.min_rate),
                "coverage_done": done, "coverage_base": base, "contact": contact,
                "last_callback": last.isoformat() if last else None, "pending_other": pending,
                "not_before": not_before.isoformat() if not_before else None,
                "carry_pending": result.carry_pending, "carried_from": result.carried_from,
                "decided_at": ctx.now.isoformat()}
    object.__setattr__(ctx, "_itr_callback", decision)
    return decision


def _agents(tx: Any, data: dict[str, Any], role: str) -> list[Person]:
    md = MasterData(tx)
    found = md.people_with_role(role, md.subtree(data["office"]))
    if found:
        return found
    submitter = md.person(data["submitter"])
    return [submitter] if submitter else []


@action("itr_close")
def close(ctx: Any) -> None:
    """关闭: only the submitter; the callback policy decides whether a callback comes first."""
    if ctx.emp_no != ctx.data.get("submitter"):
        _refuse(ctx, NotSubmitter, "itr.not_submitter", submitter=ctx.data.get("submitter"), actor=ctx.actor)
    d = _callback_decision(ctx)
    decision_id = _insert(
        ctx, DecisionRow.__table__, issue_id=ctx.instance_id, office_code=ctx.data["office"], at_us=to_us(ctx.now),
        required=d["required"], reason=d["reason"], seed=d["seed"], draw=d["draw"], threshold=d["threshold"],
        coverage_done=d["coverage_done"], coverage_base=d["coverage_base"], contact_code=d["contact"],
        last_callback_us=to_us(datetime.fromisoformat(d["last_callback"])) if d["last_callback"] else None,
        not_before_us=to_us(datetime.fromisoformat(d["not_before"])) if d["not_before"] else None,
        carry_pending=d["carry_pending"], carried_from=d["carried_from"])
    counters.decision_recorded(
        ctx.tx, ctx.instance_id, ctx.data["office"], to_us(ctx.now), bool(d["required"]),
        lambda s, e, required_only: (_decided_in(ctx.tx, ctx.instance_id, s, e, other_than=decision_id)
                                     in (("required",) if required_only else ("required", "decided"))))
    if d["carried_from"] is not None:
        tbl = DecisionRow.__table__
        ctx.tx.run(update(tbl).where(tbl.c.issue_id == d["carried_from"], tbl.c.carry_pending.is_(True),
                                     tbl.c.carried_to.is_(None)).values(carried_to=ctx.instance_id))
    ctx.data["callback"] = {**d, "decision_id": decision_id}
    if ctx.target == "closed":
        ctx.data["closed_at"] = ctx.now.isoformat()
        _update_issue(ctx, callback_required=False, closed_us=to_us(ctx.now))
        counters.report_closed(ctx.tx, ctx.instance_id, to_us(ctx.now))  # report counters (itrweb)
        return
    _update_issue(ctx, callback_required=True)
    rules = _rules(ctx)
    not_before = (datetime.fromisoformat(d["not_before"]).astimezone(ctx.calendar.tz).strftime("%Y-%m-%d %H:%M")
                  if d["not_before"] else "")
    for agent in _agents(ctx.tx, ctx.data, rules.callback.agent_role):
        _mail_person(ctx, "callback_request", agent, reason=t(f"itr.cb.{d['reason']}", locale=agent.locale),
                     not_before=not_before, gap_days=_gap_days(ctx),
                     min_score=rules.callback.close_min_score)


def _score(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def handlers_of(tx: Any, issue_id: int, data: dict[str, Any]) -> set[str]:
    """Everyone who handled the issue: its handler now and every handler it was dispatched or escalated to."""
    found = {r[0] for r in tx.all("SELECT handler_emp_no FROM itr_dispatch WHERE issue_id = :i "
                                  "UNION SELECT handler_emp_no FROM itr_escalation WHERE issue_id = :i",
                                  {"i": issue_id}) if r[0]}
    return found | ({data["handler"]} if data.get("handler") else set())


@action("itr_record_callback")
def record_callback(ctx: Any) -> None:
    """回访: a reached customer scores 1–5; ≥ 3 closes, < 3 opens a QA retrospective (回溯)."""
    rules = _rules(ctx)
    reached = ctx.payload.get("reached") is not False
    score = _score(ctx.payload.get("score"))
    if reached and (score is None or not 1 <= score <= 5):
        _refuse(ctx, ScoreOutOfRange, "itr.score_out_of_range", score=ctx.payload.get("score"))
    if not reached and ctx.payload.get("score") is not None:
        _refuse(ctx, ScoreOutOfRange, "itr.score_unreached")
    if ctx.emp_no in handlers_of(ctx.tx, ctx.instance_id, ctx.data):
        _refuse(ctx, CallbackByHandler, "itr.callback_by_handler", actor=ctx.actor)
    contact = ctx.data["contact"]
    gap = _gap_days(ctx)
    if reached:
        last = _last_reached(ctx.tx, contact)
        if last is not None and not contact_free(last, ctx.now, gap):
            local = ctx.calendar.tz
            _refuse(ctx, CallbackTooSoon, "itr.callback_too_soon", contact=contact, days=gap,
                    last=last.astimezone(local).strftime("%Y-%m-%d %H:%M"),
                    next=(last + timedelta(days=gap)).astimezone(local).strftime("%Y-%m-%d %H:%M"))
    decision_id = (ctx.data.get("callback") or {}).get("decision_id")
    _insert(ctx, Callback.__table__, issue_id=ctx.instance_id, decision_id=decision_id, contact_code=contact,
            at_us=to_us(ctx.now), actor=ctx.actor, reached=reached, score=score if reached else None,
            note=ctx.payload.get("note"))
    cb = ctx.data.setdefault("callback", {})
    cb["attempts"] = int(cb.get("attempts", 0)) + 1
    if not reached:
        _note(ctx, t("itr.note_unreached"))
        return
    cb.update(score=score, called_back_at=ctx.now.isoformat(), called_back_by=ctx.actor)
    counters.report_scored(ctx.tx, ctx.instance_id, int(score), to_us(ctx.now))  # report counters (itrweb)
    if ctx.target == "closed":
        ctx.data["closed_at"] = ctx.now.isoformat()
        _update_issue(ctx, closed_us=to_us(ctx.now))
        counters.report_closed(ctx.tx, ctx.instance_id, to_us(ctx.now))  # report counters (itrweb)
        return
    _open_qa_case(ctx, kind="low_score", score=score,
                  reason=t("itr.qa_low_score_reason", score=score, min=rules.callback.close_min_score))


# ---------------------------------------------------------------------------------------------- QA


def _check_qa(ctx: Any) -> int:
    person = MasterData(ctx.tx).person(ctx.emp_no)
    if person is None or "qa" not in person.roles:
        _refuse(ctx, NotQa, "itr.not_qa", actor=ctx.actor)
    case_id = ctx.payload.get("case")
    row = ctx.tx.one("SELECT id FROM itr_qa_case WHERE id = :c AND issue_id = :i AND kind = 'low_score' "
                     "AND status = 'open'", {"c": case_id, "i": ctx.instance_id}) if case_id is not None else \
        ctx.tx.one("SELECT id FROM itr_qa_case WHERE issue_id = :i AND kind = 'low_score' AND status = 'open' "
                   "ORDER BY id DESC LIMIT 1", {"i": ctx.instance_id})
    if row is None:
        _refuse(ctx, InvalidIssueInput, "itr.no_open_qa_case", case=case_id if case_id is not None else "∅")
    accountable = ctx.payload.get("accountable")
    if accountable and MasterData(ctx.tx).person(accountable) is None:
        _refuse(ctx, UnknownRecord, "itr.unknown_employee", emp=accountable)
    return int(row[0])


def _decide_case(ctx: Any, case_id: int, decision: str) -> None:
    tbl = QaCase.__table__
    ctx.tx.run(update(tbl).where(tbl.c.id == case_id).values(
        status="decided", decision=decision, accountable_emp_no=ctx.payload.get("accountable"), decided_by=ctx.actor,
        decided_us=to_us(ctx.now), note=ctx.payload.get("note")))


@action("itr_qa_close")
def qa_close(ctx: Any) -> None:
    """QA closes the retrospective (with accountability noted); the issue closes."""
    case_id = _check_qa(ctx)
    _decide_case(ctx, case_id, "close")
    ctx.data["closed_at"] = ctx.now.isoformat()
    _update_issue(ctx, closed_us=to_us(ctx.now))
    counters.report_closed(ctx.tx, ctx.instance_id, to_us(ctx.now))  # report counters (itrweb)


@action("itr_qa_reopen")
def qa_reopen(ctx: Any) -> None:
    """QA sends the issue back to its handler at the level it was resolved at, with a fresh time limit."""
    case_id = _check_qa(ctx)
    _decide_case(ctx, case_id, "reopen")
    due = sla_due(ctx.calendar, ctx.now, float(ctx.data["sla_hours"]))
    ctx.data.update(sla_due=due.astimezone(ctx.calendar.tz).isoformat(), resolved_at=None,
                    reopened=int(ctx.data.get("reopened", 0)) + 1)
    _update_issue(ctx, resolved_us=None, resolved_level=None, sla_due_us=to_us(due))
    _note(ctx, t("itr.note_reopened", case=case_id))
    _mail_person(ctx, "dispatched", MasterData(ctx.tx).person(ctx.data.get("handler")), redispatch=False, reason="",
                 reopened=True)


# ---------------------------------------------------------------------------------------------- reviews


@action("itr_mail_review")
def mail_review(ctx: Any) -> None:
    """Mail the prepared report to the review's recipients (office heads / region heads / sales management)."""
    for r in ctx.data.get("recipients") or []:
        loc = r.get("locale") if r.get("locale") in ("zh-CN", "en") else "zh-CN"
        ctx.mail("review_report", r["email"], locale=loc, recipient_name=r.get("name", ""), report=ctx.data["report"],
                 kind=ctx.data["kind"], type_names=type_names(ctx.data["report"].get("types") or [], loc))
    ctx.data["sent_to"] = [r["email"] for r in ctx.data.get("recipients") or []]


@launcher("itr_weekly_review")
def weekly_review(lctx: Any) -> int:
    from flows.itr.reviews import run_weekly_review

    return run_weekly_review(lctx)


@launcher("itr_monthly_review")
def monthly_review(lctx: Any) -> int:
    from flows.itr.reviews import run_monthly_review

    return run_monthly_review(lctx)

