"""The execution rhythm (SPEC §4): quarterly self-check (季度自检) — or a weekly check for teams on
the weekly rhythm —, the key-customer expansion-card review (关键客户拓展卡片, every 3 months), the
half-year review with the one allowed revision of objectives (半年度审视 / 集中修订), and the
annual evaluation (年度评价).

Each is a flow instance per person or team and period (subjects `selfcheck:E101:2027-Q2`,
`weeklycheck:E101:2027-W14`, `card:E101:2027-Q2`, `halfyear:T-SZ-OP:2027`, `evaluation:T-SZ-OP:2027`),
started by a recurring launch through `start_and_kick`, so a launch run twice starts nothing twice.
Due dates count the office's business days (调休 included); reminders and the overdue notice are
timers on instants computed here from rules/planning.yaml.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Optional

from sqlalchemy import func, insert, select
from sqlmodel import Session, col
from sqlmodel import select as sm_select

from engine.auth.principal import Principal
from engine.batch import BatchRunner, start_each
from engine.clock import to_us
from engine.errors import ActionNotPermitted, MCRError
from engine.masterdata import service
from engine.masterdata.models import Contact, Customer, Employee
from engine.registry import action, launcher
from engine.masterdata.read import MasterData
from flows.planning import rights
from flows.planning.common import find_instance, start_and_kick
from flows.planning.dates import check_due, half_of, quarter_bounds, quarter_key, week_key
from engine import i18n
from flows.planning.models import PlanActivity, PlanRevision, Visit
from flows.planning.rules import CheckRules, PlanningRules, load_planning_rules

# ============================================================================================ who and when


def _check_data(runtime: Any, start: datetime, check: CheckRules, calendar: Optional[str]) -> dict[str, Any]:
    """When the check is due; its reminders are the flow's own list timer (N business days before data.due_at)."""
    cal = runtime.calendars.get(calendar)
    due = check_due(start, check.due_business_days, cal)
    return {"due_at": due.isoformat(), "due": due.astimezone(cal.tz).date().isoformat(), "calendar": calendar}


def _person(session: Session, e: Any) -> dict[str, Any]:
    sup = MasterData.of_session(session).person(e.supervisor_emp_no)
    return {"emp": e.emp_no, "emp_name": e.name, "email": e.email, "locale": e.locale, "team": e.unit_code,
            "supervisor": sup.emp_no if sup else None, "supervisor_name": sup.name if sup else None,
            "supervisor_email": sup.email if sup else None}


def checked_employees(session: Session) -> list[Any]:
    """Who does a self-check: account managers and everyone who owns a customer or a key contact."""
    owners = set(session.exec(sm_select(Customer.owner_emp_no))) | set(session.exec(sm_select(Contact.owner_emp_no)))
    people = session.exec(sm_select(Employee).order_by(col(Employee.emp_no))).all()
    return [service.find_employee(session, e.emp_no) for e in people
            if "account_manager" in e.role_set or e.emp_no in owners]


def _planned_activities(session: Session, emp: str, first: date, last: date) -> list[dict[str, Any]]:
    rows = session.exec(sm_select(PlanActivity).where(PlanActivity.owner_emp_no == emp,
                                                      PlanActivity.superseded_by == None,  # noqa: E711
                                                      PlanActivity.planned_date >= first,
                                                      PlanActivity.planned_date <= last)
                        .order_by(col(PlanActivity.planned_date))).all()
    return [{"title": a.title, "date": a.planned_date.isoformat(), "customer": a.customer_code,
             "project": a.project_code, "budget": a.budget} for a in rows]


def start_self_checks(runtime: Any, at: datetime, *, weekly: bool, rules: PlanningRules | None = None,
                      actor: str = "system", runner: BatchRunner | None = None) -> list[int]:
    """Start the quarterly self-checks (or, `weekly`, the weekly checks of weekly-rhythm teams) due at `at`."""
    rules = rules or load_planning_rules()
    weekly_teams = set(rules.rhythm.weekly_teams)
    check = rules.rhythm.weekly_check if weekly else rules.rhythm.self_check
    with runtime.db.session() as session:
        people = [e for e in checked_employees(session) if (e.unit_code in weekly_teams) == weekly]
        records = []
        for e in people:
            cal_name = service.calendar_of(session, e.unit_code)
            local = at.astimezone(runtime.calendars.get(cal_name).tz).date()
            if weekly:
                period, first, last = week_key(local), local, local + timedelta(days=6)
            else:
                period = quarter_key(local)
                first, last = quarter_bounds(local)
            records.append((e, cal_name, period, _person(session, e), _planned_activities(session, e.emp_no, first,
                                                                                           last)))

    def start(record: tuple[Any, ...]) -> tuple[int, bool]:
        e, cal_name, period, person, activities = record
        kind = "weekly" if weekly else "quarterly"
        data = {**person, "kind": kind, "period": period, "activities": activities,
                **_check_data(runtime, at, check, cal_name)}
        subject = f"{'weeklycheck' if weekly else 'selfcheck'}:{e.emp_no}:{period}"
        return start_and_kick(runtime, "self_check", data, subject=subject, event="open", actor=actor,
                              calendar=cal_name, locale=e.locale)
    return start_each(runner, "weekly-check" if weekly else "self-check", records, start, key=lambda r: r[0].emp_no)


