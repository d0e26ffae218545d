"""Planning's and care's part of `mcr simulate` (engine/simulate.py).

The launches (the 1 Dec planning kits, the quarterly self-checks, card and tier reviews, the weekly
checks, the half-year review, the annual evaluation, the daily care scan and activity sync) fire on
their own as the clock passes them; this hook plays the people who answer them:

* a team fills its kit on the kit page within a few working days — a draft of each section saved,
  the sections submitted in order (the action plan asks for review) — and the team head approves it;
* each rhythm round's form is answered by the person it names within about a week (most are on time,
  a few run late and get the reminders and the overdue mail), and confirmed by the supervisor;
* marketing activities are prepared, held, summarised and closed by their inviter;
* account managers log visits to their key contacts: about one per contact a month.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Callable

FAMILY = "planning"
VISITS_PER_CONTACT_DAY = 1 / 30  # about one visit per key contact a month

# flow → the answer of its open form: (event, who (a data key), payload), then a follow-up decision.
_ROUNDS: dict[str, list[tuple[str, str, Callable[[Any, dict[str, Any]], dict[str, Any]]]]] = {
    "self_check": [("submit", "emp", lambda r, d: {"progress": r.choice((60, 75, 90, 100)), "note": "按计划推进"})],
    "card_review": [("review", "emp", lambda r, d: {"kept": len(d.get("contacts") or []), "committed": 1,
                                                    "pbc": "本季度新增一名中层支持者"}),
                    ("confirm", "supervisor", lambda r, d: {"comment": "同意"})],
    "tier_review": [("propose", "owner", lambda r, d: {"tier": d.get("tier"), "reason": "维持当前分级"}),
                    ("approve", "supervisor", lambda r, d: {"comment": "同意"})],
    "half_year_review": [("complete", "supervisor", lambda r, d: {"summary": "上半年目标基本达成"})],
    "annual_evaluation": [("submit", "supervisor", lambda r, d: {"score": r.choice((3, 4, 4, 5)),
                                                                 "summary": "全年关系目标达成"}),
                          ("approve", "boss", lambda r, d: {"comment": "同意"})],
}
_OPEN = ("open", "overdue")
_DECIDE = ("awaiting_supervisor", "proposed", "submitted")  # the first answer is in: the decision is due


def _book(sim: Any) -> dict[str, Any]:
    if FAMILY not in sim.state:
        with sim.db.read() as tx:
            contacts = tx.all("SELECT code, owner_emp_no FROM contact ORDER BY code")
            members: dict[str, list[str]] = {}
            for emp, unit, roles in tx.all("SELECT emp_no, unit_code, roles FROM employee ORDER BY emp_no"):
                if "account_manager" in (roles or ""):
                    members.setdefault(unit, []).append(emp)
        sim.state[FAMILY] = {"contacts": contacts, "members": members, "booked": set()}
    return sim.state[FAMILY]


def plan_day(sim: Any, day: date) -> None:
    if not sim.is_workday(day):
        return
    book = _book(sim)
    rng = sim.rng(FAMILY)
    with sim.db.read() as tx:
        waiting = tx.all("SELECT id, flow, state FROM flow_instance WHERE ended_us IS NULL AND flow IN "
                         "('planning_kit', 'self_check', 'card_review', 'tier_review', 'half_year_review', "
                         "'annual_evaluation', 'marketing_activity') ORDER BY id")
    for iid, flow, state in waiting:
        key = (iid, state)
        if key in book["booked"]:
            continue
        if flow == "planning_kit":
            # the team fills it on the kit page within a few working days
            if state == "issued" and (iid, "kit") not in book["booked"]:
                book["booked"].add((iid, "kit"))
                when = sim.office_hours(sim.calendar.next_workday(day + timedelta(days=rng.randrange(0, 4))), rng)
                sim.at(when, FAMILY, lambda i=iid: _fill_kit(sim, i))
            continue
        if flow == "marketing_activity":
            _activity(sim, day, iid, state, book)
            continue
        steps = _ROUNDS[flow]
        if state in _OPEN:
            step = 0
        elif len(steps) > 1 and state in _DECIDE:
            step = 1
        else:
            continue
        if (iid, step) in book["booked"]:  # answered already (an open form may turn overdue meanwhile)
            continue
        book["booked"].add((iid, step))
        # Most answer within a week; one in eight waits for the reminders and past the due date.
        days = rng.randrange(0, 6) if rng.random() < 0.875 else rng.randrange(10, 25)
        when = sim.office_hours(sim.calendar.next_workday(day + timedelta(days=days)), rng)
        sim.at(when, FAMILY, lambda i=iid, s=steps[step]: _answer(sim, i, s))
    visits = sim_visits(sim, len(book["contacts"]))
    for _ in range(visits):
        code, owner = rng.choice(book["contacts"])
        sim.at(sim.office_hours(day, rng), FAMILY, lambda c=code, o=owner: _visit(sim, c, o))


def _activity(sim: Any, day: date, iid: int, state: str, book: dict[str, Any]) -> None:
    """A marketing activity's inviter sends the invitations two weeks ahead, holds it on its day, writes
    the summary within two working days and closes it (holding an exhibition starts the survey's
    callbacks, flows/planning/activities.py)."""
    from engine.instances import load_instance

    rng = sim.rng(FAMILY)
    data = load_instance(sim.runtime, iid).data
    on = date.fromisoformat(str(data["date"])[:10])
    if state == "planned" and on - timedelta(days=14) <= day < on:
        step, when = ("invite", {}), sim.office_hours(day, rng)
    elif state in ("planned", "invited") and on == day:
        step, when = ("hold", {}), sim.office_hours(day, rng)
    elif state == "held":
        step = ("submit_summary", {"summary": "客户认可方案，约定下一步交流", "open_items": []})
        when = sim.later(sim.office_hours(day, rng), rng, hours=16)
    elif state == "items_closed":
        step, when = ("close", {}), sim.later(sim.office_hours(day, rng), rng, hours=4)
    else:
        return
    book["booked"].add((iid, state))
    sim.at(when, FAMILY, lambda: _act(sim, data["activity"], data["inviter"], *step))


def _act(sim: Any, code: str, inviter: str, event: str, payload: dict[str, Any]) -> None:
    from flows.planning.activities import act

    act(sim.runtime, code, event, principal=sim.principal(inviter), payload=payload)


def sim_visits(sim: Any, contacts: int) -> int:
    rng = sim.rng(FAMILY)
    expected = contacts * VISITS_PER_CONTACT_DAY * rng.uniform(0.5, 1.5)
    return int(expected) + (1 if rng.random() < expected - int(expected) else 0)


def _answer(sim: Any, iid: int, step: tuple[str, str, Callable[[Any, dict[str, Any]], dict[str, Any]]]) -> None:
    from engine.instances import load_instance

    event, who, payload = step
    inst = load_instance(sim.runtime, iid)
    emp = inst.data.get(who)
    if not emp:
        return  # nobody holds that part (a team without a boss): the form waits, as it would
    principal = sim.principal(emp)
    sim.runtime.send(iid, event, actor=principal.actor, principal=principal,
                     payload=payload(sim.rng(FAMILY), inst.data))


def _visit(sim: Any, contact: str, owner: str) -> None:
    from flows.planning.care import log_visit

    rng = sim.rng(FAMILY)
    log_visit(sim.db, sim.clock, contact, principal=sim.principal(owner), on=sim.today(),
              kind="visit", place=rng.choice(("office", "office", "private")), note="例行拜访",
              tz=sim.runtime.calendars.get(None).tz)


def _fill_kit(sim: Any, iid: int) -> None:
    """What a team does on the kit page (as engine/bench_flows.py does): each section's draft over the
    pre-filled lines, the sections submitted in order, then the head's approval two days later."""
    from flows.planning import kit_service as ks

    from engine.instances import load_instance

    data = load_instance(sim.runtime, iid).data
    members = _book(sim)["members"].get(data["team"]) or []
    if not members:
        return
    rng = sim.rng(FAMILY)
    am = sim.principal(members[0])
    rows = _kit_rows(sim, data)
    if not rows["plan"]:
        return  # no project to plan for: the kit waits for its reminders, as it would
    for section in ks.SECTIONS:
        ks.save_draft(sim.runtime, iid, section, rows[section], principal=am)
    for section in ks.SECTIONS:
        ks.submit_section(sim.runtime, iid, section, principal=am)
    head = data.get("supervisor")
    if head:
        sim.at(sim.later(sim.now(), rng, hours=16), FAMILY,
               lambda: ks.review(sim.runtime, iid, principal=sim.principal(head), approve=True))


