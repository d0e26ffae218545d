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
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from typing import Any, Iterator, NamedTuple, Optional

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from engine.auth.principal import Principal
from engine.channels.invite import Invite
from engine.clock import to_us
from engine.errors import MCRError, NotPermitted
from engine.masterdata import audit
from engine.masterdata.models import Contact, Customer, Employee, SponsorPairing
from engine.registry import action, launcher
from engine.db import Tx
from engine.masterdata.read import MasterData, Pairing, as_date, local_day
from flows.planning.common import Kick, start_and_kick_many
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


def _audit_days(session: Session, entity: str, tz: Any, span: Optional[tuple[str, str]] = None,
                keys: Optional[list[str]] = None) -> dict[str, date]:
    """The local day each record of `entity` entered master data (the start of its visit clock if
    it was never visited), in one query; only keys between `span` = (first, last), or only `keys`
    (at most 500), when given."""
    return MasterData.of_session(session).entry_days(entity, tz, span, keys)


# The scan's reads, as SQL text written once: a SQLAlchemy statement built and compiled per call,
# and an ORM or typed row per result, cost more than the scan's own work at a company's size.
# Dates are passed and compared as ISO text (how SQLite stores them; PostgreSQL casts the literal).
_SCAN_CONTACTS = ("SELECT c.code, c.name, c.customer_code, c.owner_emp_no, c.birthday, c.title, c.visit_pbc, "
                  "cu.tier, cu.name AS customer_name, cu.key_events FROM contact c")
# The contact pages go through the session's connection (not the raw cursor): one read per 5,000
# contacts, and the statement events see them (the bounded-read test counts them).
_CONTACT_FIRST_PAGE = text(_SCAN_CONTACTS + " LEFT OUTER JOIN customer cu ON cu.code = c.customer_code "
                                            "ORDER BY c.code LIMIT :n")
_CONTACT_NEXT_PAGE = text(_SCAN_CONTACTS + " LEFT OUTER JOIN customer cu ON cu.code = c.customer_code "
                                           "WHERE c.code > :after ORDER BY c.code LIMIT :n")
_BRIEF_CONTACTS = _SCAN_CONTACTS + " JOIN customer cu ON cu.code = c.customer_code WHERE c.code IN ({marks})"
_LAST_VISITS = ("SELECT contact_code, MAX(visit_date) FROM care_visit WHERE kind = 'visit' "
                "AND contact_code BETWEEN :first AND :last GROUP BY contact_code")
_LAST_MEETINGS = ("SELECT emp_no, contact_code, MAX(visit_date) FROM care_visit WHERE kind = 'sponsor_meeting' "
                  "AND contact_code BETWEEN :first AND :last GROUP BY emp_no, contact_code")
_VISITS_PER_EMP = ("SELECT emp_no, COUNT(*) FROM care_visit WHERE kind = 'visit' AND visit_date >= :start "
                   "AND visit_date <= :end GROUP BY emp_no")
_CADENCE_STARTS = "SELECT cadence_key, started FROM care_cadence_start"
_CADENCE_STARTS_BETWEEN = _CADENCE_STARTS + " WHERE cadence_key BETWEEN :first AND :last"
_CADENCE_STARTS_OF = _CADENCE_STARTS + " WHERE cadence_key IN ({marks})"
_COVERAGE_OF = "SELECT customer_code, emp_no, since FROM care_coverage WHERE customer_code IN ({marks})"


class _ScanContact(NamedTuple):
    """A row of `_SCAN_CONTACTS`: a contact with its customer's tier, name and key events."""

    code: str
    name: str
    customer_code: str
    owner_emp_no: str
    birthday: Any  # text on SQLite, a date on PostgreSQL: read with `as_date`
    title: Optional[str]
    visit_pbc: Optional[str]
    tier: Optional[str]
    customer_name: Optional[str]
    key_events: Optional[str]


def _in(sql: str, values: list[str]) -> tuple[str, dict[str, str]]:
    """`sql` with its `{marks}` filled for `values` (at most 500 per statement) and the parameters."""
    return sql.format(marks=", ".join(f":v{i}" for i in range(len(values)))), {f"v{i}": v for i, v in enumerate(values)}


SCAN_CHUNK = 5000  # contacts per read of the daily scan: its memory is bounded by this, not by the contacts


def _contact_chunks(session: Session, chunk: int) -> Iterator[list[Any]]:
    """All contacts with their customer's tier, name and key events, `chunk` at a time in code order
    (keyset pagination on the unique code: each read is an index range, whatever the table's size)."""
    conn = session.connection()
    # untyped rows (a date is text on SQLite: `as_date` reads both), no ORM row processing for a million rows
    rows = conn.execute(_CONTACT_FIRST_PAGE, {"n": chunk}).all()
    while rows:
        yield rows
        if len(rows) < chunk:
            return
        rows = conn.execute(_CONTACT_NEXT_PAGE, {"after": rows[-1].code, "n": chunk}).all()


@dataclass
class _Cust:
    """The customer fields the reminders, briefs and coming dates read."""

    code: str
    name: str
    tier: str
    key_events: Optional[str]


