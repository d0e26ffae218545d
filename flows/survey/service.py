"""The survey module's entry points, for the CLI, the replay scenarios, the web app and other modules
(the project-close path calls `project_closed`).

Each function checks what it can before writing (an unknown project, an activity type that needs no
callback, a sample list or result file with problems — refused with every problem, nothing
written), then acts through the runtime: one flow step = one transaction. The rules are read from
rules/survey.yaml on each call. User-facing strings come from `flows.survey.messages`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Optional

from engine.auth.principal import Principal
from engine.clock import from_us, to_us
from engine.errors import MCRError
from engine.runtime import Runtime

from engine.masterdata.read import MasterData
from flows.survey import results, rights, samples
from flows.survey.deadlines import activity_due
from flows.survey.errors import NoCallbackNeeded, UnknownSurveyRecord
from engine.i18n import fmt_percent, label, t
from engine.masterdata.settings import MasterDataRules
from flows.survey.rules import CALLBACK_ITEMS, SurveyRules, load_survey_rules
from flows.survey import sampling
from flows.survey.sampling import decide
from flows.survey.tables import read_rows, rejected, text

PROJECT_FLOW = "project_callback"
ACTIVITY_FLOW = "activity_callback"
ANNUAL_FLOW = "annual_survey"


def _rules(rt: Any) -> SurveyRules:
    """rules/survey.yaml as registered now (what instances started from here run on)."""
    return rt.current_rules().get("survey.yaml", SurveyRules)


def _instance(rt: Runtime, flow: str, subject: str) -> tuple[int, str] | None:
    with rt.db.read() as tx:
        row = tx.one("SELECT id, state FROM flow_instance WHERE flow = :f AND subject = :s", {"f": flow, "s": subject})
    return (row[0], row[1]) if row else None


def _local(cal: Any, when: datetime) -> str:
    return when.astimezone(cal.tz).isoformat(timespec="minutes")


# ============================================================================================ project callback


@dataclass
class ProjectDecision:
    project: str
    level: str
    selected: bool
    reason: str
    seed: int
    rate: float
    draw: float
    instance: Optional[int] = None
    state: Optional[str] = None
    duplicate: bool = False
    period: Optional[str] = None
    coverage_done: Optional[int] = None
    coverage_base: Optional[int] = None

    def summary(self) -> str:
        args = dict(project=self.project, reason=label("survey.reason", self.reason), draw=self.draw, rate=fmt_percent(self.rate))
        if self.selected:
            return t("survey.project_drawn", instance=self.instance, state=self.state, **args)
        return t("survey.project_skipped", **args)


_INSERT_DRAW = """
INSERT INTO survey_project_draw (project_code, customer_code, level, selected, reason, seed, rate, draw, at_us, actor,
                                 period, coverage_done, coverage_base)
VALUES (:project, :customer, :level, :selected, :reason, :seed, :rate, :draw, :now, :actor,
        :period, :coverage_done, :coverage_base)
