"""`mcr bench --suite flows`: the shipped flows driven through their public services, on databases
pre-filled with 1,000 and 100,000 issues, against the generic engine path measured in the same run.

Each flow's life cycle is what a user does:
  itr_issue         open → dispatch → accept → escalate → resolve (region handler) → close → callback
  planning_kit      the kit page's path (default, `kit_via="form"`): issue → save each section's draft → submit the
                    three sections (the plan asks for review) → approve; or `kit_via="workbook"`: issue → first download
                    (workbook written) → submit the filled workbook (3 sections + review request) → approve
  project_callback  project closed (drawn, started, scheduled) → callback scores recorded

A database size is set up once: master data and the pre-filled issues are bulk-inserted with SQL
(a service call per row would take an hour at 100,000), spread over a fixed number of offices so
an office's quarter really holds N/OFFICES issues — exactly what a scan of the period pays for.
Every event the services apply counts once (`flow_history` rows written during the run), so
`ms_per_event` is wall time of the service calls divided by the steps they took.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from engine.clock import FakeClock, cpu_time, to_us, wall_time

SH = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 26, 10, 0, tzinfo=SH)  # a Thursday, business hours in Shanghai
OFFICES = 10
SIZES = (1000, 100_000)
FLOWS = ("itr_issue", "planning_kit", "project_callback")


# ---------------------------------------------------------------------------------------------- pre-fill


def _org_rows(n_issues: int) -> dict[str, list[dict[str, Any]]]:
    units = [{"code": "HQ", "kind": "hq", "name": "公司", "parent_code": None, "calendar": "CN",
              "timezone": "Asia/Shanghai"},
             {"code": "R1", "kind": "region", "name": "地区部一", "parent_code": "HQ", "calendar": None, "timezone": None},
             {"code": "R2", "kind": "region", "name": "地区部二", "parent_code": "HQ", "calendar": None, "timezone": None}]
    emps: list[dict[str, Any]] = []

    def emp(no: str, unit: str, roles: str, sup: str | None) -> None:
        emps.append({"emp_no": no, "name": f"员工{no}", "email": f"{no.lower()}@bench.example", "unit_code": unit,
                     "supervisor_emp_no": sup, "locale": "zh-CN", "roles": roles})

    emp("HQ-SUP", "HQ", "supervisor", None)
    emp("HQ-SM", "HQ", "sales_management", "HQ-SUP")
    emp("HQ-H1", "HQ", "issue_handler", "HQ-SUP")
    emp("HQ-QA", "HQ", "qa", "HQ-SUP")
    for r in ("R1", "R2"):
        emp(f"{r}-SUP", r, "supervisor", "HQ-SUP")
        emp(f"{r}-SM", r, "sales_management", f"{r}-SUP")
        for h in (1, 2):
            emp(f"{r}-H{h}", r, "issue_handler", f"{r}-SUP")
    teams = []
    # Master data grows with the history the way a company does: more customers in more teams, each
    # team about 15 customers (so a team's kit is the same size at 1,000 and at 100,000 issues).
    n_customers = max(600, n_issues // 20)  # each bench cycle takes a customer of its own (see _fresh_customer)
    per_office = max(2, n_customers // 15 // OFFICES)
    for o in range(OFFICES):
        oc, region = f"O{o:02d}", "R1" if o < OFFICES // 2 else "R2"
        units.append({"code": oc, "kind": "office", "name": f"代表处{o:02d}", "parent_code": region, "calendar": "CN",
                      "timezone": "Asia/Shanghai"})
        emp(f"{oc}-SUP", oc, "supervisor", f"{region}-SUP")
        emp(f"{oc}-SM", oc, "sales_management", f"{oc}-SUP")
        emp(f"{oc}-HL", oc, "", f"{oc}-SUP")
        emp(f"{oc}-QA", oc, "qa", f"{oc}-SUP")
        emp(f"{oc}-CC", oc, "customer_care", f"{oc}-SUP")
        for h in (1, 2, 3):
            emp(f"{oc}-H{h}", oc, "issue_handler", f"{oc}-SUP")
    for t in range(1, per_office + 1):  # interleaved, so consecutive customers are in different offices
        for o in range(OFFICES):
            oc, tc = f"O{o:02d}", f"O{o:02d}-T{t}"
            teams.append((tc, oc))
            units.append({"code": tc, "kind": "team", "name": f"系统部{oc}-{t}", "parent_code": oc, "calendar": None,
                          "timezone": None})
            emp(f"{tc}-HEAD", tc, "supervisor,account_manager", f"{oc}-SUP")
            emp(f"{tc}-AM", tc, "account_manager", f"{tc}-HEAD")
    customers, contacts, projects = [], [], []
    for c in range(n_customers):
        tc, oc = teams[c % len(teams)]
        code = f"C{c:06d}"
        customers.append({"code": code, "name": f"客户{c}", "tier": "SABC"[(c // len(teams)) % 4], "office_code": oc, "team_code": tc,
                          "owner_emp_no": f"{tc}-AM", "annual_revenue_usd": 80_000_000 if c % 4 == 0 else 10_000_000,
                          "locked_competitors": "[]", "key_events": "[]"})
        for k in range(4):
            contacts.append({"code": f"{code}-K{k}", "customer_code": code, "name": f"联系人{c}-{k}",
                             "email": f"k{c}.{k}@cust.example", "level": ("senior", "middle", "base", "base")[k],
                             "owner_emp_no": f"{tc}-AM", "decision_roles": "", "is_coach": False, "has_veto": False,
                             "rising_star": False})
        projects.append({"code": f"P{c:06d}", "name": f"项目{c}", "customer_code": code, "level": "region",
                         "team_code": tc, "closed": False, "phase": None, "decision_date": "2040-12-31"})
    return {"org_unit": units, "employee": emps, "customer": customers, "contact": contacts, "project": projects}


def _insert_many(tx: Any, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        cols = list(rows[0])
        tx.many(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})", rows)


def prefill(db: Any, n_issues: int) -> dict[str, Any]:
    """Master data and `n_issues` closed issues of this quarter (with their escalations, callback
    decisions and callbacks), inserted with SQL in one transaction."""
    org = _org_rows(n_issues)
    now_us = to_us(NOW)
    day = 86_400_000_000
    customers = org["customer"]
    with db.tx() as tx:
        for table in ("org_unit", "employee", "customer", "contact", "project"):
            _insert_many(tx, table, org[table])
        first = int(tx.one("SELECT COALESCE(MAX(id), 0) FROM flow_instance")[0]) + 1
        inst, issue, hist, esc, dec, cb = [], [], [], [], [], []
        for i in range(n_issues):
            iid = first + i
            cust = customers[i % len(customers)]
            office = cust["office_code"]
            region = "R1" if int(office[1:]) < OFFICES // 2 else "R2"
            opened = now_us - (12 + (i * 7919) % 44) * day  # this quarter; callbacks older than the 10-day gap
            contact = f"{cust['code']}-K{i % 3}"  # K3 is left for the bench's own issues
            inst.append({"id": iid, "flow": "itr_issue", "flow_version": 1, "state": "closed", "version": 5,
                         "subject": None, "calendar": "CN", "locale": "zh-CN", "data": "{}",
                         "created_us": opened, "updated_us": opened + day, "ended_us": opened + day})
            issue.append({"id": iid, "title": f"问题{i}", "source": "hotline", "type": "technical",
                          "severity": "normal", "major_incident": False, "customer_code": cust["code"],
                          "contact_code": contact, "submitter_emp_no": f"{office}-HL", "office_code": office,
                          "region_code": region, "team_code": cust["team_code"], "sla_hours": 40.0, "calendar": "CN",
                          "level": "office", "handler_emp_no": f"{office}-H{1 + i % 3}", "valid": i % 50 != 0,
                          "opened_us": opened, "dispatched_us": opened, "resolved_us": opened + day // 2,
                          "resolved_level": "office", "closed_us": opened + day, "sla_due_us": opened + 5 * day,
                          "sla_breaches": 0, "queue": "technical", "callback_required": i % 5 == 0})
            hist.append({"instance_id": iid, "at_us": opened, "actor": f"{office}-HL", "event": "close",
                         "from_state": "resolved", "to_state": "closed", "payload": "{}", "version": 5})
            if i % 97 == 0:  # 1 % escalated, evenly over offices (97 is prime to the number of teams): the bench's
                # own issues, all escalated, should stay inside the 20 % quota at 1,000 issues too
                esc.append({"issue_id": iid, "at_us": opened + day // 4, "actor": f"{office}-H1",
                            "from_level": "office", "to_level": "region", "unit_code": office, "reason": "no_owner",
                            "decision": "granted", "automatic": False, "counted": True, "qa_flag": False,
                            "escalated_before": 0, "unit_issues": 1, "quota_limit": "1/5",
                            "window_start_us": now_us - 60 * day, "window_end_us": now_us + 30 * day})
            dec.append({"issue_id": iid, "office_code": office, "at_us": opened + day, "required": i % 5 == 0,
                        "reason": "sampled" if i % 5 == 0 else "not_sampled", "seed": 1, "draw": 0.5,
                        "threshold": 0.1, "coverage_done": 0, "coverage_base": 1, "contact_code": contact,
                        "carry_pending": False})
            if i % 5 == 0:
                cb.append({"issue_id": iid, "contact_code": contact, "at_us": opened + day, "actor": f"{office}-CC",
                           "reached": True, "score": 4})
        for table, rows in (("flow_instance", inst), ("itr_issue", issue), ("flow_history", hist),
                            ("itr_escalation", esc), ("itr_callback_decision", dec), ("itr_callback", cb)):
            for k in range(0, len(rows), 5000):
                _insert_many(tx, table, rows[k:k + 5000])
        if db.is_pg:
            tx.execute("SELECT setval(pg_get_serial_sequence('flow_instance', 'id'), "
                       "(SELECT MAX(id) FROM flow_instance))")
    if not db.is_pg:
        # The pre-fill went through the WAL; fold it into the database file now, or the first automatic
        # checkpoint (hundreds of MB at 100,000 issues) lands inside the measurement.
        with db.read() as tx:
            tx.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return org  # no ANALYZE: the engine never runs it, so the plans measured are the ones a deployment gets


# ---------------------------------------------------------------------------------------------- drivers


class _Counter:
    """Events applied = history rows written (a start is a step too)."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def __call__(self) -> int:
        with self.db.read() as tx:
            return int(tx.one("SELECT COUNT(*) FROM flow_history")[0]) + \
                int(tx.one("SELECT COUNT(*) FROM flow_instance")[0])


