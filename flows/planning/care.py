"""Care reminders (客户关怀, SPEC §7): birthdays, Chinese festivals and company dates, customers'
key events, overdue follow-up visits and sponsor meetings, rotation flags — gathered by ONE daily
scan into ONE digest mail per person.

How "never twice" is built, not hoped for:
* every reminder item has a stable key (e.g. `birthday:K001:2027-02-28`, `visit:K003:2027-03-10`)
  and is recorded in `care_reminder` with a unique (item key, recipient) — an item is in exactly
  one digest, ever, however often the scan runs;
* the digest itself is a flow instance per person and day (subject `care:<emp>:<day>`) whose mail
  carries the outbox dedupe key `care-digest:<emp>:<day>` — a re-run the same day sends nothing.

`care_items` is a pure read of the master data (testable on its own); `run_care_scan` turns its
result into digests. The scan runs from the `every: day 07:00 Asia/Shanghai` launch of
flows/planning/care_digest.yaml, or by hand with `mcr care scan --date`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Optional

from sqlalchemy import func
from sqlmodel import Session, col, select

from engine.auth.principal import Principal
from engine.channels.invite import Invite
from engine.clock import to_us
from engine.errors import MCRError, NotPermitted
from engine.masterdata import audit
from engine.masterdata.models import Contact, Customer, Employee, SponsorPairing
from engine.registry import action, launcher
from engine.masterdata.read import MasterData, as_date
from flows.planning.common import start_and_kick
from flows.planning.dates import (birthday_in_year, cadence_days_for, festivals_to_remind, rotation_flag_day,
                                  visit_status)
from engine import i18n
from flows.planning.models import Coverage, Visit
from flows.planning.rules import CareRules, FestivalRules, load_care_rules, load_festival_rules
from flows.planning.rules import masterdata_rules as load_masterdata_rules
from flows.planning.rules import tier_rules as load_tier_rules


@dataclass
class CareItem:
    """One reminder for one person; `key` identifies it for ever (with the recipient)."""

    key: str
    kind: str  # birthday | festival | key_event | visit | visit_escalation | sponsor | sponsor_escalation | rotation
    recipient: str  # emp_no
    day: str  # the date the reminder is about (birthday, festival, due date …)
    title: str = ""
    contact: Optional[str] = None
    contact_name: Optional[str] = None
    customer: Optional[str] = None
    customer_name: Optional[str] = None
    owner: Optional[str] = None
    owner_name: Optional[str] = None
    sponsors: list[str] = field(default_factory=list)  # "姓名(工号)"
    contacts: list[str] = field(default_factory=list)
    overdue_days: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _name(people: dict[str, Any], emp: Optional[str]) -> str:
    return f"{people[emp].name}({emp})" if emp and emp in people else (emp or "-")


def _audit_days(session: Session, entity: str, tz: Any) -> dict[str, date]:
    """The local day each record of `entity` entered master data (the start of its visit clock if
    it was never visited), in one query."""
    from engine.masterdata.models import AuditEntry

    rows = session.exec(select(AuditEntry.entity_key, func.min(AuditEntry.at_us))
                        .where(AuditEntry.entity == entity, AuditEntry.action == "insert")
                        .group_by(AuditEntry.entity_key)).all()
    return {key: datetime.fromtimestamp(us / 1e6, tz=timezone.utc).astimezone(tz).date() for key, us in rows if us}


def care_items(session: Session, day: date, *, care: CareRules | None = None,
               festivals: FestivalRules | None = None, tz: Any = None) -> list[CareItem]:
    """Every care reminder due on `day` (the scan day, in time zone `tz`), for every person; reads only."""
    tz = tz or org_tz()
    care = care or load_care_rules()
    festivals = festivals or load_festival_rules()
    leap = load_masterdata_rules().leap_day_birthdays
    tiers = load_tier_rules()
    tier_days = {t: tiers.policy(t).key_contact_visit_days for t in ("S", "A", "B", "C")}
    people = {e.emp_no: e for e in session.exec(select(Employee))}
    customers = {c.code: c for c in session.exec(select(Customer))}
    contacts = session.exec(select(Contact).order_by(col(Contact.code))).all()
    pairings = session.exec(select(SponsorPairing).order_by(col(SponsorPairing.sponsor_emp_no))).all()
    sponsors_of: dict[str, list[SponsorPairing]] = defaultdict(list)
    for p in pairings:
        sponsors_of[p.contact_code].append(p)
    items: list[CareItem] = []
    cared = [c for c in contacts if customers.get(c.customer_code) and customers[c.customer_code].tier in care.tiers]

    # ---------------------------------------------------------------- birthdays (the day before, by default)
    target = day + timedelta(days=care.birthday_days_before)
    for c in cared:
        if c.birthday is None or birthday_in_year(c.birthday, target.year, leap) != target:
            continue
        cust = customers[c.customer_code]
        items.append(CareItem(
            f"birthday:{c.code}:{target.isoformat()}", "birthday", c.owner_emp_no, target.isoformat(),
            contact=c.code, contact_name=c.name, customer=cust.code, customer_name=cust.name,
            sponsors=[_name(people, p.sponsor_emp_no) + ("" if p.accepted else "*") for p in sponsors_of[c.code]],
            extra={"born": c.birthday.isoformat(), "title": c.title}))

    # ---------------------------------------------------------------- festivals and company dates
    for fest in festivals_to_remind(day, festivals):
        by_owner: dict[str, list[str]] = defaultdict(list)
        for c in cared:
            by_owner[c.owner_emp_no].append(c.name)
        for owner, names in sorted(by_owner.items()):
            items.append(CareItem(f"festival:{fest.name}:{fest.day.isoformat()}", "festival", owner,
                                  fest.day.isoformat(), title=fest.zh, contacts=names,
                                  extra={"en": fest.en, "kind": fest.kind}))

    # ---------------------------------------------------------------- customers' annual key events
    ahead = day + timedelta(days=care.key_event_days_before)
    for cust in customers.values():
        if cust.tier not in care.tiers:
            continue
        for ev in json.loads(cust.key_events or "[]"):
            if not ev.get("day"):
                continue
            try:
                when = date(ahead.year, int(ev["month"]), int(ev["day"]))
            except ValueError:
                continue
            if when == ahead:
                items.append(CareItem(f"key_event:{cust.code}:{when.isoformat()}:{ev.get('title', '')}", "key_event",
                                      cust.owner_emp_no, when.isoformat(), title=str(ev.get("title", "")),
                                      customer=cust.code, customer_name=cust.name))

    # ---------------------------------------------------------------- follow-up visits (a visit resets the clock)
    last_visit = dict(session.exec(select(Visit.contact_code, func.max(Visit.visit_date))
                                   .where(Visit.kind == "visit").group_by(Visit.contact_code)).all())
    entered = _audit_days(session, "contact", tz)
    for c in contacts:
        cust = customers.get(c.customer_code)
        days = cadence_days_for(cust.tier, care, tier_days) if cust else None
        if not days:
            continue
        last = as_date(last_visit.get(c.code)) or entered.get(c.code)
        if last is None:
            continue  # no visit and no record of when tracking began: nothing to count from
        st = visit_status(last, days, day, care.visits.escalate_after_days)
        if st.remind_owner:
            items.append(CareItem(f"visit:{c.code}:{st.due.isoformat()}", "visit", c.owner_emp_no, st.due.isoformat(),
                                  contact=c.code, contact_name=c.name, customer=cust.code, customer_name=cust.name,
                                  overdue_days=st.overdue_days, extra={"last": last.isoformat(), "cadence": days}))
        owner = people.get(c.owner_emp_no)
        if st.escalate and owner is not None and owner.supervisor_emp_no:
            items.append(CareItem(f"visit:{c.code}:{st.due.isoformat()}", "visit_escalation", owner.supervisor_emp_no,
                                  st.due.isoformat(), contact=c.code, contact_name=c.name, customer=cust.code,
                                  customer_name=cust.name, owner=owner.emp_no, owner_name=owner.name,
                                  overdue_days=st.overdue_days, extra={"last": last.isoformat(), "cadence": days}))

    # ---------------------------------------------------------------- sponsor meetings (monthly / bimonthly)
    last_meeting = {(s, c): d for s, c, d in session.exec(
        select(Visit.emp_no, Visit.contact_code, func.max(Visit.visit_date))
        .where(Visit.kind == "sponsor_meeting").group_by(Visit.emp_no, Visit.contact_code)).all()}
    by_code = {c.code: c for c in contacts}
    paired_on = _audit_days(session, "sponsor_pairing", tz)
    for p in pairings:
        c = by_code.get(p.contact_code)
        days = care.visits.sponsor_days.get(p.cadence)  # type: ignore[call-overload]
        if not p.accepted or c is None or not days:
            continue
        last = as_date(last_meeting.get((p.sponsor_emp_no, c.code))) or \
            paired_on.get(f"{p.sponsor_emp_no}/{c.code}")
        if last is None:
            continue
        st = visit_status(last, days, day, care.visits.escalate_after_days)
        cust = customers.get(c.customer_code)
        common = dict(contact=c.code, contact_name=c.name, customer=c.customer_code,
                      customer_name=cust.name if cust else None, overdue_days=st.overdue_days,
                      sponsors=[_name(people, p.sponsor_emp_no)], extra={"last": last.isoformat(), "cadence": p.cadence})
        key = f"sponsor:{p.sponsor_emp_no}:{c.code}:{st.due.isoformat()}"
        if st.remind_owner:
            for who in {p.sponsor_emp_no, c.owner_emp_no}:
                items.append(CareItem(key, "sponsor", who, st.due.isoformat(), **common))  # type: ignore[arg-type]
        owner = people.get(c.owner_emp_no)
        if st.escalate and owner is not None and owner.supervisor_emp_no:
            items.append(CareItem(key, "sponsor_escalation", owner.supervisor_emp_no, st.due.isoformat(),
                                  owner=owner.emp_no, owner_name=owner.name, **common))  # type: ignore[arg-type]

    # ---------------------------------------------------------------- rotation: 4 years on one customer, a quarter ahead
    known = {(cv.customer_code, cv.emp_no): cv.since for cv in session.exec(select(Coverage))}
    for cust in customers.values():
        emp = people.get(cust.owner_emp_no)
        if emp is None or not emp.supervisor_emp_no:
            continue
        since = known.get((cust.code, emp.emp_no)) or \
            MasterData.of_session(session).audit_since("customer", cust.code, emp.emp_no, tz)
        if since is None:
            continue
        end, flag = rotation_flag_day(since, care.rotation.years, care.rotation.flag_days_ahead)
        if day >= flag:
            items.append(CareItem(f"rotation:{emp.emp_no}:{cust.code}:{since.isoformat()}", "rotation",
                                  emp.supervisor_emp_no, end.isoformat(), customer=cust.code, customer_name=cust.name,
                                  owner=emp.emp_no, owner_name=emp.name,
                                  extra={"since": since.isoformat(), "years": care.rotation.years}))
    return items


# ============================================================================================ the scan and the digest


@dataclass
class ScanReport:
    day: str
    people: int = 0
    items: int = 0
    mails: int = 0
    digests: list[int] = field(default_factory=list)

    def summary(self) -> str:
        return i18n.t("planning.scan_summary", day=self.day, people=self.people, items=self.items, mails=self.mails)


def run_care_scan(runtime: Any, day: date, *, actor: str = "system") -> ScanReport:
    """Find `day`'s reminders and send each person ONE digest (nothing already reminded, nothing twice)."""
    with runtime.db.session() as session:
        items = care_items(session, day, tz=runtime.calendars.get(None).tz)
        people = {e.emp_no: e for e in session.exec(select(Employee))}
    with runtime.db.read() as tx:  # items reminded before are left out here (and, race-safe, in the step)
        done = {(r[0], r[1]) for r in tx.all("SELECT item_key, recipient_emp_no FROM care_reminder")} if items else set()
    per_person: dict[str, list[CareItem]] = defaultdict(list)
    for item in items:
        if (item.key, item.recipient) not in done:
            per_person[item.recipient].append(item)
    report = ScanReport(day.isoformat())
    for emp, mine in sorted(per_person.items()):
        person = people.get(emp)
        if person is None:
            continue
        before = _count_reminders(runtime, emp, day)
        iid, kicked = start_and_kick(
            runtime, "care_digest", {"emp": emp, "emp_name": person.name, "email": person.email, "day": day.isoformat(),
                                     "locale": person.locale},
            subject=f"care:{emp}:{day.isoformat()}", event="deliver", actor=actor, locale=person.locale,
            payload={"items": [asdict(i) for i in mine]})
        report.digests.append(iid)
        if kicked:
            report.people += 1
            new = _count_reminders(runtime, emp, day) - before
            report.items += new
            report.mails += 1 if new else 0
    return report


