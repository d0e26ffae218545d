"""Relationship handover (关系交接, SPEC §7): when a key contact is promoted or moves (department,
region, company), or when the employee who owns contacts rotates or leaves, the relationship goes
to whoever the coverage rules name, and the previous owner must introduce the new one.

* The new owner comes from rules/care.yaml `handover.new_owner` (tried in order: the customer's
  owner, its backup owner, the head of the team covering the customer, the previous owner's
  supervisor), or is named explicitly — and must be an employee of the organisation: a handover
  to anyone else is refused before anything is written.
* The contact's card moves at once (owner fields change in the same step that opens the handover;
  assessments, visits, sponsor pairings and history all hang on the contact code and stay); the
  change is written to the master-data audit log. Nothing is deleted.
* The handover stays open until the introduction is logged (by the previous owner or their
  supervisor); it is reminded, then escalated, on business-day timers from the rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, Optional

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from engine.clock import to_us
from engine.auth.principal import Principal
from engine.errors import ActionNotPermitted, MCRError, NotPermitted
from engine.masterdata.models import AuditEntry, Contact, Customer, Employee
from engine.registry import action
from engine.masterdata.read import MasterData
from flows.planning import rights
from flows.planning.common import find_instance, get_instance, start_and_kick
from engine import i18n
from flows.planning.rules import CareRules, load_care_rules

CONTACT_MOVES = ("promotion", "department", "region", "company")
EMPLOYEE_MOVES = ("rotation", "leave")


class HandoverRefused(MCRError):
    """The handover cannot be made; nothing was changed."""


def _is_employee(session: Session, emp: Optional[str]) -> bool:
    return bool(emp) and session.exec(select(Employee.emp_no).where(Employee.emp_no == emp)).first() is not None


def new_owner_for(session: Session, customer_code: str, level: Optional[str], *, previous: str,
                  leaving: bool, rules: CareRules) -> Optional[str]:
    """The coverage rules' choice of owner for a contact of `customer_code` (None: the rules name nobody).

    With `leaving` (rotation/leave) the previous owner is never chosen; for a contact's own move the
    first rule wins even if it names the current owner (then no handover is needed).
    """
    cust = session.exec(select(Customer).where(Customer.code == customer_code)).first()
    if cust is None:
        return None
    order = list(rules.handover.new_owner)
    if rules.handover.senior_by_team_head and level == "senior" and "team_head" in order:
        order.remove("team_head")
        order.insert(0, "team_head")
    for rule in order:
        if rule == "customer_owner":
            cand = cust.owner_emp_no
        elif rule == "customer_backup":
            cand = cust.backup_emp_no
        elif rule == "team_head":
            head = MasterData.of_session(session).team_head(cust.team_code) if cust.team_code else None
            cand = head.emp_no if head else None
        else:
            sup = MasterData.of_session(session).supervisor(previous)
            cand = sup.emp_no if sup else None
        if cand and _is_employee(session, cand) and not (leaving and cand == previous):
            return cand
    return None


@dataclass
class HandoverResult:
    contact: str
    instance_id: Optional[int]
    from_owner: str
    to_owner: str
    started: bool
    message: str


def _data(session: Session, contact: Contact, to: str, *, reason: str, rules: CareRules,
          new_customer: Optional[str], new_title: Optional[str], new_level: Optional[str]) -> dict[str, Any]:
    prev = MasterData.of_session(session).person(contact.owner_emp_no)
    prev_sup = MasterData.of_session(session).supervisor(contact.owner_emp_no)
    new = MasterData.of_session(session).person(to)
    assert new is not None
    target_customer = new_customer or contact.customer_code
    cust = session.exec(select(Customer).where(Customer.code == target_customer)).first()
    from engine.masterdata import service

    calendar = service.calendar_of(session, new.unit_code)
    return {
        "contact": contact.code, "contact_name": contact.name, "reason": reason,
        "old_customer": contact.customer_code, "customer": target_customer, "customer_name": cust.name if cust else "",
        "new_title": new_title, "new_level": new_level,
        "from_owner": contact.owner_emp_no, "from_name": prev.name if prev else contact.owner_emp_no,
        "from_email": prev.email if prev else None,
        "from_supervisor": prev_sup.emp_no if prev_sup else None,
        "from_supervisor_email": prev_sup.email if prev_sup else None,
        "to_owner": new.emp_no, "to_name": new.name, "to_email": new.email,
        "sales_management": MasterData.of_session(session).sales_management(),
        "locale": new.locale, "calendar": calendar,
    }


def _start(runtime: Any, data: dict[str, Any], actor: str) -> HandoverResult:
    today = runtime.clock.now().astimezone(runtime.calendars.get(data.get("calendar")).tz).date()
    subject = f"handover:{data['contact']}:{data['from_owner']}:{data['to_owner']}:{today.isoformat()}"
    existing = find_instance(runtime.db, "handover", subject)
    iid, started = start_and_kick(runtime, "handover", data, subject=subject, event="open", actor=actor,
                                  calendar=data.get("calendar"), locale=data.get("locale"))
    if existing is not None and existing.state != "opening":
        return HandoverResult(data["contact"], iid, data["from_owner"], data["to_owner"], False,
                              i18n.t("planning.handover_exists", id=iid, state=existing.state))
    return HandoverResult(data["contact"], iid, data["from_owner"], data["to_owner"], True,
                          i18n.t("planning.handover_started", id=iid, contact=data["contact"], src=data["from_owner"],
                              dst=data["to_owner"]))


def _refuse_unless_manager(runtime: Any, session: Session, principal: Principal, owner: str, key: str) -> None:
    """A handover changes an owner: sales management or the owner's supervisor chain (as `change_owner`)."""
    from engine.masterdata import audit
    from engine.masterdata.service import may_manage

    if may_manage(principal, owner):
        return
    session.rollback()
    audit.record(session, runtime.clock, actor=principal.actor, action="owner_change", entity="contact", key=key,
                 allowed=False)
    session.commit()
    raise NotPermitted(i18n.t("planning.not_handover_manager", actor=principal.actor, owner=owner))


