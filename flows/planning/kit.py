"""The year-end planning kit (客户关系规划三件套) as services: who gets a kit, issuing one,
submitting a filled workbook, the supervisor's review, completion status and the budget roll-up.

Every step is a plain function of (runtime or session, arguments) so that the Prefect launch
(flows/planning/launch.py), the recurring launcher, the CLI and the replay scenarios all call the
same code, and tests call it directly. Issuing is idempotent: one kit instance per team and year
(instance subject `kit:<team>:<year>`), so a re-run never gives a team a second kit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from sqlmodel import Session

from engine.auth.principal import Principal
from engine.db import Tx
from engine.errors import MCRError
from engine.masterdata import service
from engine.paths import safe_join
from engine.sql import with_archive
from engine.masterdata.read import MasterData
from flows.planning.common import InstanceRef, find_instance, instances, kit_dir, start_and_kick
from flows.planning.dates import kit_schedule
from engine import i18n
from flows.planning.rules import PlanningRules, kit_tiers, load_planning_rules, registered_kit_rules
from flows.planning.workbook import (OBJECTIVES_SHEET, PLAN_SHEET, ASSESSMENT_SHEET, ParsedKit, kit_content,
                                     parse_kit, write_kit_workbook)
from flows.planning.rules import masterdata_rules as load_masterdata_rules

log = logging.getLogger("mcr.planning")

KIT_FLOW = "planning_kit"
# The steps of the kit in order: (state waiting for it, event that completes it, workbook section).
KIT_STEPS = (("issued", "submit_assessment", "assessment"),
             ("assessment_submitted", "submit_objectives", "objectives"),
             ("objectives_submitted", "submit_plan", "plan"))
SECTION_SHEET = {"assessment": ASSESSMENT_SHEET, "objectives": OBJECTIVES_SHEET, "plan": PLAN_SHEET}
OPEN_STATES = ("issued", "assessment_submitted", "objectives_submitted", "plan_submitted")


def kit_subject(team: str, year: int) -> str:
    return f"kit:{team}:{year}"


class KitRefused(MCRError):
    """The kit cannot take this action in its current state."""


# ============================================================================================ issuing


def teams_due_a_kit(session: Session, year: int, tiers: Iterable[str]) -> list[str]:
    """Teams (系统部) that own at least one customer of `tiers` — each gets the `year` kit.

    `year` is the planning year; it does not change who is due (ownership as of today decides),
    but names what the list is for. A team owning only B/C customers gets none.
    """
    return service.teams_owning(session, list(tiers))


@dataclass
class IssueOutcome:
    team: str
    year: int
    status: str  # issued | already
    instance_id: int
    path: Optional[str] = None

    def describe(self) -> str:
        key = "planning.outcome_issued" if self.status == "issued" else "planning.outcome_already"
        return i18n.t(key, id=self.instance_id)


def issue_kit(runtime: Any, team: str, year: int, *, rules: PlanningRules | None = None,
              tiers: Iterable[str] | None = None, folder: Path | None = None, actor: str = "system") -> IssueOutcome:
    """Issue `team`'s kit for planning `year`: start the kit flow
    (`runtime.start("planning_kit", ..., subject="kit:<team>:<year>")`) and mail the team.

    The pre-filled workbook is not written here: the step records where it goes (`kit_path`) and what
    it holds (team, year, customers); `kit_file` writes it on its first download (web page or
    `mcr planning kit`), from the master data of that moment.

    Safe to repeat: an issued kit is left alone (status `already`); a kit whose start succeeded but
    whose mail step did not is finished.
    """
    subject = kit_subject(team, year)
    existing = find_instance(runtime.db, KIT_FLOW, subject)
    if existing is not None and existing.state != "preparing":
        return IssueOutcome(team, year, "already", existing.id, existing.data.get("kit_path"))
    if rules is None:
        registered = registered_kit_rules(runtime)
        rules, tiers = registered.planning, (tiers if tiers is not None else registered.tiers)
    tiers = list(tiers) if tiers is not None else kit_tiers(rules)
    with runtime.db.read() as tx:  # the master-data port on a plain read transaction (no ORM session)
        md = MasterData(tx)
        info = md.team(team)
        if info is None:
            raise service.UnknownRecord(i18n.t("md.unknown_record", what=i18n.t("md.w_unit"), key=team))
        customers, n_contacts, n_projects = kit_counts(tx, team, tiers)
        sales = md.sales_management(rules.kit.sales_management_emails)
    cal = runtime.calendars.get(info.calendar)
    schedule = kit_schedule(year, rules.kit, cal)
    # The team code comes from imported data: joined through the one guard against leaving the folder.
    path = safe_join(folder or kit_dir(), year, f"{team}-{year}-客户关系规划三件套.xlsx")
    head = info.head
    data = {
        "team": team, "team_name": info.name, "year": year,
        "office": info.office_code, "office_name": info.office_name,
        "region": info.region_code, "region_name": info.region_name,
        "supervisor": head.emp_no if head else None, "supervisor_name": head.name if head else None,
        "supervisor_email": head.email if head else None,
        "team_emails": info.member_emails, "sales_management": sales,
        "customers": customers, "contacts": n_contacts, "projects": n_projects,
        "kit_path": str(path),
        "deadline": schedule.deadline.isoformat(), "deadline_at": schedule.deadline_at.isoformat(),
        "escalate_at": schedule.escalate_at.isoformat(),
        "calendar": info.calendar, "locale": info.locale,
        "submissions": 0, "reviews": 0,
    }
    iid, _ = start_and_kick(runtime, KIT_FLOW, data, subject=subject, event="issue", actor=actor)
    log.info("planning kit %s %s issued as instance #%s (%s)", team, year, iid, path)
    return IssueOutcome(team, year, "issued", iid, str(path))


def kit_counts(tx: Tx, team: str, tiers: Iterable[str]) -> tuple[list[str], int, int]:
    """What an issued kit records of its content: the kit customers' codes, how many contacts and open
    projects they have — counted, not read (the pre-filled lines are read when the page or workbook is)."""
    names = sorted(set(tiers))
    marks = ", ".join(f":t{i}" for i in range(len(names))) or "NULL"
    params = {"team": team, **{f"t{i}": n for i, n in enumerate(names)}}
    where = f"team_code = :team AND tier IN ({marks})"
    customers = [r[0] for r in tx.all(f"SELECT code FROM customer WHERE {where} ORDER BY code", params)]
    contacts = tx.one(f"SELECT COUNT(*) FROM contact WHERE customer_code IN (SELECT code FROM customer WHERE {where})",
                      params)[0]
    projects = tx.one(f"SELECT COUNT(*) FROM project WHERE closed = :no AND customer_code IN "
                      f"(SELECT code FROM customer WHERE {where})", {**params, "no": False})[0]
    return customers, int(contacts or 0), int(projects or 0)


def kit_file(runtime: Any, data: dict[str, Any], path: Path) -> Path:
    """The pre-filled workbook of the kit whose step data is `data`, at `path` (a path `safe_join` made),
    written on its first request.

    Issuing a kit only records it; most of the cost of a kit is this file (openpyxl), paid once per
    team when someone downloads it, not at issue and not for teams that never open it."""
    if path.is_file():
        return path
    rules = load_planning_rules()
    with runtime.db.session() as session:
        content = kit_content(session, str(data["team"]), str(data.get("team_name") or ""), int(data["year"]),
                              kit_tiers(rules), load_masterdata_rules())
    return write_kit_workbook(content, path)


@dataclass
class LaunchReport:
    year: int
    teams: list[str]
    outcomes: list[IssueOutcome] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def issued(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "issued")

    @property
    def already(self) -> int:
        return sum(1 for o in self.outcomes if o.status == "already")

    def summary(self) -> str:
        return i18n.t("planning.launch_summary", year=self.year, issued=self.issued, already=self.already,
                   failed=len(self.failures), teams=len(self.teams))


def launch_kits(runtime: Any, year: int, runner: Any, *, rules: PlanningRules | None = None,
                teams: Optional[list[str]] = None) -> LaunchReport:
    """Issue the `year` kit to every team that owns a customer of the kit tiers (or to `teams`, the
    list a manager confirmed), one work item per team through `runner` (engine/batch.py): one after
    the other, or one Prefect task each (flows/planning/launch.py, the recurring launcher)."""
    rules = rules or load_planning_rules()
    tiers = kit_tiers(rules)
    if teams is None:
        with runtime.db.session() as session:
            teams = teams_due_a_kit(session, year, tiers)
    batch = runner.each("planning-kit", teams, lambda team: issue_kit(runtime, team, year, rules=rules, tiers=tiers),
                        describe=IssueOutcome.describe)
    report = LaunchReport(year, list(teams))
    report.outcomes = batch.results
    report.failures = dict(batch.failures)
    return report


def launch_kits_direct(runtime: Any, year: int, *, rules: PlanningRules | None = None,
                       progress: Any = None) -> LaunchReport:
    """The launch without Prefect: the same steps, one team after the other, failures collected."""
    from engine.batch import DirectRunner

    return launch_kits(runtime, year, DirectRunner(progress=progress), rules=rules)


# ============================================================================================ submitting


def kit_instance(runtime: Any, team: str, year: Optional[int] = None) -> InstanceRef:
    """The team's kit for `year`, or (no year) its latest kit."""
    if year is not None:
        found = find_instance(runtime.db, KIT_FLOW, kit_subject(team, year))
    else:
        found = max(instances(runtime.db, KIT_FLOW, f"kit:{team}:%"), key=lambda i: i.data.get("year", 0),
                    default=None)
    if found is None:
        raise KitRefused(i18n.t("planning.kit_no_instance", team=team, year=year or "-",
                             tiers="/".join(kit_tiers(load_planning_rules()))))
    return found