ON CONFLICT (project_code) DO NOTHING
"""
# The period's counts move in the closing transaction: on PostgreSQL the upsert locks the period's row, so
# two projects closing at once are counted one after the other.
_COUNT_CLOSED = """
INSERT INTO survey_sample_period (period, closed, selected) VALUES (:period, 1, 0)
ON CONFLICT (period) DO UPDATE SET closed = survey_sample_period.closed + 1
RETURNING closed, selected
"""
_DRAW_COLUMNS = "level, selected, reason, seed, rate, draw, instance_id, period, coverage_done, coverage_base"


class _ClosedTwice(Exception):
    """Another transaction decided the same project first: roll this one back and read its decision."""


_SYSTEM = Principal.engine("system")  # scans and launches: the engine itself


def _decide_in(tx: Any, project: Any, customer_code: str, policy: Any, period: str, eligible: bool,
               now_us: int, actor: str) -> sampling.Decision:
    if sampling.is_big(project.level, policy):
        decision = decide(project.code, project.level, policy)
    else:
        closed, selected = tx.one(_COUNT_CLOSED, {"period": period})
        decision = decide(project.code, project.level, policy, period=period, period_closed=int(closed),
                          period_selected=int(selected), eligible=eligible)
        if decision.selected:
            tx.execute("UPDATE survey_sample_period SET selected = selected + 1 WHERE period = :p", {"p": period})
    cur = tx.execute(_INSERT_DRAW, {
        "project": project.code, "customer": customer_code, "level": project.level, "selected": decision.selected,
        "reason": decision.reason, "seed": decision.seed, "rate": decision.rate, "draw": decision.draw, "now": now_us,
        "actor": actor, "period": decision.period,
        "coverage_done": decision.coverage_done if decision.period else None,
        "coverage_base": decision.coverage_base if decision.period else None})
    if cur.rowcount != 1:
        raise _ClosedTwice(project.code)
    return decision


@dataclass
class _Started:
    """The callback started (and, unless refused, scheduled) inside the closing transaction."""
    instance: int
    state: str
    wake: Any  # the step whose earliest timer the scheduler is told about after the commit
    refused: MCRError | None = None


def _start_callback_in(rt: Runtime, tx: Any, project_code: str, data: dict[str, Any], actor: str) -> _Started:
    """Start the project's callback, send its `schedule` and note the instance on the draw — in the caller's
    transaction, so the decision, the period counter, the instance and its first step commit together (one
    fsync per closed project) or not at all. A refused `schedule` (e.g. master data changed under it) is
    undone alone, to a savepoint: the instance stays `opened`, its safety timer tries again, and the
    refusal is returned for the caller to record and raise after the commit, as a separate send did."""
    started = rt.start_in(tx, PROJECT_FLOW, data, actor=actor, subject=f"project:{project_code}")
    out = _Started(started.instance_id, started.to_state, started)
    if started.to_state == "opened":
        try:
            with tx.savepoint():
                kicked = rt.send_in(tx, started.instance_id, "schedule", actor=actor, internal=True)
        except MCRError as exc:
            out.refused = exc
        else:
            out.state, out.wake = kicked.to_state, kicked
    tx.execute("UPDATE survey_project_draw SET instance_id = :i WHERE project_code = :p AND instance_id IS NULL",
               {"i": started.instance_id, "p": project_code})
    return out


def project_closed(rt: Runtime, project_code: str, *, principal: Principal = _SYSTEM,
                   contact: str | None = None) -> ProjectDecision:
    """A project closed: decide (once, ever) whether it is called back and, if so, start its callback.

    Marks the project closed in master data if it is not yet. Running it again for the same
    project changes nothing and returns the first decision (see flows/survey/sampling.py).
    The decision, the period's counts, the callback's instance and its `schedule` step are one
    transaction: a crash leaves either none of them or all."""
    actor = principal.actor
    policy = _rules(rt).project_callback
    with rt.db.read() as tx:
        project = MasterData(tx).project(project_code)
        if project is None:
            raise UnknownSurveyRecord(t("survey.unknown_project", project=project_code))
        customer = MasterData(tx).customer(project.customer_code)
        if customer is None:
            raise UnknownSurveyRecord(t("survey.project_no_customer", project=project_code, customer=project.customer_code))
        named = None
        if contact:
            named = MasterData(tx).contact(contact)
            if named is None:
                raise UnknownSurveyRecord(t("survey.unknown_contact", contact=contact))
            if named.customer_code != customer.code:
                raise MCRError(t("survey.contact_not_of_customer", contact=contact, customer=customer.code))
        owner = MasterData(tx).person(customer.owner_emp_no)
        if owner is None:
            raise UnknownSurveyRecord(t("survey.no_owner_email", customer=customer.code, owner=customer.owner_emp_no))
        boss = MasterData(tx).person(owner.supervisor_emp_no)
        has_contacts = bool(named or MasterData(tx).contacts_of_customer(customer.code))
        calendar = MasterData(tx).calendar_of(customer.office_code, rt.calendars)
        existing = tx.one(f"SELECT {_DRAW_COLUMNS} FROM survey_project_draw WHERE project_code = :p",
                          {"p": project_code})
    if existing is None and sampling.is_big(project.level, policy) and not has_contacts:
        raise MCRError(t("survey.no_contact", customer=customer.code))
    now = rt.clock.now()
    period = sampling.period_key(now.astimezone(rt.calendars.get(calendar).tz).date(), policy.period)

    def data(reason: str, draw: float, rate: float) -> dict[str, Any]:
        return {
            "project": project.code, "project_name": project.name, "level": project.level, "customer": customer.code,
            "customer_name": customer.name, "office": customer.office_code,
            "team": project.team_code or customer.team_code,
            "owner": owner.emp_no, "owner_name": owner.name, "owner_email": owner.email,
            "supervisor": boss.emp_no if boss else None, "supervisor_name": boss.name if boss else None,
            "supervisor_email": boss.email if boss else None, "named_contact": named.code if named else None,
            "calendar": calendar, "locale": owner.locale or "zh-CN",
            "draw_reason": label("survey.reason", reason, owner.locale), "reason": reason, "draw": draw,
            "rate": rate, "low_score_below": policy.low_score_below,
            "gap_days": rt.current_rules().get("masterdata.yaml", MasterDataRules).callback_gap_days,
        }

    started: _Started | None = None
    try:
        with (rt.db.tx() if not project.closed or existing is None or (existing[1] and existing[6] is None)
              else rt.db.read()) as tx:  # a repeat writes nothing, so it takes no write lock
            if not project.closed:
                tx.execute("UPDATE project SET closed = :t WHERE code = :p", {"t": True, "p": project_code})
            if existing is None:
                decision = _decide_in(tx, project, customer.code, policy, period, has_contacts, to_us(now), actor)
                if decision.selected:
                    started = _start_callback_in(rt, tx, project_code, data(decision.reason, decision.draw,
                                                                            decision.rate), actor)
            elif existing[1] and existing[6] is None:
                # A draw logged without its instance (before the two were one transaction): start it now.
                started = _start_callback_in(rt, tx, project_code, data(existing[2], float(existing[5]),
                                                                        float(existing[4])), actor)
    except _ClosedTwice:
        started = None
    if started is not None:
        rt.wake(started.wake)
        if started.refused is not None:
            rt.record_refusal(started.instance, actor, "schedule", started.refused)
            raise started.refused
    with rt.db.read() as tx:
        row = tx.one(f"SELECT {_DRAW_COLUMNS} FROM survey_project_draw WHERE project_code = :p", {"p": project_code})
    out = ProjectDecision(project_code, row[0], bool(row[1]), row[2], int(row[3]), float(row[4]), float(row[5]),
                          duplicate=existing is not None, period=row[7], coverage_done=row[8], coverage_base=row[9])
    if not out.selected:
        return out
    if started is not None:
        out.instance, out.state = started.instance, started.state
        return out
    found = _instance(rt, PROJECT_FLOW, f"project:{project_code}")
    if found is None:  # decided by a concurrent call that has not started it: nothing of ours to show
        return out
    out.instance, out.state = found
    if out.state == "opened":  # its first `schedule` was refused before: try again now, as the safety timer would
        out.state = rt.send(found[0], "schedule", actor=actor, internal=True).to_state
    return out


def undecided_closed_projects(rt: Runtime) -> list[str]:
    """Projects closed in master data without a sampling decision yet (e.g. closed by an import)."""
    with rt.db.read() as tx:
        return [r[0] for r in tx.all("SELECT p.code FROM project p LEFT JOIN survey_project_draw d "
                                     "ON d.project_code = p.code WHERE p.closed = :t AND d.id IS NULL ORDER BY p.code",
                                     {"t": True})]


def record_history(rt: Runtime, codes: list[str], *, principal: Principal = _SYSTEM) -> int:
    """Log these closed projects as history — not called back, outside every period's share — in one
    transaction (the first sweep's baseline); a project decided meanwhile keeps its decision."""
    policy = _rules(rt).project_callback
    now_us = to_us(rt.clock.now())
    done = 0
    with rt.db.tx() as tx:
        md = MasterData(tx)
        for code in codes:
            project = md.project(code)
            if project is None:
                continue
            cur = tx.execute(_INSERT_DRAW, {
                "project": code, "customer": project.customer_code, "level": project.level, "selected": False,
                "reason": sampling.HISTORY, "seed": policy.seed, "rate": policy.sample_rate,
                "draw": sampling.draw_value(policy.seed, code), "now": now_us, "actor": principal.actor,
                "period": None, "coverage_done": None, "coverage_base": None})
            done += cur.rowcount
    return done


def sync_closed_projects(rt: Runtime, *, principal: Principal = _SYSTEM) -> list[ProjectDecision]:
    """Draw every closed project of master data that has no decision yet (the daily sweep's work, at once)."""
    return [project_closed(rt, code, principal=principal) for code in undecided_closed_projects(rt)]


def _project_instance(rt: Runtime, project_code: str) -> int:
    found = _instance(rt, PROJECT_FLOW, f"project:{project_code}")
    if found is not None:
        return found[0]
    with rt.db.read() as tx:
        draw = tx.one("SELECT selected, reason, draw, rate FROM survey_project_draw WHERE project_code = :p",
                      {"p": project_code})
        known = MasterData(tx).project(project_code)
    if known is None:
        raise UnknownSurveyRecord(t("survey.unknown_project", project=project_code))
    if draw is not None and not draw[0]:
        raise NoCallbackNeeded(t("survey.project_not_drawn", project=project_code, reason=label("survey.reason", draw[1]),
                                 draw=draw[2], rate=fmt_percent(draw[3])))
    raise UnknownSurveyRecord(t("survey.project_no_callback", project=project_code))


def record_project_callback(rt: Runtime, *, principal: Principal, project: str | None = None, instance: int | None = None,
                            scores: dict[str, Any] | None = None, comment: str | None = None,
                            reached: bool = True) -> dict[str, Any]:
    """Record the customer's scores (or an attempt that did not reach them) for a project callback."""
    target = instance if instance is not None else _project_instance(rt, str(project))
    payload: dict[str, Any] = {k: v for k, v in (scores or {}).items() if v is not None}
    if comment:
        payload["comment"] = comment
    res = rt.send(int(target), "record" if reached else "attempt", actor=principal.actor, principal=principal,
                  payload=payload)
    return _callback_view(rt, res.instance_id)


def _callback_view(rt: Runtime, instance_id: int) -> dict[str, Any]:
    with rt.db.read() as tx:
        row = tx.one("SELECT id, flow, state, data FROM flow_instance WHERE id = :i", {"i": instance_id})
    data = json.loads(row[3])
    keys = ("project", "activity", "contact", "scores", "low_items", "improvement_issue", "outstanding",
            "due_at", "called_back_at")
    return {"instance": row[0], "flow": row[1], "state": row[2], **{k: data.get(k) for k in keys if k in data}}


def cancel_callback(rt: Runtime, instance: int, *, principal: Principal, reason: str) -> dict[str, Any]:
    rt.send(int(instance), "cancel", actor=principal.actor, principal=principal, payload={"reason": reason})
    return _callback_view(rt, int(instance))


# ============================================================================================ activity callback


def activity_ended(rt: Runtime, activity_code: str, *, principal: Principal = _SYSTEM,
                   ended_on: date | None = None) -> dict[str, Any]:
    """The activity is over: start the callbacks of every invited contact (once per activity)."""
    actor = principal.actor
    policy = _rules(rt).activity_callback
    existing = _instance(rt, ACTIVITY_FLOW, f"activity:{activity_code}")
    if existing is not None:
        return {"instance": existing[0], "state": existing[1], "duplicate": True,
                "message": t("survey.activity_duplicate", activity=activity_code, instance=existing[0], state=existing[1])}
    with rt.db.read() as tx:
        act = MasterData(tx).activity(activity_code)
        if act is None:
            raise UnknownSurveyRecord(t("survey.unknown_activity", activity=activity_code))
        if act.type not in policy.types:
            raise NoCallbackNeeded(t("survey.activity_type_off", activity=activity_code, type=act.type,
                                     types=", ".join(policy.types)))
        if act.status == "cancelled":
            raise NoCallbackNeeded(t("survey.activity_cancelled", activity=activity_code))
        md = MasterData(tx)
        invited = md.contacts(md.invitees(activity_code))
        if not invited:
            raise NoCallbackNeeded(t("survey.activity_no_invitees", activity=activity_code))
        customer = MasterData(tx).customer(act.customer_code)
        inviter = MasterData(tx).person(act.inviter_emp_no)
        if inviter is None:
            raise UnknownSurveyRecord(t("survey.no_owner_email", customer=act.customer_code, owner=act.inviter_emp_no))
        boss = MasterData(tx).person(inviter.supervisor_emp_no)
        calendar = MasterData(tx).calendar_of(customer.office_code if customer else None, rt.calendars)
    cal = rt.calendars.get(calendar)
    day = ended_on or (act.activity_date if isinstance(act.activity_date, date)
                       else date.fromisoformat(str(act.activity_date)[:10]))
    due = activity_due(day, policy, cal)
    data = {
        "activity": act.code, "activity_title": act.title, "type": act.type, "project": act.project_code,
        "customer": act.customer_code, "customer_name": customer.name if customer else act.customer_code,
        "inviter": inviter.emp_no, "inviter_name": inviter.name, "inviter_email": inviter.email,
        "supervisor": boss.emp_no if boss else None, "supervisor_name": boss.name if boss else None,
        "supervisor_email": boss.email if boss else None, "calendar": calendar, "locale": inviter.locale or "zh-CN",
        "ended_on": day.isoformat(), "within": policy.within, "due_at": _local(cal, due.due_at),
        "remind_at": _local(cal, due.remind_at), "escalate_at": _local(cal, due.escalate_at),
        "contacts": {c.code: {"name": c.name, "level": c.level, "status": "pending"} for c in invited.values()},
        "outstanding": sorted(invited),
    }
    res = rt.start(ACTIVITY_FLOW, data, actor=actor, subject=f"activity:{activity_code}")
    return {"instance": res.instance_id, "state": res.to_state, "duplicate": res.duplicate,
            "due_at": data["due_at"], "contacts": sorted(invited),
            "message": t("survey.activity_started", activity=activity_code, instance=res.instance_id, n=len(invited),
                         due=data["due_at"][:16].replace("T", " "))}


def record_activity_callback(rt: Runtime, *, principal: Principal, activity: str | None = None, instance: int | None = None,
                             contact: str, score: Any = None, comment: str | None = None,
                             reached: bool = True) -> dict[str, Any]:
    if instance is None:
        found = _instance(rt, ACTIVITY_FLOW, f"activity:{activity}")
        if found is None:
            raise UnknownSurveyRecord(t("survey.activity_no_callback", activity=activity))
        instance = found[0]
    payload: dict[str, Any] = {"contact": contact}
    if score is not None:
        payload["score"] = score
    if comment:
        payload["comment"] = comment
    res = rt.send(int(instance), "record" if reached else "attempt", actor=principal.actor, principal=principal,
                  payload=payload)
    return _callback_view(rt, res.instance_id)


def record_callback(rt: Runtime, *, principal: Principal, project: str | None = None, activity: str | None = None,
                    instance: int | None = None, contact: str | None = None, scores: dict[str, Any] | None = None,
                    score: Any = None, comment: str | None = None, reached: bool = True) -> dict[str, Any]:
    """`mcr survey callback record`: a project callback, or one contact of an activity's callbacks."""
    flow = None
    if instance is not None:
        with rt.db.read() as tx:
            row = tx.one("SELECT flow FROM flow_instance WHERE id = :i", {"i": instance})
        if row is None or row[0] not in (PROJECT_FLOW, ACTIVITY_FLOW):
            raise UnknownSurveyRecord(t("survey.unknown_instance", instance=instance))
        flow = row[0]
    elif project:
        flow = PROJECT_FLOW
    elif activity:
        flow = ACTIVITY_FLOW
    else:
        raise MCRError(t("survey.need_target"))
    if flow == PROJECT_FLOW:
        return record_project_callback(rt, principal=principal, project=project, instance=instance, scores=scores,
                                       comment=comment, reached=reached)
    if not contact:
        raise MCRError(t("survey.need_contact"))
    return record_activity_callback(rt, principal=principal, activity=activity, instance=instance, contact=contact,
                                    score=score, comment=comment, reached=reached)


# ============================================================================================ annual survey


def ensure_year(rt: Runtime, year: int, *, principal: Principal = _SYSTEM) -> int:
    """The year's survey instance, started if needed (one per year)."""
    found = _instance(rt, ANNUAL_FLOW, f"annual:{year}")
    if found is not None:
        if found[1] == "closed":
            raise MCRError(t("survey.year_closed", year=year))
        return found[0]
    return rt.start(ANNUAL_FLOW, {"year": int(year)}, actor=principal.actor, principal=principal,
                    subject=f"annual:{year}").instance_id


def _sample_source(file: Path | str | None, rows: list[dict[str, Any]] | None) -> tuple[str, list[tuple[int, dict[str, Any]]]]:
    if file is not None:
        sheet = read_rows(file, samples.COLUMNS, sheets=(samples.SAMPLE_SHEET, "sample", "Sample"))
        return str(file), [(r, {k: text(v) for k, v in cells.items()}) for r, cells in sheet.rows]
    return "inline", [(r, {k: text(v) for k, v in cells.items()}) for r, cells in samples.inline_rows(rows or [])]


def _require_customer(tx: Any, principal: Principal, customer: str) -> None:
    """A customer that exists is acted for only by those who see it (an unknown one is named by the checks)."""
    found = MasterData(tx).customer(customer)
    if found is not None:
        rights.require_sees(principal, found.owner_emp_no, found.backup_emp_no, customer)


def check_sample_list(rt: Runtime, customer: str, year: int, *, principal: Principal, file: Path | str | None = None,
                      rows: list[dict[str, Any]] | None = None) -> samples.Checked:
    """Check a list against the rules and master data without storing it (`mcr survey sample check`)."""
    source, parsed = _sample_source(file, rows)
    with rt.db.read() as tx:
        _require_customer(tx, principal, customer)
        checked = samples.check_in(tx, source, parsed, customer_code=customer, year=year, rules=_rules(rt).annual)
    if checked.problems:
        raise rejected(source, checked.problems)
    return checked


def submit_sample_list(rt: Runtime, customer: str, year: int, *, principal: Principal, file: Path | str | None = None,
                       rows: list[dict[str, Any]] | None = None, client_event_id: str | None = None) -> dict[str, Any]:
    """Check the team's sample list and store it for the year; with any problem nothing is written."""
    source, parsed = _sample_source(file, rows)
    with rt.db.read() as tx:  # fail fast, before taking the write lock; the step checks again
        _require_customer(tx, principal, customer)
        checked = samples.check_in(tx, source, parsed, customer_code=customer, year=year, rules=_rules(rt).annual)
        published = tx.one("SELECT 1 FROM survey_sample WHERE year = :y AND customer_code = :c AND status = 'published'",
                           {"y": year, "c": customer})
    if checked.problems:
        raise rejected(source, checked.problems)
    if published:
        raise MCRError(t("survey.sample_published", customer=customer, year=year))
    instance = ensure_year(rt, year, principal=principal)
    rt.send(instance, "submit_list", actor=principal.actor, principal=principal,
            payload={"customer": customer, "source": source, "rows": [[r, c] for r, c in parsed]},
            client_event_id=client_event_id)
    with rt.db.read() as tx:
        row = tx.one("SELECT size, required_size, revision, status FROM survey_sample WHERE year = :y AND customer_code = :c",
                     {"y": year, "c": customer})
    return {"customer": customer, "year": year, "size": row[0], "required": row[1], "revision": row[2],
            "status": row[3], "instance": instance, **checked.counts,
            "message": t("survey.sample_saved", customer=customer, year=year, size=row[0], revision=row[2])}


def sample_lists(rt: Runtime, year: int, customers: list[str] | None = None,
                 statuses: tuple[str, ...] = ("accepted", "exported", "published"), *,
                 principal: Principal) -> list[dict[str, Any]]:
    """The year's lists `principal` sees, with their entries and the contacts' names and phones (for the export)."""
    out = []
    cond, params = rights.owner_filter(principal)
    with rt.db.read() as tx:
        lists = tx.all("SELECT id, customer_code, status, size, required_size, revision FROM survey_sample "
                       f"WHERE year = :y AND {cond} ORDER BY customer_code", {"y": year, **params})
        for sid, code, status, size, required, revision in lists:
            if customers and code not in customers:
                continue
            if status not in statuses:
                continue
            cust = MasterData(tx).customer(code)
            entries = tx.all("SELECT row_no, contact_code, level, method FROM survey_sample_entry WHERE sample_id = :s "
                             "ORDER BY row_no", {"s": sid})
            people = MasterData(tx).contacts([e[1] for e in entries])
            out.append({"year": year, "customer_code": code, "customer_name": cust.name if cust else code,
                        "status": status, "size": size, "required": required, "revision": revision,
                        "entries": [{"row": e[0], "contact_code": e[1], "level": e[2], "method": e[3],
                                     "name": people[e[1]].name if e[1] in people else "",
                                     "title": people[e[1]].title if e[1] in people else None,
                                     "phone": people[e[1]].phone if e[1] in people else None,
                                     "email": people[e[1]].email if e[1] in people else None} for e in entries]})
    return out


def export_samples(rt: Runtime, year: int, path: Path | str, *, principal: Principal, customers: list[str] | None = None,
                   locale: str | None = None) -> dict[str, Any]:
    """Write the accepted (and re-export the exported) lists as XLSX for the survey firm, then mark them exported."""
    from engine.i18n import locale as current

    rights.require_manager(principal, "export")
    lists = sample_lists(rt, year, customers, statuses=("accepted", "exported"), principal=principal)
    if not lists:
        raise MCRError(t("survey.nothing_to_export", year=year))
    path = Path(path)
    n = samples.write_export(path, lists, locale or current())
    instance = ensure_year(rt, year, principal=principal)
    codes = [lst["customer_code"] for lst in lists]
    rt.send(instance, "export", actor=principal.actor, principal=principal, payload={"customers": codes, "file": str(path)})
    return {"file": str(path), "lists": len(lists), "contacts": n, "customers": codes,
            "message": t("survey.exported", lists=len(lists), n=n, file=path)}


def import_results(rt: Runtime, year: int, *, principal: Principal, file: Path | str | None = None,
                   rows: list[dict[str, Any]] | None = None, client_event_id: str | None = None) -> dict[str, Any]:
    """Import the survey firm's result file (all or nothing) and publish it in full to the teams."""
    rights.require_manager(principal, "results")
    if file is not None:
        path = Path(file)
        sheet = read_rows(path, results.COLUMNS, sheets=("结果", "results", "Results", samples.RESULT_TEMPLATE_SHEET))
        source, parsed = str(path), sheet.rows
    else:
        source, parsed = "inline", results.inline_rows(rows or [])
    with rt.db.read() as tx:
        checked = results.check_in(tx, source, parsed, year=year)
    if checked.problems:
        raise rejected(source, checked.problems)
    instance = ensure_year(rt, year, principal=principal)
    if file is not None:
        payload = {"file": str(Path(file).resolve()), "sha256": hashlib.sha256(Path(file).read_bytes()).hexdigest()}
    else:
        payload = {"rows": rows, "source": source}
    rt.send(instance, "results", actor=principal.actor, principal=principal, payload=payload,
            client_event_id=client_event_id)
    return {"rows": len(checked.rows), "customers": checked.customers, "instance": instance,
            "message": t("survey.results_imported", rows=len(checked.rows), customers=len(checked.customers),
                         list=", ".join(checked.customers))}


def close_year(rt: Runtime, year: int, *, principal: Principal) -> dict[str, Any]:
    rights.require_manager(principal, "close")
    found = _instance(rt, ANNUAL_FLOW, f"annual:{year}")
    if found is None:
        raise UnknownSurveyRecord(t("survey.year_closed", year=year))
    res = rt.send(found[0], "close", actor=principal.actor, principal=principal)
    return {"instance": res.instance_id, "state": res.to_state}


# ============================================================================================ logs


def sample_log(db: Any, *, principal: Principal, limit: int | None = None) -> list[dict[str, Any]]:
    """Every sampling decision `principal` sees, newest first: project, level, drawn or not, why, seed, rate,
    draw, and the period's coverage when it was decided."""
    cond, params = rights.owner_filter(principal)
    with db.read() as tx:
        rows = tx.all("SELECT project_code, customer_code, level, selected, reason, seed, rate, draw, at_us, actor, "
                      f"instance_id, period, coverage_done, coverage_base FROM survey_project_draw WHERE {cond} "
                      "ORDER BY at_us DESC, id DESC"
                      + (" LIMIT :n" if limit else ""), {**params, **({"n": limit} if limit else {})})
    return [{"project": r[0], "customer": r[1], "level": r[2], "selected": bool(r[3]), "reason": r[4],
             "seed": int(r[5]), "rate": float(r[6]), "draw": round(float(r[7]), 6),
             "at": from_us(r[8]).isoformat(timespec="seconds"), "actor": r[9], "instance": r[10],
             "period": r[11], "coverage_done": r[12], "coverage_base": r[13]} for r in rows]


def callbacks(db: Any, *, principal: Principal, kind: str | None = None, contact: str | None = None,
              customer: str | None = None) -> list[dict[str, Any]]:
    """The recorded callbacks (and unreached attempts) of the customers `principal` sees, oldest first."""
    cond, params = rights.owner_filter(principal)
    sql = ("SELECT id, kind, instance_id, project_code, activity_code, customer_code, contact_code, at_us, actor, reached, "
           "product, solution, delivery, service_attitude, score, comment, low_items, improvement_issue_id "
           f"FROM survey_callback WHERE {cond}")
    if customer:
        sql += " AND customer_code = :cu"
        params["cu"] = customer
    if kind:
        sql += " AND kind = :k"
        params["k"] = kind
    if contact:
        sql += " AND contact_code = :c"
        params["c"] = contact
    with db.read() as tx:
        rows = tx.all(sql + " ORDER BY at_us, id", params)
    out = []
    for r in rows:
        item = {"id": r[0], "kind": r[1], "instance": r[2], "project": r[3], "activity": r[4], "customer": r[5],
                "contact": r[6], "at": from_us(r[7]).isoformat(timespec="seconds"), "actor": r[8], "reached": bool(r[9])}
        if r[1] == "project":
            item["scores"] = dict(zip(CALLBACK_ITEMS, r[10:14]))
            item["low_items"] = json.loads(r[16] or "[]")
            item["improvement_issue"] = r[17]
        else:
            item["score"] = r[14]
        item["comment"] = r[15]
        out.append(item)
    return out


def report(db: Any, year: int, *, principal: Principal, locale: str | None = None) -> dict[str, Any]:
    """The year's satisfaction analysis (company-wide: sales management, QA, customer care, supervisors)."""
    from engine.errors import NotVisible
    from flows.survey.report import build_report

    if not rights.reads_report(principal):
        raise NotVisible(t("survey.web.no_report", locale=principal.locale, actor=principal.actor))
    policy = load_survey_rules().report  # a report of stored results: the rules file as it is now
    with db.read() as tx:
        return build_report(tx, year, lowest=policy.lowest, low_below=policy.low_score_below, locale=locale)


__all__ = ["project_closed", "sync_closed_projects", "record_callback", "record_project_callback",
           "record_activity_callback", "cancel_callback", "activity_ended", "ensure_year", "check_sample_list",
           "submit_sample_list", "sample_lists", "export_samples", "import_results", "close_year", "sample_log",
           "callbacks", "report", "ProjectDecision"]


# ============================================================================================ the instance page


_CALLBACK_FLOWS = (PROJECT_FLOW, ACTIVITY_FLOW)
# The form fields each event's action reads (everything else a form posts is dropped).
_FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    (PROJECT_FLOW, "record"): (*CALLBACK_ITEMS, "comment"),
    (PROJECT_FLOW, "attempt"): ("comment",),
    (PROJECT_FLOW, "cancel"): ("reason",),
    (ACTIVITY_FLOW, "record"): ("contact", "score", "comment"),
    (ACTIVITY_FLOW, "attempt"): ("contact", "comment"),
    (ACTIVITY_FLOW, "cancel"): ("reason",),
}