def _kit_rows(sim: Any, data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The team's answers: an assessment of each pre-filled contact, one objective per customer and an
    activity for each of the team's open projects."""
    from flows.planning import kit_service as ks

    rng = sim.rng(FAMILY)
    year = int(data["year"])
    content = ks._content(sim.runtime, data)
    assessment = [{**r, "acceptance": str(rng.choice((1, 2, 2, 3))), "acceptance_evidence": "多次参加技术交流会",
                   "support_us": str(rng.choice((1, 2, 2, 3)))} for r in ks.prefilled_rows(content, "assessment")]
    customers = sorted({r.get("customer_code") for r in assessment if r.get("customer_code")})
    owner = (_book(sim)["members"].get(data["team"]) or [""])[0]
    objectives = [{"customer_code": c, "relationship_target": "新增 2 名中高层支持者", "target_count": "2",
                   "owner": owner} for c in customers]
    with sim.db.read() as tx:
        if not customers:  # nothing pre-filled to assess: the team still sets objectives for its key customers
            customers = [r[0] for r in tx.all("SELECT code FROM customer WHERE team_code = :t AND tier IN ('S', 'A') "
                                              "ORDER BY code", {"t": data["team"]})]
            objectives = [{"customer_code": c, "relationship_target": "新增 2 名中高层支持者", "target_count": "2",
                           "owner": owner} for c in customers]
        projects = tx.all("SELECT code, customer_code, decision_date FROM project WHERE team_code = :t AND closed = :f "
                          "ORDER BY code", {"t": data["team"], "f": False})
    plan = []
    for code, cust, decision in projects:
        if cust not in customers:
            continue
        # An activity is planned ahead of the project's decision (the kit refuses one after it).
        latest = date.fromisoformat(str(decision)[:10]) - timedelta(days=7) if decision else date(year, 10, 1)
        earliest = min(date(year, 1, 15), latest)
        when = earliest + timedelta(days=rng.randrange(max(1, (latest - earliest).days)))
        plan.append({"customer_code": cust, "activity_type": "topic_exchange", "title": "解决方案专题交流",
                     "project_code": code, "planned_date": when.isoformat(),
                     "budget": str(rng.randrange(1, 10) * 5000)})
    if not plan and projects:  # no open project of its key customers: one exchange for the team's first project
        code, cust, decision = projects[0]
        latest = date.fromisoformat(str(decision)[:10]) - timedelta(days=7) if decision else date(year, 10, 1)
        when = max(min(date(year, 5, 20), latest), date(year, 1, 2))
        plan = [{"customer_code": cust, "activity_type": "topic_exchange", "title": "年度高层交流",
                 "project_code": code, "planned_date": when.isoformat(), "budget": "10000"}]
    return {"assessment": assessment, "objectives": objectives, "plan": plan}

