"""`mcr bench`: the hot path measured against a raw sqlite3 baseline in the same run.

Each engine event is a full step — load, version-checked update, history row, old timer
cancelled, new timer armed, one outbox row rendered from a Jinja2 template — in ONE
transaction. The baseline writes the same rows with the stdlib `sqlite3` module into the same
schema with the same durability (WAL, the same `synchronous`). Rounds alternate engine/raw
and the median of each is reported, so a noisy neighbour hurts both alike.

Also measured: claiming 1,000 due timers among 1,000,000 pending ones, and RSS growth over
100,000 events.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import statistics
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from engine.clock import FakeClock, to_us, wall_time

BENCH_FLOW = """\
flow: bench
version: 1
title: {zh-CN: 基准, en: Benchmark}
events: [flip, done]
states:
  - name: a
    initial: true
    timers: [{name: t, after: 1 hour, event: done}]
  - name: b
    timers: [{name: t, after: 1 hour, event: done}]
  - name: end
    terminal: true
transitions:
  - {from: a, event: flip, to: b, actions: [{mail: note, to: data.owner}]}
  - {from: b, event: flip, to: a, actions: [{mail: note, to: data.owner}]}
  - {from: [a, b], event: done, to: end}
"""
BENCH_TEMPLATE = "Subject: 实例 #{{ instance.id }} 状态 {{ instance.state }}\n\n{{ data.owner }}：状态已更新为 {{ instance.state }}。\n"


def write_flow_dir(folder: Path, flow_yaml: str, note_template: str) -> Path:
    """A benchmark's flow folder: one flow file and its `note` mail template in both languages."""
    (folder / "templates").mkdir(parents=True, exist_ok=True)
    (folder / "flow.yaml").write_text(flow_yaml, encoding="utf-8")
    for loc in ("zh-CN", "en"):
        (folder / "templates" / f"note.{loc}.j2").write_text(note_template, encoding="utf-8")
    return folder


def _flow_dir(root: Path) -> Path:
    return write_flow_dir(root / "benchflow", BENCH_FLOW, BENCH_TEMPLATE)


def _rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _EngineSide:
    def __init__(self, root: Path, instances: int) -> None:
        from engine.calendar import builtin_registry
        from engine.db import Database
        from engine.definition import load_definitions
        from engine.runtime import Runtime

        self.clock = FakeClock(datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc))
        self.db = Database(f"sqlite:///{root / 'engine.db'}")
        self.db.upgrade()
        self.rt = Runtime(self.db, load_definitions(_flow_dir(root)), clock=self.clock, calendars=builtin_registry())
        self.rt.register_definitions()
        self.ids = [self.rt.start("bench", {"owner": f"owner{i}@example.com"}, actor="bench").instance_id
                    for i in range(instances)]

    def run(self, n: int, offset: int) -> list[float]:
        lat = []
        ids = self.ids
        send = self.rt.send
        for i in range(n):
            t0 = wall_time()
            send(ids[(offset + i) % len(ids)], "flip", actor="bench")
            lat.append(wall_time() - t0)
        return lat


class _RawSide:
    """The same rows, written by hand with sqlite3 — the floor the engine is compared with."""

    def __init__(self, root: Path, instances: int, synchronous: str) -> None:
        from engine.db import Database

        path = root / "raw.db"
        Database(f"sqlite:///{path}").upgrade()  # same schema and indexes as the engine's
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(f"PRAGMA synchronous={synchronous}")
        now = to_us(datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc))
        self.now = now
        cur = self.conn.cursor()
        cur.execute("BEGIN")
        for i in range(instances):
            cur.execute("INSERT INTO flow_instance (flow, flow_version, state, version, locale, data, created_us, "
                        "updated_us) VALUES ('bench', 1, 'a', 1, 'zh-CN', ?, ?, ?)",
                        (f'{{"owner":"owner{i}@example.com"}}', now, now))
            iid = cur.lastrowid
            cur.execute("INSERT INTO timer (instance_id, timer_key, name, event, state, due_us, catch_up, status) "
                        "VALUES (?, ?, 't', 'done', 'a', ?, 'fire_late', 'pending')", (iid, f"{iid}:1:t:0", now + 3600_000_000))
        cur.execute("COMMIT")
        self.ids = [r[0] for r in self.conn.execute("SELECT id FROM flow_instance ORDER BY id")]

    def run(self, n: int, offset: int) -> list[float]:
        lat = []
        cur = self.conn.cursor()
        now = self.now
        for i in range(n):
            t0 = wall_time()
            iid = self.ids[(offset + i) % len(self.ids)]
            cur.execute("BEGIN IMMEDIATE")
            state, version, data = cur.execute(
                "SELECT state, version, data FROM flow_instance WHERE id = ?", (iid,)).fetchone()
            new = "b" if state == "a" else "a"
            cur.execute("UPDATE flow_instance SET state = ?, version = ?, data = ?, updated_us = ? "
                        "WHERE id = ? AND version = ?", (new, version + 1, data, now, iid, version))
            cur.execute("INSERT INTO flow_history (instance_id, at_us, actor, event, from_state, to_state, payload, "
                        "version) VALUES (?, ?, 'bench', 'flip', ?, ?, '{}', ?)", (iid, now, state, new, version + 1))
            cur.execute("UPDATE timer SET status = 'cancelled', done_us = ? WHERE instance_id = ? AND status = 'pending'",
                        (now, iid))
            cur.execute("INSERT INTO timer (instance_id, timer_key, name, event, state, due_us, catch_up, status) "
                        "VALUES (?, ?, 't', 'done', ?, ?, 'fire_late', 'pending')",
                        (iid, f"{iid}:{version + 1}:t:0", new, now + 3600_000_000))
            cur.execute("INSERT INTO outbox (instance_id, template, locale, recipient, subject, body, status, attempts, "
                        "next_attempt_us, created_us) VALUES (?, 'note', 'zh-CN', ?, ?, ?, 'pending', 0, ?, ?)",
                        (iid, f"owner{iid}@example.com", f"实例 #{iid} 状态 {new}", f"状态已更新为 {new}。", now, now))
            cur.execute("COMMIT")
            lat.append(wall_time() - t0)
        return lat