def allowed_actions(rt: Runtime, instance_id: int, *, principal: Principal) -> list[str]:
    """The events of a callback instance that `principal` may send now: those the flow definition allows
    in its state (not `internal`), when `rights.calls_back` — the check the step's action makes — holds."""
    from engine.instances import load_instance
    from flows.survey import rights

    inst = load_instance(rt, instance_id)
    if inst.flow not in _CALLBACK_FLOWS or inst.ended_us or not rights.calls_back(principal, inst.flow, inst.data):
        return []
    defn = rt.definitions.get(inst.flow, inst.flow_version)
    internal = {e.name for e in defn.events if e.internal}
    return [e for e in defn.events_allowed_in(inst.state) if e not in internal and (inst.flow, e) in _FIELDS]


def take_action(rt: Runtime, instance_id: int, event: str, *, principal: Principal, form: dict[str, str],
                client_event_id: str | None = None) -> Any:
    """Send a callback event from its page: `record` with `reached=no` is an unreached `attempt`."""
    from engine.instances import read_instance, send_form

    inst = read_instance(rt, instance_id, principal=principal)
    if event == "record" and form.get("reached") == "no":
        event = "attempt"
    return send_form(rt, inst, event, _FIELDS.get((inst.flow, event)), principal=principal, form=form,
                     client_event_id=client_event_id)


