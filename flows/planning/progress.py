"""Sales management's services (销售管理部): launch the annual cycle and watch it, remind the late,
follow the rhythm — the functions behind flows/planning/web/manage.py and nothing web-specific.

* `launch_preview` / `start_launch` / `launch_view`: which teams get a kit and why (the tier rules
  of `flows.planning.kit.teams_due_a_kit`), then the Prefect launch (flows/planning/launch.py) in a
  background thread, one `planning_launch_task` row per team moving pending → running →
  completed | failed. A year already launched is refused (`LaunchRefused`); only sales management
  and operators may launch (`may_launch`).
* `completion`: kits per region, office and team, overdue first. Named SQL below (no instance
  data decoded in Python), so the page costs about the same for 20 teams and for 2,000.
* `send_reminders`: the kit's own reminder step, sent once per click (`client_event_id`).
* `rhythm_overview`: self-checks, card reviews, half-year reviews, evaluations — who still owes what.

Visibility is decided here, once: sales management, QA, operators and the engine see every unit;
anyone else sees the teams of the people they cover (`Principal.covers`: themselves and everyone
below them). This module never renders and never reads `rules/` itself (the rules loader does).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Optional

from engine import i18n
from engine.auth import Principal
from engine.clock import from_us, to_us
from engine.errors import MCRError, NotPermitted, TransitionRefused
from engine.masterdata.read import MasterData
from engine.sql import with_archive
from flows.planning.kit import KIT_FLOW, OPEN_STATES, kit_subject, teams_due_a_kit
from flows.planning.rules import kit_tiers, load_planning_rules

log = logging.getLogger("mcr.planning.progress")


class LaunchRefused(MCRError):
    """This planning year cannot be launched now."""

    status = 409


class UnknownLaunch(MCRError):
    """No such launch."""

    status = 404


# ============================================================================================ named SQL

# One row per kit of the year, with its team, office and region as the organisation is now and the
# deadline (the kit's `overdue` timer, armed at data.deadline_at). The kit is found by its unique
# (flow, subject) key from each team, so no instance data is decoded.
KIT_ROWS = """
SELECT fi.id, fi.state, t.code, t.name, o.code, o.name, r.code, r.name,
       (SELECT MIN(tm.due_us) FROM (""" + with_archive(
    "SELECT due_us FROM {timer} WHERE instance_id = fi.id AND name = 'overdue'") + """) tm) AS deadline_us
FROM org_unit t
JOIN flow_instance fi ON fi.flow = 'planning_kit' AND fi.subject = 'kit:' || t.code || ':' || :year
LEFT JOIN org_unit o ON o.code = t.parent_code
LEFT JOIN org_unit r ON r.code = o.parent_code
WHERE t.kind = 'team'
"""

# Counts per office and state class (done / review / open / overdue): a few dozen rows whatever the size.
KIT_COUNTS = """
SELECT k.rcode, k.rname, k.ocode, k.oname, k.state, k.late, COUNT(*)
FROM (SELECT r.code AS rcode, r.name AS rname, o.code AS ocode, o.name AS oname, fi.state AS state,
             CASE WHEN fi.state IN ('issued', 'assessment_submitted', 'objectives_submitted', 'plan_submitted')
                   AND EXISTS (SELECT 1 FROM timer tm WHERE tm.instance_id = fi.id AND tm.name = 'overdue'
                               AND tm.due_us <= :now) THEN 1 ELSE 0 END AS late
      FROM org_unit t
      JOIN flow_instance fi ON fi.flow = 'planning_kit' AND fi.subject = 'kit:' || t.code || ':' || :year
      LEFT JOIN org_unit o ON o.code = t.parent_code
      LEFT JOIN org_unit r ON r.code = o.parent_code
      WHERE t.kind = 'team' {teams}) k