def care_items(session: Session, day: date, *, care: CareRules | None = None,
               festivals: FestivalRules | None = None, tz: Any = None,
               new_starts: dict[str, date] | None = None, brief: bool = True,
               chunk: int = SCAN_CHUNK) -> list[CareItem]:
    """Every care reminder due on `day` (the scan day, in time zone `tz`), for every person; reads only.

    Streams: contacts are read `chunk` at a time with what decides their reminders (last visit,
    entry day, clock start, sponsor pairings) read for that chunk only, and customers likewise — the
    memory held is one chunk plus the reminders found, whatever the number of contacts.

    The visit clocks this scan would start (never-visited contacts and pairings seen for the first
    time) are put in `new_starts` when given — the scan records them (`care_cadence_start`)."""
    tz = tz or org_tz()
    care = care or load_care_rules()
    festivals = festivals or load_festival_rules()
    leap = load_masterdata_rules().leap_day_birthdays
    tiers = load_tier_rules()
    tier_days = {t: tiers.policy(t).key_contact_visit_days for t in ("S", "A", "B", "C")}
    session.flush()  # the reads below are raw, and see what the session holds only once it is flushed
    md = MasterData.of_session(session)
    people = md.person_names()
    cared_tiers = set(care.tiers)
    target = day + timedelta(days=care.birthday_days_before)
    target_s = target.isoformat()
    fests = festivals_to_remind(day, festivals)
    names_by_owner: dict[str, list[str]] = defaultdict(list)
    birthdays: list[CareItem] = []
    visits: list[CareItem] = []
    sponsor_items: list[tuple[str, int, list[CareItem]]] = []  # (sponsor, pairing id, items): the old order
    briefs: dict[str, dict[str, Any]] = {}
    escalate_after = care.visits.escalate_after_days
    cadences: dict[tuple[str, Optional[str]], Optional[int]] = {}  # (tier, PBC) → days: a handful of pairs

    for rows in _contact_chunks(session, chunk):
        span = {"first": rows[0].code, "last": rows[-1].code}
        pairings = md.pairings_between(span["first"], span["last"])
        sponsors_of: dict[str, list[Pairing]] = defaultdict(list)
        for p in pairings:
            sponsors_of[p.contact_code].append(p)
        last_visit = dict(md.tx.all(_LAST_VISITS, span))
        entered = md.entry_us("contact", (span["first"], span["last"]))  # the day of the few never visited
        starts = _starts_between(md.tx, f"visit:{span['first']}", f"visit:{span['last']}")

        for c in rows:
            code, name, customer_code, owner_emp, born, title, visit_pbc, tier, customer_name, key_events = c
            if tier is None:  # no such customer: no care
                continue
            # ---------------------------------------------------- birthdays (the day before, by default)
            if tier in cared_tiers:
                if fests:
                    names_by_owner[owner_emp].append(name)
                if born is not None and birthday_in_year(as_date(born), target.year, leap) == target:
                    birthdays.append(CareItem(
                        f"birthday:{code}:{target_s}", "birthday", owner_emp, target_s,
                        contact=code, contact_name=name, customer=customer_code, customer_name=customer_name,
                        sponsors=[_name(people, p.sponsor_emp_no) + ("" if p.accepted else "*")
                                  for p in sponsors_of.get(code, ())],
                        extra={"born": as_date(born).isoformat(), "title": title}))  # type: ignore[union-attr]
            # ---------------------------------------------------- follow-up visits (a visit resets the clock)
            shape = (tier, visit_pbc)
            if shape in cadences:
                days = cadences[shape]
            else:
                days = cadences[shape] = contact_cadence(c, tier, care, tier_days)
            if not days:
                continue
            visited = last_visit.get(code)
            last = as_date(visited) or _clock_start(f"visit:{code}", _day(entered.get(code), tz), days, day, starts,
                                                    new_starts)
            st = visit_status(last, days, day, escalate_after)
            if not st.remind_owner:  # escalation comes later than the owner's reminder
                continue
            due = st.due.isoformat()
            key = f"visit:{code}:{due}"
            extra = {"last": last.isoformat(), "cadence": days, "visited": visited is not None}
            mine = dict(extra)  # the owner's own: a brief is added to it, never to the escalation's
            if brief:
                mine["brief"] = _visit_brief(session, briefs, c, _Cust(customer_code, customer_name, tier, key_events),
                                             day, care, leap)
            visits.append(CareItem(key, "visit", owner_emp, due, contact=code, contact_name=name,
                                   customer=customer_code, customer_name=customer_name,
                                   overdue_days=st.overdue_days, extra=mine))
            owner = people.get(owner_emp)
            if st.escalate and owner is not None and owner.supervisor_emp_no:
                visits.append(CareItem(key, "visit_escalation", owner.supervisor_emp_no, due, contact=code,
                                       contact_name=name, customer=customer_code, customer_name=customer_name,
                                       owner=owner.emp_no, owner_name=owner.name, overdue_days=st.overdue_days,
                                       extra=extra))
        if pairings:
            sponsor_items.extend(_sponsor_items(md, day, care, tz, people, {c.code: c for c in rows}, pairings,
                                                new_starts))

    items = birthdays
    # ---------------------------------------------------------------- festivals and company dates
    for fest in fests:
        for owner, names in sorted(names_by_owner.items()):
            items.append(CareItem(f"festival:{fest.name}:{fest.day.isoformat()}", "festival", owner,
                                  fest.day.isoformat(), title=fest.zh, contacts=names,
                                  extra={"en": fest.en, "kind": fest.kind}))
    # ---------------------------------------------------------------- customers' annual key events and rotation
    key_events, rotations = _customer_items(md, day, care, tz, people)
    items.extend(key_events)
    items.extend(visits)
    for _sponsor, _id, found in sorted(sponsor_items, key=lambda s: (s[0], s[1])):
        items.extend(found)
    # ---------------------------------------------------------------- weekly visit norm (拜访量) of general customers' managers
    norm_starts = _starts_between(md.tx, "norm:", "norm:\uffff")
    items.extend(_visit_norm_items(session, day, care, tiers, people, norm_starts, new_starts))
    items.extend(rotations)
    return items


