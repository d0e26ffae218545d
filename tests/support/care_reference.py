"""The care scan as it was before it streamed (issue 15): every contact, pairing and customer loaded
at once. Kept only as the oracle the streamed `flows.planning.care.care_items` is compared with
(tests/integration/test_care_scan_streamed.py) — never used by the product."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from engine.masterdata.models import Contact, Customer, Employee, SponsorPairing
from engine.masterdata.read import MasterData, as_date
from flows.planning.care import (CareItem, _audit_days, _cadence_starts, _clock_start, _coming_dates,
                                 _customer_brief, _name, _visit_norm_items, contact_cadence, org_tz)
from flows.planning.dates import birthday_in_year, festivals_to_remind, rotation_flag_day, visit_status
from flows.planning.models import Coverage, Visit
from flows.planning.rules import CareRules, FestivalRules, load_care_rules, load_festival_rules
from flows.planning.rules import masterdata_rules as load_masterdata_rules
from flows.planning.rules import tier_rules as load_tier_rules


def care_items_before_streaming(session: Session, day: date, *, care: CareRules | None = None,
               festivals: FestivalRules | None = None, tz: Any = None,
               new_starts: dict[str, date] | None = None, brief: bool = True) -> list[CareItem]:
    """Every care reminder due on `day` (the scan day, in time zone `tz`), for every person; reads only.

    The visit clocks this scan would start (never-visited contacts and pairings seen for the first
    time) are put in `new_starts` when given — the scan records them (`care_cadence_start`)."""
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
    starts = _cadence_starts(session)
    briefs: dict[str, dict[str, Any]] = {}
    for c in contacts:
        cust = customers.get(c.customer_code)
        days = contact_cadence(c, cust.tier, care, tier_days) if cust else None
        if not days:
            continue
        last = as_date(last_visit.get(c.code)) or \
            _clock_start(f"visit:{c.code}", entered.get(c.code), days, day, starts, new_starts)
        st = visit_status(last, days, day, care.visits.escalate_after_days)
        extra = {"last": last.isoformat(), "cadence": days, "visited": c.code in last_visit}
        if st.remind_owner:
            if brief and cust.code not in briefs:
                briefs[cust.code] = _customer_brief(session, cust, care)
            items.append(CareItem(f"visit:{c.code}:{st.due.isoformat()}", "visit", c.owner_emp_no, st.due.isoformat(),
                                  contact=c.code, contact_name=c.name, customer=cust.code, customer_name=cust.name,
                                  overdue_days=st.overdue_days,
                                  extra={**extra, **({"brief": {**briefs[cust.code],
                                                                "dates": _coming_dates(c, cust, day, care, leap)}}
                                                     if brief else {})}))
        owner = people.get(c.owner_emp_no)
        if st.escalate and owner is not None and owner.supervisor_emp_no:
            items.append(CareItem(f"visit:{c.code}:{st.due.isoformat()}", "visit_escalation", owner.supervisor_emp_no,
                                  st.due.isoformat(), contact=c.code, contact_name=c.name, customer=cust.code,
                                  customer_name=cust.name, owner=owner.emp_no, owner_name=owner.name,
                                  overdue_days=st.overdue_days, extra=extra))

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
            _clock_start(f"sponsor:{p.sponsor_emp_no}:{c.code}", paired_on.get(f"{p.sponsor_emp_no}/{c.code}"), days,
                         day, starts, new_starts)
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

    # ---------------------------------------------------------------- weekly visit norm (拜访量) of general customers' managers
    items.extend(_visit_norm_items(session, day, care, tiers, people, starts, new_starts))

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
