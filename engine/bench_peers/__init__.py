"""`mcr bench --suite peers`: the shipped ITR issue life cycle on mcr and on four peers, one run.

mcr runs it through its public service API (engine/bench_flows.py's driver: open → dispatch → accept
→ escalate → resolve → close → callback, 7 events); each peer runs the same life cycle with the same
guards' reads and the same rows (engine/bench_peers/itr.py, machines.py, docs/performance.md). Every
system gets its own copy of one pre-filled database (master data, closed issues, warmed counters), WAL
and the same `synchronous`, one transaction per event. Repetitions rotate the order of the systems.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

from engine.clock import FakeClock, cpu_time, to_us, wall_time

MCR = "mcr"
TABLES = ("flow_instance", "flow_history", "timer", "outbox", "itr_issue", "itr_dispatch", "itr_escalation",
          "itr_callback_decision", "itr_callback", "itr_weekly_score", "itr_counter")
STEP = timedelta(minutes=3)


class _Mcr:
    name = MCR

    def __init__(self, root: Path, prefill_issues: int) -> None:
        from engine.app import build_runtime
        from engine.bench_flows import NOW, OFFICES, _Drive, prefill
        from engine.db import Database

        self.db = Database(f"sqlite:///{root / 'mcr.db'}")
        self.db.upgrade()
        org = prefill(self.db, prefill_issues)
        rt = build_runtime(self.db, clock=FakeClock(NOW.astimezone(timezone.utc)), migrate=False)
        self.drive = _Drive(rt, org, root)
        self.org = org
        for _ in range(2 * OFFICES):  # each office's window counters made, templates compiled
            self.drive.itr_issue()
            self.drive.clock.advance(STEP)
        with self.db.read() as tx:
            tx.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def cycles(self, n: int) -> list[float]:
        self.drive.laps = laps = []
        for _ in range(n):
            self.drive.itr_issue()
            self.drive.clock.advance(STEP)
        self.drive.laps = None
        return laps

    def close(self) -> None:
        self.db.dispose()


class _PeerRun:
    """A peer on its copy of mcr's database, driven through the same life cycle, customer by customer."""

    def __init__(self, peer: Any, org: dict[str, Any], first_customer: int, now_us: int) -> None:
        self.peer = peer
        self.name = peer.name
        self.customers = org["customer"]
        self.next = first_customer
        self.now_us = now_us

    def cycle(self, laps: list[float]) -> None:
        self.next += 1
        cust = self.customers[-self.next]
        office = cust["office_code"]
        hl, cc = f"{office}-HL", f"{office}-CC"
        now, peer = self.now_us, self.peer
        t0 = wall_time()
        iid = peer.open(customer=cust["code"], contact=f"{cust['code']}-K3", submitter=hl, now_us=now,
                        title="基站告警", description="光模块温度告警")
        t1 = wall_time()
        laps.append(t1 - t0)
        step = peer.send(iid, "dispatch", actor=hl, now_us=now)
        t0 = wall_time()
        laps.append(t0 - t1)
        handler = step.data["handler"]
        for event, actor, payload in (("accept", handler, {}),
                                      ("escalate", handler, {"reason": "arbitration_needed", "note": "需要仲裁"})):
            step = peer.send(iid, event, actor=actor, now_us=now, payload=payload)
            t1 = wall_time()
            laps.append(t1 - t0)
            t0 = t1
        step = peer.send(iid, "resolve", actor=step.data["handler"], now_us=now, payload={"solution": "更换光模块"})
        t1 = wall_time()
        laps.append(t1 - t0)
        step = peer.send(iid, "close", actor=hl, now_us=now)
        t0 = wall_time()
        laps.append(t0 - t1)
        if step.state == "callback_pending":
            peer.send(iid, "callback", actor=cc, now_us=now, payload={"score": 4, "reached": True})
            laps.append(wall_time() - t0)
        self.now_us += int(STEP.total_seconds() * 1_000_000)

    def cycles(self, n: int) -> list[float]:
        laps: list[float] = []
        for _ in range(n):
            self.cycle(laps)
        return laps

    def close(self) -> None:
        self.peer.close()


def _written_bytes() -> int:
    """Bytes this process has caused to be written to storage (Linux /proc/self/io; 0 elsewhere)."""
    try:
        with open("/proc/self/io", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("write_bytes:"))
    except (OSError, StopIteration):
        return 0