def _count_reminders(runtime: Any, emp: str, day: date) -> int:
    with runtime.db.read() as tx:
        return int(tx.one("SELECT COUNT(*) FROM care_reminder WHERE recipient_emp_no = :e AND digest_day = :d",
                          {"e": emp, "d": day.isoformat()})[0])


@launcher("care_daily_scan")
def care_daily_scan(ctx: Any) -> int:
    day = ctx.occurrence.astimezone(ctx.launch.recurrence.tz).date()
    return run_care_scan(ctx.runtime, day).people


@action("deliver_digest")
def deliver_digest(ctx: Any) -> None:
    """Record each item in care_reminder (unique per item and recipient); mail only the new ones."""
    fresh = []
    for item in ctx.payload.get("items") or []:
        cur = ctx.tx.execute(
            "INSERT INTO care_reminder (item_key, recipient_emp_no, kind, digest_day, digest_instance_id, at_us) "
            "VALUES (:k, :r, :kind, :d, :i, :now) ON CONFLICT DO NOTHING",
            {"k": item["key"], "r": item["recipient"], "kind": item["kind"], "d": ctx.data["day"],
             "i": ctx.instance_id, "now": to_us(ctx.now)})
        if cur.rowcount == 1:
            fresh.append(item)
    order = ("birthday", "festival", "key_event", "sponsor", "visit", "sponsor_escalation", "visit_escalation",
             "rotation")
    fresh.sort(key=lambda i: (order.index(i["kind"]) if i["kind"] in order else 99, i["day"], i.get("contact") or ""))
    ctx.data["items"] = fresh
    ctx.data["sent"] = len(fresh)
    if fresh:
        # Each visit due goes into the owner's calendar too (.ics, engine/channels/invite.py), on its due
        # day (today if already overdue); the item key makes the entry's UID, so a resend updates it.
        today = date.fromisoformat(ctx.data["day"])
        visits = [Invite.all_day(f"care:{i['key']}", max(date.fromisoformat(i["day"]), today),
                                 summary=i18n.t("engine.notify.invite.visit", ctx.locale, contact=i.get("contact_name") or "",
                                                customer=i.get("customer_name") or ""))
                  for i in fresh if i["kind"] == "visit"]
        ctx.mail("care_digest", ctx.data["email"], dedupe_key=f"care-digest:{ctx.data['emp']}:{ctx.data['day']}",
                 invite=visits)