GROUP BY k.rcode, k.rname, k.ocode, k.oname, k.state, k.late
"""

# Kits of the year by subject (the launch preview: who has one already).
KITS_OF_YEAR = "SELECT id, subject, state FROM flow_instance WHERE flow = 'planning_kit' AND subject LIKE :s"

# Units of the people a principal covers (their teams are the ones they may watch).
UNITS_OF_PEOPLE = "SELECT DISTINCT unit_code FROM employee WHERE emp_no IN ({marks})"

LAUNCHES_OF_YEAR = ("SELECT id, year, attempt, status, teams, actor, started_us, finished_us, note "
                    "FROM planning_launch WHERE year = :y ORDER BY attempt")
LAUNCH_BY_ID = ("SELECT id, year, attempt, status, teams, actor, started_us, finished_us, note "
                "FROM planning_launch WHERE id = :i")
LAUNCH_BY_EVENT = "SELECT id FROM planning_launch WHERE client_event_id = :c"
LAUNCH_TASKS = ("SELECT seq, team_code, state, outcome, instance_id, runs, message, updated_us "
                "FROM planning_launch_task WHERE launch_id = :i ORDER BY seq")
INSERT_LAUNCH = ("INSERT INTO planning_launch (year, attempt, status, teams, actor, client_event_id, worker, "
                 "started_us) VALUES (:y, :a, 'running', :n, :actor, :c, :w, :now) RETURNING id")
INSERT_TASK = ("INSERT INTO planning_launch_task (launch_id, seq, team_code, state, runs, updated_us) "
               "VALUES (:l, :seq, :t, 'pending', 0, :now)")
UPDATE_TASK = ("UPDATE planning_launch_task SET state = :state, outcome = COALESCE(:outcome, outcome), "
               "instance_id = COALESCE(:iid, instance_id), runs = COALESCE(:runs, runs), message = :msg, "
               "updated_us = :now WHERE launch_id = :l AND team_code = :t")
FINISH_LAUNCH = "UPDATE planning_launch SET status = :s, finished_us = :now, note = :note WHERE id = :i"

TASK_STATES = ("pending", "running", "completed", "failed")


# ============================================================================================ who


def may_launch(principal: Principal) -> bool:
    """Launching the year's kits: 销售管理部 and operators (and the engine's own schedule)."""
    return principal.is_sales_management or principal.is_operator or principal.is_engine


def sees_all(principal: Principal) -> bool:
    return principal.is_sales_management or principal.is_operator or principal.is_engine or principal.is_qa


def _require_launcher(rt: Any, principal: Principal, what: str) -> None:
    if not may_launch(principal):
        exc = NotPermitted(i18n.t("planning.manage.not_launcher", principal.locale, actor=principal.actor))
        rt.record_refusal(None, principal.actor, what, exc)
        raise exc


def visible_teams(tx: Any, principal: Principal) -> Optional[set[str]]:
    """The team codes `principal` may watch; None for everyone (sales management, QA, operators)."""
    if sees_all(principal):
        return None
    people = sorted({principal.emp_no} | set(principal.below))
    units: set[str] = set()
    for i in range(0, len(people), 500):
        chunk = people[i:i + 500]
        marks = ", ".join(f":e{j}" for j in range(len(chunk)))
        units |= {r[0] for r in tx.all(UNITS_OF_PEOPLE.format(marks=marks), {f"e{j}": e for j, e in enumerate(chunk)})}
    if principal.unit_code:
        units.add(principal.unit_code)
    return units


# ============================================================================================ launch


@dataclass
class DueTeam:
    code: str
    name: str
    office: Optional[str]
    office_name: Optional[str]
    region: Optional[str]
    region_name: Optional[str]
    customers: list[dict[str, str]]        # why: the customers of the kit tiers the team owns
    kit_id: Optional[int] = None           # a kit of the year already exists
    kit_state: Optional[str] = None


@dataclass
class LaunchPreview:
    year: int
    tiers: list[str]
    teams: list[DueTeam]
    refusal: Optional[str]                 # why this year cannot be launched (None: it can)
    launches: list["LaunchView"]

    @property
    def to_issue(self) -> int:
        return sum(1 for t in self.teams if t.kit_id is None)


@dataclass
class TaskRow:
    seq: int
    team: str
    team_name: str
    state: str
    outcome: Optional[str]
    instance_id: Optional[int]
    runs: int
    message: Optional[str]
    updated: datetime


@dataclass
class LaunchView:
    id: int
    year: int
    attempt: int
    status: str                            # running | done | failed
    teams: int
    actor: str
    started: datetime
    finished: Optional[datetime]
    note: Optional[str]
    tasks: list[TaskRow] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in TASK_STATES}
        for t in self.tasks:
            out[t.state] = out.get(t.state, 0) + 1
        return out

    @property
    def finished_tasks(self) -> int:
        c = self.counts
        return c["completed"] + c["failed"]


def _launch(row: Any) -> LaunchView:
    return LaunchView(id=row[0], year=row[1], attempt=row[2], status=row[3], teams=row[4], actor=row[5],
                      started=from_us(row[6]), finished=from_us(row[7]) if row[7] is not None else None, note=row[8])


def _due_teams(rt: Any, year: int, tiers: list[str]) -> list[DueTeam]:
    with rt.db.session() as session:
        codes = teams_due_a_kit(session, year, tiers)
        md = MasterData.of_session(session)
        units = {u.code: u for kind in ("team", "office", "region") for u in md.units_of_kind(kind)}
        why: dict[str, list[dict[str, str]]] = {}
        for c in md.customers_with_tiers(tiers):
            if c.team_code:
                why.setdefault(c.team_code, []).append({"code": c.code, "name": c.name, "tier": c.tier})
    with rt.db.read() as tx:
        kits = {r[1]: (r[0], r[2]) for r in tx.all(KITS_OF_YEAR, {"s": f"kit:%:{year}"})}
    out = []
    for code in codes:
        team = units.get(code)
        office = units.get(team.parent_code) if team and team.parent_code else None
        region = units.get(office.parent_code) if office and office.parent_code else None
        kit = kits.get(kit_subject(code, year))
        out.append(DueTeam(code, team.name if team else code, office.code if office else None,
                           office.name if office else None, region.code if region else None,
                           region.name if region else None, why.get(code, []),
                           kit[0] if kit else None, kit[1] if kit else None))
    out.sort(key=lambda t: (t.region or "", t.office or "", t.code))
    return out


def _refusal(tx: Any, year: int, locale: str, launches: list[LaunchView]) -> Optional[str]:
    """Why `year` cannot be launched now, or None."""
    for launch in launches:
        if launch.status == "running":
            return i18n.t("planning.manage.refused_running", locale, year=year, id=launch.id, actor=launch.actor)
    for launch in launches:
        if launch.status == "done":
            return i18n.t("planning.manage.refused_done", locale, year=year, id=launch.id, actor=launch.actor,
                          at=launch.started.date().isoformat(), n=launch.teams)
    failed = any(launch.status == "failed" for launch in launches)
    kits = int(tx.one("SELECT COUNT(*) FROM flow_instance WHERE flow = 'planning_kit' AND subject LIKE :s",
                      {"s": f"kit:%:{year}"})[0])
    if kits and not failed:
        return i18n.t("planning.manage.refused_kits_exist", locale, year=year, n=kits)
    return None


def _launches(tx: Any, year: int) -> list[LaunchView]:
    """The launches of `year`; one still marked running whose server process on this host is gone
    (stopped mid-launch) is closed as failed, so that the year can be launched again."""
    out = [_launch(r) for r in tx.all(LAUNCHES_OF_YEAR, {"y": year})]
    for launch in out:
        if launch.status == "running" and _worker_gone(tx, launch.id):
            tx.execute(FINISH_LAUNCH, {"s": "failed", "now": to_us(launch.started), "i": launch.id,
                                       "note": "the server stopped during the launch"})
            launch.status = "failed"
    return out


def _worker_gone(tx: Any, launch_id: int) -> bool:
    row = tx.one("SELECT worker FROM planning_launch WHERE id = :i", {"i": launch_id})
    host, _, pid = str(row[0] if row and row[0] else "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's launch: only it knows
    if int(pid) == os.getpid():
        return not any(t.name == f"mcr-planning-launch-{launch_id}" for t in threading.enumerate())
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def launch_preview(rt: Any, year: int, *, principal: Principal) -> LaunchPreview:
    """Which teams will get the `year` kit and why (the customers of the kit tiers they own), and
    whether the year can be launched at all — shown before the manager confirms."""
    _require_launcher(rt, principal, "planning_launch_preview")
    tiers = kit_tiers(load_planning_rules())
    teams = _due_teams(rt, year, tiers)
    with rt.db.tx() as tx:
        launches = _launches(tx, year)
        refusal = _refusal(tx, year, principal.locale, launches)
    if refusal is None and not teams:
        refusal = i18n.t("planning.manage.refused_no_teams", principal.locale, year=year, tiers="/".join(tiers))
    return LaunchPreview(year, tiers, teams, refusal, launches)


def _is_unique_violation(exc: BaseException) -> bool:
    return "IntegrityError" in type(exc).__name__ or "UniqueViolation" in type(exc).__name__


def start_launch(rt: Any, year: int, *, principal: Principal, client_event_id: Optional[str] = None,
                 wait: bool = False) -> int:
    """Launch the `year` kits: record the launch and one pending task per due team, then run the
    Prefect flow in a background thread (the request returns at once). Returns the launch id.

    A form posted twice (same `client_event_id`) answers the first launch; a year already launched,
    or being launched, is refused with the reason (`LaunchRefused`). `wait` joins the thread (tests, CLI)."""
    _require_launcher(rt, principal, "planning_launch")
    if client_event_id:
        with rt.db.read() as tx:
            found = tx.one(LAUNCH_BY_EVENT, {"c": client_event_id})
        if found is not None:
            return int(found[0])
    tiers = kit_tiers(load_planning_rules())
    teams = [t.code for t in _due_teams(rt, year, tiers)]
    now = to_us(rt.clock.now())
    try:
        with rt.db.tx() as tx:
            launches = _launches(tx, year)
            refusal = _refusal(tx, year, principal.locale, launches)
            if refusal is None and not teams:
                refusal = i18n.t("planning.manage.refused_no_teams", principal.locale, year=year,
                                 tiers="/".join(tiers))
            if refusal is not None:
                raise LaunchRefused(refusal)
            attempt = max((launch.attempt for launch in launches), default=0) + 1
            launch_id = int(tx.one(INSERT_LAUNCH, {"y": year, "a": attempt, "n": len(teams), "actor": principal.actor,
                                                   "c": client_event_id, "w": f"{socket.gethostname()}:{os.getpid()}",
                                                   "now": now})[0])
            tx.many(INSERT_TASK, [{"l": launch_id, "seq": i, "t": t, "now": now} for i, t in enumerate(teams, 1)])
    except LaunchRefused as exc:
        rt.record_refusal(None, principal.actor, "planning_launch", exc)
        raise
    except Exception as exc:
        if not _is_unique_violation(exc):
            raise
        # Another manager's confirmation got in first (unique year + attempt), or this very form did.
        refused = LaunchRefused(i18n.t("planning.manage.refused_concurrent", principal.locale, year=year))
        rt.record_refusal(None, principal.actor, "planning_launch", refused)
        raise refused from None
    log.info("planning launch #%s for %s by %s: %d team(s)", launch_id, year, principal.actor, len(teams))
    thread = threading.Thread(target=_execute, args=(rt, launch_id, year, teams), daemon=True,
                              name=f"mcr-planning-launch-{launch_id}")
    thread.start()
    if wait:
        thread.join()
    return launch_id


def _record_state(rt: Any, launch_id: int, team: str, state: str, *, outcome: Optional[str] = None,
                  instance_id: Optional[int] = None, runs: Optional[int] = None, message: Optional[str] = None) -> None:
    with rt.db.tx() as tx:
        tx.execute(UPDATE_TASK, {"state": state, "outcome": outcome, "iid": instance_id, "runs": runs,
                                 "msg": (message or None) and str(message)[:500], "now": to_us(rt.clock.now()),
                                 "l": launch_id, "t": team})


def _execute(rt: Any, launch_id: int, year: int, teams: list[str]) -> None:
    """The background launch: the Prefect flow with each task's state written to its row."""
    def on_state(team: str, state: str, *, result: Any = None, **info: Any) -> None:
        if result is not None:  # the team's IssueOutcome
            info.update(outcome=result.status, instance_id=result.instance_id)
        _record_state(rt, launch_id, team, state, **info)

    status, note = "failed", None
    try:
        from flows.planning.launch import run_launch

        report = run_launch(rt, year, on_state=on_state, teams=teams)
        status = "failed" if report.failures else "done"
        note = report.summary()
    except Exception as exc:  # an infrastructure fault: one line on the launch, the log has the rest
        log.exception("planning launch #%s failed", launch_id)
        note = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
        with rt.db.tx() as tx:
            tx.execute("UPDATE planning_launch_task SET state = 'failed', message = :m, updated_us = :now "
                       "WHERE launch_id = :l AND state IN ('pending', 'running')",
                       {"m": note, "now": to_us(rt.clock.now()), "l": launch_id})
    with rt.db.tx() as tx:
        tx.execute(FINISH_LAUNCH, {"s": status, "now": to_us(rt.clock.now()), "note": note, "i": launch_id})