def row_counts(path: Path) -> dict[str, int]:
    """Rows per table (and the counters' total), read with sqlite3: the proof that the systems wrote the same."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        out = {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in TABLES}
        out["itr_counter.sum_n"] = int(conn.execute("SELECT COALESCE(SUM(n), 0) FROM itr_counter").fetchone()[0])
        out["timer.pending"] = int(conn.execute("SELECT COUNT(*) FROM timer WHERE status = 'pending'").fetchone()[0])
        return out
    finally:
        conn.close()


def _stats(values: list[float], digits: int = 1) -> dict[str, Any]:
    return {"median": round(statistics.median(values), digits),
            "range": [round(min(values), digits), round(max(values), digits)]}


def run_peers_bench(*, issues: int = 40, repeat: int = 3, synchronous: str = "FULL", workdir: Path | None = None,
                    peers: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The JSON of `mcr bench --suite peers`: `issues` life cycles (7 events each) per system and repetition."""
    import os

    from engine.bench_peers.machines import PEERS

    names = peers or tuple(PEERS)
    sync = synchronous.upper()
    warm = 2
    # Each life cycle takes a customer of its own (a fresh contact for the callback's 10-day gap):
    # 20 warming mcr, then the same sequence on every system.
    prefill_issues = max(1000, 20 * (20 + warm + issues * repeat + 10))
    previous = os.environ.get("MCR_SQLITE_SYNCHRONOUS")
    os.environ["MCR_SQLITE_SYNCHRONOUS"] = sync
    try:
        with tempfile.TemporaryDirectory(prefix="mcr-bench-peers-", dir=workdir) as tmp:
            root = Path(tmp)
            mcr = _Mcr(root, prefill_issues)
            now_us = to_us(mcr.drive.clock.now())
            systems: dict[str, Any] = {MCR: mcr}
            paths = {MCR: root / "mcr.db"}
            for name in names:
                paths[name] = root / f"{name}.db"
                shutil.copyfile(paths[MCR], paths[name])  # WAL checkpointed: the file holds everything
                systems[name] = _PeerRun(PEERS[name](paths[name], sync), mcr.org, mcr.drive.next_contact, now_us)
            for system in systems.values():  # imports, parsed BPMN, compiled statements: not measured
                system.cycles(warm)
            order = list(systems)
            rates: dict[str, list[float]] = {n: [] for n in order}
            laps_all: dict[str, list[float]] = {n: [] for n in order}
            events: dict[str, int] = {n: 0 for n in order}
            cpu: dict[str, list[float]] = {n: [] for n in order}
            written: dict[str, list[float]] = {n: [] for n in order}
            for rep in range(repeat):
                rotated = order[rep % len(order):] + order[:rep % len(order)]
                for name in rotated:
                    c0, w0 = cpu_time(), _written_bytes()
                    laps = systems[name].cycles(issues)
                    cpu[name].append((cpu_time() - c0) * 1000 / len(laps))
                    written[name].append((_written_bytes() - w0) / 1024 / len(laps))
                    rates[name].append(len(laps) / sum(laps))
                    laps_all[name].extend(laps)
                    events[name] += len(laps)
            for system in systems.values():
                system.close()
            rows = {name: row_counts(path) for name, path in paths.items()}
    finally:
        if previous is None:
            os.environ.pop("MCR_SQLITE_SYNCHRONOUS", None)
        else:
            os.environ["MCR_SQLITE_SYNCHRONOUS"] = previous
    out: dict[str, Any] = {}
    for name in order:
        lat = sorted(laps_all[name])
        out[name] = {"events_per_s": round(statistics.median(rates[name]), 1),
                     "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)] * 1000, 3),
                     "p50_ms": round(lat[len(lat) // 2] * 1000, 3),
                     "events_per_s_range": _stats(rates[name])["range"], "events": events[name],
                     # CPU of this process per event: the steadier view on a shared machine, and what is
                     # left to compare once every side pays the same fsync.
                     "cpu_ms_per_event": _stats(cpu[name], 3),
                     # What each fsync has to push: WAL frames (whole pages) and checkpoints into the file.
                     "written_kb_per_event": _stats(written[name])}
    ratios = {f"vs_{n}": round(out[MCR]["events_per_s"] / out[n]["events_per_s"], 3) for n in names}
    ratio_ranges = {f"vs_{n}": _stats([m / p for m, p in zip(rates[MCR], rates[n])], 3) for n in names}
    cpu_ratios = {f"vs_{n}": round(out[n]["cpu_ms_per_event"]["median"] / out[MCR]["cpu_ms_per_event"]["median"], 3)
                  for n in names}
    return {"suite": "peers", "systems": out, "ratios": ratios, "cpu_ratios": cpu_ratios,
            "ratio_per_repetition": ratio_ranges, "synchronous": sync, "repeat": repeat, "issues": issues,
            "events_per_issue": 7, "prefilled_issues": prefill_issues, "rows": rows,
            "same_rows": all(rows[n] == rows[MCR] for n in names),
            "targets": {f"vs_{n}_ge_5": ratios[f"vs_{n}"] >= 5 for n in names}}
