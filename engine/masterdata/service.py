"""The master-data service layer: the functions the CLI, the web app and the ITR/planning/care
flows call. The visibility rule and the audit log are enforced here, never in a UI.

Two kinds of functions:
* **system look-ups** (`get_employee`, `supervisor_chain`, `office_of`, `get_customer`,
  `birthdays_on`, `sponsors_of`, `projects_of` …) take no viewer: flows use them to route work
  and remind people. They must not be handed to a user's request unfiltered.
* **principal functions** (`visible_customers`, `visible_contacts`, `get_contact_card`,
  `customer_aggregates`, `change_tier`, `change_owner`, `record_assessment` …) take the
  authenticated `principal` of the person asking (keyword-only) and refuse with `NotVisible` (a
  read) or `NotPermitted` (a change) — naming what was refused — when the rule says no. Audit rows
  record `principal.actor` ("E00012", or "operator root for E00012" for the CLI's `--as`).

Functions that write (changes, and the audit row of every card read or refusal) commit the
session themselves: each call is one transaction, and a refusal's audit row survives the
exception that reports it. Every function that writes takes a `Clock`; none reads the wall clock.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any, Iterable, Optional

from pydantic import BaseModel, ConfigDict
from sqlalchemy import func
from sqlmodel import Session, col, select

from engine.clock import Clock, to_us
from engine.auth.principal import Principal
from engine.errors import MCRError, NotPermitted, NotVisible
from engine.masterdata import audit
from engine.i18n import t
from engine.masterdata.read import MasterData, Person, Unit
from engine.masterdata.models import (DIMENSION_ZH, SENSITIVE_CONTACT_FIELDS, ActivityInvitee,
                                      Assessment, Contact, Customer, Dimension, Employee, MarketingActivity, OrgUnit,
                                      Project, ProjectLevel, SponsorCadence, SponsorPairing, TierChange, UnitKind)
from engine.masterdata.settings import MasterDataRules, load_masterdata_rules
from engine.masterdata.tiers import TierRules, load_tier_rules
from engine.masterdata.visibility import (below, can_manage, can_see_contact, can_see_customer, can_see_sensitive,
                                          supervisor_tree)


class UnknownRecord(MCRError):
    """No such record."""


class InvalidChange(MCRError):
    """The change breaks a master-data rule; nothing was written."""


# ============================================================================================ views


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class UnitInfo(_View):
    code: str
    kind: str
    name: str
    parent_code: Optional[str] = None
    calendar: Optional[str] = None
    timezone: Optional[str] = None


class EmployeeInfo(_View):
    emp_no: str
    name: str
    email: str
    unit_code: str
    supervisor_emp_no: Optional[str] = None
    locale: str = "zh-CN"
    roles: list[str] = []


class KeyEvent(_View):
    month: int
    day: Optional[int] = None
    title: str


class CustomerInfo(_View):
    code: str
    name: str
    industry: Optional[str] = None
    tier: str
    office_code: str
    team_code: Optional[str] = None
    owner_emp_no: str
    backup_emp_no: Optional[str] = None
    annual_revenue_usd: Optional[int] = None
    credit_grade: Optional[str] = None
    locked_competitors: list[str] = []
    key_events: list[KeyEvent] = []


class CustomerUnits(_View):
    """The units that own a customer: its team (系统部), office (代表处) and region (地区部)."""

    team: Optional[UnitInfo] = None
    office: UnitInfo
    region: Optional[UnitInfo] = None


class TierChangeInfo(_View):
    customer_code: str
    from_tier: Optional[str] = None
    to_tier: str
    actor: str
    at_us: int
    reason: Optional[str] = None


class ContactSummary(_View):
    code: str
    customer_code: str
    name: str
    title: Optional[str] = None
    level: Optional[str] = None
    owner_emp_no: str
    backup_emp_no: Optional[str] = None
    decision_roles: list[str] = []
    is_coach: bool = False
    has_veto: bool = False
    rising_star: bool = False


class ContactCard(ContactSummary):
    """The personal card (个人明信片). Sensitive fields are None unless `sensitive_visible`."""

    gender: Optional[str] = None
    birthday: Optional[date] = None
    education: Optional[str] = None
    phone: Optional[str] = None
    email: Optional[str] = None
    hobbies: Optional[str] = None
    taboos: Optional[str] = None
    career_history: Optional[str] = None
    projects_influenced: Optional[str] = None
    family: Optional[str] = None
    pain_points_personal: Optional[str] = None
    pain_points_career: Optional[str] = None
    sensitive_visible: bool = False


class AssessmentInfo(_View):
    contact_code: str
    year: int
    revision: int
    scores: dict[str, Optional[int]]
    evidence: dict[str, Optional[str]]
    support_us: Optional[int] = None
    competitor_support: dict[str, int] = {}
    assessor_emp_no: Optional[str] = None
    actor: str
    recorded_us: int


class SponsorInfo(_View):
    sponsor_emp_no: str
    contact_code: str
    cadence: str
    accepted: bool


class ProjectInfo(_View):
    code: str
    name: str
    customer_code: str
    level: str
    phase: Optional[str] = None
    decision_date: Optional[date] = None
    team_code: Optional[str] = None
    closed: bool = False

    @property
    def is_big(self) -> bool:
        """Region level and above (地区部以上项目): full callback at close, bigger planning weight."""
        return self.level in (ProjectLevel.company.value, ProjectLevel.region.value)


class ActivityInfo(_View):
    code: str
    type: str
    title: str
    customer_code: str
    project_code: Optional[str] = None
    activity_date: date
    budget: Optional[int] = None
    currency: str = "CNY"
    inviter_emp_no: str
    status: str
    invitees: list[str] = []


class BirthdayInfo(_View):
    """A key contact to greet on `greet_on`, with whom to remind (owner, backup, paired sponsors)."""

    contact_code: str
    contact_name: str
    customer_code: str
    birthday: date
    greet_on: date
    owner_emp_no: str
    owner_email: str
    owner_locale: str
    backup_emp_no: Optional[str] = None
    sponsors: list[str] = []


class Aggregates(_View):
    """What sales management sees: counts, no person."""

    customers: int
    contacts: int
    by_tier: dict[str, int]
    by_office: dict[str, dict[str, int]]


def _employee(e: Employee | Person) -> EmployeeInfo:
    roles = e.roles if isinstance(e, Person) else e.role_set
    return EmployeeInfo(emp_no=e.emp_no, name=e.name, email=e.email, unit_code=e.unit_code,
                        supervisor_emp_no=e.supervisor_emp_no, locale=e.locale, roles=sorted(roles))


def _unit(u: Unit) -> UnitInfo:
    return UnitInfo(code=u.code, kind=u.kind, name=u.name, parent_code=u.parent_code, calendar=u.calendar,
                    timezone=u.timezone)


def _customer(c: Customer) -> CustomerInfo:
    data = c.model_dump()
    data["locked_competitors"] = json.loads(c.locked_competitors or "[]")
    data["key_events"] = json.loads(c.key_events or "[]")
    return CustomerInfo.model_validate(data)


def _summary(c: Contact) -> ContactSummary:
    data = c.model_dump()
    data["decision_roles"] = [r for r in c.decision_roles.split(",") if r]
    return ContactSummary.model_validate(data)


def _card(c: Contact, *, sensitive: bool) -> ContactCard:
    data = c.model_dump()
    data["decision_roles"] = [r for r in c.decision_roles.split(",") if r]
    if not sensitive:
        for name in SENSITIVE_CONTACT_FIELDS:
            data[name] = None
    return ContactCard.model_validate({**data, "sensitive_visible": sensitive})


def _assessment(a: Assessment) -> AssessmentInfo:
    return AssessmentInfo(contact_code=a.contact_code, year=a.year, revision=a.revision,
                          scores={d.value: getattr(a, d.value) for d in Dimension},
                          evidence={d.value: getattr(a, f"{d.value}_evidence") for d in Dimension},
                          support_us=a.support_us, competitor_support=json.loads(a.competitor_support or "{}"),
                          assessor_emp_no=a.assessor_emp_no, actor=a.actor, recorded_us=a.recorded_us)


def _activity(session: Session, a: MarketingActivity) -> ActivityInfo:
    invitees = sorted(session.exec(select(ActivityInvitee.contact_code)
                                   .where(ActivityInvitee.activity_code == a.code)).all())
    return ActivityInfo.model_validate({**a.model_dump(), "invitees": invitees})


# ============================================================================================ organisation (system)


def find_employee(session: Session, emp_no: str) -> EmployeeInfo | None:
    found = MasterData.of_session(session).person(emp_no)
    return _employee(found) if found else None


def get_employee(session: Session, emp_no: str) -> EmployeeInfo:
    """The employee with that number, or `UnknownRecord`."""
    found = find_employee(session, emp_no)
    if found is None:
        raise UnknownRecord(t("md.unknown_record", what=t("md.w_employee"), key=emp_no))
    return found


def employee_by_email(session: Session, email: str) -> EmployeeInfo | None:
    row = session.exec(select(Employee).where(Employee.email == email.strip().lower())).first()
    return _employee(row) if row else None


def supervisor_chain(session: Session, emp_no: str) -> list[EmployeeInfo]:
    """The supervisors above `emp_no`, nearest first (direct supervisor, their supervisor, …)."""
    md = MasterData.of_session(session)
    if md.person(emp_no) is None:
        raise UnknownRecord(t("md.unknown_record", what=t("md.w_employee"), key=emp_no))
    return [_employee(p) for p in md.supervisor_chain(emp_no)]


def subordinates(session: Session, emp_no: str, *, direct_only: bool = False) -> list[EmployeeInfo]:
    """Everyone below `emp_no` in the supervisor tree (or only the direct reports)."""
    if direct_only:
        rows = session.exec(select(Employee).where(Employee.supervisor_emp_no == emp_no)
                            .order_by(col(Employee.emp_no))).all()
        return [_employee(r) for r in rows]
    under = below(supervisor_tree(session), emp_no)
    rows = session.exec(select(Employee).where(col(Employee.emp_no).in_(under)).order_by(col(Employee.emp_no))).all() \
        if under else []
    return [_employee(r) for r in rows]


def get_unit(session: Session, code: str) -> UnitInfo:
    found = MasterData.of_session(session).unit(code)
    if found is None:
        raise UnknownRecord(t("md.unknown_record", what=t("md.w_unit"), key=code))
    return _unit(found)


def unit_path(session: Session, code: str) -> list[UnitInfo]:
    """The units from the company (hq) down to `code`, inclusive."""
    path = MasterData.of_session(session).unit_path(code)
    if not path:
        raise UnknownRecord(t("md.unknown_record", what=t("md.w_unit"), key=code))
    return [_unit(u) for u in path]


def _ancestor(session: Session, code: str, kind: UnitKind) -> UnitInfo | None:
    return next((u for u in unit_path(session, code) if u.kind == kind.value), None)


def office_of(session: Session, unit_code: str) -> UnitInfo | None:
    """The office (代表处) a team belongs to — the unit itself for an office; None above offices."""
    return _ancestor(session, unit_code, UnitKind.office)


def region_of(session: Session, unit_code: str) -> UnitInfo | None:
    """The region (地区部) above a team or office — the unit itself for a region; None for hq."""
    return _ancestor(session, unit_code, UnitKind.region)


def office_of_employee(session: Session, emp_no: str) -> UnitInfo | None:
    return office_of(session, get_employee(session, emp_no).unit_code)


def calendar_of(session: Session, unit_code: str) -> Optional[str]:
    """The business calendar for work of this unit: the nearest unit upwards that names one (None: default)."""
    return next((u.calendar for u in reversed(unit_path(session, unit_code)) if u.calendar), None)


def timezone_of(session: Session, unit_code: str) -> Optional[str]:
    return next((u.timezone for u in reversed(unit_path(session, unit_code)) if u.timezone), None)


def employees_with_role(session: Session, role: str, unit_code: Optional[str] = None, *,
                        within: bool = False) -> list[EmployeeInfo]:
    """Holders of `role` — in `unit_code` exactly, or anywhere under it with `within=True`.

    E.g. the issue handlers of an office: `employees_with_role(s, "issue_handler", "OFF-SZ")`.
    """
    md = MasterData.of_session(session)
    units = None if unit_code is None else md.subtree(unit_code) if within else {unit_code}
    return [_employee(p) for p in md.people_with_role(role, units)]


def unit_heads(session: Session, unit_code: str) -> list[EmployeeInfo]:
    """The supervisors (主管 / 系统部部长) of a unit: its members holding the supervisor role."""
    return employees_with_role(session, "supervisor", unit_code)


# ============================================================================================ customers (system)


def _customer_row(session: Session, code: str) -> Customer:
    row = session.exec(select(Customer).where(Customer.code == code)).first()
    if row is None:
        raise UnknownRecord(t("md.unknown_record", what=t("md.w_customer"), key=code))
    return row


def get_customer(session: Session, code: str) -> CustomerInfo:
    return _customer(_customer_row(session, code))


def customer_units(session: Session, code: str) -> CustomerUnits:
    """The team, office and region that own a customer (who plans for it, whose calendar applies)."""
    customer = _customer_row(session, code)
    office = get_unit(session, customer.office_code)
    return CustomerUnits(team=get_unit(session, customer.team_code) if customer.team_code else None, office=office,
                         region=region_of(session, office.code))


def customers(session: Session, *, tiers: Iterable[str] | None = None, team_code: Optional[str] = None,
              office_code: Optional[str] = None) -> list[CustomerInfo]:
    query = select(Customer).order_by(col(Customer.code))
    if tiers is not None:
        query = query.where(col(Customer.tier).in_(list(tiers)))
    if team_code is not None:
        query = query.where(Customer.team_code == team_code)
    if office_code is not None:
        query = query.where(Customer.office_code == office_code)
    return [_customer(c) for c in session.exec(query)]


def teams_owning(session: Session, tiers: Iterable[str]) -> list[str]:
    """Team codes that own a customer of one of `tiers` — who gets the planning kit (SPEC §3)."""
    rows = session.exec(select(Customer.team_code).where(col(Customer.tier).in_(list(tiers)))
                        .where(col(Customer.team_code).is_not(None)).distinct())
    return sorted(r for r in rows if r)


def tier_history(session: Session, customer_code: str) -> list[TierChangeInfo]:
    rows = session.exec(select(TierChange).where(TierChange.customer_code == customer_code)
                        .order_by(col(TierChange.id))).all()
    return [TierChangeInfo.model_validate(r) for r in rows]


def contacts_of_customer(session: Session, customer_code: str) -> list[ContactSummary]:
    rows = session.exec(select(Contact).where(Contact.customer_code == customer_code).order_by(col(Contact.code)))
    return [_summary(c) for c in rows]


def contact_owner(session: Session, contact_code: str) -> EmployeeInfo:
    """The employee who owns a contact (A角) — whom a care reminder goes to."""
    return get_employee(session, _contact_row(session, contact_code).owner_emp_no)


def _contact_row(session: Session, code: str) -> Contact:
    row = session.exec(select(Contact).where(Contact.code == code)).first()
    if row is None:
        raise UnknownRecord(t("md.unknown_record", what=t("md.w_contact"), key=code))
    return row


# ============================================================================================ birthdays (system)


def _greet_day(birthday: date, year: int, rule: str) -> date:
    if birthday.month == 2 and birthday.day == 29:
        try:
            return date(year, 2, 29)
        except ValueError:  # a common year: 28 February or 1 March, as the rules say
            return date(year, 2, 28) if rule == "feb28" else date(year, 3, 1)
    return date(year, birthday.month, birthday.day)


def birthdays_between(session: Session, start: date, end: date, *,
                      rules: MasterDataRules | None = None) -> list[BirthdayInfo]:
    """Key contacts whose birthday falls on a day in [start, end], with owner and sponsors to remind.

    A 29 February birthday is greeted on 28 February (or 1 March, rules/masterdata.yaml) in common years.
    """
    rule = (rules or load_masterdata_rules()).leap_day_birthdays
    people = {e.emp_no: e for e in session.exec(select(Employee))}
    sponsors: dict[str, list[str]] = {}
    for p in session.exec(select(SponsorPairing).order_by(col(SponsorPairing.sponsor_emp_no))):
        sponsors.setdefault(p.contact_code, []).append(p.sponsor_emp_no)
    out: list[BirthdayInfo] = []
    for c in session.exec(select(Contact).where(col(Contact.birthday).is_not(None))):
        assert c.birthday is not None
        for year in range(start.year, end.year + 1):
            day = _greet_day(c.birthday, year, rule)
            if start <= day <= end:
                owner = people[c.owner_emp_no]
                out.append(BirthdayInfo(contact_code=c.code, contact_name=c.name, customer_code=c.customer_code,
                                        birthday=c.birthday, greet_on=day, owner_emp_no=owner.emp_no,
                                        owner_email=owner.email, owner_locale=owner.locale,
                                        backup_emp_no=c.backup_emp_no, sponsors=sponsors.get(c.code, [])))
    return sorted(out, key=lambda b: (b.greet_on, b.contact_code))


def birthdays_on(session: Session, day: date, *, rules: MasterDataRules | None = None) -> list[BirthdayInfo]:
    return birthdays_between(session, day, day, rules=rules)


def upcoming_birthdays(session: Session, today: date, days: int = 1, *,
                       rules: MasterDataRules | None = None) -> list[BirthdayInfo]:
    """Birthdays from tomorrow to `days` ahead (default: tomorrow — the SPEC's "the day before")."""
    return birthdays_between(session, today + timedelta(days=1), today + timedelta(days=days), rules=rules)


# ============================================================================================ assessments


def assessment_history(session: Session, contact_code: str, year: Optional[int] = None) -> list[AssessmentInfo]:
    """Every revision, oldest first (system look-up; use `assessments_for` for a user)."""
    query = select(Assessment).where(Assessment.contact_code == contact_code)
    if year is not None:
        query = query.where(Assessment.year == year)
    rows = session.exec(query.order_by(col(Assessment.year), col(Assessment.revision))).all()
    return [_assessment(a) for a in rows]


def latest_assessment(session: Session, contact_code: str, year: int) -> AssessmentInfo | None:
    history = assessment_history(session, contact_code, year)
    return history[-1] if history else None


def record_assessment(session: Session, contact_code: str, year: int, *, scores: dict[str, Optional[int]],
                      evidence: dict[str, Optional[str]] | None = None, support_us: Optional[int] = None,
                      competitor_support: dict[str, int] | None = None, assessor_emp_no: Optional[str] = None,
                      principal: Principal, clock: Clock, rules: MasterDataRules | None = None) -> AssessmentInfo:
    """Add a revision of a contact's assessment for `year` (the web form / planning kit path).

    Only someone who may see the contact (owner, backup owner, the chain above) records it.

    Same checks as the import: scores on the scale, each score with its key event, competitors locked
    for the customer. An identical submission adds nothing and returns the latest revision.
    """
    rules = rules or load_masterdata_rules()
    contact = _contact_row(session, contact_code)
    if not (principal.is_engine or can_see_contact(principal, contact)):
        _refuse(session, clock, principal, "assessment", "contact", contact_code,
                t("md.not_allowed_assessment", viewer=principal.actor, key=contact_code), NotPermitted)
    evidence = evidence or {}
    competitor_support = competitor_support or {}
    problems: list[str] = []
    values: dict[str, Any] = {}
    for dim in Dimension:
        score = scores.get(dim.value)
        text = (evidence.get(dim.value) or "").strip() or None
        if score is not None and score not in rules.scores:
            problems.append(f"{DIMENSION_ZH[dim]}/{dim.value}: " + t("md.bad_score", value=score, scale=rules.scores))
        if score is not None and text is None and rules.assessment_requires_evidence:
            problems.append(f"{DIMENSION_ZH[dim]}/{dim.value}: " + t("md.evidence_required", col=f"{dim.value}_evidence"))
        values[dim.value], values[f"{dim.value}_evidence"] = score, text
    for score in [support_us, *competitor_support.values()]:
        if score is not None and score not in rules.scores:
            problems.append(t("md.bad_score", value=score, scale=rules.scores))
    locked = json.loads(_customer_row(session, contact.customer_code).locked_competitors or "[]")
    for name in competitor_support:
        if name not in locked:
            problems.append(t("md.competitor_not_locked", name=name, customer=contact.customer_code,
                              locked="、".join(locked) or "-"))
    if problems:
        raise InvalidChange("; ".join(problems))
    values.update(support_us=support_us, competitor_support=json.dumps(competitor_support, ensure_ascii=False,
                                                                       sort_keys=True),
                  assessor_emp_no=assessor_emp_no)
    previous = session.exec(select(Assessment).where(Assessment.contact_code == contact_code, Assessment.year == year)
                            .order_by(col(Assessment.revision).desc())).first()
    if previous is not None and all(getattr(previous, k) == v for k, v in values.items()):
        return _assessment(previous)
    row = Assessment(contact_code=contact_code, year=year, revision=(previous.revision + 1) if previous else 1,
                     actor=principal.actor, source="service", recorded_us=to_us(clock.now()), **values)
    session.add(row)
    audit.record(session, clock, actor=principal.actor, action="update" if previous else "insert", entity="assessment",
                 key=f"{contact_code}/{year}", revision=row.revision)
    session.commit()
    return _assessment(row)


# ============================================================================================ sponsors, projects, activities


def sponsors_of(session: Session, contact_code: str) -> list[SponsorInfo]:
    rows = session.exec(select(SponsorPairing).where(SponsorPairing.contact_code == contact_code)
                        .order_by(col(SponsorPairing.sponsor_emp_no)))
    return [SponsorInfo.model_validate(p) for p in rows]


def sponsorships_of(session: Session, sponsor_emp_no: str) -> list[SponsorInfo]:
    """The key contacts an executive sponsors (whom they should call or visit, and how often)."""
    rows = session.exec(select(SponsorPairing).where(SponsorPairing.sponsor_emp_no == sponsor_emp_no)
                        .order_by(col(SponsorPairing.contact_code)))
    return [SponsorInfo.model_validate(p) for p in rows]


def pair_sponsor(session: Session, sponsor_emp_no: str, contact_code: str, *, cadence: str = "monthly",
                 accepted: bool = False, principal: Principal, clock: Clock) -> SponsorInfo:
    """Pair an executive with a key contact (or update the pairing's cadence/acceptance).

    Sales management or a supervisor above the contact's owner pairs; the sponsor accepts.
    """
    get_employee(session, sponsor_emp_no)
    contact = _contact_row(session, contact_code)
    cadence = SponsorCadence(cadence).value
    if not (principal.is_engine or can_manage(principal, contact.owner_emp_no)
            or (principal.emp_no == sponsor_emp_no and _same_pairing(session, sponsor_emp_no, contact_code, cadence))):
        _refuse(session, clock, principal, "sponsor_pairing", "contact", contact_code,
                t("md.not_allowed_sponsor", viewer=principal.actor, key=contact_code), NotPermitted)
    row = session.exec(select(SponsorPairing).where(SponsorPairing.sponsor_emp_no == sponsor_emp_no,
                                                    SponsorPairing.contact_code == contact_code)).first()
    key = f"{sponsor_emp_no}/{contact_code}"
    if row is None:
        row = SponsorPairing(sponsor_emp_no=sponsor_emp_no, contact_code=contact_code, cadence=cadence, accepted=accepted)
        session.add(row)
        audit.record(session, clock, actor=principal.actor, action="insert", entity="sponsor_pairing", key=key)
    elif (row.cadence, row.accepted) != (cadence, accepted):
        changed = {"cadence": [row.cadence, cadence], "accepted": [row.accepted, accepted]}
        row.cadence, row.accepted = cadence, accepted
        session.add(row)
        audit.record(session, clock, actor=principal.actor, action="update", entity="sponsor_pairing", key=key,
                     changed=changed)
    session.commit()
    return SponsorInfo.model_validate(row)


def _same_pairing(session: Session, sponsor_emp_no: str, contact_code: str, cadence: str) -> bool:
    """The sponsor may only accept an existing pairing as it is (cadence unchanged)."""
    row = session.exec(select(SponsorPairing).where(SponsorPairing.sponsor_emp_no == sponsor_emp_no,
                                                    SponsorPairing.contact_code == contact_code)).first()
    return row is not None and row.cadence == cadence


def accept_sponsorship(session: Session, sponsor_emp_no: str, contact_code: str, *, principal: Principal,
                       clock: Clock) -> SponsorInfo:
    """The executive accepts the sponsor role (the method requires they agree): only they themselves."""
    if not (principal.is_engine or principal.emp_no == sponsor_emp_no):
        _refuse(session, clock, principal, "sponsor_accept", "sponsor_pairing", f"{sponsor_emp_no}/{contact_code}",
                t("md.not_allowed_accept", viewer=principal.actor, sponsor=sponsor_emp_no), NotPermitted)
    row = session.exec(select(SponsorPairing).where(SponsorPairing.sponsor_emp_no == sponsor_emp_no,
                                                    SponsorPairing.contact_code == contact_code)).first()
    if row is None:
        raise UnknownRecord(t("md.unknown_record", what=t("md.w_pairing"), key=f"{sponsor_emp_no}/{contact_code}"))
    return pair_sponsor(session, sponsor_emp_no, contact_code, cadence=row.cadence, accepted=True,
                        principal=principal, clock=clock)


def get_project(session: Session, code: str) -> ProjectInfo:
    row = session.exec(select(Project).where(Project.code == code)).first()
    if row is None:
        raise UnknownRecord(t("md.unknown_record", what=t("md.w_project"), key=code))
    return ProjectInfo.model_validate(row)


def projects_of(session: Session, *, customer_code: Optional[str] = None, team_code: Optional[str] = None,
                open_only: bool = True, levels: Iterable[str] | None = None) -> list[ProjectInfo]:
    """Projects by customer and/or team; `levels=("company", "region")` for the big ones."""
    query = select(Project).order_by(col(Project.code))
    if customer_code is not None:
        query = query.where(Project.customer_code == customer_code)
    if team_code is not None:
        query = query.where(Project.team_code == team_code)
    if open_only:
        query = query.where(Project.closed == False)  # noqa: E712 - SQL comparison
    if levels is not None:
        query = query.where(col(Project.level).in_(list(levels)))
    return [ProjectInfo.model_validate(p) for p in session.exec(query)]


def save_project(session: Session, *, code: str, name: str, customer_code: str, level: str,
                 phase: Optional[str] = None, decision_date: Optional[date] = None, team_code: Optional[str] = None,
                 closed: bool = False, principal: Principal, clock: Clock) -> ProjectInfo:
    """Create or update a project by its code."""
    _customer_row(session, customer_code)
    if team_code is not None:
        get_unit(session, team_code)
    values = dict(name=name, customer_code=customer_code, level=ProjectLevel(level).value, phase=phase,
                  decision_date=decision_date, team_code=team_code, closed=closed)
    row = session.exec(select(Project).where(Project.code == code)).first()
    if row is None:
        row = Project(code=code, **values)
        session.add(row)
        audit.record(session, clock, actor=principal.actor, action="insert", entity="project", key=code)
    else:
        changed = {k: [getattr(row, k), v] for k, v in values.items() if getattr(row, k) != v}
        if changed:
            for k, v in values.items():
                setattr(row, k, v)
            session.add(row)
            audit.record(session, clock, actor=principal.actor, action="update", entity="project", key=code,
                         changed=changed)
    session.commit()
    return ProjectInfo.model_validate(row)


def plan_activity(session: Session, *, code: str, type: str, title: str, customer_code: str,
                  project_code: Optional[str], activity_date: date, budget: Optional[int],
                  inviter_emp_no: str, invitees: Iterable[str] = (), currency: str = "CNY",
                  status: str = "planned", principal: Principal, clock: Clock,
                  rules: MasterDataRules | None = None) -> ActivityInfo:
    """Create or update a marketing activity (品牌/营销活动) by its code.

    SPEC §3: it names the project it supports, happens before that project's decision date, and
    carries a budget estimate — otherwise `InvalidChange`, nothing written.
    """
    rules = rules or load_masterdata_rules()
    kind = rules.parse_activity_type(type)
    if kind is None:
        raise InvalidChange(t("md.unknown_activity_type", value=type, choices="、".join(
            rules.activity_type_label(c) for c in rules.activity_type_codes())))
    _customer_row(session, customer_code)
    get_employee(session, inviter_emp_no)
    if status == "planned":
        if project_code is None:
            raise InvalidChange(t("md.activity_needs_project"))
        if budget is None:
            raise InvalidChange(t("md.activity_needs_budget"))
    if project_code is not None:
        project = get_project(session, project_code)
        if project.customer_code != customer_code:
            raise InvalidChange(t("md.project_other_customer", project=project_code, actual=project.customer_code,
                                  customer=customer_code))
        if project.decision_date is not None and activity_date >= project.decision_date and status == "planned":
            raise InvalidChange(t("md.activity_after_decision", date=activity_date.isoformat(), project=project_code,
                                  decision=project.decision_date.isoformat()))
    invited = sorted(set(invitees))
    for contact in invited:
        _contact_row(session, contact)
    values = dict(type=kind, title=title, customer_code=customer_code, project_code=project_code,
                  activity_date=activity_date, budget=budget, currency=currency, inviter_emp_no=inviter_emp_no,
                  status=status)
    row = session.exec(select(MarketingActivity).where(MarketingActivity.code == code)).first()
    if row is None:
        row = MarketingActivity(code=code, **values)
        session.add(row)
        session.flush()  # invitees refer to the activity's code
        audit.record(session, clock, actor=principal.actor, action="insert", entity="marketing_activity", key=code)
    else:
        changed = {k: [getattr(row, k), v] for k, v in values.items() if getattr(row, k) != v}
        for k, v in values.items():
            setattr(row, k, v)
        session.add(row)
        if changed:
            audit.record(session, clock, actor=principal.actor, action="update", entity="marketing_activity", key=code,
                         changed=changed)
    current = set(session.exec(select(ActivityInvitee.contact_code).where(ActivityInvitee.activity_code == code)))
    for contact in current - set(invited):
        for inv in session.exec(select(ActivityInvitee).where(ActivityInvitee.activity_code == code,
                                                              ActivityInvitee.contact_code == contact)):
            session.delete(inv)
    for contact in set(invited) - current:
        session.add(ActivityInvitee(activity_code=code, contact_code=contact))
    session.commit()
    return _activity(session, row)


def activities_of(session: Session, *, customer_code: Optional[str] = None,
                  project_code: Optional[str] = None) -> list[ActivityInfo]:
    query = select(MarketingActivity).order_by(col(MarketingActivity.activity_date), col(MarketingActivity.code))
    if customer_code is not None:
        query = query.where(MarketingActivity.customer_code == customer_code)
    if project_code is not None:
        query = query.where(MarketingActivity.project_code == project_code)
    return [_activity(session, a) for a in session.exec(query)]


# ============================================================================================ principal functions


def _refuse(session: Session, clock: Clock, principal: Principal, action: str, entity: str, key: str, message: str,
            error: type[MCRError] = NotVisible) -> None:
    # The refusal is audited in its own commit: the caller will not commit after the exception.
    session.rollback()
    audit.record(session, clock, actor=principal.actor, action=action, entity=entity, key=key, allowed=False)
    session.commit()
    raise error(message)


def _contacts_by_customer(session: Session) -> dict[str, list[Contact]]:
    out: dict[str, list[Contact]] = {}
    for c in session.exec(select(Contact)):
        out.setdefault(c.customer_code, []).append(c)
    return out


def visible_customers(session: Session, *, principal: Principal) -> list[CustomerInfo]:
    """The customers `principal` may see (own, backed up, their subordinates', or of a visible contact).

    The operator and the engine are nobody in the supervisor tree: they see none.
    """
    contacts = _contacts_by_customer(session)
    rows = session.exec(select(Customer).order_by(col(Customer.code)))
    return [_customer(c) for c in rows if can_see_customer(principal, c, contacts.get(c.code))]


def get_customer_for(session: Session, code: str, *, principal: Principal, clock: Clock) -> CustomerInfo:
    """One customer for a user; `NotVisible` (and an audited refusal) outside their view."""
    customer = _customer_row(session, code)
    if not can_see_customer(principal, customer, _contacts_by_customer(session).get(code)):
        _refuse(session, clock, principal, "read", "customer", code,
                t("md.not_visible_customer", viewer=principal.actor, key=code))
    return _customer(customer)


def visible_contacts(session: Session, customer_code: Optional[str] = None, *,
                     principal: Principal) -> list[ContactSummary]:
    """Summaries (no personal-card details) of the contacts `principal` may see."""
    query = select(Contact).order_by(col(Contact.code))
    if customer_code is not None:
        query = query.where(Contact.customer_code == customer_code)
    return [_summary(c) for c in session.exec(query) if can_see_contact(principal, c)]


def get_contact_card(session: Session, contact_code: str, *, principal: Principal, clock: Clock,
                     rules: MasterDataRules | None = None) -> ContactCard:
    """The personal card (个人明信片) of a key contact, for `principal`; the read is audited.

    Sensitive fields are filled only for the owner and the supervisors above them. Outside the
    principal's view: `NotVisible`, audited as a refused read.
    """
    rules = rules or load_masterdata_rules()
    contact = _contact_row(session, contact_code)
    if not can_see_contact(principal, contact):
        _refuse(session, clock, principal, "read_card", "contact", contact_code,
                t("md.not_visible_contact", viewer=principal.actor, key=contact_code))
    sensitive = can_see_sensitive(principal, contact, store_sensitive=rules.store_sensitive)
    audit.record(session, clock, actor=principal.actor, action="read_card", entity="contact", key=contact_code,
                 sensitive=sensitive)
    session.commit()
    return _card(contact, sensitive=sensitive)


def assessments_for(session: Session, contact_code: str, *, principal: Principal,
                    clock: Clock) -> list[AssessmentInfo]:
    """A contact's assessment history for a user who may see the contact."""
    if not can_see_contact(principal, _contact_row(session, contact_code)):
        _refuse(session, clock, principal, "read_assessments", "contact", contact_code,
                t("md.not_visible_contact", viewer=principal.actor, key=contact_code))
    return assessment_history(session, contact_code)


def customer_aggregates(session: Session, *, principal: Principal, clock: Clock) -> Aggregates:
    """Counts per tier and per office (销售管理部's view): no names, no cards."""
    if not principal.is_sales_management:
        _refuse(session, clock, principal, "read_aggregates", "customer", "*",
                t("md.not_visible_aggregates", viewer=principal.actor))
    by_tier: dict[str, int] = {t: 0 for t in ("S", "A", "B", "C")}
    by_office: dict[str, dict[str, int]] = {}
    for office, tier, n in session.exec(select(Customer.office_code, Customer.tier, func.count())
                                        .group_by(Customer.office_code, Customer.tier)):
        by_tier[tier] = by_tier.get(tier, 0) + n
        by_office.setdefault(office, {})[tier] = n
    contacts = session.exec(select(func.count()).select_from(Contact)).one()
    return Aggregates(customers=sum(by_tier.values()), contacts=contacts, by_tier=by_tier, by_office=by_office)


# ============================================================================================ changes


def may_manage(principal: Principal, owner_emp_no: Optional[str]) -> bool:
    """Tier and owner changes: sales management, a supervisor above the owner, or the engine itself."""
    return principal.is_engine or can_manage(principal, owner_emp_no)


def _may_manage(session: Session, principal: Principal, owner: str, *, clock: Clock, action: str, entity: str,
                key: str, refusal: str) -> None:
    if not may_manage(principal, owner):
        _refuse(session, clock, principal, action, entity, key, t(refusal, viewer=principal.actor, key=key),
                NotPermitted)


def change_tier(session: Session, customer_code: str, to_tier: str, *, principal: Principal, reason: str,
                clock: Clock, tiers: TierRules | None = None) -> TierChangeInfo:
    """Change a customer's tier — an event kept in `customer_tier_change` with who, when and why.

    Allowed to sales management and to supervisors above the customer's owner (and the engine);
    refused otherwise with `NotPermitted`, audited.
    """
    tiers = tiers or load_tier_rules()
    tier = tiers.normalise(to_tier)
    if tier is None:
        raise InvalidChange(t("md.bad_tier", value=to_tier))
    customer = _customer_row(session, customer_code)
    _may_manage(session, principal, customer.owner_emp_no, clock=clock, action="tier_change", entity="customer",
                key=customer_code, refusal="md.not_allowed_tier")
    if customer.tier == tier:
        raise InvalidChange(t("md.same_tier", key=customer_code, tier=tier))
    change = TierChange(customer_code=customer_code, from_tier=customer.tier, to_tier=tier, actor=principal.actor,
                        at_us=to_us(clock.now()), reason=reason)
    audit.record(session, clock, actor=principal.actor, action="tier_change", entity="customer", key=customer_code,
                 changed={"tier": [customer.tier, tier]}, reason=reason)
    customer.tier = tier
    session.add(customer)
    session.add(change)
    session.commit()
    return TierChangeInfo.model_validate(change)


_KEEP: Any = object()


def change_owner(session: Session, contact_code: str, *, owner: str, backup: Optional[str] = _KEEP,
                 principal: Principal, reason: str, clock: Clock) -> ContactSummary:
    """Hand a key contact over to a new owner (and backup owner) — e.g. after a rotation or a move.

    Allowed to sales management and to supervisors above the current owner (and the engine).
    """
    contact = _contact_row(session, contact_code)
    _may_manage(session, principal, contact.owner_emp_no, clock=clock, action="owner_change", entity="contact",
                key=contact_code, refusal="md.not_allowed_owner")
    get_employee(session, owner)
    new_backup = contact.backup_emp_no if backup is _KEEP else backup
    if new_backup is not None:
        get_employee(session, new_backup)
        if new_backup == owner:
            raise InvalidChange(t("md.backup_is_owner"))
    changed = {k: [old, new] for k, old, new in (("owner_emp_no", contact.owner_emp_no, owner),
                                                  ("backup_emp_no", contact.backup_emp_no, new_backup)) if old != new}
    if changed:
        contact.owner_emp_no, contact.backup_emp_no = owner, new_backup
        session.add(contact)
        audit.record(session, clock, actor=principal.actor, action="owner_change", entity="contact",
                     key=contact_code, changed=changed, reason=reason)
        session.commit()
    return _summary(contact)


def master_data_counts(session: Session) -> dict[str, int]:
    """Row counts per table (for `mcr demo-data` and health pages)."""
    out = {}
    for name, model in (("units", OrgUnit), ("employees", Employee), ("customers", Customer), ("contacts", Contact),
                        ("assessments", Assessment), ("sponsors", SponsorPairing), ("projects", Project),
                        ("activities", MarketingActivity)):
        out[name] = session.exec(select(func.count()).select_from(model)).one()
    return out