def launch_view(rt: Any, launch_id: int, *, principal: Principal) -> LaunchView:
    """A launch with its per-team task states (what the progress page polls)."""
    _require_launcher(rt, principal, "planning_launch_view")
    with rt.db.read() as tx:
        row = tx.one(LAUNCH_BY_ID, {"i": int(launch_id)})
        if row is None:
            raise UnknownLaunch(i18n.t("planning.manage.unknown_launch", principal.locale, id=launch_id))
        view = _launch(row)
        tasks = tx.all(LAUNCH_TASKS, {"i": view.id})
        names = {u.code: u.name for u in MasterData(tx).units_of_kind("team")}
    view.tasks = [TaskRow(seq=r[0], team=r[1], team_name=names.get(r[1], r[1]), state=r[2], outcome=r[3],
                          instance_id=r[4], runs=int(r[5] or 0), message=r[6], updated=from_us(r[7])) for r in tasks]
    return view


# ============================================================================================ completion


@dataclass
class UnitProgress:
    code: str
    name: str
    kits: int = 0
    done: int = 0
    in_review: int = 0
    in_progress: int = 0
    overdue: int = 0

    @property
    def completion_pct(self) -> float:
        return round(100.0 * self.done / self.kits, 1) if self.kits else 0.0

    def add(self, state: str, late: int, n: int) -> None:
        self.kits += n
        if state == "done":
            self.done += n
        elif state == "supervisor_review":
            self.in_review += n
        else:
            self.in_progress += n
        if late:
            self.overdue += n