# ============================================================================================ pages (reads)


_OPEN = {PROJECT_FLOW: ("pending", "escalated"), ACTIVITY_FLOW: ("pending", "overdue", "escalated")}


def open_callbacks(rt: Runtime, *, principal: Principal) -> list[dict[str, Any]]:
    """The callbacks still to make that `principal` may record (theirs, their people's, or all for sales
    management and customer care), the most urgent first."""
    out: list[dict[str, Any]] = []
    with rt.db.read() as tx:
        # one (flow, state) pair per branch: a seek on ix_flow_instance_flow_state each
        rows = tx.all(" UNION ALL ".join(
            f"SELECT id, flow, state, data FROM flow_instance WHERE flow = '{f}' AND state = '{s}'"
            for f, states in _OPEN.items() for s in states))
    for iid, flow, state, text_ in rows:
        data = json.loads(text_)
        if not rights.calls_back(principal, flow, data):
            continue
        out.append({"instance": iid, "flow": flow, "state": state, "project": data.get("project"),
                    "project_name": data.get("project_name"), "activity": data.get("activity"),
                    "activity_title": data.get("activity_title"), "customer": data.get("customer"),
                    "customer_name": data.get("customer_name"),
                    "owner": data.get(rights.CALLER_KEY[flow]), "contact": data.get("contact"),
                    "contact_name": data.get("contact_name"), "outstanding": data.get("outstanding"),
                    "due_at": data.get("due_at"), "overdue": state in ("escalated", "overdue")})
    return sorted(out, key=lambda c: (not c["overdue"], c["due_at"] or "", c["instance"]))