def start_card_reviews(runtime: Any, at: datetime, *, rules: PlanningRules | None = None,
                       actor: str = "system", runner: BatchRunner | None = None) -> list[int]:
    """Start the quarterly key-customer expansion-card reviews: one per employee owning key contacts."""
    rules = rules or load_planning_rules()
    tiers = list(rules.rhythm.card_tiers)
    with runtime.db.session() as session:
        rows = session.exec(sm_select(Contact, Customer).where(Contact.customer_code == Customer.code,
                                                               col(Customer.tier).in_(tiers))
                            .order_by(col(Contact.owner_emp_no), col(Contact.code))).all()
        by_owner: dict[str, list[tuple[Any, Any]]] = {}
        for contact, customer in rows:
            by_owner.setdefault(contact.owner_emp_no, []).append((contact, customer))
        records = []
        for emp_no, items in by_owner.items():
            e = service.find_employee(session, emp_no)
            if e is None:
                continue
            cal_name = service.calendar_of(session, e.unit_code)
            local = at.astimezone(runtime.calendars.get(cal_name).tz).date()
            since = local - timedelta(days=91)
            visits = dict(session.exec(sm_select(Visit.contact_code, func.count())
                                       .where(Visit.emp_no == emp_no, Visit.visit_date >= since, Visit.visit_date < local)
                                       .group_by(Visit.contact_code)).all())
            period = quarter_key(local)
            previous = _previous_card(runtime, emp_no, period)
            contacts = [{"code": c.code, "name": c.name, "customer": cu.name, "tier": cu.tier,
                         "visits_3m": int(visits.get(c.code, 0))} for c, cu in items]
            records.append((e, cal_name, period, _person(session, e), contacts, previous))

    def start(record: tuple[Any, ...]) -> tuple[int, bool]:
        e, cal_name, period, person, contacts, previous = record
        data = {**person, "period": period, "contacts": contacts, "previous_pbc": previous,
                **_check_data(runtime, at, rules.rhythm.card_review, cal_name)}
        return start_and_kick(runtime, "card_review", data, subject=f"card:{e.emp_no}:{period}", event="open",
                              actor=actor, calendar=cal_name, locale=e.locale)
    return start_each(runner, "card-review", records, start, key=lambda r: r[0].emp_no)


def _previous_card(runtime: Any, emp: str, period: str) -> Optional[str]:
    from flows.planning.dates import previous_period

    found = find_instance(runtime.db, "card_review", f"card:{emp}:{previous_period(period)}")
    return found.data.get("pbc") if found else None


def _kit_teams(runtime: Any, year: int) -> list[dict[str, Any]]:
    from flows.planning.common import instances

    return [i.data | {"kit_state": i.state, "kit_id": i.id}
            for i in instances(runtime.db, "planning_kit", f"kit:%:{year}") if int(i.data.get("year", 0)) == year]


