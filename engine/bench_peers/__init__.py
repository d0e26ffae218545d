"""`mcr bench --suite peers`: the shipped ITR issue life cycle on mcr and on four peers, one run.

mcr runs it through its public service API (engine/bench_flows.py's driver: open → dispatch → accept
→ escalate → resolve → close → callback, 7 events); each peer runs the same life cycle with the same
guards' reads and the same rows (engine/bench_peers/itr.py, machines.py, docs/performance.md). Every
system gets its own copy of one pre-filled database (master data, closed issues, warmed counters), WAL
and the same `synchronous`, one transaction per event. Repetitions rotate the order of the systems.

With `clients` > 1 every system is driven by that many client threads at once (a web app's request
threads), each running whole life cycles on customers of its own: mcr as `mcr serve` runs it on
SQLite (group commit on), and once more as `mcr_no_group_commit`; each peer thread with its own
connection and store, one transaction per event, waiting on the write lock in SQLite's busy handler.
"""

from __future__ import annotations

import queue
import shutil
import statistics
import tempfile
import threading
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from engine.bench_flows import _Drive
from engine.clock import FakeClock, cpu_time, to_us, wall_time

MCR = "mcr"
MCR_NO_GROUP_COMMIT = "mcr_no_group_commit"  # concurrent runs: the same runtime with group commit off
TABLES = ("flow_instance", "flow_history", "timer", "outbox", "itr_issue", "itr_dispatch", "itr_escalation",
          "itr_callback_decision", "itr_callback", "itr_weekly_score", "itr_counter")
STEP = timedelta(minutes=3)
STEP_US = int(STEP.total_seconds() * 1_000_000)


class _Mcr:
    name = MCR

    def __init__(self, root: Path, prefill_issues: int, *, copy_of: Optional["_Mcr"] = None,
                 name: str = MCR) -> None:
        """The pre-filled, warmed database; or (`copy_of`) a second runtime on a copy of another's."""
        from engine.app import build_runtime
        from engine.bench_flows import NOW, OFFICES, prefill
        from engine.db import Database

        self.name = name
        self.path = root / f"{name}.db"
        self.committer: Any = None  # the GroupCommitter of a concurrent run, when grouping is on
        self.drivers: list[_ClientDrive] = []
        if copy_of is not None:
            shutil.copyfile(copy_of.path, self.path)  # WAL checkpointed: the file holds everything
            self.db = Database(f"sqlite:///{self.path}")
            rt = build_runtime(self.db, clock=FakeClock(copy_of.drive.clock.now()), migrate=False)
            self.org = copy_of.org
            self.drive = _Drive(rt, self.org, root)
            self.drive.next_contact = copy_of.drive.next_contact
            self.drive._principals = dict(copy_of.drive._principals)  # read-only, the same master data
            return
        self.db = Database(f"sqlite:///{self.path}")
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

    # ------------------------------------------------------------------ several clients at once

    def start_clients(self, clients: "_ClientThreads", *, group_commit: bool) -> None:
        """One driver per client thread over the ONE runtime, as the web app's request threads share it;
        group commit as `mcr serve` sets it on this database (engine.group_commit.wanted) or off."""
        from engine.group_commit import GroupCommitter, wanted

        rt = self.drive.rt
        if group_commit and wanted(self.db):
            self.committer = rt.group_commit = GroupCommitter(self.db)
        else:
            rt.group_commit = None
        # Signing in is not what is measured: the principals loaded while warming are shared (frozen,
        # read-only); one met for the first time is loaded by the thread that needs it, outside its laps.
        self.drivers = [_ClientDrive(rt, self.org, self.drive.workdir, self.drive._principals)
                        for _ in range(clients.n)]

    def jobs(self, shares: list[list[int]]) -> list[Callable[[], list[float]]]:
        return [lambda d=d, ks=ks: d.run(ks) for d, ks in zip(self.drivers, shares)]

    def stop_clients(self, clients: "_ClientThreads") -> None:
        self.drive.rt.group_commit = None

    def close(self) -> None:
        self.db.dispose()


