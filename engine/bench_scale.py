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
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from engine.clock import FakeClock, to_us, wall_time

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
    d = root / "scaleflow"
    (d / "templates").mkdir(parents=True, exist_ok=True)
    (d / "scale.yaml").write_text(SCALE_FLOW, encoding="utf-8")
    for loc in ("zh-CN", "en"):
        (d / "templates" / f"note.{loc}.j2").write_text(SCALE_TEMPLATE, encoding="utf-8")
    return d


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def spread(values: list[float], digits: int = 1) -> dict[str, Any]:
    return {"median": round(statistics.median(values), digits), "range": [round(min(values), digits),
                                                                          round(max(values), digits)],
            "runs": len(values)}


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


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