def start_team_reviews(runtime: Any, flow: str, at: datetime, *, rules: PlanningRules | None = None,
                       actor: str = "system", runner: BatchRunner | None = None) -> list[int]:
    """Start the half-year review (`half_year_review`) or annual evaluation (`annual_evaluation`) of
    every team holding a kit for the year of `at`."""
    rules = rules or load_planning_rules()
    check = rules.rhythm.half_year_review if flow == "half_year_review" else rules.rhythm.annual_evaluation
    prefix = "halfyear" if flow == "half_year_review" else "evaluation"
    year = at.astimezone(runtime.calendars.get(None).tz).year
    with runtime.db.session() as session:
        teams = []
        for kit in _kit_teams(runtime, year):
            head = MasterData.of_session(session).team_head(kit["team"])
            boss = MasterData.of_session(session).supervisor(head.emp_no) if head else None
            totals = session.exec(sm_select(func.count(), func.coalesce(func.sum(PlanActivity.budget), 0))
                                  .where(PlanActivity.team_code == kit["team"], PlanActivity.year == year,
                                         PlanActivity.superseded_by == None)).one()  # noqa: E711
            teams.append((kit, head, boss, totals, MasterData.of_session(session).sales_management()))

    def start(record: tuple[Any, ...]) -> tuple[int, bool]:
        kit, head, boss, totals, sales = record
        data = {"team": kit["team"], "team_name": kit.get("team_name"), "year": year, "kit": kit["kit_id"],
                "kit_state": kit["kit_state"], "office": kit.get("office"), "region": kit.get("region"),
                "supervisor": head.emp_no if head else None, "supervisor_name": head.name if head else None,
                "supervisor_email": head.email if head else None,
                "boss": boss.emp_no if boss else None, "boss_email": boss.email if boss else None,
                "team_emails": kit.get("team_emails") or [], "sales_management": sales,
                "activities": int(totals[0]), "budget": int(totals[1] or 0),
                "notify": sorted(set(kit.get("team_emails") or []) | ({head.email} if head else set())),
                "revisions_per_half": rules.rhythm.revisions_per_half, "locale": kit.get("locale") or "zh-CN",
                **_check_data(runtime, at, check, kit.get("calendar"))}
        return start_and_kick(runtime, flow, data, subject=f"{prefix}:{kit['team']}:{year}", event="open",
                              actor=actor, calendar=kit.get("calendar"))
    return start_each(runner, prefix, teams, start, key=lambda r: r[0]["team"])


@launcher("launch_self_checks")
def launch_self_checks(ctx: Any) -> int:
    return len(start_self_checks(ctx.runtime, ctx.occurrence, weekly=False, runner=ctx.runner))


@launcher("launch_weekly_checks")
def launch_weekly_checks(ctx: Any) -> int:
    return len(start_self_checks(ctx.runtime, ctx.occurrence, weekly=True, runner=ctx.runner))


@launcher("launch_card_reviews")
def launch_card_reviews(ctx: Any) -> int:
    return len(start_card_reviews(ctx.runtime, ctx.occurrence, runner=ctx.runner))


@launcher("launch_half_year_reviews")
def launch_half_year_reviews(ctx: Any) -> int:
    return len(start_team_reviews(ctx.runtime, "half_year_review", ctx.occurrence, runner=ctx.runner))


@launcher("launch_annual_evaluations")
def launch_annual_evaluations(ctx: Any) -> int:
    return len(start_team_reviews(ctx.runtime, "annual_evaluation", ctx.occurrence, runner=ctx.runner))


# ============================================================================================ actions


@action("rhythm_open")
def rhythm_open(ctx: Any, template: str, to: str = "email") -> None:
    """Tell the person (or team) the check is open and when it is due."""
    recipients = ctx.data.get(to) or []
    ctx.mail(template, recipients if isinstance(recipients, list) else [recipients],
             dedupe_key=f"{ctx.instance_id}:{template}")


@action("rhythm_remind")
def rhythm_remind(ctx: Any, template: str, to: str = "email") -> None:
    name = str(ctx.payload.get("timer") or "")
    recipients = ctx.data.get(to) or []
    ctx.mail(template, recipients if isinstance(recipients, list) else [recipients],
             dedupe_key=f"{ctx.instance_id}:{template}:{name}")


@action("rhythm_overdue")
def rhythm_overdue(ctx: Any, template: str, to: str = "supervisor_email") -> None:
    """Overdue: the supervisor (or whom `to` names) is told, once."""
    ctx.data["overdue_at"] = ctx.now.isoformat()
    recipients = ctx.data.get(to) or ctx.data.get("sales_management") or []
    ctx.mail(template, recipients if isinstance(recipients, list) else [recipients],
             dedupe_key=f"{ctx.instance_id}:{template}")


def _require_actor(ctx: Any, *allowed: Optional[str]) -> None:
    """The named people, the supervisors above them, sales management or the engine; else refused."""
    named = {a for a in allowed if a}
    if rights.acts_as(ctx.who(), *named):
        return
    known = MasterData(ctx.tx).person(ctx.emp_no) is not None
    ctx.refuse(i18n.t("planning.not_allowed_actor", actor=ctx.actor, allowed="、".join(sorted(named)) or "-") if known else
               i18n.t("planning.not_employee_actor", value=ctx.actor), ActionNotPermitted)