@dataclass
class SubmitResult:
    instance_id: int
    team: str
    year: int
    sections: list[str]
    state: str
    budget: int

    def describe(self) -> str:
        return i18n.t("planning.kit_submitted", team=self.team, year=self.year, id=self.instance_id,
                   sections="、".join(self.sections), state=self.state)


def submit_kit(runtime: Any, team: str, file: Path | str, *, principal: Principal,
               year: Optional[int] = None, client_event_id: Optional[str] = None) -> SubmitResult:
    """Validate a filled kit workbook and move the kit flow on by the sections it completes.

    Every problem (sheet, row, column) is reported in one `ImportRejected` and nothing is
    recorded. On success the kit advances from its current step through each completed section
    (assessment → objectives → action plan, each one step recording its rows) and, with the
    plan in, asks the supervisor to review. Only the team (members of the team unit) or the
    supervisors above them may submit: otherwise `ActionNotPermitted`, in `flow_refusal`.
    With a `client_event_id` (a web form's one-time id), a submission already applied is not
    applied again: the kit as it is now is answered.
    """
    inst = kit_instance(runtime, team, year)
    year = int(inst.data["year"])
    if client_event_id is not None and _applied(runtime, client_event_id):
        return SubmitResult(inst.id, inst.data["team"], year, [], inst.state, int(inst.data.get("budget") or 0))
    if inst.state == "supervisor_review":
        raise KitRefused(i18n.t("planning.kit_in_review", team=team, year=year))
    if inst.state == "done":
        raise KitRefused(i18n.t("planning.kit_done", team=team, year=year))
    if inst.state == "preparing":
        raise KitRefused(i18n.t("planning.kit_preparing", team=team, year=year))
    rules = load_planning_rules()
    with runtime.db.session() as session:
        parsed = parse_kit(session, file, team, year, kit_tiers(rules), load_masterdata_rules(), checks=rules.kit)
    return apply_submission(runtime, inst, parsed, principal=principal, client_event_id=client_event_id)


