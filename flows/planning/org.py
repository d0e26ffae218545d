"""Read-only look-ups over the master-data tables that planning and care need and that
`engine.masterdata.service` does not offer (yet): a team with its head, members, office and
region; who supervises whom; sales management's addresses; coverage since when.

Two flavours: functions taking a SQLModel `Session` (services outside a step: launches, scans,
CLI reports) and the `tx_*` functions taking a step's raw `Tx` (guards and actions, which must
stay inside the step's one transaction). This module never writes.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable, Optional

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from engine.db import Tx
from engine.masterdata import service
from engine.masterdata.models import AuditEntry, Contact, Customer, Employee, OrgUnit
from engine.masterdata.service import EmployeeInfo


@dataclass(frozen=True)
class TeamInfo:
    """A team (系统部) with the people and units around it."""

    code: str
    name: str
    office_code: Optional[str]
    office_name: Optional[str]
    region_code: Optional[str]
    region_name: Optional[str]
    head: Optional[EmployeeInfo]
    members: list[EmployeeInfo] = field(default_factory=list)
    calendar: Optional[str] = None

    @property
    def member_emails(self) -> list[str]:
        return [m.email for m in self.members]

    @property
    def locale(self) -> str:
        return self.head.locale if self.head else "zh-CN"


def employee(session: Session, emp_no: Optional[str]) -> EmployeeInfo | None:
    return service.find_employee(session, emp_no) if emp_no else None


def supervisor_of(session: Session, emp_no: str) -> EmployeeInfo | None:
    me = service.find_employee(session, emp_no)
    return service.find_employee(session, me.supervisor_emp_no) if me and me.supervisor_emp_no else None


def members_of(session: Session, unit_code: str) -> list[EmployeeInfo]:
    rows = session.exec(select(Employee).where(Employee.unit_code == unit_code).order_by(col(Employee.emp_no)))
    return [service.find_employee(session, e.emp_no) for e in rows]  # type: ignore[misc]


def team_head(session: Session, team_code: str) -> EmployeeInfo | None:
    """The team's head (系统部部长): a member with the supervisor role, else whom most members report to."""
    heads = service.unit_heads(session, team_code)
    if heads:
        return heads[0]
    sups = Counter(m.supervisor_emp_no for m in members_of(session, team_code) if m.supervisor_emp_no)
    return service.find_employee(session, sups.most_common(1)[0][0]) if sups else None


def team_info(session: Session, team_code: str) -> TeamInfo:
    unit = service.get_unit(session, team_code)
    office = service.office_of(session, team_code)
    region = service.region_of(session, team_code)
    return TeamInfo(unit.code, unit.name, office.code if office else None, office.name if office else None,
                    region.code if region else None, region.name if region else None, team_head(session, team_code),
                    members_of(session, team_code), service.calendar_of(session, team_code))


def sales_management(session: Session, extra: Iterable[str] = ()) -> list[str]:
    """Addresses of 销售管理部: employees with the role, plus configured extra addresses."""
    found = [e.email for e in service.employees_with_role(session, "sales_management")]
    return sorted(set(found) | {a.strip().lower() for a in extra if a.strip()})


def office_heads(session: Session, office_code: str) -> list[EmployeeInfo]:
    return service.unit_heads(session, office_code)


def team_covering(session: Session, customer_code: str) -> Optional[str]:
    row = session.exec(select(Customer.team_code).where(Customer.code == customer_code)).first()
    return row


def audit_since(session: Session, entity: str, key: str, emp_no: str, tz: Any = timezone.utc) -> Optional[date]:
    """The local day the audit log first shows `emp_no` as owner of the record (insert or owner change)."""
    rows = session.exec(select(AuditEntry).where(AuditEntry.entity == entity, AuditEntry.entity_key == key)
                        .order_by(col(AuditEntry.id))).all()
    since: Optional[date] = None
    for r in rows:
        day = datetime.fromtimestamp(r.at_us / 1e6, tz=timezone.utc).astimezone(tz).date()
        if r.action == "insert" and since is None:
            since = day
        elif r.action == "owner_change":
            changed = json.loads(r.detail or "{}").get("changed", {}).get("owner_emp_no")
            if changed and changed[1] == emp_no:
                since = day
    return since


# ----------------------------------------------------------------------------------------- inside a step (raw Tx)


def _one(tx: Tx, stmt: Any) -> Any:
    return tx.run(stmt).fetchone()


def tx_employee(tx: Tx, emp_no: Optional[str]) -> dict[str, Any] | None:
    """emp_no, name, email, unit_code, supervisor_emp_no, locale, roles of one employee (None: not one of ours)."""
    if not emp_no:
        return None
    t = Employee.__table__
    row = _one(tx, sa_select(t.c.emp_no, t.c.name, t.c.email, t.c.unit_code, t.c.supervisor_emp_no, t.c.locale,
                             t.c.roles).where(t.c.emp_no == emp_no))
    if row is None:
        return None
    return {"emp_no": row[0], "name": row[1], "email": row[2], "unit_code": row[3], "supervisor_emp_no": row[4],
            "locale": row[5], "roles": [r for r in (row[6] or "").split(",") if r]}


def tx_contact(tx: Tx, code: str) -> dict[str, Any] | None:
    t = Contact.__table__
    row = _one(tx, sa_select(t.c.code, t.c.name, t.c.customer_code, t.c.owner_emp_no, t.c.backup_emp_no, t.c.title,
                             t.c.level).where(t.c.code == code))
    if row is None:
        return None
    return {"code": row[0], "name": row[1], "customer_code": row[2], "owner_emp_no": row[3], "backup_emp_no": row[4],
            "title": row[5], "level": row[6]}


def tx_customer(tx: Tx, code: str) -> dict[str, Any] | None:
    t = Customer.__table__
    row = _one(tx, sa_select(t.c.code, t.c.name, t.c.tier, t.c.office_code, t.c.team_code, t.c.owner_emp_no,
                             t.c.backup_emp_no, t.c.industry).where(t.c.code == code))
    if row is None:
        return None
    return {"code": row[0], "name": row[1], "tier": row[2], "office_code": row[3], "team_code": row[4],
            "owner_emp_no": row[5], "backup_emp_no": row[6], "industry": row[7]}


def tx_unit(tx: Tx, code: str) -> dict[str, Any] | None:
    t = OrgUnit.__table__
    row = _one(tx, sa_select(t.c.code, t.c.kind, t.c.name, t.c.parent_code).where(t.c.code == code))
    return {"code": row[0], "kind": row[1], "name": row[2], "parent_code": row[3]} if row else None


def tx_team_head(tx: Tx, team_code: str) -> dict[str, Any] | None:
    t = Employee.__table__
    rows = tx.run(sa_select(t.c.emp_no, t.c.roles, t.c.supervisor_emp_no).where(t.c.unit_code == team_code)
                  .order_by(t.c.emp_no)).fetchall()
    for emp_no, roles, _ in rows:
        if "supervisor" in (roles or "").split(","):
            return tx_employee(tx, emp_no)
    sups = Counter(r[2] for r in rows if r[2])
    return tx_employee(tx, sups.most_common(1)[0][0]) if sups else None


def as_date(value: Any) -> Optional[date]:
    """A date from a raw driver value (SQLite gives text, PostgreSQL a date)."""
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])