@action("record_self_check")
def record_self_check(ctx: Any) -> None:
    """The employee's self-check: progress against the plan (0–100 %) and a note on quality."""
    _require_actor(ctx, ctx.data.get("emp"))
    try:
        progress = int(ctx.payload.get("progress"))
    except (TypeError, ValueError):
        progress = -1
    if not 0 <= progress <= 100:
        ctx.refuse(i18n.t("planning.progress_range", value=ctx.payload.get("progress")))
    ctx.data.update(progress=progress, note=ctx.payload.get("note") or "", submitted_at=ctx.now.isoformat(),
                    late=bool(ctx.data.get("overdue_at")))
    if ctx.data.get("supervisor_email"):
        ctx.mail("check_submitted", ctx.data["supervisor_email"], dedupe_key=f"{ctx.instance_id}:check_submitted")


@action("record_card_review")
def record_card_review(ctx: Any) -> None:
    """The employee reviews the past three months' commitments and writes the next PBC."""
    _require_actor(ctx, ctx.data.get("emp"))
    pbc = str(ctx.payload.get("pbc") or "").strip()
    if not pbc:
        ctx.refuse(i18n.t("planning.pbc_required"))
    ctx.data.update(pbc=pbc, kept=ctx.payload.get("kept"), committed=ctx.payload.get("committed"),
                    note=ctx.payload.get("note") or "", reviewed_at=ctx.now.isoformat())
    if ctx.data.get("supervisor_email"):
        ctx.mail("card_confirm", ctx.data["supervisor_email"], dedupe_key=f"{ctx.instance_id}:card_confirm")


@action("confirm_card")
def confirm_card(ctx: Any) -> None:
    _require_actor(ctx, ctx.data.get("supervisor"))
    ctx.data.update(confirmed_by=ctx.actor, confirmed_at=ctx.now.isoformat(), comment=ctx.payload.get("comment") or "")


@action("record_team_review")
def record_team_review(ctx: Any) -> None:
    """The supervisor closes the half-year review (coaching/correction) or approves the evaluation."""
    _require_actor(ctx, ctx.data.get("supervisor"), ctx.data.get("boss"))
    ctx.data.update(summary=ctx.payload.get("summary") or "", score=ctx.payload.get("score"),
                    closed_by=ctx.actor, closed_at=ctx.now.isoformat())


@action("submit_evaluation")
def submit_evaluation(ctx: Any) -> None:
    """The team scores its year with a summary; its supervisor's supervisor approves.

    过程与结果的考核占比 2:8 or 3:7: with a process score and a result score (0–100 each) the score is
    their weighted total (rules/planning.yaml `rhythm.annual_evaluation.weights`); a single `score`
    alone is still taken as the total."""
    _require_actor(ctx, ctx.data.get("supervisor"))

    def part(key: str, label: str) -> int:
        try:
            value = int(ctx.payload.get(key))
        except (TypeError, ValueError):
            value = -1
        if not 0 <= value <= 100:
            ctx.refuse(i18n.t("planning.evaluation_part_range", part=i18n.t(f"planning.evaluation_part.{label}"),
                              value=ctx.payload.get(key)))
        return value

    given = [k for k in ("process_score", "result_score") if ctx.payload.get(k) not in (None, "")]
    if given:
        weights = ctx.rules.get("planning.yaml", PlanningRules).rhythm.annual_evaluation.weights
        process, result = part("process_score", "process"), part("result_score", "result")
        ctx.data.update(process_score=process, result_score=result,
                        weights={"process": weights.process, "result": weights.result},
                        score=weights.total(process, result))
    else:
        try:
            score = int(ctx.payload.get("score"))
        except (TypeError, ValueError):
            score = -1
        if not 0 <= score <= 100:
            ctx.refuse(i18n.t("planning.score_range", value=ctx.payload.get("score")))
        ctx.data.update(score=score)
    ctx.data.update(summary=ctx.payload.get("summary") or "", submitted_at=ctx.now.isoformat())
    to = ctx.data.get("boss_email") or ctx.data.get("sales_management") or []
    ctx.mail("evaluation_submitted", to, dedupe_key=f"{ctx.instance_id}:evaluation_submitted")


# ============================================================================================ the one revision