def _step_id(client_event_id: Optional[str], event: str) -> Optional[str]:
    # One submission sends several events; each gets its own id derived from the form's one.
    return f"{client_event_id}:{event}" if client_event_id is not None else None


def _applied(runtime: Any, client_event_id: str) -> bool:
    ids = {f"c{i}": _step_id(client_event_id, e) for i, e in enumerate([s[1] for s in KIT_STEPS] + ["request_review"])}
    with runtime.db.read() as tx:
        return tx.one(with_archive(f"SELECT 1 FROM {{flow_history}} WHERE client_event_id IN "
                                   f"({', '.join(':' + k for k in ids)})"), ids) is not None


def apply_submission(runtime: Any, inst: InstanceRef, parsed: ParsedKit, *, principal: Principal,
                     client_event_id: Optional[str] = None) -> SubmitResult:
    state = inst.state
    steps = [s for s in KIT_STEPS if s[0] == state] if state != "plan_submitted" else []
    done: list[str] = []
    if steps:
        start = KIT_STEPS.index(steps[0])
        first_section = KIT_STEPS[start][2]
        if first_section not in parsed.sections:
            raise KitRefused(i18n.t("planning.kit_missing_section", sheet=SECTION_SHEET[first_section]))
        for waiting, event, section in KIT_STEPS[start:]:
            if section not in parsed.sections:
                break
            res = runtime.send(inst.id, event, actor=principal.actor, principal=principal,
                               payload={"file": parsed.file, "rows": parsed.section_payload(section)},
                               client_event_id=_step_id(client_event_id, event))
            state = res.to_state
            done.append(section)
    if state == "plan_submitted":
        state = runtime.send(inst.id, "request_review", actor=principal.actor, principal=principal,
                             payload={"budget": parsed.budget},
                             client_event_id=_step_id(client_event_id, "request_review")).to_state
    return SubmitResult(inst.id, inst.data["team"], int(inst.data["year"]), done, state, parsed.budget)


