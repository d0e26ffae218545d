"""Intake (受理): check a new issue's fields against master data and rules, and write its rows.

Shared by `service.open_issue` (its own transaction) and `service.open_issue_in` (inside another
flow's step, e.g. a survey's low score opening an improvement issue). Everything goes through
the caller's transaction (`engine.db.Tx`); nothing here commits, sends mail or reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Optional
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from engine.clock import to_us
from engine.masterdata.read import MasterData, Person
from flows.itr import counters
from flows.itr.errors import InvalidIssueInput, UnknownCustomer, UnknownRecord
from engine.i18n import t
from flows.itr.models import WeeklyScore
from flows.itr.policy import is_major_issue, sla_due, sla_text, week_of
from flows.itr.rules import SEVERITIES, SOURCES, TYPES, ItrRules

FIELDS = ("customer", "contact", "type", "severity", "source", "title", "description", "office", "contract",
          "major_incident", "care_rep", "submitter", "locale")


@dataclass
class Intake:
    data: dict[str, Any]
    row: dict[str, Any]
    calendar: str
    locale: str
    tz: ZoneInfo


def _choice(field: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = str(value or "").strip()
    if text not in allowed:
        raise InvalidIssueInput(t("itr.bad_choice", field=field, value=text or "∅", allowed=", ".join(allowed)))
    return text


def prepare(tx: Any, runtime: Any, rules: ItrRules, fields: dict[str, Any], *, actor: str, now: datetime) -> Intake:
    """Validate the request and compute the issue's data (SLA deadline on the office calendar)."""
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InvalidIssueInput(t("itr.unknown_fields", fields=", ".join(unknown), known=", ".join(FIELDS)))
    itype = _choice("type", fields.get("type"), TYPES)
    severity = _choice("severity", fields.get("severity"), SEVERITIES)
    source = _choice("source", fields.get("source"), SOURCES)
    title = str(fields.get("title") or "").strip()
    if not title:
        raise InvalidIssueInput(t("itr.missing_field", field="title"))
    cust = MasterData(tx).customer(fields.get("customer"))
    if cust is None:
        raise UnknownCustomer(t("itr.unknown_customer", code=fields.get("customer") or "∅"))
    if not fields.get("contact"):
        raise InvalidIssueInput(t("itr.missing_field", field="contact"))
    contact = MasterData(tx).contact(fields.get("contact"))
    if contact is None:
        raise UnknownRecord(t("itr.unknown_contact", code=fields.get("contact")))
    if contact.customer_code != cust.code:
        raise InvalidIssueInput(t("itr.contact_not_of_customer", contact=contact.code, customer=cust.code))
    submitter_no = fields.get("submitter") or actor
    submitter = MasterData(tx).person(submitter_no)
    if submitter is None:
        raise UnknownRecord(t("itr.unknown_employee", emp=submitter_no))
    office_code = fields.get("office") or cust.office_code
    office = MasterData(tx).unit(office_code)
    if office is None or office.kind != "office":
        raise UnknownRecord(t("itr.unknown_office", code=office_code))
    path = MasterData(tx).unit_path(office.code)  # walked once for the region, HQ and calendar (3 walks before)
    region = MasterData.ancestor_in(path, "region")
    hq = MasterData.ancestor_in(path, "hq")
    calendar = MasterData.calendar_in(path) or runtime.calendars.default_name
    if calendar not in runtime.calendars:
        raise InvalidIssueInput(t("itr.unknown_calendar", calendar=calendar, office=office.code,
                                  known=", ".join(runtime.calendars.names)))
    cal = runtime.calendars.get(calendar)
    contract = (str(fields["contract"]).strip() or None) if fields.get("contract") else None
    hours = rules.sla.hours(severity, contract, cust.tier)  # contract, else the customer's tier, else default
    due = sla_due(cal, now, hours)
    major = bool(fields.get("major_incident"))
    care = None
    if major:
        care = _care_rep(tx, fields.get("care_rep"))
    locale = str(fields.get("locale") or "zh-CN")
    if locale not in ("zh-CN", "en"):
        raise InvalidIssueInput(t("itr.bad_choice", field="locale", value=locale, allowed="zh-CN, en"))
    data: dict[str, Any] = {
        "title": title, "description": fields.get("description") or "", "type": itype, "severity": severity,
        "source": source, "customer": cust.code, "customer_name": cust.name, "contact": contact.code,
        "contact_name": contact.name, "contact_email": contact.email, "submitter": submitter.emp_no,
        "submitter_name": submitter.name, "submitter_email": submitter.email, "office": office.code,
        "office_name": office.name, "region": region.code if region else None, "hq": hq.code if hq else None,
        "team": cust.team_code, "calendar": calendar, "locale": locale, "contract": contract,
        "contract_sla": contract is not None and contract in rules.sla.contracts,
        "tier": cust.tier, "sla_basis": rules.sla.basis(severity, contract, cust.tier),
        "sla_hours": hours, "sla": sla_text(hours), "sla_due": due.astimezone(cal.tz).isoformat(), "level": "office",
        "queue": None, "handler": None, "handler_name": None, "major_incident": major,
        "care_rep": care.emp_no if care else None, "care_rep_name": care.name if care else None,
        "notes": [], "escalations": 0, "sla_breaches": 0, "progress_reports": 0,
    }
    if major:  # arms the hourly progress timer of every state up to "resolved"
        data["progress_every"] = progress_every(runtime.definitions.get("itr_issue"), "received")
    row = {"title": title, "description": data["description"] or None, "source": source, "type": itype,
           "severity": severity, "major_incident": major, "care_rep_emp_no": data["care_rep"],
           "customer_code": cust.code, "contact_code": contact.code, "submitter_emp_no": submitter.emp_no,
           "office_code": office.code, "region_code": data["region"], "team_code": cust.team_code,
           "contract": contract, "sla_hours": float(hours), "calendar": calendar, "level": "office",
           "valid": True, "opened_us": to_us(now), "sla_due_us": to_us(due), "sla_breaches": 0}
    if _negative_score(tx, rules, row, now):
        data["negative_score"] = rules.weekly_quota.negative_score.points
    return Intake(data, row, calendar, locale, cal.tz)