def _throughput(root: Path, events: int, instances: int, synchronous: str, rounds: int = 3) -> dict[str, Any]:
    engine = _EngineSide(root, instances)
    raw = _RawSide(root, instances, synchronous)
    per_round = max(1, events // rounds)
    eng_rates, raw_rates, eng_lat = [], [], []
    engine.run(min(500, per_round), 0)  # warm caches and compiled templates
    raw.run(min(500, per_round), 0)
    for r in range(rounds):
        lat = engine.run(per_round, r * per_round)
        eng_lat.extend(lat)
        eng_rates.append(per_round / sum(lat))
        lat_raw = raw.run(per_round, r * per_round)
        raw_rates.append(per_round / sum(lat_raw))
    eng, rw = statistics.median(eng_rates), statistics.median(raw_rates)
    ratios = [e / r for e, r in zip(eng_rates, raw_rates)]
    eng_lat.sort()
    engine.db.dispose()
    raw.conn.close()
    return {"rounds": rounds, "engine_events_per_s": round(eng, 1),
            "engine_events_per_s_range": [round(min(eng_rates), 1), round(max(eng_rates), 1)],
            "raw_events_per_s": round(rw, 1), "raw_events_per_s_range": [round(min(raw_rates), 1), round(max(raw_rates), 1)],
            "ratio": round(statistics.median(ratios), 3), "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "p99_ms": round(eng_lat[int(len(eng_lat) * 0.99) - 1] * 1000, 3),
            "p50_ms": round(eng_lat[len(eng_lat) // 2] * 1000, 3), "events": per_round * rounds}


def _timer_claim(root: Path, pending: int, due: int = 1000) -> dict[str, Any]:
    from engine.calendar import builtin_registry
    from engine.db import Database
    from engine.definition import DefinitionSet
    from engine.runtime import Runtime

    path = root / "timers.db"
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    now = datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    far = to_us(now + timedelta(days=365))
    conn.executemany("INSERT INTO timer (instance_id, timer_key, name, event, state, due_us, catch_up, status) "
                     "VALUES (?, ?, 't', 'e', 's', ?, 'fire_late', 'pending')",
                     ((i, f"k{i}", far + i) for i in range(pending)))
    conn.executemany("INSERT INTO timer (instance_id, timer_key, name, event, state, due_us, catch_up, status) "
                     "VALUES (?, ?, 't', 'e', 's', ?, 'fire_late', 'pending')",
                     ((i, f"d{i}", to_us(now) - i) for i in range(due)))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    rt = Runtime(db, DefinitionSet(), clock=FakeClock(now), calendars=builtin_registry(), worker_id="bench")
    t0 = wall_time()
    claimed = rt.claim_due_timers(limit=due)
    claim_ms = (wall_time() - t0) * 1000
    t0 = wall_time()
    empty = rt.claim_due_timers(limit=due)
    empty_ms = (wall_time() - t0) * 1000
    db.dispose()
    return {"pending_timers": pending + due, "claimed": len(claimed), "claim_ms": round(claim_ms, 2),
            "empty_claim_ms": round(empty_ms, 3), "empty_claimed": len(empty)}


def _rss(root: Path, events: int, instances: int) -> dict[str, Any]:
    (root / "rss").mkdir()
    engine = _EngineSide(root / "rss", instances)
    engine.run(2000, 0)
    gc.collect()
    before = _rss_kb()
    engine.run(events, 2000)
    gc.collect()
    after = _rss_kb()
    engine.db.dispose()
    return {"rss_events": events, "rss_before_mb": round(before / 1024, 1), "rss_after_mb": round(after / 1024, 1),
            "rss_growth_mb": round((after - before) / 1024, 1)}


def run_bench(*, events: int = 20000, instances: int = 2000, timers: int = 1_000_000, rss_events: int = 100_000,
              synchronous: str = "FULL", rounds: int = 3, workdir: Path | None = None) -> dict[str, Any]:
    """The engine suite: each figure is the median of `rounds` alternating engine/raw rounds, with its range."""
    previous = os.environ.get("MCR_SQLITE_SYNCHRONOUS")
    os.environ["MCR_SQLITE_SYNCHRONOUS"] = synchronous.upper()
    try:
        with tempfile.TemporaryDirectory(prefix="mcr-bench-", dir=workdir) as tmp:
            root = Path(tmp)
            result: dict[str, Any] = {"synchronous": synchronous.upper()}
            result.update(_throughput(root, events, instances, synchronous.upper(), rounds))
            if timers:
                result.update(_timer_claim(root, timers))
            if rss_events:
                result.update(_rss(root, rss_events, instances))
            result["targets"] = {
                "ratio_ge_0.5": result["ratio"] >= 0.5,
                **({"claim_1000_le_50ms": result["claim_ms"] <= 50} if timers else {}),
                **({"rss_growth_lt_50mb": result["rss_growth_mb"] < 50} if rss_events else {}),
            }
            return result
    finally:
        if previous is None:
            os.environ.pop("MCR_SQLITE_SYNCHRONOUS", None)
        else:
            os.environ["MCR_SQLITE_SYNCHRONOUS"] = previous
