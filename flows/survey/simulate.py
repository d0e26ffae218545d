"""The survey's part of `mcr simulate` (engine/simulate.py): project and activity callbacks.

Projects close on their decision date, and a few each day before it (won early, lost, cancelled):
the account manager records the close, the sampling rule decides whether the project is called
back, and a drawn project's callback is recorded by the owner within a few days. An exhibition or
forum (the activity types the rules call back) ends on its date; its invited contacts are called
over the next days. Every step goes through flows/survey/service.py as the employee.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from flows.survey import service

FAMILY = "survey"
EARLY_CLOSE_PER_PROJECT_DAY = 0.003  # ~ half of the open projects close before their decision date in a year


def _book(sim: Any) -> dict[str, Any]:
    if FAMILY not in sim.state:
        with sim.db.read() as tx:
            projects = tx.all("SELECT p.code, c.owner_emp_no, p.decision_date FROM project p "
                              "JOIN customer c ON c.code = p.customer_code WHERE p.closed = :f ORDER BY p.code",
                              {"f": False})
            activities = tx.all("SELECT code, activity_date, inviter_emp_no, type FROM marketing_activity "
                                "WHERE status = 'planned' ORDER BY code")
        called = set(service._rules(sim.runtime).activity_callback.types)  # the types the rules call back
        sim.state[FAMILY] = {"open": [(c, o, _day(d)) for c, o, d in projects],
                             "activities": [(c, _day(d), e) for c, d, e, k in activities if k in called]}
    return sim.state[FAMILY]


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def plan_day(sim: Any, day: date) -> None:
    book = _book(sim)
    rng = sim.rng(FAMILY)
    if sim.is_workday(day):
        closing = [p for p in book["open"] if p[2] is not None and p[2] <= day]
        rest = [p for p in book["open"] if p not in closing]
        expected = len(rest) * EARLY_CLOSE_PER_PROJECT_DAY
        extra = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        closing += rng.sample(rest, min(extra, len(rest)))
        for code, owner, _ in closing:
            sim.at(sim.office_hours(day, rng), FAMILY, lambda c=code, o=owner: _project_closed(sim, c, o))
        book["open"] = [p for p in book["open"] if p not in closing]
    for code, on, inviter in book["activities"]:
        if on == day:
            ended = datetime.combine(day, time(18, 30), sim.tz)
            sim.at(ended, FAMILY, lambda c=code, e=inviter: _activity_ended(sim, c, e))
    book["activities"] = [a for a in book["activities"] if a[1] is None or a[1] > day]


def _project_closed(sim: Any, project: str, owner: str) -> None:
    rng = sim.rng(FAMILY)
    decision = service.project_closed(sim.runtime, project, principal=sim.principal(owner))
    if decision.instance is not None and decision.state == "pending":
        scores = {k: rng.choice((3, 4, 4, 5, 5)) for k in ("product", "solution", "delivery", "service_attitude")}
        sim.at(sim.later(sim.now(), rng, hours=20), FAMILY,
               lambda: service.record_project_callback(sim.runtime, principal=sim.principal(owner), project=project,
                                                       scores=scores))


def _activity_ended(sim: Any, activity: str, inviter: str) -> None:
    rng = sim.rng(FAMILY)
    from engine.instances import load_instance

    # Holding the activity (planning's simulator) may have started the callbacks already: the same instance.
    out = service.activity_ended(sim.runtime, activity, principal=sim.principal(inviter))
    for contact in load_instance(sim.runtime, out["instance"]).data.get("outstanding") or []:
        score = rng.choice((3, 4, 4, 5))
        sim.at(sim.later(sim.now() + timedelta(hours=14), rng, hours=8), FAMILY,
               lambda k=contact, s=score: service.record_activity_callback(
                   sim.runtime, principal=sim.principal(inviter), instance=out["instance"], contact=k, score=s))
