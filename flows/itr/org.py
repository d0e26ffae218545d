"""Organisation look-ups ITR needs, as read-only queries over the master-data tables.

Written against `engine.db.Tx` (`one` / `all` with `:name` parameters) so the same function
works inside a flow step (`ctx.tx`) and outside one (`db.read()`); a step must never open a
second session. The semantics follow `engine.masterdata.service` (a unit's calendar is the
nearest one upwards; unit heads are its members holding the supervisor role). This module never
writes: master data belongs to engine/masterdata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional


@dataclass(frozen=True)
class Unit:
    code: str
    kind: str  # hq / region / office / team
    name: str
    parent_code: Optional[str]
    calendar: Optional[str]
    timezone: Optional[str]


@dataclass(frozen=True)
class Person:
    emp_no: str
    name: str
    email: str
    unit_code: str
    locale: str
    roles: frozenset[str]


@dataclass(frozen=True)
class CustomerRow:
    code: str
    name: str
    tier: str
    office_code: str
    team_code: Optional[str]
    owner_emp_no: str
    annual_revenue_usd: Optional[int]


@dataclass(frozen=True)
class ContactRow:
    code: str
    customer_code: str
    name: str
    email: Optional[str]
    phone: Optional[str]


_UNIT = "SELECT code, kind, name, parent_code, calendar, timezone FROM org_unit"
_PERSON = "SELECT emp_no, name, email, unit_code, locale, roles FROM employee"
_CUSTOMER = "SELECT code, name, tier, office_code, team_code, owner_emp_no, annual_revenue_usd FROM customer"


def _person(row: Any) -> Person:
    return Person(row[0], row[1], row[2], row[3], row[4] or "zh-CN",
                  frozenset(r for r in (row[5] or "").split(",") if r))


def unit(tx: Any, code: Optional[str]) -> Unit | None:
    if not code:
        return None
    row = tx.one(_UNIT + " WHERE code = :c", {"c": code})
    return Unit(*row) if row else None


def unit_path(tx: Any, code: str) -> list[Unit]:
    """The unit and its ancestors, top (HQ) first."""
    out: list[Unit] = []
    seen: set[str] = set()
    cur = unit(tx, code)
    while cur is not None and cur.code not in seen:
        out.append(cur)
        seen.add(cur.code)
        cur = unit(tx, cur.parent_code)
    return list(reversed(out))


def ancestor(tx: Any, code: str, kind: str) -> Unit | None:
    """The unit of `kind` on the way up from `code` (the unit itself if it is of that kind)."""
    return next((u for u in unit_path(tx, code) if u.kind == kind), None)


def office_of(tx: Any, code: str) -> Unit | None:
    return ancestor(tx, code, "office")


def region_of(tx: Any, code: str) -> Unit | None:
    """The region (地区部) above an office or team."""
    return ancestor(tx, code, "region")


def hq_of(tx: Any, code: str) -> Unit | None:
    return ancestor(tx, code, "hq")


def calendar_of(tx: Any, code: str) -> Optional[str]:
    """The business calendar of a unit: the nearest unit upwards that names one (None: the default)."""
    return next((u.calendar for u in reversed(unit_path(tx, code)) if u.calendar), None)


def subtree(tx: Any, code: str) -> set[str]:
    """`code` and every unit below it."""
    rows = tx.all("SELECT code, parent_code FROM org_unit")
    found = {code}
    grew = True
    while grew:
        before = len(found)
        found |= {c for c, p in rows if p in found}
        grew = len(found) > before
    return found


def units_of_kind(tx: Any, kind: str, under: Optional[str] = None) -> list[Unit]:
    rows = [Unit(*r) for r in tx.all(_UNIT + " WHERE kind = :k ORDER BY code", {"k": kind})]
    if under is None:
        return rows
    below = subtree(tx, under)
    return [u for u in rows if u.code in below]


def person(tx: Any, emp_no: Optional[str]) -> Person | None:
    if not emp_no:
        return None
    row = tx.one(_PERSON + " WHERE emp_no = :e", {"e": emp_no})
    return _person(row) if row else None


def people_with_role(tx: Any, role: str, unit_codes: Iterable[str]) -> list[Person]:
    """Holders of `role` whose unit is one of `unit_codes`, by employee number."""
    codes = sorted(set(unit_codes))
    if not codes:
        return []
    params = {f"u{i}": c for i, c in enumerate(codes)}
    marks = ", ".join(f":u{i}" for i in range(len(codes)))
    rows = tx.all(_PERSON + f" WHERE unit_code IN ({marks}) ORDER BY emp_no", params)
    return [p for p in map(_person, rows) if role in p.roles]


def heads(tx: Any, unit_code: str, roles: Iterable[str]) -> list[Person]:
    """Members of the unit itself holding one of `roles` (e.g. the office heads and its sales management)."""
    wanted = set(roles)
    rows = tx.all(_PERSON + " WHERE unit_code = :u ORDER BY emp_no", {"u": unit_code})
    return [p for p in map(_person, rows) if p.roles & wanted]


def customer(tx: Any, code: Optional[str]) -> CustomerRow | None:
    if not code:
        return None
    row = tx.one(_CUSTOMER + " WHERE code = :c", {"c": code})
    return CustomerRow(*row) if row else None


def big_customers(tx: Any, revenue_line: int) -> list[CustomerRow]:
    """Customers at or above the revenue line (USD per year)."""
    rows = tx.all(_CUSTOMER + " WHERE annual_revenue_usd >= :line ORDER BY code", {"line": revenue_line})
    return [CustomerRow(*r) for r in rows]


def contact(tx: Any, code: Optional[str]) -> ContactRow | None:
    if not code:
        return None
    row = tx.one("SELECT code, customer_code, name, email, phone FROM contact WHERE code = :c", {"c": code})
    return ContactRow(*row) if row else None


OPEN_STATES = ("received", "dispatched", "handling", "escalated_region", "escalated_hq", "resolved",
               "callback_pending", "qa_review")  # every state of itr_issue.yaml but closed and rejected


def open_load(tx: Any, emp_nos: Iterable[str]) -> dict[str, int]:
    """Open (not ended) issues per handler, to spread new work over a queue's handlers."""
    emps = sorted(set(emp_nos))
    if not emps:
        return {}
    params = {f"e{i}": e for i, e in enumerate(emps)}
    marks = ", ".join(f":e{i}" for i in range(len(emps)))
    # Driven from the open instances (ix_flow_instance_flow_state, one seek per open state) so the cost
    # follows the work in hand, not every issue the handlers ever had.
    opened = " UNION ALL ".join(f"SELECT id FROM flow_instance WHERE flow = 'itr_issue' AND state = '{s}'"
                                for s in OPEN_STATES)
    # CROSS JOIN keeps that order on SQLite (its planner would start from the handler index otherwise).
    rows = tx.all(f"SELECT i.handler_emp_no, COUNT(*) FROM ({opened}) f CROSS JOIN itr_issue i "
                  f"WHERE i.id = f.id AND i.handler_emp_no IN ({marks}) GROUP BY i.handler_emp_no", params)
    load = {e: 0 for e in emps}
    load.update({r[0]: int(r[1]) for r in rows})
    return load


def least_loaded(tx: Any, people: list[Person]) -> Person | None:
    """The handler with the fewest open issues; ties go to the lowest employee number (deterministic)."""
    if not people:
        return None
    load = open_load(tx, [p.emp_no for p in people])
    return min(people, key=lambda p: (load.get(p.emp_no, 0), p.emp_no))