class _Drive:
    def __init__(self, rt: Any, org: dict[str, Any], workdir: Path) -> None:
        self.rt = rt
        self.org = org
        self.workdir = workdir
        self.clock: FakeClock = rt.clock
        self.next_contact = 0
        self.next_project = 0
        self.kit_team = 0
        self.closed_projects: set[str] = set()  # closed by project_callback cycles: a kit's plan no longer names them
        self._principals: dict[str, Any] = {}

    def _as(self, emp_no: str) -> Any:
        """The employee's principal, loaded once (signing in is not what the suite measures)."""
        if emp_no not in self._principals:
            from engine.auth.principal import load_principal

            t0, c0 = wall_time(), cpu_time()
            with self.rt.db.session() as session:
                self._principals[emp_no] = load_principal(session, emp_no, via="cli")
            self._auth_s += wall_time() - t0  # taken back out of the timed service calls
            self._auth_cpu_s += cpu_time() - c0
        return self._principals[emp_no]

    def _fresh_customer(self) -> dict[str, Any]:
        # A customer none of the pre-filled issues' callbacks touched recently (the gap rule would
        # defer the call): customers are taken from the end of the list, each once.
        self.next_contact += 1
        return self.org["customer"][-self.next_contact]

    def itr_issue(self) -> None:
        from flows.itr import service
        from flows.itr.errors import EscalationQuotaExceeded

        cust = self._fresh_customer()
        office = cust["office_code"]
        region = "R1" if int(office[1:]) < OFFICES // 2 else "R2"
        call = self._call
        issue = call(service.open_issue, self.rt, principal=self._as(f"{office}-HL"), customer=cust["code"],
                     contact=f"{cust['code']}-K3", type="technical", severity="urgent", source="hotline",
                     title="基站告警", description="光模块温度告警")
        # The dispatch's answer names the handler (what the page shows next): no second read for it.
        handler = call(service.dispatch, self.rt, issue.id, principal=self._as(f"{office}-HL")).handler
        call(service.accept, self.rt, issue.id, principal=self._as(handler), answer=False)  # as the page: no answer read
        try:
            esc = call(service.escalate, self.rt, issue.id, principal=self._as(handler), reason="arbitration_needed",
                       note="需要仲裁")
        except EscalationQuotaExceeded:  # a long run at 1,000 issues fills the office's quota: the override path
            esc = call(service.escalate, self.rt, issue.id, principal=self._as(handler), reason="arbitration_needed",
                       note="需要仲裁", override_by=f"{office}-SUP", override_why="客户要求仲裁")
        call(service.resolve, self.rt, issue.id, principal=self._as(esc.handler or f"{region}-H1"), solution="更换光模块",
             answer=False)
        closed = call(service.close, self.rt, issue.id, principal=self._as(f"{office}-HL"))
        if closed.state == "callback_pending":
            call(service.record_callback, self.rt, issue.id, principal=self._as(f"{office}-CC"), score=4, answer=False)

    laps: Optional[list[float]] = None  # wall seconds of each service call, when a suite asks (bench_peers)

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.laps is None:
            return fn(*args, **kwargs)
        t0 = wall_time()
        try:
            return fn(*args, **kwargs)
        finally:
            self.laps.append(wall_time() - t0)

    kit_via = "form"

    def planning_kit(self) -> None:
        if self.kit_via == "form":
            return self.planning_kit_form()
        return self.planning_kit_workbook()

    def planning_kit_form(self) -> None:
        """What a team does on the kit page: a draft of each section saved, the sections submitted in
        order (the action plan asks for review), then the supervisor approves — all through the kit
        service the page and the JSON API call (flows/planning/kit_service.py)."""
        from flows.planning import kit_service as ks
        from flows.planning.kit import issue_kit

        team, office, year = self._kit_team()
        cust = next(c for c in self.org["customer"] if c["team_code"] == team and c["tier"] in ("S", "A"))
        rows = {"assessment": [{"customer_code": cust["code"], "contact_code": f"{cust['code']}-K0", "acceptance": "2",
                                "acceptance_evidence": "参加公司参观", "support_us": "1"}],
                "objectives": [{"customer_code": cust["code"], "relationship_target": "2–3 名 CXO 支持",
                                "target_count": "3", "owner": f"{team}-AM"}],
                # One activity for each kit customer's region-level project (every big project needs one).
                "plan": [{"customer_code": c["code"], "activity_type": "topic_exchange", "title": "云化交流",
                          "project_code": f"P{c['code'][1:]}", "planned_date": f"{year}-04-20", "budget": "12000"}
                         for c in self._open_project_customers(team)]}

        def cycle() -> None:
            am, head = self._as(f"{team}-AM"), self._as(f"{team}-HEAD")
            kit = issue_kit(self.rt, team, year).instance_id
            for section in ks.SECTIONS:
                ks.save_draft(self.rt, kit, section, rows[section], principal=am)
            for section in ks.SECTIONS:
                ks.submit_section(self.rt, kit, section, principal=am)
            ks.review(self.rt, kit, principal=head, approve=True)

        self._timed(cycle)

    def planning_kit_workbook(self) -> None:
        from flows.planning.kit import issue_kit, review_kit, submit_kit
        from flows.planning.common import kit_dir
        from flows.planning.service import kit_workbook
        from flows.planning.workbook import workbook_from_rows

        team, office, year = self._kit_team()
        cust = next(c for c in self.org["customer"] if c["team_code"] == team and c["tier"] in ("S", "A"))
        filled = workbook_from_rows(
            self.workdir / f"filled-{team}-{year}.xlsx", team=team, year=year,
            assessments=[{"customer_code": cust["code"], "contact_code": f"{cust['code']}-K0", "acceptance": 2,
                          "acceptance_evidence": "参加公司参观", "support_us": 1}],
            objectives=[{"customer_code": cust["code"], "relationship_target": "2–3 名 CXO 支持", "target_count": 3,
                         "owner": f"{team}-AM"}],
            plan=[{"customer_code": c["code"], "activity_type": "专题交流", "title": "云化交流",
                   "project_code": f"P{c['code'][1:]}", "planned_date": f"{year}-04-20", "budget": 12000}
                  for c in self._open_project_customers(team)])
        # The team's first download writes the pre-filled workbook (no longer at issue): real work of
        # every kit a team fills, so it is timed with the service calls. One kit folder per size
        # (inside MCR_KIT_DIR, where downloads are served from), so no size finds another's file.
        self._timed(lambda: (kit_workbook(self.rt, issue_kit(self.rt, team, year, folder=kit_dir() / self.workdir.name)
                                          .instance_id, principal=self._as(f"{team}-AM")),
                             submit_kit(self.rt, team, filled, principal=self._as(f"{team}-AM"), year=year),
                             review_kit(self.rt, team, year, principal=self._as(f"{team}-HEAD"), approve=True)))

    def _open_project_customers(self, team: str) -> list[dict[str, Any]]:
        """The team's kit customers whose project is still open (a project callback cycle closes one, and
        the kit may plan no activity for a closed project)."""
        return [c for c in self.org["customer"] if c["team_code"] == team and c["tier"] in ("S", "A")
                and f"P{c['code'][1:]}" not in self.closed_projects]

    def _kit_team(self) -> tuple[str, str, int]:
        """The next team and planning year without a kit: every team once for 2027, then 2028, …"""
        units = [u for u in self.org["org_unit"] if u["kind"] == "team"]
        u = units[self.kit_team % len(units)]
        year = 2027 + self.kit_team // len(units)
        self.kit_team += 1
        return u["code"], u["parent_code"], year

    def project_callback(self) -> None:
        from flows.survey import service

        cust = self._fresh_customer()
        project = f"P{cust['code'][1:]}"
        self.closed_projects.add(project)
        decision = service.project_closed(self.rt, project, principal=self._as(cust["owner_emp_no"]))
        if decision.state == "pending":
            service.record_project_callback(self.rt, principal=self._as(cust["owner_emp_no"]), project=project,
                                            scores={"product": 4, "solution": 4, "delivery": 5,
                                                    "service_attitude": 4})

    # The kit's filled workbook is the user's work, not the service's: only the service calls are timed.
    _timed_s = 0.0
    _cpu_s = 0.0
    _auth_s = 0.0
    _auth_cpu_s = 0.0

    def _timed(self, fn: Callable[[], Any]) -> None:
        a0, ac0 = self._auth_s, self._auth_cpu_s
        t0, c0 = wall_time(), cpu_time()
        fn()
        self._timed_s += wall_time() - t0 - (self._auth_s - a0)
        self._cpu_s += cpu_time() - c0 - (self._auth_cpu_s - ac0)