def _sponsor_items(md: MasterData, day: date, care: CareRules, tz: Any, people: dict[str, Any],
                   contacts: dict[str, Any], pairings: list[Pairing],
                   new_starts: dict[str, date] | None) -> list[tuple[str, int, list[CareItem]]]:
    """Sponsor meetings (monthly / bimonthly) of one chunk's pairings: the sponsor and the owner are
    reminded when one is overdue, the owner's supervisor after the grace."""
    span = {"first": min(p.contact_code for p in pairings), "last": max(p.contact_code for p in pairings)}
    last_meeting = {(s, c): d for s, c, d in md.tx.all(_LAST_MEETINGS, span)}
    paired_on: dict[str, date] = {}
    starts: dict[str, Any] = {}
    for i in range(0, len(pairings), 500):  # by key (a pairing's key sorts by sponsor, not by contact)
        part = pairings[i:i + 500]
        paired_on.update(md.entry_days("sponsor_pairing", tz, keys=[f"{p.sponsor_emp_no}/{p.contact_code}" for p in part]))
        sql, params = _in(_CADENCE_STARTS_OF, [f"sponsor:{p.sponsor_emp_no}:{p.contact_code}" for p in part])
        starts.update(md.tx.all(sql, params))
    out: list[tuple[str, int, list[CareItem]]] = []
    for p in pairings:
        c = contacts.get(p.contact_code)
        days = care.visits.sponsor_days.get(p.cadence)  # type: ignore[call-overload]
        if not p.accepted or c is None or not days:
            continue
        last = as_date(last_meeting.get((p.sponsor_emp_no, c.code))) or \
            _clock_start(f"sponsor:{p.sponsor_emp_no}:{c.code}", paired_on.get(f"{p.sponsor_emp_no}/{c.code}"), days,
                         day, starts, new_starts)  # type: ignore[arg-type]
        st = visit_status(last, days, day, care.visits.escalate_after_days)
        common = dict(contact=c.code, contact_name=c.name, customer=c.customer_code,
                      customer_name=c.customer_name, overdue_days=st.overdue_days,
                      sponsors=[_name(people, p.sponsor_emp_no)], extra={"last": last.isoformat(), "cadence": p.cadence})
        key = f"sponsor:{p.sponsor_emp_no}:{c.code}:{st.due.isoformat()}"
        found: list[CareItem] = []
        if st.remind_owner:
            for who in {p.sponsor_emp_no, c.owner_emp_no}:
                found.append(CareItem(key, "sponsor", who, st.due.isoformat(), **common))  # type: ignore[arg-type]
        owner = people.get(c.owner_emp_no)
        if st.escalate and owner is not None and owner.supervisor_emp_no:
            found.append(CareItem(key, "sponsor_escalation", owner.supervisor_emp_no, st.due.isoformat(),
                                  owner=owner.emp_no, owner_name=owner.name, **common))  # type: ignore[arg-type]
        if found:
            out.append((p.sponsor_emp_no, p.id or 0, found))
    return out


def _customer_items(md: MasterData, day: date, care: CareRules, tz: Any,
                    people: dict[str, Any]) -> tuple[list[CareItem], list[CareItem]]:
    """Customers' annual key events, and rotation (4 years on one customer, flagged a quarter
    ahead), read customer by customer in chunks."""
    ahead = day + timedelta(days=care.key_event_days_before)
    events: list[CareItem] = []
    rotations: list[CareItem] = []
    for rows in md.customer_pages(500):  # 500: the bound on IN (...) parameters
        for cust in rows:
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
                    events.append(CareItem(f"key_event:{cust.code}:{when.isoformat()}:{ev.get('title', '')}",
                                           "key_event", cust.owner_emp_no, when.isoformat(),
                                           title=str(ev.get("title", "")), customer=cust.code,
                                           customer_name=cust.name))
        flagged = [c for c in rows if (e := people.get(c.owner_emp_no)) is not None and e.supervisor_emp_no]
        if not flagged:
            continue
        sql, params = _in(_COVERAGE_OF, [c.code for c in flagged])
        known = {(code, emp): as_date(since) for code, emp, since in md.tx.all(sql, params)}
        unknown = {c.code: c.owner_emp_no for c in flagged if (c.code, c.owner_emp_no) not in known}
        audited = md.audit_since_many("customer", unknown, tz) if unknown else {}
        for cust in flagged:
            emp = people[cust.owner_emp_no]
            since = known.get((cust.code, emp.emp_no)) or audited.get(cust.code)
            if since is None:
                continue
            end, flag = rotation_flag_day(since, care.rotation.years, care.rotation.flag_days_ahead)
            if day >= flag:
                rotations.append(CareItem(f"rotation:{emp.emp_no}:{cust.code}:{since.isoformat()}", "rotation",
                                          emp.supervisor_emp_no, end.isoformat(), customer=cust.code,
                                          customer_name=cust.name, owner=emp.emp_no, owner_name=emp.name,
                                          extra={"since": since.isoformat(), "years": care.rotation.years}))
    return events, rotations