class _ClientDrive(_Drive):
    """bench_flows' driver for one client thread: its own customers and laps; the runtime and its clock
    are shared. The service calls are exactly the flows suite's."""

    def __init__(self, rt: Any, org: dict[str, Any], workdir: Path, principals: dict[str, Any]) -> None:
        super().__init__(rt, org, workdir)
        self._principals = principals
        self._mine: list[int] = []

    def _fresh_customer(self) -> dict[str, Any]:
        return self.org["customer"][-self._mine.pop(0)]

    def run(self, ks: list[int]) -> list[float]:
        """Life cycles on customers `ks` (counted from the end of the list, as `_Drive` takes them)."""
        self._mine = list(ks)
        self.laps = laps = []
        for _ in ks:
            self.itr_issue()
            # The shared FakeClock (thread-safe) moves on 3 minutes per life cycle, from whichever thread
            # finished one: monotonic, as wall time is for a web app's threads, and as far in all as with
            # one client. An event may see the clock moved by other threads' life cycles since its issue
            # opened — later, never earlier, as in production.
            self.clock.advance(STEP)
        self.laps = None
        return laps


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
        self.cycle_for(self.next, self.now_us, laps)
        self.now_us += STEP_US

    def cycle_for(self, k: int, now: int, laps: list[float]) -> None:
        """One life cycle on customer `k` (counted from the end of the list, as mcr's driver takes them)."""
        cust = self.customers[-k]
        office = cust["office_code"]
        hl, cc = f"{office}-HL", f"{office}-CC"
        peer = self.peer
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

    def cycles(self, n: int) -> list[float]:
        laps: list[float] = []
        for _ in range(n):
            self.cycle(laps)
        return laps

    def close(self) -> None:
        self.peer.close()


class _PeerClients:
    """A peer driven by several client threads: each thread its own peer object — its own connection
    (and SQLAlchemy engine, session, machine) made, used and closed in that thread, as a multi-threaded
    web app holds one per request thread — on the peer's one database file."""

    def __init__(self, name: str, make: Callable[[], Any], org: dict[str, Any], now_us: int,
                 first_customer: int) -> None:
        self.name = name
        self.make = make
        self.org = org
        self.now_us = now_us
        self.first = first_customer
        self.runs: list[_PeerRun] = []

    def start_clients(self, clients: "_ClientThreads") -> None:
        def make() -> _PeerRun:
            return _PeerRun(self.make(), self.org, self.first, self.now_us)

        _, self.runs = clients.run([make] * clients.n)

    def jobs(self, shares: list[list[int]]) -> list[Callable[[], list[float]]]:
        def job(run: _PeerRun, ks: list[int]) -> list[float]:
            laps: list[float] = []
            for k in ks:
                # The peer's business time per life cycle: the k-th customer's slot, 3 minutes apart,
                # whatever thread runs it (mcr's shared clock moves as far in all).
                run.cycle_for(k, self.now_us + (k - self.first - 1) * STEP_US, laps)
            return laps

        return [lambda r=r, ks=ks: job(r, ks) for r, ks in zip(self.runs, shares)]

    def stop_clients(self, clients: "_ClientThreads") -> None:
        clients.run([lambda r=r: r.close() for r in self.runs])
        self.runs = []

    def close(self) -> None:
        """Nothing left: each thread's peer was closed in its own thread (`stop_clients`)."""


