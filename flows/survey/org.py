"""Read-only master-data queries the survey flows need, on a raw transaction (`ctx.tx` in a step,
`db.read()` outside one).

The master-data module owns these tables; this module only reads them, by business key, so a
step can look up a customer, contact, project, activity or employee without opening a second
connection. It never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from engine.db import Tx


@dataclass(frozen=True)
class Person:
    emp_no: str
    name: str
    email: str
    locale: str
    supervisor_emp_no: Optional[str]
    unit_code: str


@dataclass(frozen=True)
class CustomerRow:
    code: str
    name: str
    tier: str
    office_code: str
    team_code: Optional[str]
    owner_emp_no: str
    backup_emp_no: Optional[str]
    annual_revenue_usd: Optional[int]


@dataclass(frozen=True)
class ContactRow:
    code: str
    customer_code: str
    name: str
    title: Optional[str]
    level: Optional[str]
    phone: Optional[str]
    email: Optional[str]
    owner_emp_no: str


@dataclass(frozen=True)
class ProjectRow:
    code: str
    name: str
    customer_code: str
    level: str
    team_code: Optional[str]
    closed: bool


@dataclass(frozen=True)
class ActivityRow:
    code: str
    type: str
    title: str
    customer_code: str
    project_code: Optional[str]
    activity_date: Any
    inviter_emp_no: str
    status: str


def employee(tx: Tx, emp_no: str | None) -> Person | None:
    if not emp_no:
        return None
    row = tx.one("SELECT emp_no, name, email, locale, supervisor_emp_no, unit_code FROM employee WHERE emp_no = :e",
                 {"e": emp_no})
    return Person(*row) if row else None


def supervisor(tx: Tx, emp_no: str | None) -> Person | None:
    """The direct supervisor (主管) of an employee, if any."""
    person = employee(tx, emp_no)
    return employee(tx, person.supervisor_emp_no) if person else None


def customer(tx: Tx, code: str) -> CustomerRow | None:
    row = tx.one("SELECT code, name, tier, office_code, team_code, owner_emp_no, backup_emp_no, annual_revenue_usd "
                 "FROM customer WHERE code = :c", {"c": code})
    return CustomerRow(*row) if row else None


def customers_with_tiers(tx: Tx, tiers: list[str]) -> list[CustomerRow]:
    if not tiers:
        return []
    names = ", ".join(f":t{i}" for i in range(len(tiers)))
    rows = tx.all("SELECT code, name, tier, office_code, team_code, owner_emp_no, backup_emp_no, annual_revenue_usd "
                  f"FROM customer WHERE tier IN ({names}) ORDER BY code", {f"t{i}": t for i, t in enumerate(tiers)})
    return [CustomerRow(*r) for r in rows]


_CONTACT_COLS = "code, customer_code, name, title, level, phone, email, owner_emp_no"


def contact(tx: Tx, code: str) -> ContactRow | None:
    row = tx.one(f"SELECT {_CONTACT_COLS} FROM contact WHERE code = :c", {"c": code})
    return ContactRow(*row) if row else None


def contacts(tx: Tx, codes: list[str]) -> dict[str, ContactRow]:
    """The contacts among `codes` that exist, by code (one query per 500 codes)."""
    out: dict[str, ContactRow] = {}
    unique = sorted(set(codes))
    for start in range(0, len(unique), 500):
        chunk = unique[start:start + 500]
        names = ", ".join(f":c{i}" for i in range(len(chunk)))
        for r in tx.all(f"SELECT {_CONTACT_COLS} FROM contact WHERE code IN ({names})",
                        {f"c{i}": c for i, c in enumerate(chunk)}):
            out[r[0]] = ContactRow(*r)
    return out


def contacts_of_customer(tx: Tx, customer_code: str) -> list[ContactRow]:
    rows = tx.all(f"SELECT {_CONTACT_COLS} FROM contact WHERE customer_code = :c ORDER BY code", {"c": customer_code})
    return [ContactRow(*r) for r in rows]


def project(tx: Tx, code: str) -> ProjectRow | None:
    row = tx.one("SELECT code, name, customer_code, level, team_code, closed FROM project WHERE code = :c", {"c": code})
    return ProjectRow(row[0], row[1], row[2], row[3], row[4], bool(row[5])) if row else None


def activity(tx: Tx, code: str) -> ActivityRow | None:
    row = tx.one("SELECT code, type, title, customer_code, project_code, activity_date, inviter_emp_no, status "
                 "FROM marketing_activity WHERE code = :c", {"c": code})
    return ActivityRow(*row) if row else None


def invitees(tx: Tx, activity_code: str) -> list[str]:
    return [r[0] for r in tx.all("SELECT contact_code FROM marketing_activity_invitee WHERE activity_code = :a "
                                 "ORDER BY contact_code", {"a": activity_code})]


def unit(tx: Tx, code: str | None) -> tuple[str, str, Optional[str], Optional[str]] | None:
    """(code, kind, parent_code, calendar) of an organisation unit."""
    if not code:
        return None
    row = tx.one("SELECT code, kind, parent_code, calendar FROM org_unit WHERE code = :c", {"c": code})
    return (row[0], row[1], row[2], row[3]) if row else None


def unit_chain(tx: Tx, code: str | None) -> list[tuple[str, str, Optional[str], Optional[str]]]:
    """The unit and its ancestors up to HQ (a cycle in bad data stops the walk)."""
    out = []
    seen: set[str] = set()
    while code and code not in seen:
        seen.add(code)
        u = unit(tx, code)
        if u is None:
            break
        out.append(u)
        code = u[2]
    return out


def region_of(tx: Tx, unit_code: str | None) -> Optional[str]:
    return next((u[0] for u in unit_chain(tx, unit_code) if u[1] == "region"), None)


def calendar_of(tx: Tx, unit_code: str | None, known: Any = None) -> Optional[str]:
    """The business calendar named by the unit or its nearest ancestor; None = the default calendar.

    `known` (a CalendarRegistry) filters out names the engine does not know, so a typo in master
    data falls back to the default calendar instead of failing the step."""
    for u in unit_chain(tx, unit_code):
        if u[3]:
            if known is None or u[3] in known:
                return u[3]
            return None
    return None