def contact_cadence(contact: Any, tier: str, care: CareRules, tier_days: dict[str, int | None]) -> int | None:
    """Days between visits of `contact`: its tier's cadence, or its PBC's (每周拜访3次 → every 3 days)
    when that asks for more; None when neither sets one (general customers: the weekly norm only)."""
    days = cadence_days_for(tier, care, tier_days)
    pbc = pbc_commitment(contact.visit_pbc)
    if pbc is not None:
        per = -(-pbc["days"] // pbc["visits"])  # ceil: 3 a week → a visit at most every 3 days
        days = min(days, per) if days else per
    return days


def pbc_commitment(value: Optional[str]) -> Optional[dict[str, int]]:
    """The card's PBC visit commitment as stored by the importer ({"visits": n, "days": d}), or None."""
    if not value:
        return None
    data = json.loads(value)
    return {"visits": int(data["visits"]), "days": int(data["days"])}


def _cadence_starts(session: Session, keys: Optional[tuple[str, str]] = None) -> dict[str, date]:
    """Recorded clock starts, all or those with keys between `keys` = (first, last)."""
    tx = MasterData.of_session(session).tx
    rows = tx.all(_CADENCE_STARTS) if keys is None else _starts_between(tx, *keys).items()
    return {k: as_date(v) for k, v in rows}  # type: ignore[misc]


def _starts_between(tx: Tx, first: str, last: str) -> dict[str, Any]:
    """Recorded clock starts with keys in [first, last], as stored (`_clock_start` reads the few it needs)."""
    return dict(tx.all(_CADENCE_STARTS_BETWEEN, {"first": first, "last": last}))


def _day(us: Optional[int], tz: Any) -> Optional[date]:
    return local_day(us, tz) if us else None


def _clock_start(key: str, entered: Optional[date], days: int, day: date, starts: dict[str, Any],
                 new_starts: dict[str, date] | None) -> date:
    """Where a never-visited contact's (or pairing's) visit clock starts: as recorded by the first
    scan that saw it; else its import day when that is less than one period ago, else today — so a
    first scan over old data finds nothing overdue (no flood on the first day, issue 14)."""
    if key in starts:
        return as_date(starts[key])  # type: ignore[return-value]
    start = entered if entered is not None and entered + timedelta(days=days) >= day else day
    if new_starts is not None:
        new_starts[key] = start
    return start


def _visit_brief(session: Session, briefs: dict[str, dict[str, Any]], contact: Any, cust: _Cust, day: date,
                 care: CareRules, leap: Any) -> dict[str, Any]:
    """A visit reminder's pre-visit brief: the customer's ITR part (read once per customer and scan,
    kept in `briefs`) and the contact's coming dates."""
    if cust.code not in briefs:
        briefs[cust.code] = _customer_brief(session, cust, care)  # type: ignore[arg-type]
    return {**briefs[cust.code], "dates": _coming_dates(contact, cust, day, care, leap)}  # type: ignore[arg-type]


def add_briefs(session: Session, items: list[CareItem], day: date, *, care: CareRules | None = None) -> None:
    """Give each visit reminder of `items` (from `care_items(..., brief=False)`) the brief
    `care_items` would have given it. The scan briefs only the reminders it is about to send: an
    overdue contact is seen again every day until visited, and its brief (an ITR read) is wanted once."""
    care = care or load_care_rules()
    leap = load_masterdata_rules().leap_day_birthdays
    visits = [i for i in items if i.kind == "visit" and i.contact and "brief" not in i.extra]
    codes = sorted({i.contact for i in visits if i.contact})
    tx = MasterData.of_session(session).tx
    contacts: dict[str, Any] = {}
    for i in range(0, len(codes), 500):  # the bound on IN (...) parameters
        contacts.update((r[0], _ScanContact(*r)) for r in tx.all(*_in(_BRIEF_CONTACTS, codes[i:i + 500])))
    briefs: dict[str, dict[str, Any]] = {}
    for item in visits:
        c = contacts.get(item.contact or "")
        if c is not None:
            cust = _Cust(c.customer_code, c.customer_name, c.tier, c.key_events)
            item.extra["brief"] = _visit_brief(session, briefs, c, cust, day, care, leap)


def _customer_brief(session: Session, cust: Customer, care: CareRules) -> dict[str, Any]:
    """The ITR part of the pre-visit brief, through the ITR family's public service (None if absent)."""
    from engine import plugins

    brief = plugins.service("itr", "customer_brief")
    if brief is None:
        return {"issues": [], "open_total": 0, "callbacks": []}
    found = brief(session, cust.code, principal=Principal.engine("care"), issues=care.brief.issues,
                  callbacks=care.brief.callbacks)
    return {"issues": [i.model_dump() for i in found.open_issues], "open_total": found.open_total,
            "callbacks": [c.model_dump() for c in found.callbacks]}


def _coming_dates(contact: Any, cust: Customer, day: date, care: CareRules, leap: Any) -> list[dict[str, str]]:
    """The contact's birthday and the customer's key events within `brief.days_ahead` days."""
    end = day + timedelta(days=care.brief.days_ahead)
    out: list[dict[str, str]] = []
    born = as_date(contact.birthday)  # a raw row's date is text on SQLite
    if born is not None:
        for year in (day.year, day.year + 1):
            when = birthday_in_year(born, year, leap)
            if day <= when <= end:
                out.append({"kind": "birthday", "day": when.isoformat(), "title": contact.name})
    for ev in json.loads(cust.key_events or "[]"):
        for year in (day.year, day.year + 1):
            try:
                when = date(year, int(ev["month"]), int(ev.get("day") or 1))
            except (ValueError, KeyError):
                continue
            if day <= when <= end:
                out.append({"kind": "key_event", "day": when.isoformat(), "title": str(ev.get("title", ""))})
    return sorted(out, key=lambda d: d["day"])


def week_bounds(day: date) -> tuple[date, date]:
    """Monday and Sunday of the ISO week of `day`."""
    monday = day - timedelta(days=day.isoweekday() - 1)
    return monday, monday + timedelta(days=6)


def norm_managers(session: Session, care: CareRules, tiers: Any) -> dict[str, int]:
    """Who owes the weekly visit norm and how many visits: the owners/backups (rules `visit_norm.who`)
    of customers of the norm's tiers, with the highest `manager_visits_per_week` among their customers."""
    owed: dict[str, int] = {}
    norms: dict[str, Any] = {}
    # keyset pages of the general customers, not every one as an object
    for page in MasterData.of_session(session).customer_pages(5000, tiers=list(care.visit_norm.tiers)):
        for cust in page:
            if cust.tier not in norms:
                norms[cust.tier] = tiers.policy(cust.tier).manager_visits_per_week
            norm = norms[cust.tier]
            if not norm:
                continue
            for role in care.visit_norm.who:
                emp = cust.owner_emp_no if role == "owner" else cust.backup_emp_no
                if emp:
                    owed[emp] = max(owed.get(emp, 0), norm)
    return owed


def visits_between(session: Session, start: date, end: date, emps: Optional[set[str]] = None) -> dict[str, int]:
    """Customer visits (kind visit) logged per employee with a visit date in [start, end]."""
    rows = MasterData.of_session(session).tx.all(_VISITS_PER_EMP, {"start": start.isoformat(), "end": end.isoformat()})
    return {k: int(v) for k, v in rows if emps is None or k in emps}


def _visit_norm_items(session: Session, day: date, care: CareRules, tiers: Any, people: dict[str, Any],
                      starts: dict[str, Any], new_starts: dict[str, date] | None) -> list[CareItem]:
    """On the reminder weekday, managers still short of the week's norm; on Monday, last week's
    shortfalls to their supervisors (exactly the norm is enough)."""
    owed = norm_managers(session, care, tiers)
    # A week is judged only when the norm was known from its Monday on: the first scan that sees a
    # manager starts their clock, so a first day mid-week asks nothing of the week before.
    since = {emp: as_date(starts.get(f"norm:{emp}")) or _clock_start(f"norm:{emp}", None, 7, day, starts, new_starts)
             for emp in owed}
    weekday = day.isoweekday()
    if not owed or weekday not in (care.visit_norm.remind_weekday, 1):
        return []
    out: list[CareItem] = []
    if weekday == care.visit_norm.remind_weekday:
        monday, sunday = week_bounds(day)
        made = visits_between(session, monday, day, set(owed))
        for emp, norm in sorted(owed.items()):
            if made.get(emp, 0) < norm and emp in people and since[emp] <= monday:
                week = _iso_week(monday)
                out.append(CareItem(f"visit_norm:{emp}:{week}", "visit_norm", emp, sunday.isoformat(), title=week,
                                    owner=emp, owner_name=people[emp].name,
                                    extra={"made": made.get(emp, 0), "norm": norm, "week": week,
                                           "from": monday.isoformat(), "to": sunday.isoformat()}))
    if weekday == 1:
        monday, sunday = week_bounds(day - timedelta(days=7))
        made = visits_between(session, monday, sunday, set(owed))
        for emp, norm in sorted(owed.items()):
            person = people.get(emp)
            if made.get(emp, 0) < norm and person is not None and person.supervisor_emp_no and since[emp] <= monday:
                week = _iso_week(monday)
                out.append(CareItem(f"visit_norm:{emp}:{week}", "visit_norm_escalation", person.supervisor_emp_no,
                                    sunday.isoformat(), title=week, owner=emp, owner_name=person.name,
                                    extra={"made": made.get(emp, 0), "norm": norm, "week": week,
                                           "from": monday.isoformat(), "to": sunday.isoformat()}))
    return out


def _iso_week(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


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
    starts: dict[str, date] = {}
    with runtime.db.session() as session:
        items = care_items(session, day, tz=runtime.calendars.get(None).tz, new_starts=starts, brief=False)
        done = _reminded_before(runtime, {i.key for i in items})
        items = [i for i in items if (i.key, i.recipient) not in done]
        add_briefs(session, items, day)
        people = {e.emp_no: e for e in session.exec(select(Employee.emp_no, Employee.name, Employee.email,
                                                            Employee.locale))}
    if starts:  # the clocks this first sight started; a concurrent scan recording the same is harmless
        with runtime.db.tx() as tx:
            tx.many("INSERT INTO care_cadence_start (cadence_key, started, at_us) VALUES (:k, :d, :now) "
                    "ON CONFLICT DO NOTHING", [{"k": k, "d": d.isoformat(), "now": to_us(runtime.clock.now())}
                                               for k, d in sorted(starts.items())])
    per_person: dict[str, list[CareItem]] = defaultdict(list)
    for item in items:
        per_person[item.recipient].append(item)
    kicks = [Kick(f"care:{emp}:{day.isoformat()}", {"emp": emp, "emp_name": person.name, "email": person.email,
                                                   "day": day.isoformat(), "locale": person.locale},
                  {"items": [_as_payload(i) for i in mine]}, person.locale)
             for emp, mine in sorted(per_person.items()) if (person := people.get(emp)) is not None]
    done = start_and_kick_many(runtime, "care_digest", kicks, event="deliver", actor=actor)
    report = ScanReport(day.isoformat())
    report.digests = [done[k.subject][0] for k in kicks]
    kicked = [iid for iid, now in done.values() if now]
    report.people = len(kicked)
    for n in _reminders_of(runtime, kicked).values():
        report.items += n
        report.mails += 1
    return report


_ITEM_FIELDS = tuple(f.name for f in fields(CareItem))


def _as_payload(item: CareItem) -> dict[str, Any]:
    # not dataclasses.asdict: it deep-copies every brief, and the payload is only serialised
    return {name: getattr(item, name) for name in _ITEM_FIELDS}


def _reminders_of(runtime: Any, digests: list[int]) -> dict[int, int]:
    """The reminders each digest recorded ({digest instance: count}; a digest with none is left out)."""
    found: dict[int, int] = {}
    with runtime.db.read() as tx:
        for i in range(0, len(digests), 500):  # the bound on IN (...) parameters
            part = digests[i:i + 500]
            names = ", ".join(f":d{j}" for j in range(len(part)))
            found.update((int(r[0]), int(r[1])) for r in tx.all(
                f"SELECT digest_instance_id, COUNT(*) FROM care_reminder WHERE digest_instance_id IN ({names}) "
                "GROUP BY digest_instance_id", {f"d{j}": d for j, d in enumerate(part)}))
    return found


def _reminded_before(runtime: Any, keys: set[str]) -> set[tuple[str, str]]:
    """(item key, recipient) of these items already in a digest — looked up by key, never the whole
    reminder history. They are left out here; the step leaves them out again, race-safe."""
    done: set[tuple[str, str]] = set()
    ordered = sorted(keys)
    with runtime.db.read() as tx:
        for i in range(0, len(ordered), 500):  # the bound on IN (...) parameters
            part = ordered[i:i + 500]
            names = ", ".join(f":k{j}" for j in range(len(part)))
            done.update((r[0], r[1]) for r in tx.all(
                f"SELECT item_key, recipient_emp_no FROM care_reminder WHERE item_key IN ({names})",
                {f"k{j}": k for j, k in enumerate(part)}))
    return done


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
    order = ("birthday", "festival", "key_event", "sponsor", "visit", "visit_norm", "sponsor_escalation",
             "visit_escalation", "visit_norm_escalation", "rotation")
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


PLACES = ("office", "private")  # 办公室拜访 / 私人拜访 (SPEC §3: a plan states their ratio)


def log_visit(db: Any, clock: Any, contact: str, *, principal: Principal, on: date, kind: str = "visit",
              note: Optional[str] = None, by: Optional[str] = None, place: Optional[str] = None,
              tz: Any = None) -> dict[str, Any]:
    """`mcr care visit log`: record a visit (or sponsor meeting) made by `by` (default: the principal),
    at the customer's office or in private (`place`); the cadence clock restarts from it. `tz`: the
    company's zone for "today" — a runtime's `calendars.get(None).tz`; else read from the rules.

    Only the contact's owner, backup owner, a paired sponsor, or a supervisor above one of them logs
    it (`NotPermitted`, audited); the visitor must be one of those people too.
    """
    by = by or principal.emp_no
    if kind not in ("visit", "sponsor_meeting"):
        raise MCRError(i18n.t("planning.bad_visit_kind", value=kind))
    if place is not None and place not in PLACES:
        raise MCRError(i18n.t("care.bad_place", value=place, choices=", ".join(PLACES)))
    today = clock.now().astimezone(tz or org_tz()).date()
    if on > today:
        raise MCRError(i18n.t("planning.visit_future", date=on.isoformat(), today=today.isoformat()))
    care = load_care_rules()
    tiers = load_tier_rules()
    # One transaction for the checks and the row: what was checked is what the visit is recorded
    # against, and a second click finds the first (one visit per contact, visitor, kind and day).
    with db.tx() as tx:
        md = MasterData(tx)
        c = md.contact(contact)
        if c is None:
            raise MCRError(i18n.t("planning.unknown_contact_cli", value=contact))
        if md.person(by) is None:
            raise MCRError(i18n.t("planning.outside_org", value=by))
        sponsors = dict(tx.all("SELECT sponsor_emp_no, cadence FROM sponsor_pairing WHERE contact_code = :c",
                               {"c": contact}))
        people = {c.owner_emp_no, c.backup_emp_no} | set(sponsors)
        people.discard(None)
        # the logger is one of them or above one of them, and logs their own visit or a subordinate's
        allowed = principal.is_engine or (any(principal.covers(p) for p in people) and principal.covers(by))
        cadence: Optional[int] = None
        duplicate = False
        if allowed:
            if kind == "sponsor_meeting":
                if by not in sponsors:
                    raise MCRError(i18n.t("planning.not_sponsor", emp=by, contact=contact))
                cadence = care.visits.sponsor_days.get(sponsors[by])  # type: ignore[call-overload]
            else:
                cust = md.customer(c.customer_code)
                cadence = contact_cadence(c, cust.tier, care, {t: tiers.policy(t).key_contact_visit_days
                                                              for t in ("S", "A", "B", "C")}) if cust else None
            duplicate = tx.one("SELECT id FROM care_visit WHERE contact_code = :c AND emp_no = :e AND kind = :k "
                               "AND visit_date = :d", {"c": contact, "e": by, "k": kind, "d": on.isoformat()}) is not None
            if not duplicate:
                tx.insert_row("care_visit", {"contact_code": contact, "emp_no": by, "kind": kind,
                                             "visit_date": on.isoformat(), "note": note, "place": place,
                                             "actor": principal.actor, "at_us": to_us(clock.now())})
    if not allowed:
        with db.session() as session:
            audit.record(session, clock, actor=principal.actor, action="visit_log", entity="contact", key=contact,
                         allowed=False)
            session.commit()
        raise NotPermitted(i18n.t("planning.not_visit_logger", actor=principal.actor, contact=contact))
    due = (on + timedelta(days=cadence)).isoformat() if cadence else "-"
    return {"contact": contact, "by": by, "date": on.isoformat(), "kind": kind, "place": place, "next_due": due,
            "duplicate": duplicate,
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


# ============================================================================================ the care pages' service
# Every read and action below takes the principal and decides in here what they may see and do:
# the owner and the supervisor chain above them (上级可以看下级); sales management for handovers.


@dataclass
class CadenceRow:
    """One key contact's visit clock as the care page shows it."""

    contact: str
    contact_name: str
    customer: str
    customer_name: str
    tier: str
    owner: str
    owner_name: str
    cadence: int
    pbc: Optional[dict[str, int]]
    last: Optional[str]          # the last logged visit (None: never visited; the clock runs from `start`)
    start: str                   # the day the clock counts from
    due: str
    overdue_days: int
    may_log: bool


@dataclass
class HandoverRow:
    instance_id: int
    state: str
    contact: str
    contact_name: str
    customer_name: str
    reason: str
    from_owner: str
    from_name: str
    to_owner: str
    to_name: str
    accepted_by: Optional[str]
    introduced_by: Optional[str]
    may_accept: bool
    may_introduce: bool


@dataclass
class CareOverview:
    day: str
    reminders: list[CareItem]
    coming: list[dict[str, Any]]
    cadences: list[CadenceRow]
    handovers: list[HandoverRow]
    ratio: dict[str, Any]
    norms: list[dict[str, Any]]


def _need_employee(session: Session, principal: Principal, what: str) -> None:
    from engine.auth.principal import require_employee

    require_employee(principal, what)
    if not principal.is_engine and session.exec(select(Employee.emp_no).where(
            Employee.emp_no == principal.emp_no)).first() is None:
        raise NotPermitted(i18n.t("planning.outside_org", value=principal.emp_no))


def _may_log(principal: Principal, contact: Contact, sponsors: set[str]) -> bool:
    """The owner, the backup, a paired sponsor, or a supervisor above one of them (as `log_visit`)."""
    people = {contact.owner_emp_no, contact.backup_emp_no} | sponsors
    return principal.is_engine or any(principal.covers(p) for p in people if p)


def _local_today(rt: Any) -> date:
    return rt.clock.now().astimezone(rt.calendars.get(None).tz).date()


def cadence_rows(session: Session, day: date, *, principal: Principal, contact: Optional[str] = None,
                 care: CareRules | None = None, tz: Any = None) -> list[CadenceRow]:
    """Visit clocks of the contacts the principal owns or covers (owner, backup, or below them),
    overdue first (most overdue first), then by due day."""
    care = care or load_care_rules()
    tiers = load_tier_rules()
    tier_days = {t: tiers.policy(t).key_contact_visit_days for t in ("S", "A", "B", "C")}
    people = {e.emp_no: e.name for e in session.exec(select(Employee))}
    customers = {c.code: c for c in session.exec(select(Customer))}
    q = select(Contact).order_by(col(Contact.code))
    if contact is not None:
        q = q.where(Contact.code == contact)
    sponsors: dict[str, set[str]] = defaultdict(set)
    for p in session.exec(select(SponsorPairing)):
        sponsors[p.contact_code].add(p.sponsor_emp_no)
    last_visit = dict(session.exec(select(Visit.contact_code, func.max(Visit.visit_date))
                                   .where(Visit.kind == "visit").group_by(Visit.contact_code)).all())
    entered = _audit_days(session, "contact", tz or org_tz())
    starts = _cadence_starts(session)
    rows: list[CadenceRow] = []
    for c in session.exec(q):
        if not (principal.is_engine or principal.covers(c.owner_emp_no) or principal.covers(c.backup_emp_no)):
            continue
        cust = customers.get(c.customer_code)
        days = contact_cadence(c, cust.tier, care, tier_days) if cust else None
        if not days or cust is None:
            continue
        last = as_date(last_visit.get(c.code))
        start = last or _clock_start(f"visit:{c.code}", entered.get(c.code), days, day, starts, None)
        st = visit_status(start, days, day, care.visits.escalate_after_days)
        rows.append(CadenceRow(c.code, c.name, cust.code, cust.name, cust.tier, c.owner_emp_no,
                               people.get(c.owner_emp_no, c.owner_emp_no), days, pbc_commitment(c.visit_pbc),
                               last.isoformat() if last else None, start.isoformat(), st.due.isoformat(),
                               st.overdue_days, _may_log(principal, c, sponsors[c.code])))
    return sorted(rows, key=lambda r: (-r.overdue_days, r.due, r.contact))


def _coming(session: Session, day: date, principal: Principal, care: CareRules, days: int) -> list[dict[str, Any]]:
    """Birthdays of the cared contacts, festivals, and customers' key events in the next `days` days."""
    end = day + timedelta(days=days)
    leap = load_masterdata_rules().leap_day_birthdays
    customers = {c.code: c for c in session.exec(select(Customer))}
    out: list[dict[str, Any]] = []
    for c in session.exec(select(Contact).order_by(col(Contact.code))):
        cust = customers.get(c.customer_code)
        if cust is None or cust.tier not in care.tiers or not principal.covers(c.owner_emp_no):
            continue
        for d in _coming_dates(c, cust, day, care.model_copy(update={"brief": care.brief.model_copy(
                update={"days_ahead": days})}), leap):
            if d["kind"] == "birthday":
                out.append({**d, "contact": c.code, "customer_name": cust.name})
    for cust in customers.values():
        if cust.tier not in care.tiers or not (principal.covers(cust.owner_emp_no) or principal.covers(cust.backup_emp_no)):
            continue
        for ev in json.loads(cust.key_events or "[]"):
            for year in (day.year, day.year + 1):
                try:
                    when = date(year, int(ev["month"]), int(ev.get("day") or 1))
                except (ValueError, KeyError):
                    continue
                if day <= when <= end:
                    out.append({"kind": "key_event", "day": when.isoformat(), "title": str(ev.get("title", "")),
                                "customer_name": cust.name})
    from flows.planning.dates import festivals_in

    fest = load_festival_rules()
    for year in (day.year, day.year + 1):
        for f in festivals_in(year, fest):
            if day <= f.day <= end:
                out.append({"kind": "festival", "day": f.day.isoformat(), "title": f.zh, "title_en": f.en})
    return sorted(out, key=lambda d: (d["day"], d["kind"], d.get("title", "")))


def visit_ratio(session: Session, start: date, end: date, *, principal: Principal) -> dict[str, Any]:
    """Office / private visits (办公室拜访 / 私人拜访) made by the principal and the people below them
    between `start` and `end`: counts per place and the office share of the visits whose place is known."""
    rows = session.exec(select(Visit.emp_no, Visit.place, func.count()).where(
        Visit.kind == "visit", col(Visit.visit_date) >= start, col(Visit.visit_date) <= end)
        .group_by(Visit.emp_no, Visit.place)).all()
    counts = {"office": 0, "private": 0, "unknown": 0}
    for emp, place, n in rows:
        if principal.covers(emp):
            counts[place if place in PLACES else "unknown"] += int(n)
    known = counts["office"] + counts["private"]
    return {**counts, "from": start.isoformat(), "to": end.isoformat(), "total": known + counts["unknown"],
            "office_share": (counts["office"] / known) if known else None}


def norm_rows(session: Session, day: date, *, principal: Principal, care: CareRules | None = None) -> list[dict[str, Any]]:
    """This week's visits against the weekly norm for the principal and the managers below them."""
    care = care or load_care_rules()
    owed = {e: n for e, n in norm_managers(session, care, load_tier_rules()).items() if principal.covers(e)}
    monday, sunday = week_bounds(day)
    made = visits_between(session, monday, sunday, set(owed))
    names = {e.emp_no: e.name for e in session.exec(select(Employee).where(col(Employee.emp_no).in_(list(owed))))}
    return sorted(({"emp": e, "name": names.get(e, e), "made": made.get(e, 0), "norm": n, "short": made.get(e, 0) < n,
                    "week": _iso_week(monday)} for e, n in owed.items()), key=lambda r: (not r["short"], r["emp"]))


def _handover_rows(rt: Any, principal: Principal) -> list[HandoverRow]:
    from flows.planning import rights
    from flows.planning.common import instances

    accepted = _accepted_handovers(rt)
    out = []
    for inst in instances(rt.db, "handover"):
        d = inst.data
        concerned = (principal.covers(d.get("from_owner")) or principal.covers(d.get("to_owner"))
                     or principal.emp_no == d.get("from_supervisor"))
        if not concerned or inst.state == "opening":
            continue
        open_ = inst.state == "awaiting_introduction"
        out.append(HandoverRow(inst.id, inst.state, d["contact"], d.get("contact_name", ""), d.get("customer_name", ""),
                               d.get("reason", ""), d["from_owner"], d.get("from_name", ""), d["to_owner"],
                               d.get("to_name", ""), accepted.get(inst.id), d.get("introduced_by"),
                               inst.id not in accepted and _may_accept(principal, d),
                               open_ and rights.introduces(principal, d)))
    return sorted(out, key=lambda h: (h.state != "awaiting_introduction", -h.instance_id))


def care_overview(rt: Any, *, principal: Principal, day: Optional[date] = None) -> CareOverview:
    """The care page: today's reminders for the principal, the coming dates, the visit clocks of the
    contacts they own or cover (overdue first), handovers to accept or introduce, the office/private
    ratio of this month's visits and this week's visit norms."""
    day = day or _local_today(rt)
    care = load_care_rules()
    with rt.db.session() as session:
        _need_employee(session, principal, "care")
        reminders = [i for i in care_items(session, day, care=care, tz=rt.calendars.get(None).tz, brief=False)
                     if i.recipient == principal.emp_no]
        coming = _coming(session, day, principal, care, care.brief.days_ahead)
        cadences = cadence_rows(session, day, principal=principal, care=care, tz=rt.calendars.get(None).tz)
        ratio = visit_ratio(session, day.replace(day=1), day, principal=principal)
        norms = norm_rows(session, day, principal=principal, care=care)
    return CareOverview(day.isoformat(), reminders, coming, cadences, _handover_rows(rt, principal), ratio, norms)


@dataclass
class VisitForm:
    """The one-click page a digest line links to: the contact, its clock and the pre-visit brief."""

    day: str
    row: CadenceRow
    brief: dict[str, Any]
    visits: list[dict[str, Any]]


def visit_form(rt: Any, contact: str, *, principal: Principal) -> VisitForm:
    """For those who may log a visit of `contact` (owner, backup, sponsor or the chain above);
    anyone else is refused (`NotPermitted`, audited) — the page never shows another's contact."""
    day = _local_today(rt)
    care = load_care_rules()
    with rt.db.session() as session:
        _need_employee(session, principal, "care")
        c = session.exec(select(Contact).where(Contact.code == contact)).first()
        if c is None:
            raise CareNotFound(i18n.t("planning.unknown_contact_cli", value=contact))
        sponsors = set(session.exec(select(SponsorPairing.sponsor_emp_no).where(SponsorPairing.contact_code == contact)))
        if not _may_log(principal, c, sponsors):
            audit.record(session, rt.clock, actor=principal.actor, action="visit_form", entity="contact", key=contact,
                         allowed=False)
            session.commit()
            raise NotPermitted(i18n.t("planning.not_visit_logger", actor=principal.actor, contact=contact))
        cust = session.exec(select(Customer).where(Customer.code == c.customer_code)).first()
        rows = cadence_rows(session, day, principal=Principal.engine("care"), contact=contact, care=care,
                            tz=rt.calendars.get(None).tz)
        row = rows[0] if rows else CadenceRow(c.code, c.name, c.customer_code, cust.name if cust else "",
                                              cust.tier if cust else "", c.owner_emp_no, c.owner_emp_no, 0,
                                              pbc_commitment(c.visit_pbc), None, day.isoformat(), "", 0, True)
        row.may_log = True
        brief = {**(_customer_brief(session, cust, care) if cust else {"issues": [], "callbacks": [], "open_total": 0}),
                 "dates": _coming_dates(c, cust, day, care, load_masterdata_rules().leap_day_birthdays) if cust else []}
        visits = [{"date": v.visit_date.isoformat(), "emp": v.emp_no, "kind": v.kind, "place": v.place, "note": v.note}
                  for v in session.exec(select(Visit).where(Visit.contact_code == contact)
                                        .order_by(col(Visit.visit_date).desc(), col(Visit.id).desc()).limit(5))]
    return VisitForm(day.isoformat(), row, brief, visits)


class CareNotFound(MCRError):
    """No such contact or handover."""

    status = 404


def _may_accept(principal: Principal, data: dict[str, Any]) -> bool:
    """The new owner (or the chain above them, or sales management) takes the relationship over."""
    return principal.is_engine or principal.covers(data.get("to_owner")) or principal.is_sales_management


def _accepted_handovers(rt: Any) -> dict[int, str]:
    from engine.masterdata.models import AuditEntry

    with rt.db.session() as session:
        rows = session.exec(select(AuditEntry.entity_key, AuditEntry.actor).where(
            AuditEntry.entity == "handover", AuditEntry.action == "handover_accept", col(AuditEntry.allowed).is_(True)))
        return {int(k): a for k, a in rows}


def accept_handover(rt: Any, instance_id: int, *, principal: Principal) -> bool:
    """The new owner acknowledges the relationship handed to them (recorded once in the audit log);
    returns False when it was already accepted. Anyone else: `NotPermitted`, audited."""
    from flows.planning.common import get_instance

    inst = get_instance(rt.db, instance_id)
    if inst is None or inst.flow != "handover":
        raise CareNotFound(i18n.t("planning.no_instance", what=f"handover #{instance_id}"))
    with rt.db.session() as session:
        if not _may_accept(principal, inst.data):
            audit.record(session, rt.clock, actor=principal.actor, action="handover_accept", entity="handover",
                         key=str(instance_id), allowed=False)
            session.commit()
            raise NotPermitted(i18n.t("care.not_handover_acceptor", actor=principal.actor, owner=inst.data["to_owner"]))
    if instance_id in _accepted_handovers(rt):
        return False
    with rt.db.session() as session:
        audit.record(session, rt.clock, actor=principal.actor, action="handover_accept", entity="handover",
                     key=str(instance_id), contact=inst.data["contact"])
        session.commit()
    return True