def contact_moved(runtime: Any, contact_code: str, *, reason: str, principal: Principal,
                  new_customer: Optional[str] = None,
                  new_title: Optional[str] = None, new_level: Optional[str] = None, to: Optional[str] = None,
                  rules: CareRules | None = None) -> HandoverResult:
    """A key contact was promoted or moved (department, region, company): hand the relationship to
    whoever now covers them. With the same owner, only the card's facts change (no handover).

    Reported by the contact's owner or backup (the coverage rules choose the new owner), or by sales
    management / a supervisor above the owner (who may also name the new owner, `to`); anyone else
    is refused with `NotPermitted`, audited."""
    if reason not in CONTACT_MOVES:
        raise HandoverRefused(i18n.t("planning.unknown_reason", value=reason, choices=", ".join(CONTACT_MOVES)))
    rules = rules or load_care_rules()
    with runtime.db.session() as session:
        contact = session.exec(select(Contact).where(Contact.code == contact_code)).first()
        if contact is None:
            raise HandoverRefused(i18n.t("planning.unknown_contact_cli", value=contact_code))
        # The owner (or backup) may report their contact's move when the coverage rules pick the new
        # owner; naming the new owner (`to`) is an owner change: sales management or the chain above.
        if to is not None or principal.emp_no not in (contact.owner_emp_no, contact.backup_emp_no):
            _refuse_unless_manager(runtime, session, principal, contact.owner_emp_no, contact_code)
        if new_customer and session.exec(select(Customer).where(Customer.code == new_customer)).first() is None:
            raise HandoverRefused(i18n.t("planning.unknown_customer_cli", value=new_customer))
        if to is not None and not _is_employee(session, to):
            raise HandoverRefused(i18n.t("planning.outside_org", value=to))
        target = new_customer or contact.customer_code
        owner = to or new_owner_for(session, target, new_level or contact.level, previous=contact.owner_emp_no,
                                    leaving=False, rules=rules)
        if owner is None:
            raise HandoverRefused(i18n.t("planning.no_new_owner", contact=contact_code, rules=", ".join(rules.handover.new_owner)))
        if owner == contact.owner_emp_no:
            _apply_facts_only(runtime, session, contact, actor=principal.actor, reason=reason, new_customer=new_customer,
                              new_title=new_title, new_level=new_level)
            return HandoverResult(contact_code, None, owner, owner, False,
                                  i18n.t("planning.same_owner", contact=contact_code, owner=owner))
        data = _data(session, contact, owner, reason=reason, rules=rules, new_customer=new_customer,
                     new_title=new_title, new_level=new_level)
    return _start(runtime, data, principal.actor)


def employee_moved(runtime: Any, emp: str, *, reason: str, principal: Principal, to: Optional[str] = None,
                   rules: CareRules | None = None) -> list[HandoverResult]:
    """An employee rotates or leaves: one handover per key contact they own (nothing is left ownerless).

    Only sales management or a supervisor above the employee (`NotPermitted`, audited)."""
    if reason not in EMPLOYEE_MOVES:
        raise HandoverRefused(i18n.t("planning.unknown_reason", value=reason, choices=", ".join(EMPLOYEE_MOVES)))
    rules = rules or load_care_rules()
    with runtime.db.session() as session:
        if not _is_employee(session, emp):
            raise HandoverRefused(i18n.t("planning.outside_org", value=emp))
        _refuse_unless_manager(runtime, session, principal, emp, emp)
        if to is not None and (not _is_employee(session, to) or to == emp):
            raise HandoverRefused(i18n.t("planning.outside_org", value=to))
        contacts = session.exec(select(Contact).where(Contact.owner_emp_no == emp).order_by(col(Contact.code))).all()
        if not contacts:
            raise HandoverRefused(i18n.t("planning.no_contacts", emp=emp))
        plans = []
        for c in contacts:  # decide every new owner first: all or nothing
            owner = to or new_owner_for(session, c.customer_code, c.level, previous=emp, leaving=True, rules=rules)
            if owner is None:
                raise HandoverRefused(i18n.t("planning.no_new_owner", contact=c.code, rules=", ".join(rules.handover.new_owner)))
            plans.append(_data(session, c, owner, reason=reason, rules=rules, new_customer=None, new_title=None,
                               new_level=None))
    return [_start(runtime, data, principal.actor) for data in plans]