@dataclass
class TeamProgress:
    instance_id: int
    state: str
    team: str
    team_name: str
    office: Optional[str]
    office_name: Optional[str]
    region: Optional[str]
    region_name: Optional[str]
    deadline: Optional[datetime]
    overdue: bool


@dataclass
class Completion:
    year: int
    level: str                              # all | region | office
    unit: Optional[str]                     # the region or office drilled into
    unit_name: Optional[str]
    region: Optional[str]                   # the region above an office (for the way back)
    region_name: Optional[str]
    total: UnitProgress
    units: list[UnitProgress]               # regions (all), offices (region), none (office)
    teams: list[TeamProgress]               # overdue teams (all/region, capped) or every team (office)
    overdue_shown: int
    may_remind: bool


OVERDUE_LISTED = 10  # the worst overdue teams listed under the region table; the office page lists all its teams

# What changes a completion: any step of any flow (a new flow_history row) or a master-data change (an
# audit row) — two primary-key maxima, read in microseconds — and time, when the next deadline passes.
CHANGE_STAMP = "SELECT (SELECT MAX(id) FROM flow_history), (SELECT MAX(id) FROM masterdata_audit)"
NEXT_DEADLINE = "SELECT MIN(due_us) FROM timer WHERE name = 'overdue' AND due_us > :now"