# ============================================================================================ visits and coverage


def log_visit(db: Any, clock: Any, contact: str, *, principal: Principal, on: date, kind: str = "visit",
              note: Optional[str] = None, by: Optional[str] = None) -> dict[str, Any]:
    """`mcr care visit log`: record a visit (or sponsor meeting) made by `by` (default: the principal);
    the cadence clock restarts from it.

    Only the contact's owner, backup owner, a paired sponsor, or a supervisor above one of them logs
    it (`NotPermitted`, audited); the visitor must be one of those people too.
    """
    by = by or principal.emp_no
    if kind not in ("visit", "sponsor_meeting"):
        raise MCRError(i18n.t("planning.bad_visit_kind", value=kind))
    today = clock.now().astimezone(org_tz()).date()
    if on > today:
        raise MCRError(i18n.t("planning.visit_future", date=on.isoformat(), today=today.isoformat()))
    care = load_care_rules()
    tiers = load_tier_rules()
    with db.session() as session:
        c = session.exec(select(Contact).where(Contact.code == contact)).first()
        if c is None:
            raise MCRError(i18n.t("planning.unknown_contact_cli", value=contact))
        if session.exec(select(Employee).where(Employee.emp_no == by)).first() is None:
            raise MCRError(i18n.t("planning.outside_org", value=by))
        people = {c.owner_emp_no, c.backup_emp_no} | set(
            session.exec(select(SponsorPairing.sponsor_emp_no).where(SponsorPairing.contact_code == contact)))
        people.discard(None)
        # the logger is one of them or above one of them, and logs their own visit or a subordinate's
        if not (principal.is_engine or (any(principal.covers(p) for p in people) and principal.covers(by))):
            audit.record(session, clock, actor=principal.actor, action="visit_log", entity="contact", key=contact,
                         allowed=False)
            session.commit()
            raise NotPermitted(i18n.t("planning.not_visit_logger", actor=principal.actor, contact=contact))
        cadence: Optional[int]
        if kind == "sponsor_meeting":
            pairing = session.exec(select(SponsorPairing).where(SponsorPairing.contact_code == contact,
                                                                SponsorPairing.sponsor_emp_no == by)).first()
            if pairing is None:
                raise MCRError(i18n.t("planning.not_sponsor", emp=by, contact=contact))
            cadence = care.visits.sponsor_days.get(pairing.cadence)  # type: ignore[call-overload]
        else:
            cust = session.exec(select(Customer).where(Customer.code == c.customer_code)).first()
            cadence = cadence_days_for(cust.tier, care, {t: tiers.policy(t).key_contact_visit_days
                                                        for t in ("S", "A", "B", "C")}) if cust else None
        session.add(Visit(contact_code=contact, emp_no=by, kind=kind, visit_date=on, note=note, actor=principal.actor,
                          at_us=to_us(clock.now())))
        session.commit()
    due = (on + timedelta(days=cadence)).isoformat() if cadence else "-"
    return {"contact": contact, "by": by, "date": on.isoformat(), "kind": kind, "next_due": due,
            "message": i18n.t("planning.visit_logged", emp=by, contact=contact, kind=i18n.t(f"planning.kind.{kind}"), date=on.isoformat(),
                           due=due)}


def set_coverage(db: Any, clock: Any, customer: str, emp: str, since: date, *, principal: Principal) -> None:
    """Record since when `emp` covers `customer` (for rotation), when the audit log does not know."""
    actor = principal.actor
    with db.session() as session:
        if session.exec(select(Customer).where(Customer.code == customer)).first() is None:
            raise MCRError(i18n.t("planning.unknown_customer_cli", value=customer))
        if session.exec(select(Employee).where(Employee.emp_no == emp)).first() is None:
            raise MCRError(i18n.t("planning.outside_org", value=emp))
        row = session.exec(select(Coverage).where(Coverage.customer_code == customer, Coverage.emp_no == emp)).first()
        if row is None:
            session.add(Coverage(customer_code=customer, emp_no=emp, since=since, actor=actor, at_us=to_us(clock.now())))
        else:
            row.since, row.actor, row.at_us = since, actor, to_us(clock.now())
            session.add(row)
        session.commit()


def org_tz() -> Any:
    """The company's time zone for calendar days: the default business calendar's (CN: Asia/Shanghai)."""
    from engine.app import load_calendar_registry

    return load_calendar_registry().get(None).tz