class _Size:
    """One pre-filled database with the shipped flows on it, warmed, ready for repetitions."""

    def __init__(self, size: int, root: Path) -> None:
        from engine.app import build_runtime
        from engine.db import Database

        root.mkdir(parents=True, exist_ok=True)
        self.db = Database(f"sqlite:///{root / f'flows-{size}.db'}")
        self.db.upgrade()
        org = prefill(self.db, size)
        rt = build_runtime(self.db, clock=FakeClock(NOW.astimezone(timezone.utc)), migrate=False)
        self.drive = _Drive(rt, org, root)
        self.count = _Counter(self.db)
        for flow in FLOWS:
            # Warm: imports, compiled templates, and each office's window counters (made by a first read;
            # a running deployment has them) — consecutive cycles go to different offices.
            for _ in range(2 * OFFICES if flow == "itr_issue" else 1):
                getattr(self.drive, flow)()

    def repetition(self, per_flow: dict[str, int]) -> dict[str, tuple[float, float]]:
        """(wall ms, CPU ms) per event of each flow over `per_flow[flow]` life cycles."""
        out: dict[str, tuple[float, float]] = {}
        drive = self.drive
        for flow in FLOWS:
            step = getattr(drive, flow)
            before = self.count()
            drive._timed_s = drive._cpu_s = 0.0
            for _ in range(per_flow[flow]):
                if flow == "planning_kit":
                    step()
                else:
                    drive._timed(step)
                drive.clock.advance(timedelta(minutes=3))
            events = max(self.count() - before, 1)
            out[flow] = (drive._timed_s * 1000 / events, drive._cpu_s * 1000 / events)
        return out


