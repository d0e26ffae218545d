"""`mcr bench --suite concurrency`: many concurrent clients sending events, group commit against one
event per transaction, in the same run on the same database.

Each client is a thread that sends `flip` events (the `mcr bench` hot-path step: load, version-checked
update, history row, timer cancelled and armed, one outbox row from a template) to its own instances,
as the web app's request threads do. A round times all clients together from one start signal to
the last reply; rounds alternate between the two modes (and which goes first), so a burst of load on
a shared machine falls on both alike. Reported: the median rate of each mode with its range, the
median of the per-round ratios, latencies and the mean group size.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from engine.bench import _flow_dir
from engine.clock import FakeClock, wall_time
from engine.db import Database
from engine.group_commit import GroupCommitter

MODES = ("group_commit", "one_per_transaction")
ONE_CLIENT = "one_client"  # the same events from a single client, one per transaction: the uncontended rate


class _Clients:
    def __init__(self, db: Database, root: Path, clients: int, instances: int) -> None:
        from engine.calendar import builtin_registry
        from engine.definition import load_definitions
        from engine.runtime import Runtime

        self.db = db
        self.clients = clients
        self.rt = Runtime(db, load_definitions(_flow_dir(root)), worker_id="bench",
                          clock=FakeClock(datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc)),
                          calendars=builtin_registry())
        self.rt.register_definitions()
        self.committer = GroupCommitter(db)
        ids = [self.rt.start("bench", {"owner": f"owner{i}@example.com"}, actor="bench").instance_id
               for i in range(max(instances, clients))]
        self.ids = ids
        self.own = [ids[c::clients] for c in range(clients)]  # each client its own instances

    def round(self, mode: str, events: int) -> tuple[float, list[float]]:
        """Send `events` flips from all clients at once; returns (events per second, latencies in s)."""
        self.rt.group_commit = self.committer if mode == "group_commit" else None
        clients = 1 if mode == ONE_CLIENT else self.clients
        own = [self.ids] if mode == ONE_CLIENT else self.own
        per_client = max(1, events // self.clients) * self.clients // clients
        latencies: list[list[float]] = [[] for _ in range(clients)]
        errors: list[BaseException] = []
        gate = threading.Barrier(clients + 1)
        send = self.rt.send

        def client(c: int) -> None:
            ids, lat = own[c], latencies[c]
            gate.wait()
            try:
                for i in range(per_client):
                    t0 = wall_time()
                    send(ids[i % len(ids)], "flip", actor="bench")
                    lat.append(wall_time() - t0)
            except BaseException as exc:  # reported below: a benchmark that loses events is no figure
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(c,), name=f"bench-client-{c}") for c in range(clients)]
        for th in threads:
            th.start()
        gate.wait()
        started = wall_time()
        for th in threads:
            th.join()
        elapsed = wall_time() - started
        self.rt.group_commit = None
        if errors:
            raise errors[0]
        return per_client * clients / elapsed, [x for lat in latencies for x in lat]


def _ms(sorted_lat: list[float], q: float) -> float:
    return round(sorted_lat[min(len(sorted_lat) - 1, int(len(sorted_lat) * q))] * 1000, 2)


def _figures(rates: list[float], lat: list[float]) -> dict[str, Any]:
    lat.sort()
    return {"events_per_s": round(statistics.median(rates), 1),
            "events_per_s_range": [round(min(rates), 1), round(max(rates), 1)],
            "p50_ms": _ms(lat, 0.5), "p99_ms": _ms(lat, 0.99)}


def measure(db: Database, root: Path, *, clients: int = 16, events: int = 4000, instances: int = 2000,
            rounds: int = 5, one_client: bool = True) -> dict[str, Any]:
    """The suite on an existing migrated database (a test's SQLite file or PostgreSQL schema);
    `one_client` adds the uncontended single-client rate to each round."""
    side = _Clients(db, root, clients, instances)
    modes = MODES + ((ONE_CLIENT,) if one_client else ())
    warm = max(clients, events // 10)
    for mode in modes:  # compiled templates, connections of every client thread, caches
        side.round(mode, warm)
    rates: dict[str, list[float]] = {m: [] for m in modes}
    lat: dict[str, list[float]] = {m: [] for m in modes}
    groups_before, members_before = side.committer.groups, side.committer.members
    for r in range(rounds):
        for mode in (modes if r % 2 == 0 else modes[::-1]):
            rate, latencies = side.round(mode, events)
            rates[mode].append(rate)
            lat[mode].extend(latencies)
    ratios = [g / s for g, s in zip(rates["group_commit"], rates["one_per_transaction"])]
    groups = side.committer.groups - groups_before
    result: dict[str, Any] = {
        "suite": "concurrency", "backend": "postgresql" if db.is_pg else "sqlite", "clients": clients,
        "rounds": rounds, "events_per_round": (events // clients) * clients,
        "group_commit": {**_figures(rates["group_commit"], lat["group_commit"]),
                         "mean_group_size": round((side.committer.members - members_before) / groups, 1)
                         if groups else 0.0},
        "one_per_transaction": _figures(rates["one_per_transaction"], lat["one_per_transaction"]),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
    }
    if one_client:
        solo = [g / s for g, s in zip(rates["group_commit"], rates[ONE_CLIENT])]
        result[ONE_CLIENT] = _figures(rates[ONE_CLIENT], lat[ONE_CLIENT])
        result["ratio_vs_one_client"] = round(statistics.median(solo), 3)
        result["ratio_vs_one_client_range"] = [round(min(solo), 3), round(max(solo), 3)]
    if not db.is_pg:
        result["synchronous"] = getattr(db, "sqlite_synchronous", None)
    result["targets"] = {"ratio_ge_2": result["ratio"] >= 2}
    return result


def run_concurrency_bench(*, clients: int = 16, events: int = 4000, instances: int = 2000, rounds: int = 5,
                          synchronous: str = "FULL", workdir: Path | None = None,
                          postgres_url: str | None = None) -> dict[str, Any]:
    """The suite on a fresh SQLite file with the given durability (`mcr bench --suite concurrency`);
    with `postgres_url` (MCR_BENCH_POSTGRES_URL), on a scratch schema of that PostgreSQL database instead."""
    postgres_url = postgres_url or os.environ.get("MCR_BENCH_POSTGRES_URL")
    if postgres_url:
        return _on_postgres(postgres_url, clients=clients, events=events, instances=instances, rounds=rounds,
                            workdir=workdir)
    previous = os.environ.get("MCR_SQLITE_SYNCHRONOUS")
    os.environ["MCR_SQLITE_SYNCHRONOUS"] = synchronous.upper()
    try:
        with tempfile.TemporaryDirectory(prefix="mcr-bench-concurrency-", dir=workdir) as tmp:
            root = Path(tmp)
            db = Database(f"sqlite:///{root / 'engine.db'}")
            try:
                db.upgrade()
                return measure(db, root, clients=clients, events=events, instances=instances, rounds=rounds)
            finally:
                db.dispose()
    finally:
        if previous is None:
            os.environ.pop("MCR_SQLITE_SYNCHRONOUS", None)
        else:
            os.environ["MCR_SQLITE_SYNCHRONOUS"] = previous


def _on_postgres(url: str, *, workdir: Path | None, **sizes: Any) -> dict[str, Any]:
    """A schema of its own, dropped afterwards: the benchmark never writes into a database's real tables."""
    import uuid
    from urllib.parse import quote

    schema = f"mcr_bench_{uuid.uuid4().hex[:10]}"
    admin = Database(url)
    with admin.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    db = Database(f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}")
    try:
        db.upgrade()
        with tempfile.TemporaryDirectory(prefix="mcr-bench-concurrency-", dir=workdir) as tmp:
            return measure(db, Path(tmp), **sizes)
    finally:
        db.dispose()
        with admin.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