def _apply_facts_only(runtime: Any, session: Session, contact: Contact, *, actor: str, reason: str,
                      new_customer: Optional[str], new_title: Optional[str], new_level: Optional[str]) -> None:
    from engine.masterdata import audit

    changed = {}
    for field_name, value in (("customer_code", new_customer), ("title", new_title), ("level", new_level)):
        if value is not None and getattr(contact, field_name) != value:
            changed[field_name] = [getattr(contact, field_name), value]
            setattr(contact, field_name, value)
    if changed:
        session.add(contact)
        audit.record(session, runtime.clock, actor=actor, action="update", entity="contact", key=contact.code,
                     changed=changed, reason=reason)
        session.commit()


def introduce(runtime: Any, instance_id: int, *, principal: Principal, note: str = "",
              on: Optional[date] = None, client_event_id: Optional[str] = None) -> Any:
    """The previous owner (or their supervisor) logs that the new owner was introduced."""
    inst = get_instance(runtime.db, instance_id)
    if inst is None or inst.flow != "handover":
        raise HandoverRefused(i18n.t("planning.no_instance", what=f"handover #{instance_id}"))
    return runtime.send(instance_id, "introduce", actor=principal.actor, principal=principal,
                        payload={"note": note, "date": on.isoformat() if on else None}, client_event_id=client_event_id)


# ============================================================================================ actions


def _audit(ctx: Any, action_name: str, key: str, detail: dict[str, Any]) -> None:
    ctx.tx.run(insert(AuditEntry.__table__).values(
        at_us=to_us(ctx.now), actor=ctx.actor, action=action_name, entity="contact", entity_key=key, allowed=True,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True)))


@action("open_handover")
def open_handover(ctx: Any) -> None:
    """Move the card to the new owner (and to the new customer on a company move); tell both people."""
    d = ctx.data
    new = MasterData(ctx.tx).person(d["to_owner"])
    if new is None:  # checked before the start too; the step re-checks inside its own transaction
        ctx.refuse(i18n.t("planning.outside_org", value=d["to_owner"]))
    contact = MasterData(ctx.tx).contact(d["contact"])
    if contact is None:
        ctx.refuse(i18n.t("planning.unknown_contact_cli", value=d["contact"]))
    t = Contact.__table__
    values: dict[str, Any] = {"owner_emp_no": d["to_owner"]}
    changed: dict[str, Any] = {"owner_emp_no": [contact.owner_emp_no, d["to_owner"]]}
    if contact.backup_emp_no == d["to_owner"]:
        values["backup_emp_no"] = None  # the backup became the owner (A角 ← B角)
        changed["backup_emp_no"] = [contact.backup_emp_no, None]
    for field_name, key in (("customer_code", "customer"), ("title", "new_title"), ("level", "new_level")):
        value = d.get(key)
        if value and getattr(contact, field_name) != value:
            values[field_name] = value
            changed[field_name] = [getattr(contact, field_name), value]
    ctx.tx.run(update(t).where(t.c.code == d["contact"]).values(**values))
    _audit(ctx, "owner_change", d["contact"], {"changed": changed, "reason": f"handover #{ctx.instance_id}: "
                                                                             f"{d['reason']}"})
    d["moved_at"] = ctx.now.isoformat()
    ctx.mail("handover_new_owner", d["to_email"], dedupe_key=f"{ctx.instance_id}:handover_new_owner")
    if d.get("from_email"):
        ctx.mail("handover_introduce", d["from_email"], dedupe_key=f"{ctx.instance_id}:handover_introduce")


@action("log_introduction")
def log_introduction(ctx: Any) -> None:
    d = ctx.data
    if not rights.introduces(ctx.who(), d):
        ctx.refuse(i18n.t("planning.not_introducer", actor=ctx.actor, src=d.get("from_owner")), ActionNotPermitted)
    d.update(introduced_by=ctx.actor, introduced_at=ctx.now.isoformat(),
             introduction_date=ctx.payload.get("date") or ctx.local_now.date().isoformat(),
             introduction_note=ctx.payload.get("note") or "")
    ctx.mail("handover_done", [d["to_email"]], dedupe_key=f"{ctx.instance_id}:handover_done")


@action("remind_handover")
def remind_handover(ctx: Any) -> None:
    to = ctx.data.get("from_email") or ctx.data.get("from_supervisor_email")
    if to:
        ctx.mail("handover_reminder", to, dedupe_key=f"{ctx.instance_id}:handover_reminder")


@action("escalate_handover")
def escalate_handover(ctx: Any) -> None:
    ctx.data["escalated_at"] = ctx.now.isoformat()
    to = ctx.data.get("from_supervisor_email") or ctx.data.get("sales_management") or []
    ctx.mail("handover_escalated", to, dedupe_key=f"{ctx.instance_id}:handover_escalated")