def callback_page(rt: Runtime, instance_id: int, *, principal: Principal) -> dict[str, Any]:
    """One callback with what `principal` may do on it (the engine's read rule decides who sees it)."""
    from engine.instances import read_instance

    inst = read_instance(rt, int(instance_id), principal=principal)
    if inst.flow not in _CALLBACK_FLOWS:
        raise UnknownSurveyRecord(t("survey.unknown_instance", locale=principal.locale, instance=instance_id))
    view = _callback_view(rt, inst.id)
    data = inst.data
    contacts = []
    if inst.flow == ACTIVITY_FLOW:
        contacts = [{"code": k, **v} for k, v in sorted((data.get("contacts") or {}).items())]
    return {**view, "data": data, "contacts": contacts, "score_items": CALLBACK_ITEMS,
            "actions": allowed_actions(rt, inst.id, principal=principal),
            "history": callbacks_of_instance(rt, inst.id)}


def callbacks_of_instance(rt: Runtime, instance_id: int) -> list[dict[str, Any]]:
    with rt.db.read() as tx:
        rows = tx.all("SELECT contact_code, at_us, actor, reached, comment FROM survey_callback WHERE instance_id = :i "
                      "ORDER BY at_us, id", {"i": instance_id})
    return [{"contact": r[0], "at": from_us(r[1]), "actor": r[2], "reached": bool(r[3]), "comment": r[4]} for r in rows]