@action("revise_objectives")
def revise_objectives(ctx: Any) -> None:
    """集中修订: replace the team's objectives and action plan — once per half year (rules), by the
    unique key (team, year, half, seq) as much as by this check."""
    from flows.planning.kit_actions import check_team, current_budget, write_activities, write_objectives

    check_team(ctx)
    team, year = ctx.data["team"], int(ctx.data["year"])
    reason = str(ctx.payload.get("reason") or "").strip()
    if not reason:
        ctx.refuse(i18n.t("planning.revision_needs_reason"))
    local = ctx.local_now.date()
    half = half_of(local)
    limit = int(ctx.data.get("revisions_per_half", 1))
    t = PlanRevision.__table__
    done = ctx.tx.run(select(t.c.at_us, t.c.actor).where(t.c.team_code == team, t.c.year == year, t.c.half == half)
                      .order_by(t.c.seq)).fetchall()
    if len(done) >= limit:
        last_at = datetime.fromtimestamp(done[-1][0] / 1e6, tz=ctx.calendar.tz).date().isoformat() if done else "-"
        ctx.refuse(i18n.t("planning.revision_limit", team=team, year=year, half=i18n.t(f"planning.half.{half}"), n=len(done), at=last_at,
                       actor=done[-1][1] if done else "-", max=limit))
    before = current_budget(ctx, team, year)
    sub_id = int(ctx.tx.one("INSERT INTO planning_submission (kit_instance_id, team_code, year, file, sections, "
                            "revision, actor, at_us) VALUES (:i, :t, :y, :f, :s, :r, :a, :now) RETURNING id",
                            {"i": ctx.data.get("kit"), "t": team, "y": year, "f": str(ctx.payload.get("file") or ""),
                             "s": ",".join(k for k in ("objectives", "plan") if ctx.payload.get(k)),
                             "r": len(done) + 1, "a": ctx.actor, "now": to_us(ctx.now)})[0])
    if ctx.payload.get("objectives"):
        write_objectives(ctx, ctx.payload["objectives"], team, year, sub_id)
    if ctx.payload.get("plan"):
        write_activities(ctx, ctx.payload["plan"], team, year, sub_id)
    after = current_budget(ctx, team, year)
    ctx.tx.run(insert(t).values(team_code=team, year=year, half=half, seq=len(done) + 1, submission_id=sub_id,
                                reason=reason, budget_before=before, budget_after=after, actor=ctx.actor,
                                at_us=to_us(ctx.now)))
    ctx.data.setdefault("revisions", []).append({"half": half, "at": ctx.now.isoformat(), "by": ctx.actor,
                                                 "reason": reason, "budget_before": before, "budget_after": after})
    ctx.data["budget"] = after
    ctx.mail("revision_recorded", ctx.data.get("sales_management") or [],
             dedupe_key=f"{ctx.instance_id}:revision:{half}:{len(done) + 1}", half=half, before=before, after=after,
             reason=reason)


def revise(runtime: Any, team: str, year: int, file: Any, *, principal: Principal, reason: str,
           client_event_id: Optional[str] = None) -> dict[str, Any]:
    """`mcr planning revise` and the rhythm page's upload: validate the revised workbook (objectives and
    plan sheets) and send it to the team's open half-year review, where the one-per-half rule is
    enforced. With a `client_event_id` (a web form's one-time id) a form posted twice revises once."""
    from flows.planning.rules import masterdata_rules as load_masterdata_rules
    from flows.planning.rules import kit_tiers
    from flows.planning.workbook import parse_kit

    if not str(reason or "").strip():
        raise MCRError(i18n.t("planning.revision_needs_reason"))
    inst = find_instance(runtime.db, "half_year_review", f"halfyear:{team}:{year}")
    if inst is None or inst.state not in ("open", "overdue"):
        raise MCRError(i18n.t("planning.revision_no_review", team=team, year=year))
    with runtime.db.session() as session:
        parsed = parse_kit(session, file, team, year, kit_tiers(load_planning_rules()), load_masterdata_rules())
    res = runtime.send(inst.id, "revise", actor=principal.actor, principal=principal, payload={
        "reason": reason, "file": str(file), "objectives": parsed.section_payload("objectives"),
        "plan": parsed.section_payload("plan")}, client_event_id=client_event_id)
    found = find_instance(runtime.db, "half_year_review", f"halfyear:{team}:{year}")
    last = (found.data.get("revisions") or [{}])[-1] if found else {}
    return {"instance": res.instance_id, "half": last.get("half"), "seq": len(found.data.get("revisions") or []),
            "budget_before": last.get("budget_before"), "budget_after": last.get("budget_after")}
