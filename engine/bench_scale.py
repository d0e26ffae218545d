"""`mcr bench --suite scale`: the scale figures of docs/performance.md, each part rerunnable alone.

* ``timers``  — 1,000 due timers among 1,000,000 pending: claimed, then FIRED (each one a real
  step of a flow: history row, timer re-armed, one outbox mail rendered), repeated;
* ``care``    — the daily care scan over N bulk-seeded key contacts, in a child process so its peak
  RSS is the scan's own (and a second, 10 × smaller run to show the memory is flat);
* ``demo``    — demo data for N customers, in a child process (wall time and peak RSS);
* ``workers`` — PostgreSQL: 1 and 4 real `mcr worker` processes draining N due timers, against raw
  psycopg writing the same rows (needs --pg-url; the machine's load average is reported with it).

Each figure is the median of the repetitions with its range; the load average is printed beside
them because this machine is shared.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

from engine.bench import write_flow_dir
from engine.clock import FakeClock, SystemClock, to_us, wall_time

PARTS = ("timers", "care", "demo", "workers")

# A flow whose timer event does what a real reminder does: a transition with a mail, and the next
# state arms the next timer (history, timer finished + armed, outbox — all in the step).
SCALE_FLOW = """\
flow: scale
version: 1
title: {zh-CN: 规模基准, en: Scale benchmark}
events: [remind, done]
states:
  - name: waiting
    initial: true
    timers: [{name: t, after: 1 hour, event: remind}]
  - name: reminded
    timers: [{name: t, after: 7 days, event: remind}]
  - name: end
    terminal: true
transitions:
  - {from: [waiting, reminded], event: remind, to: reminded, actions: [{mail: note, to: data.owner}]}
  - {from: [waiting, reminded], event: done, to: end}
"""
SCALE_TEMPLATE = "Subject: 提醒 #{{ instance.id }}\n\n{{ data.owner }}：实例 {{ instance.id }} 的提醒（{{ instance.state }}）。\n"


def flow_dir(root: Path) -> Path:
    return write_flow_dir(root / "scaleflow", SCALE_FLOW, SCALE_TEMPLATE)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def spread(values: list[float], digits: int = 1) -> dict[str, Any]:
    return {"median": round(statistics.median(values), digits), "range": [round(min(values), digits),
                                                                          round(max(values), digits)],
            "runs": len(values)}


def peak_rss_mb() -> float:
    """This program's peak RSS since it started (VmHWM). Not ru_maxrss: Linux keeps that across exec,
    so a child would report its parent's size at fork time if the parent was larger."""
    with open("/proc/self/status", encoding="ascii") as f:
        return round(next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024, 1)


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# ---------------------------------------------------------------------------------------------- timers


def timers_part(root: Path, *, pending: int = 1_000_000, due: int = 1000, repeat: int = 3) -> dict[str, Any]:
    """Claim and fire `due` timers among `pending` far-future ones, `repeat` times on one database."""
    from engine.calendar import builtin_registry
    from engine.db import Database
    from engine.definition import load_definitions
    from engine.runtime import Runtime

    path = root / "timers.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    clock = FakeClock(datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc))
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    far = to_us(clock.now() + timedelta(days=365))
    conn.executemany("INSERT INTO timer (instance_id, timer_key, name, event, state, due_us, catch_up, status) "
                     "VALUES (?, ?, 't', 'remind', 'waiting', ?, 'fire_late', 'pending')",
                     ((-1 - i, f"far{i}", far + i) for i in range(pending)))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    rt = Runtime(db, load_definitions(flow_dir(root)), clock=clock, calendars=builtin_registry(), worker_id="bench")
    rt.register_definitions()
    claim, fire, total, fired_counts, outbox = [], [], [], [], []
    for r in range(repeat):
        for i in range(due):  # their timers fall due in an hour
            rt.start("scale", {"owner": f"owner{r}-{i}@example.com"}, actor="bench")
        clock.advance(timedelta(hours=1, seconds=1))
        with db.read() as tx:
            mails_before = int(tx.one("SELECT COUNT(*) FROM outbox")[0])
        t0 = wall_time()
        claimed = rt.claim_due_timers(limit=due)
        t1 = wall_time()
        fired = sum(1 for tid in claimed if rt.fire_timer(tid) is not None)
        t2 = wall_time()
        with db.read() as tx:
            outbox.append(int(tx.one("SELECT COUNT(*) FROM outbox")[0]) - mails_before)
        claim.append((t1 - t0) * 1000)
        fire.append((t2 - t1) * 1000)
        total.append((t2 - t0) * 1000)
        fired_counts.append(fired)
    with db.read() as tx:
        still = int(tx.one("SELECT COUNT(*) FROM timer WHERE status = 'pending'")[0])
    db.dispose()
    return {"pending_timers": pending + due, "due": due, "fired": fired_counts, "mails": outbox,
            "pending_after": still, "claim_ms": spread(claim, 2), "fire_ms": spread(fire), "total_ms": spread(total),
            "fired_per_s": spread([due / (t / 1000) for t in total]), "load_avg": load_average()}