def _stats(values: list[float]) -> dict[str, Any]:
    return {"median": round(statistics.median(values), 3), "range": [round(min(values), 3), round(max(values), 3)]}


def run_flows_bench(*, sizes: tuple[int, ...] = SIZES, per_flow: dict[str, int] | None = None, repeat: int = 3,
                    engine_events: int = 3000, synchronous: str = "FULL",
                    workdir: Path | None = None, kit_via: str = "form") -> dict[str, Any]:
    """The JSON of `mcr bench --suite flows` (see the module docstring and docs/performance.md).

    Figures are medians of `repeat` repetitions, with their range; each repetition measures E (the
    bench flow of `mcr bench`, on its own database) and then every size, in turn."""
    if kit_via not in ("form", "workbook"):
        raise ValueError(f"kit_via={kit_via!r}: use form or workbook")
    _Drive.kit_via = kit_via
    # A project callback's life cycle (4 events, 2 commits) takes a fifth of an issue's time: 60 of them make
    # a window as long as 30 issues', so one neighbour's fsync burst weighs on it no more than on ITR. Each
    # bench cycle of ITR and of the callback takes a customer of its own: 20 + (30 + 60) x 5 stays under the
    # 600 customers of the 1,000-issue database up to --repeat 6.
    per_flow = per_flow or {"itr_issue": 30, "planning_kit": 4 if kit_via == "workbook" else 10, "project_callback": 60}
    previous = os.environ.get("MCR_SQLITE_SYNCHRONOUS")
    os.environ["MCR_SQLITE_SYNCHRONOUS"] = synchronous.upper()
    try:
        with tempfile.TemporaryDirectory(prefix="mcr-bench-flows-", dir=workdir) as tmp:
            from engine.bench import _EngineSide

            root = Path(tmp)
            os.environ.setdefault("MCR_KIT_DIR", str(root / "kits"))
            (root / "engine").mkdir()
            engine = _EngineSide(root / "engine", 500)
            engine.run(200, 0)
            dbs = {size: _Size(size, root / str(size)) for size in sizes}
            engine_rates: list[float] = []
            by_size: dict[int, dict[str, list[float]]] = {size: {f: [] for f in FLOWS} for size in sizes}
            cpu_by_size: dict[int, dict[str, list[float]]] = {size: {f: [] for f in FLOWS} for size in sizes}
            # Repetitions interleave the engine path and every size, so a noisy neighbour (the disk's
            # fsync rate moves a lot on a shared machine) hits all of them alike.
            for rep in range(repeat):
                engine_rates.append(engine_events / sum(engine.run(engine_events, 200 + rep * engine_events)))
                for size in sizes:
                    for flow, (ms, cpu_ms) in dbs[size].repetition(per_flow).items():
                        by_size[size][flow].append(ms)
                        cpu_by_size[size][flow].append(cpu_ms)
            engine.db.dispose()
            for d in dbs.values():
                d.db.dispose()
    finally:
        if previous is None:
            os.environ.pop("MCR_SQLITE_SYNCHRONOUS", None)
        else:
            os.environ["MCR_SQLITE_SYNCHRONOUS"] = previous
    e = statistics.median(engine_rates)
    small, large = min(sizes), max(sizes)
    flows: dict[str, Any] = {}
    for flow in FLOWS:
        a = statistics.median(by_size[small][flow])
        b = statistics.median(by_size[large][flow])
        rate = 1000 / a
        flows[flow] = {"events_per_s": round(rate, 1), "ratio_vs_engine": round(rate / e, 3),
                       "ms_per_event": {str(s): round(statistics.median(by_size[s][flow]), 3) for s in sizes},
                       "ms_per_event_range": {str(s): _stats(by_size[s][flow])["range"] for s in sizes},
                       "growth": round(b / a, 3),
                       # CPU time of this process: what the flow costs without the disk's and the other
                       # processes' noise — the steadier view of growth on a shared machine.
                       "cpu_ms_per_event": {str(s): round(statistics.median(cpu_by_size[s][flow]), 3) for s in sizes},
                       "cpu_growth": round(statistics.median(cpu_by_size[large][flow])
                                           / max(statistics.median(cpu_by_size[small][flow]), 1e-9), 3)}
    return {"suite": "flows", "synchronous": synchronous.upper(), "repeat": repeat, "kit_via": kit_via,
            "engine_events_per_s": round(e, 1), "engine_events_per_s_range": _stats(engine_rates)["range"],
            "flows": flows,
            "targets": {f: {"ratio_ge_0.5": flows[f]["ratio_vs_engine"] >= 0.5,
                            "growth_le_1.3": flows[f]["growth"] <= 1.3} for f in FLOWS}}


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, ensure_ascii=False, indent=2)