# Completions already computed, per database, year, unit and the teams a principal may watch: the
# counts of 2,000 teams cost tens of ms of SQL and are asked again and again while nothing changes.
_completions: dict[tuple[Any, ...], tuple[tuple[Any, ...], int, int, "Completion"]] = {}
_completions_lock = threading.Lock()


def _team_filter(teams: Optional[set[str]], params: dict[str, Any]) -> str:
    if teams is None:
        return ""
    if not teams:
        return " AND 1 = 0"
    names = []
    for i, code in enumerate(sorted(teams)):
        params[f"vt{i}"] = code
        names.append(f":vt{i}")
    return f" AND t.code IN ({', '.join(names)})"


def may_remind(principal: Principal) -> bool:
    """Reminding a team: sales management, operators, or a supervisor (someone with people below)."""
    return principal.is_sales_management or principal.is_operator or principal.is_engine or bool(principal.below)


def completion(rt: Any, year: int, *, principal: Principal, region: Optional[str] = None,
               office: Optional[str] = None) -> Completion:
    """Completion of the `year` kits: per region (no unit given), per office of `region`, or per team
    of `office` — overdue first, only the teams `principal` may watch."""
    from dataclasses import replace

    now = to_us(rt.clock.now())
    with rt.db.read() as tx:
        teams = visible_teams(tx, principal)
        stamp = tuple(tx.one(CHANGE_STAMP))
    key = (id(rt.db), year, region, office, None if teams is None else frozenset(teams))
    with _completions_lock:
        cached = _completions.get(key)
    if cached is not None and cached[0] == stamp and cached[1] <= now < cached[2]:
        return replace(cached[3], may_remind=may_remind(principal))
    result = _completion(rt, year, now, teams, principal, region, office)
    with rt.db.read() as tx:
        upcoming = tx.one(NEXT_DEADLINE, {"now": now})[0]
    with _completions_lock:
        if len(_completions) > 256:
            _completions.clear()
        _completions[key] = (stamp, now, int(upcoming) if upcoming is not None else 2 ** 62, result)
    return result