class _ClientThreads:
    """`n` client threads that live for the whole run (a web server's request threads: each keeps its
    own connections from one round to the next). `run` hands job i to thread i, releases them all with
    one start signal, and returns the wall time from that signal to the last thread done."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._inbox: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(n)]
        self._done: queue.SimpleQueue[tuple[int, Any, Optional[BaseException]]] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._serve, args=(i,), name=f"bench-peers-client-{i}", daemon=True)
                         for i in range(n)]
        for th in self._threads:
            th.start()

    def _serve(self, i: int) -> None:
        while True:
            job = self._inbox[i].get()
            if job is None:
                return
            fn, gate = job
            gate.wait()
            try:
                self._done.put((i, fn(), None))
            except BaseException as exc:  # raised in the caller: a bench that loses events is no figure
                self._done.put((i, None, exc))

    def run(self, jobs: list[Callable[[], Any]]) -> tuple[float, list[Any]]:
        gate = threading.Barrier(self.n + 1)
        for inbox, fn in zip(self._inbox, jobs, strict=True):
            inbox.put((fn, gate))
        gate.wait()
        started = wall_time()
        results: list[Any] = [None] * self.n
        errors: list[BaseException] = []
        for _ in range(self.n):
            i, result, error = self._done.get()
            results[i] = result
            if error is not None:
                errors.append(error)
        elapsed = wall_time() - started
        if errors:
            raise errors[0]
        return elapsed, results

    def close(self) -> None:
        for inbox in self._inbox:
            inbox.put(None)
        for th in self._threads:
            th.join()


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
                    peers: tuple[str, ...] | None = None, clients: int = 1) -> dict[str, Any]:
    """The JSON of `mcr bench --suite peers`: `issues` life cycles (7 events each) per system and repetition,
    from one client, or (`clients` > 1) split over that many client threads at once."""
    import os

    from engine.bench_peers.machines import PEERS

    if clients < 1:
        raise ValueError(f"clients={clients}: at least 1")
    names = peers or tuple(PEERS)
    sync = synchronous.upper()
    # One client: 2 warm life cycles; several: one warm round, a life cycle per thread (each thread's
    # connection, compiled statements and caches made before the measurement).
    warm = 2 if clients == 1 else clients
    # Each life cycle takes a customer of its own (a fresh contact for the callback's 10-day gap):
    # 20 warming mcr, then the same sequence on every system.
    prefill_issues = max(1000, 20 * (20 + warm + issues * repeat + 10))
    previous = os.environ.get("MCR_SQLITE_SYNCHRONOUS")
    os.environ["MCR_SQLITE_SYNCHRONOUS"] = sync
    try:
        with tempfile.TemporaryDirectory(prefix="mcr-bench-peers-", dir=workdir) as tmp:
            root = Path(tmp)
            if clients == 1:
                run = _one_client(root, prefill_issues, names, sync, issues=issues, repeat=repeat, warm=warm)
            else:
                run = _many_clients(root, prefill_issues, names, sync, issues=issues, repeat=repeat, clients=clients)
            run.rows = {name: row_counts(path) for name, path in run.paths.items()}
    finally:
        if previous is None:
            os.environ.pop("MCR_SQLITE_SYNCHRONOUS", None)
        else:
            os.environ["MCR_SQLITE_SYNCHRONOUS"] = previous
    return run.report(names, sync=sync, repeat=repeat, issues=issues, clients=clients, prefill_issues=prefill_issues)


class _Measured:
    """What the repetitions measured, per system: the rates, every event's latency, CPU and bytes written."""

    def __init__(self, order: list[str], paths: dict[str, Path]) -> None:
        self.order = order
        self.paths = paths
        self.rates: dict[str, list[float]] = {n: [] for n in order}
        self.laps: dict[str, list[float]] = {n: [] for n in order}
        self.events: dict[str, int] = {n: 0 for n in order}
        self.cpu: dict[str, list[float]] = {n: [] for n in order}
        self.written: dict[str, list[float]] = {n: [] for n in order}
        self.rows: dict[str, dict[str, int]] = {}
        self.group_commit: dict[str, Any] | None = None

    def add(self, name: str, laps: list[float], seconds: float, cpu_s: float, written_b: int) -> None:
        self.cpu[name].append(cpu_s * 1000 / len(laps))
        self.written[name].append(written_b / 1024 / len(laps))
        self.rates[name].append(len(laps) / seconds)
        self.laps[name].extend(laps)
        self.events[name] += len(laps)

    def report(self, names: tuple[str, ...], *, sync: str, repeat: int, issues: int, clients: int,
               prefill_issues: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.order:
            lat = sorted(self.laps[name])
            out[name] = {"events_per_s": round(statistics.median(self.rates[name]), 1),
                         "p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)] * 1000, 3),
                         "p50_ms": round(lat[len(lat) // 2] * 1000, 3),
                         "events_per_s_range": _stats(self.rates[name])["range"], "events": self.events[name],
                         # CPU of this process per event: the steadier view on a shared machine, and what is
                         # left to compare once every side pays the same fsync.
                         "cpu_ms_per_event": _stats(self.cpu[name], 3),
                         # What each fsync has to push: WAL frames (whole pages) and checkpoints into the file.
                         "written_kb_per_event": _stats(self.written[name])}
        rates = self.rates

        def ratios(side: str) -> dict[str, float]:
            return {f"vs_{n}": round(out[side]["events_per_s"] / out[n]["events_per_s"], 3) for n in names}

        mcr_ratios = ratios(MCR)
        ratio_ranges = {f"vs_{n}": _stats([m / p for m, p in zip(rates[MCR], rates[n])], 3) for n in names}
        cpu_ratios = {f"vs_{n}": round(out[n]["cpu_ms_per_event"]["median"] / out[MCR]["cpu_ms_per_event"]["median"], 3)
                      for n in names}
        result: dict[str, Any] = {
            "suite": "peers", "clients": clients, "systems": out, "ratios": mcr_ratios, "cpu_ratios": cpu_ratios,
            "ratio_per_repetition": ratio_ranges, "synchronous": sync, "repeat": repeat, "issues": issues,
            "events_per_issue": 7, "prefilled_issues": prefill_issues, "rows": self.rows,
            "same_rows": all(self.rows[n] == self.rows[MCR] for n in self.order),
            "targets": {f"vs_{n}_ge_5": mcr_ratios[f"vs_{n}"] >= 5 for n in names}}
        if clients > 1:
            result["ratios_no_group_commit"] = ratios(MCR_NO_GROUP_COMMIT)
            result["ratio_per_repetition_no_group_commit"] = {
                f"vs_{n}": _stats([m / p for m, p in zip(rates[MCR_NO_GROUP_COMMIT], rates[n])], 3) for n in names}
            gain = [g / s for g, s in zip(rates[MCR], rates[MCR_NO_GROUP_COMMIT])]
            result["group_commit"] = {**(self.group_commit or {}), "gain": _stats(gain, 3)}
        return result


def _one_client(root: Path, prefill_issues: int, names: tuple[str, ...], sync: str, *, issues: int, repeat: int,
                warm: int) -> _Measured:
    from engine.bench_peers.machines import PEERS

    mcr = _Mcr(root, prefill_issues)
    now_us = to_us(mcr.drive.clock.now())
    systems: dict[str, Any] = {MCR: mcr}
    paths = {MCR: mcr.path}
    for name in names:
        paths[name] = root / f"{name}.db"
        shutil.copyfile(paths[MCR], paths[name])  # WAL checkpointed: the file holds everything
        systems[name] = _PeerRun(PEERS[name](paths[name], sync), mcr.org, mcr.drive.next_contact, now_us)
    for system in systems.values():  # imports, parsed BPMN, compiled statements: not measured
        system.cycles(warm)
    order = list(systems)
    run = _Measured(order, paths)
    for rep in range(repeat):
        rotated = order[rep % len(order):] + order[:rep % len(order)]
        for name in rotated:
            c0, w0 = cpu_time(), _written_bytes()
            laps = systems[name].cycles(issues)
            run.add(name, laps, sum(laps), cpu_time() - c0, _written_bytes() - w0)
    for system in systems.values():
        system.close()
    return run


def _many_clients(root: Path, prefill_issues: int, names: tuple[str, ...], sync: str, *, issues: int, repeat: int,
                  clients: int) -> _Measured:
    """Every system driven by `clients` threads at once; a repetition's rate is all threads' events over
    the wall time from one start signal to the last thread done. In a round every system runs the same
    customers, split the same way over the threads (no two threads touch the same issue)."""
    from engine.bench_peers.machines import PEERS

    mcr = _Mcr(root, prefill_issues)
    now_us = to_us(mcr.drive.clock.now())
    first = mcr.drive.next_contact
    plain = _Mcr(root, prefill_issues, copy_of=mcr, name=MCR_NO_GROUP_COMMIT)
    systems: dict[str, Any] = {MCR: mcr, MCR_NO_GROUP_COMMIT: plain}
    paths = {MCR: mcr.path, MCR_NO_GROUP_COMMIT: plain.path}
    for name in names:
        paths[name] = root / f"{name}.db"
        shutil.copyfile(paths[MCR], paths[name])
        systems[name] = _PeerClients(name, lambda p=paths[name], cls=PEERS[name]: cls(p, sync), mcr.org, now_us, first)
    threads = _ClientThreads(clients)
    cursor = first

    def shares(n: int) -> list[list[int]]:
        nonlocal cursor
        ks = list(range(cursor + 1, cursor + n + 1))
        cursor += n
        return [ks[t::clients] for t in range(clients)]

    order = list(systems)
    run = _Measured(order, paths)
    try:
        mcr.start_clients(threads, group_commit=True)
        plain.start_clients(threads, group_commit=False)
        for name in names:
            systems[name].start_clients(threads)
        warm = shares(clients)
        for system in systems.values():
            threads.run(system.jobs(warm))
        groups0 = (mcr.committer.groups, mcr.committer.members) if mcr.committer is not None else (0, 0)
        for rep in range(repeat):
            share = shares(issues)
            rotated = order[rep % len(order):] + order[:rep % len(order)]
            for name in rotated:
                c0, w0 = cpu_time(), _written_bytes()
                seconds, laps = threads.run(systems[name].jobs(share))
                run.add(name, [x for lap in laps for x in lap], seconds, cpu_time() - c0, _written_bytes() - w0)
        if mcr.committer is not None:
            groups, members = mcr.committer.groups - groups0[0], mcr.committer.members - groups0[1]
            run.group_commit = {"on": True, "groups": groups, "members": members,
                                "mean_group_size": round(members / groups, 2) if groups else 0.0}
        else:  # MCR_GROUP_COMMIT=off: `mcr serve` would not group either
            run.group_commit = {"on": False, "groups": 0, "members": 0, "mean_group_size": 0.0}
        for system in systems.values():
            system.stop_clients(threads)
    finally:
        threads.close()
        for system in systems.values():
            system.close()
    return run