# ============================================================================================ review


def review_kit(runtime: Any, team: str, year: int, *, principal: Principal, approve: bool, step: Optional[str] = None,
               comment: Optional[str] = None, client_event_id: Optional[str] = None) -> Any:
    """The supervisor approves the kit, or sends it back to a step (assessment/objectives/plan) with comments.

    Only the team's supervisor chain or sales management: otherwise `ActionNotPermitted`.
    """
    inst = kit_instance(runtime, team, year)
    if approve:
        return runtime.send(inst.id, "approve", actor=principal.actor, principal=principal,
                            payload={"comment": comment or ""}, client_event_id=client_event_id)
    return runtime.send(inst.id, "send_back", actor=principal.actor, principal=principal,
                        payload={"step": step or "", "comment": comment or ""}, client_event_id=client_event_id)


# ============================================================================================ status and budget


@dataclass
class KitStatusRow:
    region: Optional[str]
    office: Optional[str]
    team: str
    team_name: str
    instance_id: int
    state: str
    deadline: str
    overdue: bool


def _overdue(inst: InstanceRef, now: Any) -> bool:
    from datetime import datetime

    deadline = inst.data.get("deadline_at")
    return inst.state in OPEN_STATES and bool(deadline) and datetime.fromisoformat(deadline) <= now


def kit_status(runtime: Any, year: int) -> dict[str, Any]:
    """Completion of the `year` kits per region, office and team (what `mcr planning status` prints)."""
    now = runtime.clock.now()
    rows = [KitStatusRow(i.data.get("region"), i.data.get("office"), i.data["team"], i.data.get("team_name", ""),
                         i.id, i.state, i.data.get("deadline", ""), _overdue(i, now))
            for i in instances(runtime.db, KIT_FLOW, f"kit:%:{year}") if int(i.data.get("year", 0)) == year]
    rows.sort(key=lambda r: (r.region or "", r.office or "", r.team))

    def summary(items: list[KitStatusRow]) -> dict[str, Any]:
        n = len(items)
        done = sum(1 for r in items if r.state == "done")
        return {"kits": n, "done": done, "in_review": sum(1 for r in items if r.state == "supervisor_review"),
                "in_progress": sum(1 for r in items if r.state in OPEN_STATES or r.state == "preparing"),
                "overdue": sum(1 for r in items if r.overdue),
                "completion_pct": round(100.0 * done / n, 1) if n else 0.0}

    regions: dict[str, list[KitStatusRow]] = {}
    offices: dict[str, list[KitStatusRow]] = {}
    for r in rows:
        regions.setdefault(r.region or "-", []).append(r)
        offices.setdefault(r.office or "-", []).append(r)
    return {"year": year, "total": summary(rows),
            "regions": {k: summary(v) for k, v in regions.items()},
            "offices": {k: summary(v) for k, v in offices.items()},
            "teams": [r.__dict__ for r in rows]}


def budget_rollup(session: Session, year: int) -> dict[str, Any]:
    """Planned budgets (current action plans, superseded rows left out) per team, office and region."""
    from sqlmodel import func, select

    from engine.masterdata.models import OrgUnit
    from flows.planning.models import PlanActivity

    rows = session.exec(select(PlanActivity.team_code, func.sum(PlanActivity.budget), func.count())
                        .where(PlanActivity.year == year, PlanActivity.superseded_by == None)  # noqa: E711
                        .group_by(PlanActivity.team_code)).all()
    units = {u.code: u for u in session.exec(select(OrgUnit))}
    teams: dict[str, dict[str, Any]] = {}
    offices: dict[str, int] = {}
    regions: dict[str, int] = {}
    for team, total, count in rows:
        office = units[team].parent_code if team in units else None
        region = units[office].parent_code if office in units else None
        teams[team] = {"team": team, "name": units[team].name if team in units else team, "office": office,
                       "region": region, "activities": int(count), "budget": int(total or 0)}
        offices[office or "-"] = offices.get(office or "-", 0) + int(total or 0)
        regions[region or "-"] = regions.get(region or "-", 0) + int(total or 0)
    return {"year": year, "total": sum(offices.values()),
            "regions": dict(sorted(regions.items())), "offices": dict(sorted(offices.items())),
            "teams": [teams[k] for k in sorted(teams, key=lambda t: (teams[t]["region"] or "", teams[t]["office"] or "", t))]}