def _completion(rt: Any, year: int, now: int, teams: Optional[set[str]], principal: Principal,
                region: Optional[str], office: Optional[str]) -> Completion:
    with rt.db.read() as tx:
        md = MasterData(tx)
        level, unit = ("office", md.unit(office)) if office else (("region", md.unit(region)) if region else ("all", None))
        if level != "all" and (unit is None or unit.kind != level):
            from engine.masterdata.service import UnknownRecord

            raise UnknownRecord(i18n.t("md.unknown_record", principal.locale, what=i18n.t("md.w_unit", principal.locale),
                                       key=office or region))
        up = md.unit(unit.parent_code) if level == "office" and unit is not None else None
        params: dict[str, Any] = {"year": str(year), "now": now}
        where = _team_filter(teams, params)
        if level == "region":
            where += " AND r.code = :unit"
            params["unit"] = unit.code  # type: ignore[union-attr]
        elif level == "office":
            where += " AND o.code = :unit"
            params["unit"] = unit.code  # type: ignore[union-attr]
        counts = tx.all(KIT_COUNTS.format(teams=where), params)
        total = UnitProgress("", "")
        units: dict[str, UnitProgress] = {}
        for rcode, rname, ocode, oname, state, late, n in counts:
            total.add(state, int(late), int(n))
            if level == "all":
                units.setdefault(rcode or "-", UnitProgress(rcode or "-", rname or "-")).add(state, int(late), int(n))
            elif level == "region":
                units.setdefault(ocode or "-", UnitProgress(ocode or "-", oname or "-")).add(state, int(late), int(n))
        late_sql = ("(fi.state IN ('issued', 'assessment_submitted', 'objectives_submitted', 'plan_submitted') AND "
                    "EXISTS (SELECT 1 FROM timer tm WHERE tm.instance_id = fi.id AND tm.name = 'overdue' "
                    "AND tm.due_us <= :now))")
        if level == "office":
            sql = KIT_ROWS + where + f" ORDER BY CASE WHEN {late_sql} THEN 0 ELSE 1 END, t.code"
        else:
            sql = KIT_ROWS + where + f" AND {late_sql} ORDER BY r.code, o.code, t.code LIMIT {OVERDUE_LISTED}"
        rows = tx.all(sql, params)
    listed = []
    for iid, state, tcode, tname, ocode, oname, rcode, rname, deadline_us in rows:
        late = state in OPEN_STATES and deadline_us is not None and deadline_us <= now
        listed.append(TeamProgress(iid, state, tcode, tname, ocode, oname, rcode, rname,
                                   from_us(deadline_us) if deadline_us is not None else None, late))
    ordered = sorted(units.values(), key=lambda u: (-u.overdue, u.completion_pct, u.code))
    return Completion(year=year, level=level, unit=unit.code if unit else None, unit_name=unit.name if unit else None,
                      region=up.code if up else None, region_name=up.name if up else None, total=total,
                      units=ordered, teams=listed, overdue_shown=sum(1 for t in listed if t.overdue),
                      may_remind=may_remind(principal))


