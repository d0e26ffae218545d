"""The profiles' part of `mcr simulate` (engine/simulate.py): the yearly customer and vendor profiles.

The daily launch opens next year's CP and VP of each key customer on 1 December, pre-filled from
master data and last year. Within a few weeks the owner writes the summary and the competitive
position and submits; the supervisor accepts a few working days later. Service calls as those people.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flows.profiles import service

FAMILY = "profiles"
_FLOWS = {"customer_profile": "CP", "vendor_profile": "VP"}
_CONTENT = {"CP": {"summary": {"summary": "战略客户，关系稳中有升"}},
            "VP": {"overview": {"competitive_position": "第二"}}}


def plan_day(sim: Any, day: date) -> None:
    if not sim.is_workday(day):
        return
    booked: set[tuple[int, str]] = sim.state.setdefault(FAMILY, set())
    rng = sim.rng(FAMILY)
    with sim.db.read() as tx:
        rows = tx.all("SELECT id, flow, state FROM flow_instance WHERE flow IN ('customer_profile', 'vendor_profile') "
                      "AND state IN ('drafting', 'in_review') ORDER BY id")
    for iid, flow, state in rows:
        if (iid, state) in booked:
            continue
        booked.add((iid, state))
        wait = rng.randrange(1, 21) if state == "drafting" else rng.randrange(1, 6)  # writing takes longer
        when = sim.office_hours(sim.calendar.next_workday(day + timedelta(days=wait)), rng)
        sim.at(when, FAMILY, lambda i=iid, k=_FLOWS[flow], s=state: _act(sim, i, k, s))


def _act(sim: Any, iid: int, kind: str, state: str) -> None:
    from engine.instances import load_instance

    data = load_instance(sim.runtime, iid).data
    customer, year = data["customer"], int(data["year"])
    if state == "drafting":
        owner = sim.principal(data["owner"])
        service.save(sim.runtime, kind, customer, year, _CONTENT[kind], principal=owner)
        service.submit(sim.runtime, kind, customer, year, principal=owner)
    elif data.get("supervisor"):
        service.accept(sim.runtime, kind, customer, year, principal=sim.principal(data["supervisor"]))
