"""The one read port over master data: `MasterData(tx)`, typed frozen rows, named queries.

Every flow and service reads organisation units, employees, customers, contacts, projects and
activities through this class, on the transaction it already holds: a step passes `ctx.tx`, a
read outside a step `db.read()`, a SQLModel service `MasterData.of_session(session)` (the same
connection and transaction as the session). Plain SQL with `:name` parameters on `engine.db.Tx`,
no ORM object per call, so the ITR hot path keeps its cost. Semantics follow
`engine.masterdata.service` (a unit's calendar is the nearest one upwards; unit heads are its
members holding the supervisor role). This module never writes: master data is changed only
through `engine.masterdata.service` and the importer.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Iterable, Iterator, NamedTuple, Optional, Sequence

from engine.db import Tx

# --- named queries ---------------------------------------------------------------------------------

SELECT_UNIT = "SELECT code, kind, name, parent_code, calendar, timezone FROM org_unit"
SELECT_UNIT_LINKS = "SELECT code, parent_code FROM org_unit"
SELECT_PERSON = "SELECT emp_no, name, email, unit_code, locale, roles, supervisor_emp_no FROM employee"
SELECT_CUSTOMER = ("SELECT code, name, tier, office_code, team_code, owner_emp_no, backup_emp_no, "
                   "annual_revenue_usd, industry FROM customer")
SELECT_CONTACT = ("SELECT code, customer_code, name, title, level, phone, email, owner_emp_no, backup_emp_no, "
                  "visit_pbc FROM contact")
SELECT_PROJECT = "SELECT code, name, customer_code, level, team_code, closed FROM project"
SELECT_ACTIVITY = ("SELECT code, type, title, customer_code, project_code, activity_date, inviter_emp_no, status, "
                   "budget FROM marketing_activity")
SELECT_INVITEES = "SELECT contact_code FROM marketing_activity_invitee WHERE activity_code = :a ORDER BY contact_code"
SELECT_ORDERS_BETWEEN = ("SELECT customer_code, SUM(amount_usd) FROM customer_orders "
                         "WHERE month >= :first AND month <= :last GROUP BY customer_code")
SELECT_FIRST_ORDER = "SELECT customer_code, MIN(month) FROM customer_orders WHERE amount_usd > 0 GROUP BY customer_code"
SELECT_CURVES = "SELECT customer_code, start_year, year1_usd, year3_usd, year5_usd FROM customer_value_curve"
SELECT_LOCKED = "SELECT locked_competitors, key_events, credit_grade FROM customer WHERE code = :c"
SELECT_ASSESSMENTS_OF_CUSTOMER = (
    "SELECT a.contact_code, k.name, a.year, a.revision, a.acceptance, a.participation, a.information, a.guidance, "
    "a.decision_support, a.competitor_stance FROM contact_assessment a JOIN contact k ON k.code = a.contact_code "
    "WHERE k.customer_code = :c ORDER BY a.contact_code, a.year, a.revision")
SELECT_ALL_CUSTOMERS = SELECT_CUSTOMER + " ORDER BY code"
# The daily care scan's reads (flows/planning/care.py): only the columns it uses, as plain tuples.
SELECT_PERSON_NAMES = "SELECT emp_no, name, supervisor_emp_no FROM employee"
SELECT_CUSTOMER_LINES = "SELECT id, code, name, tier, owner_emp_no, backup_emp_no, key_events FROM customer"
SELECT_PAIRINGS_BETWEEN = ("SELECT id, sponsor_emp_no, contact_code, cadence, accepted FROM sponsor_pairing "
                           "WHERE contact_code BETWEEN :first AND :last ORDER BY sponsor_emp_no, id")
SELECT_ENTRY_DAYS = "SELECT entity_key, MIN(at_us) FROM masterdata_audit WHERE entity = :entity AND action = 'insert'"
SELECT_AUDIT_OF_RECORD = ("SELECT action, at_us, detail FROM masterdata_audit "
                          "WHERE entity = :entity AND entity_key = :key ORDER BY id")

# Every state of itr_issue.yaml but closed and rejected: the open work a handler carries.
OPEN_ITR_STATES = ("received", "dispatched", "handling", "escalated_region", "escalated_hq", "resolved",
                   "callback_pending", "qa_review")
_IN_CHUNK = 500  # bound on `IN (...)` parameters per statement


# --- rows ------------------------------------------------------------------------------------------


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
    supervisor_emp_no: Optional[str] = None

    def has_role(self, role: str) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Customer:
    code: str
    name: str
    tier: str
    office_code: str
    team_code: Optional[str]
    owner_emp_no: str
    backup_emp_no: Optional[str]
    annual_revenue_usd: Optional[int]
    industry: Optional[str] = None


@dataclass(frozen=True)
class Contact:
    code: str
    customer_code: str
    name: str
    title: Optional[str]
    level: Optional[str]
    phone: Optional[str]
    email: Optional[str]
    owner_emp_no: str
    backup_emp_no: Optional[str] = None
    visit_pbc: Optional[str] = None  # the card's PBC visit commitment, JSON as the importer stores it


@dataclass(frozen=True)
class Project:
    code: str
    name: str
    customer_code: str
    level: str
    team_code: Optional[str]
    closed: bool


@dataclass(frozen=True)
class Activity:
    code: str
    type: str
    title: str
    customer_code: str
    project_code: Optional[str]
    activity_date: Any
    inviter_emp_no: str
    status: str
    budget: Optional[int] = None


@dataclass(frozen=True)
class Team:
    """A team (系统部) with the people and units around it."""

    code: str
    name: str
    office_code: Optional[str]
    office_name: Optional[str]
    region_code: Optional[str]
    region_name: Optional[str]
    head: Optional[Person]
    members: list[Person] = field(default_factory=list)
    calendar: Optional[str] = None

    @property
    def member_emails(self) -> list[str]:
        return [m.email for m in self.members]

    @property
    def locale(self) -> str:
        return self.head.locale if self.head else "zh-CN"


class PersonName(NamedTuple):
    """An employee as a reminder names them and escalates past them (three columns, no role parsing)."""

    emp_no: str
    name: str
    supervisor_emp_no: Optional[str]


class CustomerLine(NamedTuple):
    """A customer as the care scan walks them: owner, backup, tier and key-event calendar (JSON)."""

    id: int
    code: str
    name: str
    tier: str
    owner_emp_no: str
    backup_emp_no: Optional[str]
    key_events: Optional[str]


class Pairing(NamedTuple):
    """A sponsor pairing (赞助人配对) as the care scan reads it."""

    id: int
    sponsor_emp_no: str
    contact_code: str
    cadence: str
    accepted: bool


def _person(row: Any) -> Person:
    return Person(row[0], row[1], row[2], row[3], row[4] or "zh-CN",
                  frozenset(r for r in (row[5] or "").split(",") if r), row[6])


def _project(row: Any) -> Project:
    return Project(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def _marks(prefix: str, values: list[str]) -> tuple[str, dict[str, str]]:
    return (", ".join(f":{prefix}{i}" for i in range(len(values))),
            {f"{prefix}{i}": v for i, v in enumerate(values)})


def as_date(value: Any) -> Optional[date]:
    """A date from a raw driver value (SQLite gives text, PostgreSQL a date)."""
    if value.__class__ is str:  # SQLite's, the care scan's every contact: the common case first
        return date.fromisoformat(value[:10])
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])


# --- the port --------------------------------------------------------------------------------------


class MasterData:
    """Read-only master data on one transaction."""

    __slots__ = ("tx",)

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    @classmethod
    def of_session(cls, session: Any) -> MasterData:
        """The port on a SQLModel session's own connection and transaction (no second connection)."""
        conn = session.connection()
        return cls(Tx(conn.connection.driver_connection, conn.dialect.name == "postgresql"))

    # ---------------------------------------------------------------------------- units

    def unit(self, code: Optional[str]) -> Unit | None:
        if not code:
            return None
        row = self.tx.one(SELECT_UNIT + " WHERE code = :c", {"c": code})
        return Unit(*row) if row else None

    def unit_path(self, code: Optional[str]) -> list[Unit]:
        """The unit and its ancestors, top (HQ) first (a cycle in bad data stops the walk)."""
        out: list[Unit] = []
        seen: set[str] = set()
        cur = self.unit(code)
        while cur is not None and cur.code not in seen:
            out.append(cur)
            seen.add(cur.code)
            cur = self.unit(cur.parent_code)
        return list(reversed(out))

    def ancestor(self, code: Optional[str], kind: str) -> Unit | None:
        """The unit of `kind` on the way up from `code` (the unit itself if it is of that kind)."""
        return self.ancestor_in(self.unit_path(code), kind)

    @staticmethod
    def ancestor_in(path: list[Unit], kind: str) -> Unit | None:
        """`ancestor` on a path already read with `unit_path` (one walk for several questions)."""
        return next((u for u in path if u.kind == kind), None)

    @staticmethod
    def calendar_in(path: list[Unit], known: Any = None) -> Optional[str]:
        """`calendar_of` on a path already read with `unit_path`."""
        name = next((u.calendar for u in reversed(path) if u.calendar), None)
        return name if name is None or known is None or name in known else None

    def office_of(self, code: Optional[str]) -> Unit | None:
        return self.ancestor(code, "office")

    def region_of(self, code: Optional[str]) -> Unit | None:
        """The region (地区部) above an office or team."""
        return self.ancestor(code, "region")

    def hq_of(self, code: Optional[str]) -> Unit | None:
        return self.ancestor(code, "hq")

    def calendar_of(self, code: Optional[str], known: Any = None) -> Optional[str]:
        """The business calendar of a unit: the nearest unit upwards that names one (None: the default).

        `known` (a CalendarRegistry) turns a name the engine does not know into None, so a typo in
        master data falls back to the default calendar instead of failing the step."""
        return self.calendar_in(self.unit_path(code), known)

    def timezone_of(self, code: Optional[str]) -> Optional[str]:
        return next((u.timezone for u in reversed(self.unit_path(code)) if u.timezone), None)

    def subtree(self, code: str) -> set[str]:
        """`code` and every unit below it."""
        rows = self.tx.all(SELECT_UNIT_LINKS)
        found = {code}
        grew = True
        while grew:
            before = len(found)
            found |= {c for c, p in rows if p in found}
            grew = len(found) > before
        return found

    def units_of_kind(self, kind: str, under: Optional[str] = None) -> list[Unit]:
        rows = [Unit(*r) for r in self.tx.all(SELECT_UNIT + " WHERE kind = :k ORDER BY code", {"k": kind})]
        if under is None:
            return rows
        below = self.subtree(under)
        return [u for u in rows if u.code in below]

    # ---------------------------------------------------------------------------- people

    def person(self, emp_no: Optional[str]) -> Person | None:
        if not emp_no:
            return None
        row = self.tx.one(SELECT_PERSON + " WHERE emp_no = :e", {"e": emp_no})
        return _person(row) if row else None

    def person_by_email(self, email: Optional[str]) -> Person | None:
        """The employee with this address (stored lower-case, unique), e.g. to route a notification."""
        if not email or "@" not in email:
            return None
        row = self.tx.one(SELECT_PERSON + " WHERE email = :m", {"m": email.strip().lower()})
        return _person(row) if row else None

    def person_names(self) -> dict[str, PersonName]:
        """Every employee's name and supervisor by employee number, in one read."""
        return {r[0]: PersonName(r[0], r[1], r[2]) for r in self.tx.all(SELECT_PERSON_NAMES)}

    def supervisor(self, emp_no: Optional[str]) -> Person | None:
        """The direct supervisor (主管) of an employee, if any."""
        me = self.person(emp_no)
        return self.person(me.supervisor_emp_no) if me else None

    def supervisor_chain(self, emp_no: str) -> list[Person]:
        """The supervisors above `emp_no`, nearest first (a cycle in bad data stops the walk)."""
        chain: list[Person] = []
        seen = {emp_no}
        me = self.person(emp_no)
        node = me.supervisor_emp_no if me else None
        while node and node not in seen:
            seen.add(node)
            boss = self.person(node)
            if boss is None:
                break
            chain.append(boss)
            node = boss.supervisor_emp_no
        return chain

    def members(self, unit_code: str) -> list[Person]:
        """The employees of the unit itself, by employee number."""
        return [_person(r) for r in self.tx.all(SELECT_PERSON + " WHERE unit_code = :u ORDER BY emp_no",
                                                {"u": unit_code})]

    def people_with_role(self, role: str, unit_codes: Optional[Iterable[str]] = None) -> list[Person]:
        """Holders of `role` whose unit is one of `unit_codes` (None: anywhere), by employee number."""
        # LIKE narrows in SQL; the exact role is checked on the parsed set ("qa" must not match "qa_lead").
        like = {"r": f"%{role}%"}
        if unit_codes is None:
            rows = self.tx.all(SELECT_PERSON + " WHERE roles LIKE :r ORDER BY emp_no", like)
        else:
            codes = sorted(set(unit_codes))
            if not codes:
                return []
            marks, params = _marks("u", codes)
            rows = self.tx.all(SELECT_PERSON + f" WHERE unit_code IN ({marks}) AND roles LIKE :r ORDER BY emp_no",
                               {**params, **like})
        return [p for p in map(_person, rows) if role in p.roles]

    def heads(self, unit_code: str, roles: Iterable[str] = ("supervisor",)) -> list[Person]:
        """Members of the unit itself holding one of `roles` (e.g. the office heads and its sales management)."""
        wanted = set(roles)
        return [p for p in self.members(unit_code) if p.roles & wanted]

    def team_head(self, team_code: str) -> Person | None:
        """The team's head (系统部部长): a member with the supervisor role, else whom most members report to."""
        members = self.members(team_code)
        head = next((m for m in members if "supervisor" in m.roles), None)
        if head is not None:
            return head
        sups = Counter(m.supervisor_emp_no for m in members if m.supervisor_emp_no)
        return self.person(sups.most_common(1)[0][0]) if sups else None

    def team(self, team_code: str) -> Team | None:
        """The team with its head, members, office, region and calendar (None: no such unit)."""
        unit = self.unit(team_code)
        if unit is None:
            return None
        office, region = self.office_of(team_code), self.region_of(team_code)
        return Team(unit.code, unit.name, office.code if office else None, office.name if office else None,
                    region.code if region else None, region.name if region else None, self.team_head(team_code),
                    self.members(team_code), self.calendar_of(team_code))

    def sales_management(self, extra: Iterable[str] = ()) -> list[str]:
        """Addresses of 销售管理部: employees with the role, plus configured extra addresses."""
        found = [p.email for p in self.people_with_role("sales_management")]
        return sorted(set(found) | {a.strip().lower() for a in extra if a.strip()})

    def open_load(self, emp_nos: Iterable[str]) -> dict[str, int]:
        """Open (not ended) ITR issues per handler, to spread new work over a queue's handlers."""
        emps = sorted(set(emp_nos))
        if not emps:
            return {}
        marks, params = _marks("e", emps)
        # Driven from the open instances (ix_flow_instance_flow_state, one seek per open state) so the cost
        # follows the work in hand, not every issue the handlers ever had.
        opened = " UNION ALL ".join(f"SELECT id FROM flow_instance WHERE flow = 'itr_issue' AND state = '{s}'"
                                    for s in OPEN_ITR_STATES)
        # CROSS JOIN keeps that order on SQLite (its planner would start from the handler index otherwise).
        rows = self.tx.all(f"SELECT i.handler_emp_no, COUNT(*) FROM ({opened}) f CROSS JOIN itr_issue i "
                           f"WHERE i.id = f.id AND i.handler_emp_no IN ({marks}) GROUP BY i.handler_emp_no", params)
        load = {e: 0 for e in emps}
        load.update({r[0]: int(r[1]) for r in rows})
        return load

    def least_loaded(self, people: list[Person]) -> Person | None:
        """The handler with the fewest open issues; ties go to the lowest employee number (deterministic)."""
        if not people:
            return None
        load = self.open_load([p.emp_no for p in people])
        return min(people, key=lambda p: (load.get(p.emp_no, 0), p.emp_no))

    # ---------------------------------------------------------------------------- customers and contacts

    def customer(self, code: Optional[str]) -> Customer | None:
        if not code:
            return None
        row = self.tx.one(SELECT_CUSTOMER + " WHERE code = :c", {"c": code})
        return Customer(*row) if row else None

    def customers_with_tiers(self, tiers: Iterable[str]) -> list[Customer]:
        wanted = sorted(set(tiers))
        if not wanted:
            return []
        marks, params = _marks("t", wanted)
        return [Customer(*r) for r in self.tx.all(SELECT_CUSTOMER + f" WHERE tier IN ({marks}) ORDER BY code", params)]

    def big_customers(self, revenue_line: int) -> list[Customer]:
        """Customers at or above the revenue line (USD per year)."""
        rows = self.tx.all(SELECT_CUSTOMER + " WHERE annual_revenue_usd >= :line ORDER BY code", {"line": revenue_line})
        return [Customer(*r) for r in rows]

    def contact(self, code: Optional[str]) -> Contact | None:
        if not code:
            return None
        row = self.tx.one(SELECT_CONTACT + " WHERE code = :c", {"c": code})
        return Contact(*row) if row else None

    def contacts(self, codes: Iterable[str]) -> dict[str, Contact]:
        """The contacts among `codes` that exist, by code (one query per 500 codes)."""
        out: dict[str, Contact] = {}
        unique = sorted(set(codes))
        for start in range(0, len(unique), _IN_CHUNK):
            marks, params = _marks("c", unique[start:start + _IN_CHUNK])
            for r in self.tx.all(SELECT_CONTACT + f" WHERE code IN ({marks})", params):
                out[r[0]] = Contact(*r)
        return out

    def contacts_of_customer(self, customer_code: str) -> list[Contact]:
        rows = self.tx.all(SELECT_CONTACT + " WHERE customer_code = :c ORDER BY code", {"c": customer_code})
        return [Contact(*r) for r in rows]

    def customer_pages(self, chunk: int, tiers: Optional[Sequence[str]] = None) -> Iterator[list[CustomerLine]]:
        """All customers (of `tiers` when given), `chunk` at a time in id order: keyset pagination,
        so the memory held is one page whatever the number of customers."""
        conds: list[str] = []
        params: dict[str, Any] = {"n": chunk}
        if tiers is not None:
            if not tiers:
                return
            marks, tier_params = _marks("t", sorted(set(tiers)))
            conds.append(f"tier IN ({marks})")
            params.update(tier_params)
        first = SELECT_CUSTOMER_LINES + "".join(f" WHERE {c}" for c in conds) + " ORDER BY id LIMIT :n"
        later = SELECT_CUSTOMER_LINES + " WHERE " + " AND ".join(["id > :after", *conds]) + " ORDER BY id LIMIT :n"
        rows = self.tx.all(first, params)
        while rows:
            yield [CustomerLine(*r) for r in rows]
            if len(rows) < chunk:
                return
            rows = self.tx.all(later, {**params, "after": rows[-1][0]})

    def pairings_between(self, first: str, last: str) -> list[Pairing]:
        """The sponsor pairings of the contacts with codes in [first, last], by sponsor then id."""
        return [Pairing(r[0], r[1], r[2], r[3], bool(r[4]))
                for r in self.tx.all(SELECT_PAIRINGS_BETWEEN, {"first": first, "last": last})]

    def entry_days(self, entity: str, tz: Any, span: Optional[tuple[str, str]] = None,
                   keys: Optional[Sequence[str]] = None) -> dict[str, date]:
        """The local day each record of `entity` entered master data (its first insert in the audit
        log), in one query; only keys between `span` = (first, last), or only `keys` (at most 500)."""
        return {key: local_day(us, tz) for key, us in self.entry_us(entity, span, keys).items() if us}

    def entry_us(self, entity: str, span: Optional[tuple[str, str]] = None,
                 keys: Optional[Sequence[str]] = None) -> dict[str, Optional[int]]:
        """`entry_days` as the instants (µs since the epoch): for a caller that needs the day of few of them."""
        sql, params = SELECT_ENTRY_DAYS, {"entity": entity}
        if span is not None:
            sql += " AND entity_key BETWEEN :first AND :last"
            params.update(first=span[0], last=span[1])
        if keys is not None:
            if not keys:
                return {}
            marks, key_params = _marks("k", list(keys))
            sql += f" AND entity_key IN ({marks})"
            params.update(key_params)
        return dict(self.tx.all(sql + " GROUP BY entity_key", params))

    def all_customers(self) -> list[Customer]:
        return [Customer(*r) for r in self.tx.all(SELECT_ALL_CUSTOMERS)]

    def customer_extras(self, code: str) -> dict[str, Any]:
        """The locked competitors (≤ 2), key-event calendar and credit grade of a customer."""
        row = self.tx.one(SELECT_LOCKED, {"c": code})
        if row is None:
            return {"locked_competitors": [], "key_events": [], "credit_grade": None}
        return {"locked_competitors": json.loads(row[0] or "[]"), "key_events": json.loads(row[1] or "[]"),
                "credit_grade": row[2]}

    def orders_between(self, first_month: str, last_month: str) -> dict[str, int]:
        """Order intake per customer (USD) over the months `first_month`..`last_month` (YYYY-MM, inclusive)."""
        return {r[0]: int(r[1] or 0) for r in self.tx.all(SELECT_ORDERS_BETWEEN, {"first": first_month,
                                                                                  "last": last_month})}

    def first_order_months(self) -> dict[str, str]:
        """The first month with orders of each customer that has any."""
        return {r[0]: r[1] for r in self.tx.all(SELECT_FIRST_ORDER)}

    def value_curves(self) -> dict[str, tuple[int, int, int, int]]:
        """customer → (start year, expected revenue year 1, year 3, year 5)."""
        return {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in self.tx.all(SELECT_CURVES)}

    def latest_assessments(self, customer_code: str) -> dict[str, tuple[str, int, dict[str, Optional[int]]]]:
        """contact → (name, year, dimension scores) of its latest assessment revision (latest year first)."""
        out: dict[str, tuple[str, int, dict[str, Optional[int]]]] = {}
        dims = ("acceptance", "participation", "information", "guidance", "decision_support", "competitor_stance")
        for r in self.tx.all(SELECT_ASSESSMENTS_OF_CUSTOMER, {"c": customer_code}):
            out[r[0]] = (r[1], int(r[2]), dict(zip(dims, r[4:10])))  # ordered by year, revision: the last wins
        return out

    def audit_since(self, entity: str, key: str, emp_no: str, tz: Any = timezone.utc) -> Optional[date]:
        """The local day the audit log first shows `emp_no` as owner of the record (insert or owner change)."""
        return _owner_since(self.tx.all(SELECT_AUDIT_OF_RECORD, {"entity": entity, "key": key}), emp_no, tz)

    def audit_since_many(self, entity: str, owners: dict[str, str], tz: Any = timezone.utc) -> dict[str, Optional[date]]:
        """`audit_since` for many records at once ({key: emp_no}), `_IN_CHUNK` keys per query."""
        rows: dict[str, list[Any]] = {k: [] for k in owners}
        keys = sorted(owners)
        for i in range(0, len(keys), _IN_CHUNK):
            part = keys[i:i + _IN_CHUNK]
            names = ", ".join(f":k{j}" for j in range(len(part)))
            # only the two actions `_owner_since` folds: a record's edits are not read at all
            for key, action, at_us, detail in self.tx.all(
                    f"SELECT entity_key, action, at_us, detail FROM masterdata_audit WHERE entity = :entity "
                    f"AND action IN ('insert', 'owner_change') AND entity_key IN ({names}) ORDER BY id",
                    {"entity": entity, **{f"k{j}": k for j, k in enumerate(part)}}):
                rows[key].append((action, at_us, detail))
        return {k: _owner_since(found, owners[k], tz) for k, found in rows.items()}

    # ---------------------------------------------------------------------------- projects and activities

    def project(self, code: Optional[str]) -> Project | None:
        if not code:
            return None
        row = self.tx.one(SELECT_PROJECT + " WHERE code = :c", {"c": code})
        return _project(row) if row else None

    def activity(self, code: Optional[str]) -> Activity | None:
        if not code:
            return None
        row = self.tx.one(SELECT_ACTIVITY + " WHERE code = :c", {"c": code})
        return Activity(*row) if row else None

    def invitees(self, activity_code: str) -> list[str]:
        return [r[0] for r in self.tx.all(SELECT_INVITEES, {"a": activity_code})]


def local_day(us: int, tz: Any) -> date:
    """The day in time zone `tz` of an instant stored as µs since the epoch."""
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).astimezone(tz).date()


def _owner_since(rows: Any, emp_no: str, tz: Any) -> Optional[date]:
    """Fold one record's audit rows (action, at_us, detail), oldest first, into the day `emp_no`
    became its owner: the insert, or the last owner change to them."""
    since: Optional[date] = None
    for action, at_us, detail in rows:  # a row's day only when it decides (the daily care scan folds every customer)
        if action == "insert" and since is None:
            since = local_day(at_us, tz)
        elif action == "owner_change":
            changed = json.loads(detail or "{}").get("changed", {}).get("owner_emp_no")
            if changed and changed[1] == emp_no:
                since = local_day(at_us, tz)
    return since