def sample_overview(rt: Runtime, year: int, *, principal: Principal) -> list[dict[str, Any]]:
    """The in-scope customers (tiers of the rules) `principal` sees, each with its list's state for the year."""
    policy = _rules(rt).annual
    with rt.db.read() as tx:
        md = MasterData(tx)
        lists = {r[0]: r[1:] for r in tx.all("SELECT customer_code, status, size, required_size, revision "
                                             "FROM survey_sample WHERE year = :y", {"y": year})}
        out = []
        for c in md.customers_with_tiers(list(policy.tiers)):
            if not rights.acts_for(principal, c.owner_emp_no, c.backup_emp_no):
                continue
            found = lists.get(c.code)
            out.append({"customer": c.code, "name": c.name, "tier": c.tier, "owner": c.owner_emp_no,
                        "required": policy.required_size(c.annual_revenue_usd),
                        "status": found[0] if found else None, "size": found[1] if found else None,
                        "revision": found[3] if found else None})
    return sorted(out, key=lambda r: (r["status"] is not None, r["customer"]))


def sample_editor(rt: Runtime, customer: str, year: int, *, principal: Principal) -> dict[str, Any]:
    """What the sample-list page edits: the customer's contacts by level, the stored list, the rules."""
    policy = _rules(rt).annual
    with rt.db.read() as tx:
        md = MasterData(tx)
        cust = md.customer(customer)
        if cust is None:
            raise UnknownSurveyRecord(t("survey.unknown_customer", locale=principal.locale, customer=customer))
        rights.require_sees(principal, cust.owner_emp_no, cust.backup_emp_no, customer)
        rank = {lv: i for i, lv in enumerate(("senior", "middle", "base"))}
        contacts = sorted(md.contacts_of_customer(customer), key=lambda c: (rank.get(c.level or "", 9), c.code))
        stored = tx.one("SELECT id, status, size, required_size, revision FROM survey_sample WHERE year = :y "
                        "AND customer_code = :c", {"y": year, "c": customer})
        entries = {}
        if stored:
            entries = {r[0]: r[1] for r in tx.all("SELECT contact_code, method FROM survey_sample_entry "
                                                 "WHERE sample_id = :s", {"s": stored[0]})}
    return {"customer": cust, "year": year, "contacts": contacts, "entries": entries,
            "status": stored[1] if stored else None, "revision": stored[4] if stored else None,
            "required": policy.required_size(cust.annual_revenue_usd), "levels": dict(policy.levels),
            "tolerance": policy.tolerance, "methods": list(policy.methods)}