# ---------------------------------------------------------------------------------------------- care


CARE_DAY = "2027-03-10"  # a Wednesday with no festival: the everyday scan (festival days list every contact)
QUIET_DAY = "2027-01-20"  # before every seeded visit: nothing due, the scan's read alone


def seed_care(db: Any, contacts: int, *, day: str = CARE_DAY, seed: int = 7, per_owner: int = 500) -> dict[str, int]:
    """`contacts` key contacts in bulk (SQLAlchemy Core executemany, 20,000 rows a statement batch),
    10 per customer in a tier pyramid, `per_owner` per account manager under 1 supervisor per 10,
    each with a last visit spread over its cadence (so about 1/cadence fall due each day and a few
    are overdue), S/A customers' first contacts paired with a sponsor who met them lately."""
    import random
    from datetime import date

    from sqlalchemy import insert

    from engine.masterdata.models import Contact, Customer, Employee, OrgUnit, SponsorPairing
    from flows.planning.models import Visit

    rng = random.Random(seed)
    today = date.fromisoformat(day)
    cadence = {"S": 7, "A": 14, "B": 30}
    owners = max(2, contacts // per_owner)
    sups = max(1, owners // 10)
    n_cust = max(1, contacts // 10)

    def batches(rows: Any, size: int = 20_000) -> Any:
        out: list[dict[str, Any]] = []
        for r in rows:
            out.append(r)
            if len(out) == size:
                yield out
                out = []
        if out:
            yield out

    def tier_of(i: int) -> str:
        k = i % 100
        return "S" if k < 3 else "A" if k < 13 else "B" if k < 43 else "C"

    with db.engine.begin() as conn:
        conn.execute(insert(OrgUnit.__table__), [{"code": "SCALE", "kind": "hq", "name": "规模基准总部", "calendar": "CN",  # type: ignore[attr-defined]
                                                   "timezone": "Asia/Shanghai"}])
        emps = [{"emp_no": "S0000", "name": "总裁", "email": "s0000@x.example", "unit_code": "SCALE",
                 "supervisor_emp_no": None, "locale": "zh-CN", "roles": "supervisor,sponsor"}]
        emps += [{"emp_no": f"S{i + 1:04d}", "name": f"主管{i + 1}", "email": f"s{i + 1:04d}@x.example", "unit_code": "SCALE",
                  "supervisor_emp_no": "S0000", "locale": "zh-CN", "roles": "supervisor,sponsor"} for i in range(sups)]
        emps += [{"emp_no": f"E{i:06d}", "name": f"经理{i}", "email": f"e{i:06d}@x.example", "unit_code": "SCALE",
                  "supervisor_emp_no": f"S{i % sups + 1:04d}", "locale": "zh-CN", "roles": "account_manager"}
                 for i in range(owners)]
        conn.execute(insert(Employee.__table__), emps)  # type: ignore[attr-defined]
        for part in batches({"code": f"C{i:07d}", "name": f"客户{i}", "tier": tier_of(i), "office_code": "SCALE",
                             "owner_emp_no": f"E{i % owners:06d}", "backup_emp_no": f"E{(i + 1) % owners:06d}",
                             "locked_competitors": "[]",
                             "key_events": f'[{{"month": {rng.randint(1, 12)}, "day": {rng.randint(1, 28)}, '
                                           f'"title": "年度采购大会"}}]'} for i in range(n_cust)):
            conn.execute(insert(Customer.__table__), part)  # type: ignore[attr-defined]

        def contact_rows() -> Any:
            for i in range(contacts):
                cust = i // 10 if i // 10 < n_cust else i % n_cust
                born = date(rng.randint(1962, 1992), 1, 1) + timedelta(days=rng.randrange(365))
                yield {"code": f"C{cust:07d}-K{i % 10:02d}" if i // 10 < n_cust else f"C{cust:07d}-X{i:07d}",
                       "customer_code": f"C{cust:07d}", "name": f"联系人{i}", "title": "总经理", "birthday": born,
                       "decision_roles": "decider", "is_coach": False, "has_veto": False, "rising_star": False,
                       "owner_emp_no": f"E{(cust + i % 3) % owners:06d}"}
        for part in batches(contact_rows()):
            conn.execute(insert(Contact.__table__), part)  # type: ignore[attr-defined]

        def visit_rows() -> Any:
            for i in range(contacts):
                cust = i // 10 if i // 10 < n_cust else i % n_cust
                days = cadence.get(tier_of(cust))
                if days is None:
                    continue
                ago = 1 + int(rng.random() * days * 1.05)  # ~5 % overdue, a few of them past the escalation
                code = f"C{cust:07d}-K{i % 10:02d}" if i // 10 < n_cust else f"C{cust:07d}-X{i:07d}"
                yield {"contact_code": code, "emp_no": f"E{(cust + i % 3) % owners:06d}", "kind": "visit",
                       "visit_date": today - timedelta(days=ago), "actor": "seed", "at_us": 0}
        for part in batches(visit_rows()):
            conn.execute(insert(Visit.__table__), part)  # type: ignore[attr-defined]
        pairs = [{"sponsor_emp_no": f"S{c % sups + 1:04d}", "contact_code": f"C{c:07d}-K00",
                  "cadence": "monthly" if tier_of(c) == "S" else "bimonthly", "accepted": True}
                 for c in range(min(n_cust, max(1, contacts // 10))) if tier_of(c) in ("S", "A")]
        if pairs:
            conn.execute(insert(SponsorPairing.__table__), pairs)  # type: ignore[attr-defined]
            conn.execute(insert(Visit.__table__), [  # type: ignore[attr-defined]
                {"contact_code": p["contact_code"], "emp_no": p["sponsor_emp_no"], "kind": "sponsor_meeting",
                 "visit_date": today - timedelta(days=1 + rng.randrange(31)), "actor": "seed", "at_us": 0}
                for p in pairs])
    return {"contacts": contacts, "customers": n_cust, "owners": owners, "sponsor_pairings": len(pairs)}


def care_child(url: str, contacts: int, *, chunk: int, seed_only: bool = False, scan_only: bool = False,
               find_only: bool = False, day: str = CARE_DAY) -> dict[str, Any]:
    """In a fresh process: the scan over the seeded database — wall and CPU time, RSS before, after
    and at peak. `find_only`: only the read that finds the reminders (no digests)."""
    import gc
    import time
    from datetime import date

    from engine.db import Database

    db = Database(url)
    out: dict[str, Any] = {}
    if not scan_only:
        db.upgrade()
        t0 = wall_time()
        out["seed"] = seed_care(db, contacts)
        out["seed_s"] = round(wall_time() - t0, 1)
        if seed_only:
            return out
    from flows.planning.care import care_items, run_care_scan
    from flows.planning.sample import planning_runtime

    from engine.clock import FakeClock as _Fake

    clock = _Fake(datetime.fromisoformat(f"{day}T07:00:00+08:00"))
    rt = planning_runtime(db, clock, sample=False)
    gc.collect()
    before = rss_mb()
    t0, c0 = wall_time(), time.process_time()
    with db.session() as session:
        items = care_items(session, date.fromisoformat(day), tz=rt.calendars.get(None).tz, brief=False, chunk=chunk)
    out["find_s"], out["find_cpu_s"] = round(wall_time() - t0, 2), round(time.process_time() - c0, 2)
    out["items"] = len(items)
    out["rss_after_find_mb"] = rss_mb()
    del items
    gc.collect()
    if find_only:
        out.update(rss_before_mb=before, rss_after_mb=rss_mb(), peak_rss_mb=peak_rss_mb())
        return out
    t0, c0 = wall_time(), time.process_time()
    report = run_care_scan(rt, date.fromisoformat(day))
    out["scan_s"], out["scan_cpu_s"] = round(wall_time() - t0, 2), round(time.process_time() - c0, 2)
    out.update(people=report.people, reminders=report.items, mails=report.mails)
    gc.collect()
    out.update(rss_before_mb=before, rss_after_mb=rss_mb(), peak_rss_mb=peak_rss_mb())
    db.dispose()
    return out


def _child(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "engine.bench_scale", *args], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def care_part(root: Path, *, contacts: int = 1_000_000, small: int = 100_000, chunk: int = 5000,
              repeat: int = 3) -> dict[str, Any]:
    """Seed once per size (SQLite files), then scan each `repeat` times in fresh processes: the first
    scan sends the digests, the later ones find the same reminders and send nothing new."""
    out: dict[str, Any] = {"chunk": chunk, "load_avg_before": load_average()}
    for size in (small, contacts):
        url = f"sqlite:///{root / f'care{size}.db'}"
        seeded = _child(["care", url, str(size), "--chunk", str(chunk), "--seed-only"])
        runs = [_child(["care", url, str(size), "--chunk", str(chunk), "--scan-only"]) for _ in range(repeat)]
        # a day before the seeded visits: nothing is due, so what the read holds is the read itself
        quiet = [_child(["care", url, str(size), "--chunk", str(chunk), "--scan-only", "--find-only",
                         "--day", QUIET_DAY]) for _ in range(repeat)]
        out[str(size)] = {"seed": seeded["seed"], "seed_s": seeded["seed_s"],
                          "find_s": spread([r["find_s"] for r in runs], 2),
                          "find_cpu_s": spread([r["find_cpu_s"] for r in runs], 2),
                          "scan_s": spread([r["scan_s"] for r in runs], 2),
                          "scan_cpu_s": spread([r["scan_cpu_s"] for r in runs], 2),
                          "first_scan": {k: runs[0][k] for k in ("items", "people", "reminders", "mails", "scan_s")},
                          "peak_rss_mb": spread([r["peak_rss_mb"] for r in runs]),
                          "rss_growth_mb": spread([r["rss_after_mb"] - r["rss_before_mb"] for r in runs]),
                          "quiet_day": {"items": quiet[0]["items"], "find_s": spread([r["find_s"] for r in quiet], 2),
                                        "peak_rss_mb": spread([r["peak_rss_mb"] for r in quiet]),
                                        "rss_growth_mb": spread([r["rss_after_find_mb"] - r["rss_before_mb"]
                                                                 for r in quiet])}}
    out["load_avg_after"] = load_average()
    return out


# ---------------------------------------------------------------------------------------------- demo


def demo_child(url: str, customers: int) -> dict[str, Any]:
    """In a fresh process: `generate_demo` for `customers` on a new database."""
    import time

    from engine.db import Database
    from engine.masterdata.demo import generate_demo

    db = Database(url)
    db.upgrade()
    clock = FakeClock(datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc))
    before = rss_mb()
    t0, c0 = wall_time(), time.process_time()
    with db.session() as session:
        result = generate_demo(session, customers=customers, seed=1, clock=clock)
    took, cpu = wall_time() - t0, time.process_time() - c0
    db.dispose()
    return {"s": round(took, 2), "cpu_s": round(cpu, 2), "customers": result.customers, "contacts": result.contacts,
            "inserted": result.inserted, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb()}


def demo_part(root: Path, *, customers: int = 50_000, repeat: int = 3) -> dict[str, Any]:
    runs = []
    for r in range(repeat):
        path = root / f"demo{r}.db"
        runs.append(_child(["demo", f"sqlite:///{path}", str(customers)]))
        path.unlink()
    return {"customers": customers, "contacts": runs[0]["contacts"], "rows": runs[0]["inserted"],
            "s": spread([r["s"] for r in runs], 2), "cpu_s": spread([r["cpu_s"] for r in runs], 2), "peak_rss_mb": spread([r["peak_rss_mb"] for r in runs]),
            "load_avg": load_average()}


# ---------------------------------------------------------------------------------------------- workers (PostgreSQL)


def _pg_database(pg_url: str, name: str) -> str:
    """A fresh database `name` on the server of `pg_url` (dropped first if left over); its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(pg_url.replace("postgresql://", "postgresql+psycopg://", 1) if pg_url.startswith("postgresql://")
                   else pg_url)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False).replace("postgresql+psycopg://",
                                                                                "postgresql://", 1)


def _seed_due(url: str, root: Path, n: int) -> None:
    """`n` instances of the scale flow waiting on their timer (due in an hour, moved to now later)."""
    from engine.calendar import builtin_registry
    from engine.db import Database
    from engine.definition import load_definitions
    from engine.runtime import Runtime

    db = Database(url)
    db.upgrade()
    rt = Runtime(db, load_definitions(flow_dir(root)), clock=FakeClock(SystemClock().now()),
                 calendars=builtin_registry(), worker_id="seed")
    rt.register_definitions()
    for i in range(n):
        rt.start("scale", {"owner": f"owner{i}@example.com"}, actor="bench")
    db.dispose()


def _drain_window(url: str, n: int, due_us: int, timeout: float) -> dict[str, Any]:
    """Wait until the `n` timers due at `due_us` have fired; events/s from the first firing to the last."""
    import time

    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            fired, first, last = conn.execute("SELECT COUNT(*), MIN(done_us), MAX(done_us) FROM timer WHERE "
                                              "status = 'fired' AND due_us = %s", (due_us,)).fetchone()  # type: ignore[misc]
            if fired >= n or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        per_worker = dict(conn.execute("SELECT claimed_by, COUNT(*) FROM timer WHERE status = 'fired' AND due_us = %s "
                                       "GROUP BY claimed_by", (due_us,)).fetchall())
        history = conn.execute("SELECT COUNT(*) FROM flow_history WHERE event = 'remind'").fetchone()[0]  # type: ignore[index]
        mails = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]  # type: ignore[index]
    # first firing → last firing: neither a worker's start-up nor the wake-up latency counts
    took = max((last or 0) - (first or 0), 1) / 1e6
    return {"fired": fired, "seconds": round(took, 2), "events_per_s": round(fired / took, 1),
            "per_worker": sorted(per_worker.values(), reverse=True), "history_rows": history, "outbox_rows": mails}


def _engine_drain(pg_url: str, root: Path, n: int, workers: int, *, lead_s: float = 3.0,
                  timeout: float = 600) -> dict[str, Any]:
    """`workers` real `mcr worker` processes on one fresh database drain `n` timers due at once."""
    import time

    url = _pg_database(pg_url, "mcr_scale_bench")
    _seed_due(url, root, n)
    # No Prefect: what is measured is the timer firing, and each worker would otherwise start its own
    # local Prefect API in the background (~20 s of CPU), four of them overlapping the window on 2 cores.
    env = {**os.environ, "MCR_DATABASE_URL": url, "MCR_FLOWS_DIR": str(flow_dir(root)), "MCR_RESCAN_S": "1",
           "MCR_MAIL_DIR": str(root / "mail"), "MCR_LOG_LEVEL": "WARNING", "MCR_PREFECT": "off"}
    mcr = str(Path(sys.executable).with_name("mcr"))
    logs = [root / f"worker{k}.log" for k in range(workers)]
    procs = [subprocess.Popen([mcr, "worker"], env={**env, "MCR_LOCALE": "en"}, stdout=subprocess.DEVNULL,
                              stderr=log.open("w", encoding="utf-8")) for log in logs]
    try:
        started = time.monotonic()
        while not all("mcr is running" in log.read_text(encoding="utf-8") for log in logs):  # schedulers up
            if time.monotonic() - started > 120 or any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker did not start: " + " | ".join(log.read_text(encoding="utf-8")[-300:]
                                                                           for log in logs))
            time.sleep(0.2)
        import psycopg

        due_us = to_us(SystemClock().now()) + int(lead_s * 1e6)
        load = load_average()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE timer SET due_us = %s WHERE status = 'pending'", (due_us,))
        out = _drain_window(url, n, due_us, timeout)
        out["load_avg"] = load
        return out
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        time.sleep(0.5)


RAW_SQL = {  # the rows one timer firing writes, by hand (what the engine's step writes for this flow)
    "claim": "UPDATE timer SET claimed_by = %(w)s, claimed_until_us = %(lease)s WHERE id IN (SELECT id FROM timer "
             "WHERE status = 'pending' AND due_us <= %(now)s AND (claimed_until_us IS NULL OR claimed_until_us < %(now)s) "
             "ORDER BY due_us LIMIT 500 FOR UPDATE SKIP LOCKED) RETURNING id",
    "timer": "SELECT instance_id, name, event, status FROM timer WHERE id = %(id)s FOR UPDATE",
    "finish": "UPDATE timer SET status = 'fired', done_us = %(now)s, claimed_until_us = NULL WHERE id = %(id)s",
    "load": "SELECT state, version, data FROM flow_instance WHERE id = %(i)s FOR UPDATE",
    "update": "UPDATE flow_instance SET state = 'reminded', version = %(v)s, data = %(d)s, updated_us = %(now)s "
              "WHERE id = %(i)s AND version = %(old)s",
    "history": "INSERT INTO flow_history (instance_id, at_us, actor, event, from_state, to_state, payload, version) "
               "VALUES (%(i)s, %(now)s, 'timer:t', 'remind', %(s)s, 'reminded', '{}', %(v)s)",
    "arm": "INSERT INTO timer (instance_id, timer_key, name, event, state, due_us, catch_up, status) "
           "VALUES (%(i)s, %(k)s, 't', 'remind', 'reminded', %(due)s, 'fire_late', 'pending')",
    "mail": "INSERT INTO outbox (instance_id, template, locale, recipient, subject, body, status, attempts, "
            "next_attempt_us, created_us) VALUES (%(i)s, 'note', 'zh-CN', %(to)s, %(subj)s, %(body)s, 'pending', 0, "
            "%(now)s, %(now)s)",
}


def raw_worker(url: str, name: str) -> None:
    """One raw psycopg process: claim 500 with SKIP LOCKED, fire each in its own transaction."""
    import psycopg

    with psycopg.connect(url) as conn:
        while True:
            now = to_us(SystemClock().now())
            with conn.transaction():
                ids = [r[0] for r in conn.execute(RAW_SQL["claim"], {"w": name, "now": now,
                                                                    "lease": now + 60_000_000}).fetchall()]
            if not ids:
                return
            for tid in sorted(ids):
                now = to_us(SystemClock().now())
                with conn.transaction():
                    iid, _n, _e, status = conn.execute(RAW_SQL["timer"], {"id": tid}).fetchone()  # type: ignore[misc]
                    if status != "pending":
                        continue
                    conn.execute(RAW_SQL["finish"], {"id": tid, "now": now})
                    state, version, data = conn.execute(RAW_SQL["load"], {"i": iid}).fetchone()  # type: ignore[misc]
                    owner = json.loads(data)["owner"]
                    conn.execute(RAW_SQL["update"], {"v": version + 1, "d": data, "now": now, "i": iid, "old": version})
                    conn.execute(RAW_SQL["history"], {"i": iid, "now": now, "s": state, "v": version + 1})
                    conn.execute(RAW_SQL["arm"], {"i": iid, "k": f"{iid}:{version + 1}:t:0",
                                                  "due": now + 7 * 86_400_000_000})
                    conn.execute(RAW_SQL["mail"], {"i": iid, "to": owner, "now": now, "subj": f"提醒 #{iid}",
                                                   "body": f"{owner}：实例 {iid} 的提醒（reminded）。"})


def _raw_drain(pg_url: str, root: Path, n: int, workers: int, *, lead_s: float = 1.0) -> dict[str, Any]:
    """The same rows written by `workers` raw psycopg processes (no engine)."""
    import time

    url = _pg_database(pg_url, "mcr_scale_bench")
    _seed_due(url, root, n)
    import psycopg

    due_us = to_us(SystemClock().now()) + int(lead_s * 1e6)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE timer SET due_us = %s WHERE status = 'pending'", (due_us,))
    time.sleep(lead_s)
    load = load_average()
    procs = [subprocess.Popen([sys.executable, "-c", f"from engine.bench_scale import raw_worker; "
                                                     f"raw_worker({url!r}, 'raw{k}')"]) for k in range(workers)]
    for p in procs:
        p.wait()
    out = _drain_window(url, n, due_us, 5)
    out["load_avg"] = load
    return out


def workers_part(root: Path, pg_url: str, *, timers: int = 5000, repeat: int = 3,
                 counts: tuple[int, ...] = (1, 4)) -> dict[str, Any]:
    """Engine workers vs raw psycopg, 1 and 4 processes each, in turns (so load hits both alike)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for _ in range(repeat):
        for k in counts:
            runs.setdefault(f"mcr_{k}", []).append(_engine_drain(pg_url, root, timers, k))
            runs.setdefault(f"raw_{k}", []).append(_raw_drain(pg_url, root, timers, k))
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(pg_url.replace("postgresql://", "postgresql+psycopg://", 1)),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text('DROP DATABASE IF EXISTS "mcr_scale_bench" WITH (FORCE)'))
    admin.dispose()
    out: dict[str, Any] = {"timers": timers, "cpus": os.cpu_count()}
    for name, found in runs.items():
        out[name] = {"events_per_s": spread([r["events_per_s"] for r in found]),
                     "fired": [r["fired"] for r in found], "per_worker": found[-1]["per_worker"],
                     "load_avg": [r["load_avg"][0] for r in found]}
    for k in counts:
        out[f"ratio_mcr_vs_raw_{k}"] = round(out[f"mcr_{k}"]["events_per_s"]["median"]
                                             / out[f"raw_{k}"]["events_per_s"]["median"], 3)
    if len(counts) > 1:
        out["speedup_mcr"] = round(out[f"mcr_{counts[-1]}"]["events_per_s"]["median"]
                                   / out[f"mcr_{counts[0]}"]["events_per_s"]["median"], 2)
        out["speedup_raw"] = round(out[f"raw_{counts[-1]}"]["events_per_s"]["median"]
                                   / out[f"raw_{counts[0]}"]["events_per_s"]["median"], 2)
    return out


# ---------------------------------------------------------------------------------------------- the suite


def run_scale_bench(*, parts: tuple[str, ...] = ("timers", "care", "demo"), timers: int = 1_000_000,
                    due: int = 1000, contacts: int = 1_000_000, customers: int = 50_000, chunk: int = 5000,
                    repeat: int = 3, workdir: Path | None = None, pg_url: Optional[str] = None,
                    worker_timers: int = 5000) -> dict[str, Any]:
    """The parts asked for, each with medians and ranges over `repeat` runs; prints nothing."""
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown part(s) {sorted(unknown)}: use {', '.join(PARTS)}")
    result: dict[str, Any] = {"suite": "scale", "cpus": os.cpu_count(), "load_avg": load_average()}
    with tempfile.TemporaryDirectory(prefix="mcr-scale-", dir=workdir) as tmp:
        root = Path(tmp)
        if "timers" in parts:
            result["timers"] = timers_part(root, pending=timers, due=due, repeat=repeat)
        if "care" in parts:
            result["care"] = care_part(root, contacts=contacts, small=max(1, contacts // 10), chunk=chunk,
                                       repeat=repeat)
        if "demo" in parts:
            result["demo"] = demo_part(root, customers=customers, repeat=repeat)
        if "workers" in parts:
            if not pg_url:
                raise ValueError("the workers part needs a PostgreSQL server: --pg-url postgresql://…")
            result["workers"] = workers_part(root, pg_url, timers=worker_timers, repeat=repeat)
    return result


def main(argv: Optional[list[str]] = None) -> None:
    """Child processes of the suite (peak RSS is per process): `python -m engine.bench_scale care URL N`."""
    import argparse

    ap = argparse.ArgumentParser(prog="engine.bench_scale")
    ap.add_argument("kind", choices=("care", "demo"))
    ap.add_argument("url")
    ap.add_argument("size", type=int)
    ap.add_argument("--chunk", type=int, default=5000)
    ap.add_argument("--seed-only", action="store_true")
    ap.add_argument("--scan-only", action="store_true")
    ap.add_argument("--find-only", action="store_true")
    ap.add_argument("--day", default=CARE_DAY)
    a = ap.parse_args(argv)
    if a.kind == "care":
        result = care_child(a.url, a.size, chunk=a.chunk, seed_only=a.seed_only, scan_only=a.scan_only,
                            find_only=a.find_only, day=a.day)
    else:
        result = demo_child(a.url, a.size)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