# ============================================================================================ reminders


def send_reminders(rt: Any, year: int, *, principal: Principal, team: Optional[str] = None,
                   unit: Optional[str] = None, client_event_id: Optional[str] = None) -> int:
    """Remind one team of its open `year` kit, or every overdue team under `unit` (a region or office).

    The kit's own reminder step sends the mail through the outbox (template `kit_reminder`); each
    kit's step carries `client_event_id`, so a form posted twice reminds once. Returns the number of
    kits reminded now. Only those who may remind (`may_remind`) and only the teams they may watch."""
    if not may_remind(principal) or (team is None and unit is None):
        exc = NotPermitted(i18n.t("planning.manage.not_reminder", principal.locale, actor=principal.actor))
        rt.record_refusal(None, principal.actor, "planning_remind", exc)
        raise exc
    now = to_us(rt.clock.now())
    with rt.db.read() as tx:
        teams = visible_teams(tx, principal)
        params: dict[str, Any] = {"year": str(year), "now": now}
        where = _team_filter(teams, params)
        if team is not None:
            where += " AND t.code = :team"
            params["team"] = team
        else:
            where += " AND (o.code = :unit OR r.code = :unit)"
            params["unit"] = unit
        rows = tx.all(KIT_ROWS + where + " ORDER BY t.code", params)
    targets = [(r[0], r[2]) for r in rows
               if r[1] in OPEN_STATES and (team is not None or (r[8] is not None and r[8] <= now))]
    if team is not None and not targets:
        raise LaunchRefused(i18n.t("planning.manage.nothing_to_remind", principal.locale, team=team, year=year))
    sent = 0
    tag = client_event_id or f"{principal.emp_no}:{now}"
    for iid, code in targets:
        try:
            # `remind` is the kit's internal reminder step (kit_actions.kit_reminder): the engine sends it
            # for the manager, whose right to remind this team was checked above.
            rt.send(iid, "remind", actor=principal.actor, principal=principal, internal=True,
                    payload={"timer": f"manual:{tag}", "by": principal.actor},
                    client_event_id=f"{tag}:remind:{iid}")
            sent += 1
        except TransitionRefused as exc:  # the kit moved on meanwhile (submitted, approved): nothing to remind
            log.info("reminder to %s skipped: %s", code, exc)
    return sent


# ============================================================================================ the rhythm


RHYTHMS: dict[str, dict[str, Any]] = {
    # kind: flow, subject prefixes, the open states and whose step each waits for (a data key)
    "self_check": {"flow": "self_check", "prefixes": ("selfcheck", "weeklycheck"),
                   "owes": {"open": "emp", "overdue": "emp"}},
    "card_review": {"flow": "card_review", "prefixes": ("card",),
                    "owes": {"open": "emp", "overdue": "emp", "awaiting_supervisor": "supervisor"}},
    "half_year_review": {"flow": "half_year_review", "prefixes": ("halfyear",),
                         "owes": {"open": "supervisor", "overdue": "supervisor"}},
    "annual_evaluation": {"flow": "annual_evaluation", "prefixes": ("evaluation",),
                          "owes": {"open": "supervisor", "overdue": "supervisor", "submitted": "boss"}},
}


@dataclass
class Owed:
    instance_id: int
    who: Optional[str]
    who_name: Optional[str]
    subject_name: str                      # the person or team the round is about
    team: Optional[str]
    state: str
    due: Optional[str]
    overdue: bool


@dataclass
class RhythmView:
    kind: str
    flow: str
    period: Optional[str]
    periods: list[str]
    total: int
    done: int
    owed: list[Owed]
    by_state: dict[str, int]
    revisable: list[dict[str, Any]]        # half-year: open reviews a revision can go to

    @property
    def completion_pct(self) -> float:
        return round(100.0 * self.done / self.total, 1) if self.total else 0.0


class UnknownRhythm(MCRError):
    """No such rhythm page."""

    status = 404


def _period_of(subject: str) -> str:
    return subject.rsplit(":", 1)[-1]


