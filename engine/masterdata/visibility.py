"""The visibility rule of master data — 上级可以看下级，同级之间不能互相看 — as pure functions.

* An employee sees the customers and key contacts they own or back up (A角/B角), and those owned
  or backed up by anyone below them in the supervisor tree. Peers never see each other's.
* Sensitive card fields (family, pain points) are for the owner and the supervisors above the
  owner only — not the backup owner — and for nobody when the company stores none of them.
* Sales management (销售管理部) sees aggregates; personal cards only through the rule above.

The rule follows the supervisor tree as it is *now*: someone who moves to another team (a new
supervisor, new subordinates) loses the old view at once. The service layer calls these checks
before it returns anything, with the authenticated `Principal` of the person asking
(`engine.auth.load_principal` builds it); nothing here writes, and only `supervisor_tree` reads.
"""

from __future__ import annotations

from typing import Optional

from sqlmodel import Session, select

from engine.auth.principal import Principal
from engine.masterdata.models import Contact, Customer, Employee


# One concept, not two: the rule asks its questions (`covers`, `supervises`, `is_sales_management`)
# of the authenticated principal. `Viewer` stays as the name the rule's signatures read best with.
Viewer = Principal


def supervisor_tree(session: Session) -> dict[str, Optional[str]]:
    """emp_no → supervisor emp_no for the whole organisation (small: one row per employee)."""
    return {emp: sup for emp, sup in session.exec(select(Employee.emp_no, Employee.supervisor_emp_no))}


def below(tree: dict[str, Optional[str]], emp_no: str) -> set[str]:
    """Everyone under `emp_no` in the supervisor tree, at any depth."""
    children: dict[str, list[str]] = {}
    for emp, sup in tree.items():
        if sup is not None:
            children.setdefault(sup, []).append(emp)
    found: set[str] = set()
    stack = list(children.get(emp_no, []))
    while stack:
        emp = stack.pop()
        if emp in found or emp == emp_no:
            continue  # a loop cannot be imported, but a reader must never spin on one
        found.add(emp)
        stack.extend(children.get(emp, []))
    return found


def can_see_contact(viewer: Viewer, contact: Contact) -> bool:
    return viewer.covers(contact.owner_emp_no) or viewer.covers(contact.backup_emp_no)


def can_see_sensitive(viewer: Viewer, contact: Contact, *, store_sensitive: bool = True) -> bool:
    # Owner and supervisors above the owner; the backup owner (B角) is deliberately left out.
    return store_sensitive and viewer.covers(contact.owner_emp_no)


def can_see_customer(viewer: Viewer, customer: Customer, contacts: list[Contact] | None = None) -> bool:
    """Own or backed-up customers (and those of people below), plus customers of visible contacts."""
    if viewer.covers(customer.owner_emp_no) or viewer.covers(customer.backup_emp_no):
        return True
    return any(can_see_contact(viewer, c) for c in contacts or [])


def can_manage(viewer: Viewer, owner_emp_no: Optional[str]) -> bool:
    """May change a record's tier or owner: sales management, or a supervisor above its owner."""
    return viewer.is_sales_management or viewer.supervises(owner_emp_no)