def _care_rep(tx: Any, emp_no: Optional[str]) -> Person:
    if not emp_no:
        raise InvalidIssueInput(t("itr.care_rep_required"))
    care = MasterData(tx).person(emp_no)
    if care is None:
        raise UnknownRecord(t("itr.unknown_employee", emp=emp_no))
    if "customer_care" not in care.roles:
        raise InvalidIssueInput(t("itr.not_care_rep", emp=emp_no))
    return care


def care_rep(tx: Any, emp_no: Optional[str]) -> Person:
    """A named customer-care representative (客户关怀代表): must exist and hold that role."""
    return _care_rep(tx, emp_no)


def progress_every(flow_defn: Any, state: str) -> str:
    """The cadence of the major-incident progress timer, read from the flow definition itself."""
    spec = next((tm for tm in flow_defn.state_by_name(state).timers if tm.name == "progress"), None)
    return spec.every if spec is not None and spec.every else "1 hour"


def _negative_score(tx: Any, rules: ItrRules, row: dict[str, Any], now: datetime) -> bool:
    """关键事件负向扣分: a major issue or complaint of a customer with no issue in the last N weeks."""
    neg = rules.weekly_quota.negative_score
    if not is_major_issue(severity=row["severity"], type=row["type"], major_incident=row["major_incident"],
                          severities=neg.severities, types=neg.types, count_major_incident=neg.major_incident):
        return False
    prior = tx.one("SELECT COUNT(*) FROM itr_issue WHERE customer_code = :c AND valid = :yes "
                   "AND opened_us >= :since AND opened_us <= :now",
                   {"c": row["customer_code"], "yes": True,
                    "since": to_us(now - timedelta(weeks=neg.lookback_weeks)), "now": to_us(now)})[0]
    return not prior


def record(tx: Any, issue_id: int, intake: Intake, rules: ItrRules, now: datetime) -> None:
    """Write the issue row and, when intake found one, the team's negative score entry."""
    tx.insert_row("itr_issue", {"id": issue_id, **intake.row})  # every column given: no defaults to fill
    counters.issue_opened(tx, intake.row["office_code"], intake.row["region_code"], intake.row["opened_us"])
    counters.report_opened(tx, issue_id)  # report counters (itrweb)
    if not intake.data.get("negative_score"):
        return
    neg = rules.weekly_quota.negative_score
    week = week_of(now, intake.tz)
    tx.run(insert(WeeklyScore.__table__).values(
        key=f"negative:{week}:{intake.row['customer_code']}:{issue_id}", week=week, kind="negative",
        office_code=intake.row["office_code"], team_code=intake.row["team_code"],
        customer_code=intake.row["customer_code"], issue_id=issue_id, points=neg.points,
        reason=t("itr.negative_reason", weeks=neg.lookback_weeks), created_us=to_us(now)))