def rhythm_overview(rt: Any, kind: str, *, principal: Principal, period: Optional[str] = None) -> RhythmView:
    """A rhythm round (`kind`: self_check, card_review, half_year_review, annual_evaluation) for one
    period (default: the latest): how many are done and what each person still owes, overdue first.

    A principal sees the rounds of the people and teams they cover; sales management sees all."""
    spec = RHYTHMS.get(kind)
    if spec is None:
        raise UnknownRhythm(i18n.t("planning.manage.unknown_rhythm", principal.locale, kind=kind))
    flow = spec["flow"]
    like = " OR ".join(f"subject LIKE :p{i}" for i in range(len(spec["prefixes"])))
    params = {f"p{i}": f"{p}:%" for i, p in enumerate(spec["prefixes"])}
    with rt.db.read() as tx:
        periods = sorted({_period_of(r[0]) for r in tx.all(
            f"SELECT DISTINCT subject FROM flow_instance WHERE flow = :f AND ({like})", {"f": flow, **params})},
            reverse=True)
        chosen = period if period in periods else (periods[0] if periods else None)
        rows = tx.all(f"SELECT id, state, subject, data FROM flow_instance WHERE flow = :f AND ({like}) "
                      "AND subject LIKE :suffix ORDER BY id", {"f": flow, **params, "suffix": f"%:{chosen}"}) \
            if chosen else []
        teams = visible_teams(tx, principal)
        names = {}
        if rows:
            names = {r[0]: r[1] for r in tx.all("SELECT emp_no, name FROM employee")}
    now = rt.clock.now()
    total = done = 0
    owed: list[Owed] = []
    by_state: dict[str, int] = {}
    revisable: list[dict[str, Any]] = []
    for iid, state, _subject, raw in rows:
        data = json.loads(raw) if isinstance(raw, str) else (raw or {})
        if teams is not None and not _covers_round(principal, data, teams):
            continue
        total += 1
        by_state[state] = by_state.get(state, 0) + 1
        if state == "done":
            done += 1
            continue
        key = spec["owes"].get(state)
        if key is None:
            continue
        who = data.get(key)
        due_at = data.get("due_at")
        late = state == "overdue" or bool(due_at and datetime.fromisoformat(due_at) <= now)
        subject_name = str(data.get("emp_name") or data.get("team_name") or data.get("team") or "")
        owed.append(Owed(iid, who, names.get(who, who) if who else None, subject_name, data.get("team"), state,
                         data.get("due"), late))
        if kind == "half_year_review" and state in ("open", "overdue"):
            revisable.append({"instance_id": iid, "team": data.get("team"), "team_name": data.get("team_name"),
                              "year": data.get("year"), "revisions": len(data.get("revisions") or [])})
    owed.sort(key=lambda o: (not o.overdue, o.due or "", o.who or "", o.instance_id))
    return RhythmView(kind, flow, chosen, periods, total, done, owed, by_state, revisable)


def _covers_round(principal: Principal, data: dict[str, Any], teams: set[str]) -> bool:
    people = [data.get(k) for k in ("emp", "supervisor", "boss")]
    return any(principal.covers(p) for p in people if p) or str(data.get("team") or "") in teams


def revise_half_year(rt: Any, instance_id: int, file: Any, *, principal: Principal, reason: str,
                     client_event_id: Optional[str] = None) -> dict[str, Any]:
    """The half-year revision (集中修订) from the rhythm page: a revised workbook for the review
    `instance_id`; the same validation and one-per-half rule as `mcr planning revise`."""
    from engine.instances import read_instance
    from flows.planning.rhythm import revise

    import zipfile
    from pathlib import Path

    from engine.errors import ImportRejected, Problem

    inst = read_instance(rt, instance_id, principal=principal)
    if inst.flow != "half_year_review":
        raise UnknownRhythm(i18n.t("planning.manage.not_half_year", principal.locale, id=instance_id))
    path = Path(str(file))
    # Only a workbook reaches the validator: anything else is one clear problem, not a reader's crash.
    if path.suffix.lower() != ".xlsx" or not zipfile.is_zipfile(path):
        raise ImportRejected([Problem(path.name, 1, i18n.t("planning.manage.not_workbook", principal.locale,
                                                           name=path.name))])
    return revise(rt, str(inst.data["team"]), int(inst.data["year"]), file, principal=principal, reason=reason,
                  client_event_id=client_event_id)