def preview_sample_list(rt: Runtime, customer: str, year: int, *, principal: Principal,
                        rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The live check of a list being edited: size against the required size, each level's share against its
    ratio and tolerance, and every problem — nothing stored (the page shows it as the list changes)."""
    policy = _rules(rt).annual
    parsed = [(r, {k: text(v) for k, v in cells.items()}) for r, cells in samples.inline_rows(rows)]
    with rt.db.read() as tx:
        _require_customer(tx, principal, customer)
        checked = samples.check_in(tx, "web", parsed, customer_code=customer, year=year, rules=policy)
    total = sum(checked.counts.values())
    shares = []
    for lv, ratio in policy.levels.items():
        n = checked.counts.get(lv, 0)
        share = n / total if total else 0.0
        shares.append({"level": lv, "n": n, "share": share, "ratio": ratio,
                       "low": max(0.0, ratio - policy.tolerance), "high": min(1.0, ratio + policy.tolerance),
                       "ok": bool(total) and abs(share - ratio) <= policy.tolerance + 1e-9})
    size = len({text(c.get("contact_code")) for _, c in parsed if text(c.get("contact_code"))})
    return {"size": size, "required": checked.required, "size_ok": size >= checked.required, "shares": shares,
            "problems": [p.message for p in checked.problems], "ok": checked.ok and bool(parsed)}
