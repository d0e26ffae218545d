"""Group commit (engine/group_commit.py) on SQLite and PostgreSQL: concurrent steps share one
transaction with a savepoint each; a refusal stays with its caller, a failed COMMIT fails every
member, post-commit hooks run after the commit, and 16 threads end where sequential sends end."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pytest

from engine.clock import FakeClock
from engine.db import Database
from engine.definition import load_definitions
from engine.errors import ActionFailed, EventNotAllowed, GuardRejected
from engine.group_commit import GroupCommitFailed, GroupCommitter
from engine.registry import action, guard
from engine.runtime import Runtime, StepResult

FLOW = """\
flow: group_commit_probe
version: 1
title: {zh-CN: 组提交探针, en: Group commit probe}
events: [flip, hold, poison, picky, half, clash, done]
states:
  - name: a
    initial: true
    timers: [{name: t, after: 1 hour, event: done}]
  - name: b
    timers: [{name: t, after: 1 hour, event: done}]
  - name: end
    terminal: true
transitions:
  - {from: a, event: flip, to: b}
  - {from: b, event: flip, to: a}
  - {from: [a, b], event: hold, actions: [group_commit_probe_hold]}
  - {from: [a, b], event: poison, actions: [group_commit_probe_poison]}
  - {from: [a, b], event: picky, guard: group_commit_probe_never}
  - {from: [a, b], event: half, actions: [group_commit_probe_half]}
  - {from: [a, b], event: clash, actions: [group_commit_probe_clash]}
  - {from: [a, b], event: done, to: end}
"""

# The step that leads the first group waits here until the others have queued behind it, so the
# next group holds exactly the steps a test sent together (no timing luck involved).
_release: dict[str, Callable[[], bool]] = {}
_holding = threading.Event()


@action("group_commit_probe_hold")
def _hold(ctx: Any) -> None:
    until = _release["until"]
    _holding.set()
    deadline = time.monotonic() + 20
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError("the other steps never queued")
        time.sleep(0.005)


@action("group_commit_probe_poison")
def _poison(ctx: Any) -> None:
    # A row whose deferred foreign key fails only at COMMIT: a real commit-time fault on both backends.
    ctx.tx.execute("INSERT INTO gc_probe (id, parent) VALUES (:i, -1)", {"i": ctx.instance_id})


@action("group_commit_probe_half")
def _half(ctx: Any) -> None:
    # Writes, then refuses: only the savepoint can undo the write without undoing the neighbours.
    ctx.tx.execute("UPDATE flow_instance SET state = 'b' WHERE id = :i", {"i": ctx.instance_id})
    ctx.refuse("half done")


@action("group_commit_probe_clash")
def _clash(ctx: Any) -> None:
    # The second of two fails at once with a duplicate key: on PostgreSQL that aborts the whole
    # transaction until the savepoint is rolled back, so the steps after it prove the recovery.
    ctx.tx.execute("INSERT INTO gc_probe (id, parent) VALUES (1, :i)", {"i": ctx.instance_id})


@guard("group_commit_probe_never")
def _never(ctx: Any) -> bool:
    return False


@pytest.fixture
def rt(db: Database, clock: FakeClock, tmp_path: Path) -> Runtime:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "probe.yaml").write_text(FLOW, encoding="utf-8")
    runtime = Runtime(db, load_definitions(folder), clock=clock, worker_id="w1")
    runtime.register_definitions()
    return runtime


@pytest.fixture
def probe_table(db: Database) -> Any:
    with db.tx() as tx:
        tx.execute("CREATE TABLE gc_probe (id INTEGER PRIMARY KEY, parent INTEGER "
                   "REFERENCES flow_instance(id) DEFERRABLE INITIALLY DEFERRED)")
    yield
    with db.tx() as tx:
        tx.execute("DROP TABLE gc_probe")


def committed(db: Database, instance_id: int) -> tuple[str, int, int]:
    """State, version and history rows as another connection sees them (committed data only)."""
    other = Database(db.url)
    try:
        with other.read() as tx:
            state, version = tx.one("SELECT state, version FROM flow_instance WHERE id = :i", {"i": instance_id})
            hist = tx.one("SELECT COUNT(*) FROM flow_history WHERE instance_id = :i", {"i": instance_id})[0]
        return state, version, hist
    finally:
        other.dispose()


def one_group(rt: Runtime, holder: int, calls: list[Callable[[], Any]], *, commits: bool = True) -> list[Any]:
    """Run `calls` in threads so that they form ONE group: a step on `holder` leads the group before
    and holds it until all have queued. Returns each call's result or exception, in order."""
    committer = rt.group_commit
    assert committer is not None
    _holding.clear()
    _release["until"] = lambda: committer.queued >= len(calls)
    out: list[Any] = [None] * len(calls)

    def call(i: int) -> None:
        try:
            out[i] = calls[i]()
        except Exception as exc:  # each caller's own outcome is what the tests compare
            out[i] = exc

    lead = threading.Thread(target=rt.send, args=(holder, "hold"), kwargs={"actor": "t"})
    groups_before = committer.groups
    lead.start()
    assert _holding.wait(20)  # the holder's step is running: everything sent now queues behind it
    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for th in threads:
        th.start()
    for th in threads + [lead]:
        th.join(30)
    assert committer.groups - groups_before == (2 if commits else 1)  # the holder's group, then the one under test
    return out


def test_a_refused_event_in_a_group_leaves_its_neighbours_committed_and_each_caller_gets_its_own_outcome(
        rt: Runtime, db: Database, probe_table: Any) -> None:
    rt.group_commit = GroupCommitter(db)
    ids = [rt.start("group_commit_probe", {}, actor="t").instance_id for _ in range(8)]
    holder = ids.pop()
    out = one_group(rt, holder, [
        lambda: rt.send(ids[0], "flip", actor="t"),
        lambda: rt.send(ids[1], "picky", actor="t"),       # guard false: refused
        lambda: rt.send(ids[2], "flip", actor="t"),
        lambda: rt.send(ids[3], "nonsense", actor="t"),    # not an event of the state: refused
        lambda: rt.send(ids[2], "flip", actor="t"),        # same instance again, after its first flip
        lambda: rt.send(ids[4], "half", actor="t"),        # wrote, then refused: its write undone
        lambda: rt.start("group_commit_probe", {"n": 1}, actor="t"),  # a start is grouped the same way
        lambda: rt.send(ids[5], "clash", actor="t"),       # one of these two fails on a duplicate key
        lambda: rt.send(ids[6], "clash", actor="t"),
    ])
    assert isinstance(out[0], StepResult) and (out[0].instance_id, out[0].to_state, out[0].version) == (ids[0], "b", 2)
    assert isinstance(out[1], GuardRejected) and out[1].instance_id == ids[1]
    assert isinstance(out[2], StepResult) and out[2].instance_id == ids[2]
    assert isinstance(out[3], EventNotAllowed) and out[3].instance_id == ids[3]
    assert isinstance(out[4], StepResult) and out[4].instance_id == ids[2]
    assert sorted([out[2].version, out[4].version]) == [2, 3]
    assert committed(db, ids[0]) == ("b", 2, 2)
    assert committed(db, ids[1]) == ("a", 1, 1)
    assert committed(db, ids[2]) == ("a", 3, 3)
    assert committed(db, ids[3]) == ("a", 1, 1)
    assert isinstance(out[5], ActionFailed) and committed(db, ids[4]) == ("a", 1, 1)
    assert isinstance(out[6], StepResult) and out[6].from_state is None and out[6].instance_id > holder
    assert committed(db, out[6].instance_id) == ("a", 1, 1)
    clashed = [o for o in out[7:] if isinstance(o, ActionFailed)]
    won = [o for o in out[7:] if isinstance(o, StepResult)]
    assert len(clashed) == 1 and len(won) == 1, out[7:]
    assert committed(db, won[0].instance_id) == ("a", 2, 2)
    with db.read() as tx:
        assert tx.one("SELECT parent FROM gc_probe")[0] == won[0].instance_id
    with db.read() as tx:  # each refusal recorded once, by its own caller, as with one transaction per event
        refused = tx.all("SELECT instance_id, event FROM flow_refusal ORDER BY instance_id")
    assert [tuple(r) for r in refused] == sorted([(ids[1], "picky"), (ids[3], "nonsense"), (ids[4], "half"),
                                                  (clashed[0].instance_id, "clash")])


def test_a_failing_commit_fails_every_member_and_commits_none(
        rt: Runtime, db: Database, probe_table: Any) -> None:
    rt.group_commit = GroupCommitter(db)
    woken: list[datetime] = []
    rt.on_timer_armed = woken.append
    ids = [rt.start("group_commit_probe", {}, actor="t").instance_id for _ in range(4)]
    holder = ids.pop()
    woken.clear()
    out = one_group(rt, holder, [
        lambda: rt.send(ids[0], "flip", actor="t"),
        lambda: rt.send(ids[1], "poison", actor="t"),      # its row breaks the COMMIT
        lambda: rt.send(ids[2], "flip", actor="t"),
    ], commits=False)
    assert all(isinstance(o, GroupCommitFailed) for o in out), out
    assert "not applied" in str(out[0]) or "未生效" in str(out[0])
    for iid in ids:
        assert committed(db, iid) == ("a", 1, 1)
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM gc_probe")[0] == 0
        # A fault, not a refusal of the events: nothing recorded against them.
        assert tx.one("SELECT COUNT(*) FROM flow_refusal")[0] == 0
    assert woken == []  # no wake-up for steps that never committed
    # The connection is usable again: the same events go through afterwards.
    assert rt.send(ids[0], "flip", actor="t").to_state == "b"
    assert committed(db, ids[0]) == ("b", 2, 2)


def test_timer_wake_ups_fire_only_after_the_shared_transaction_committed(rt: Runtime, db: Database) -> None:
    rt.group_commit = GroupCommitter(db)
    ids = [rt.start("group_commit_probe", {}, actor="t").instance_id for _ in range(5)]
    holder = ids.pop()
    seen: list[tuple[str, int, int]] = []
    lock = threading.Lock()

    def on_armed(_when: datetime) -> None:
        # Called in each caller's thread: every step of its group must already be visible to another connection.
        with lock:
            seen.extend(committed(db, iid) for iid in ids)

    rt.on_timer_armed = on_armed
    out = one_group(rt, holder, [lambda i=i: rt.send(i, "flip", actor="t") for i in ids])
    for o in out:
        assert isinstance(o, StepResult) and o.earliest_timer is not None
    assert len(seen) == 4 * len(ids)
    assert all(s == ("b", 2, 2) for s in seen), seen


def _snapshot(db: Database, instance_id: int) -> tuple[Any, ...]:
    with db.read() as tx:
        state, version = tx.one("SELECT state, version FROM flow_instance WHERE id = :i", {"i": instance_id})
        hist = [tuple(r) for r in tx.all("SELECT event, from_state, to_state, version FROM flow_history "
                                         "WHERE instance_id = :i ORDER BY version", {"i": instance_id})]
        tms = sorted(tuple(r) for r in tx.all("SELECT status, COUNT(*) FROM timer WHERE instance_id = :i "
                                              "GROUP BY status", {"i": instance_id}))
        refused = tx.one("SELECT COUNT(*) FROM flow_refusal WHERE instance_id = :i", {"i": instance_id})[0]
    return state, version, hist, tms, refused


def test_sixteen_threads_through_group_commit_end_where_the_same_sends_in_sequence_end(
        rt: Runtime, db: Database) -> None:
    clients, per_client, shared = 16, 6, 8
    seq = [rt.start("group_commit_probe", {}, actor="t").instance_id for _ in range(shared)]
    grp = [rt.start("group_commit_probe", {}, actor="t").instance_id for _ in range(shared)]

    def workload(ids: list[int], client: int) -> list[tuple[int, str]]:
        sends = [(ids[(client + j) % shared], "flip") for j in range(per_client)]
        return sends + [(ids[client % shared], "nonsense")]  # one refusal per client

    for c in range(clients):
        for iid, event in workload(seq, c):
            try:
                rt.send(iid, event, actor="t")
            except EventNotAllowed:
                pass
    rt.group_commit = GroupCommitter(db)
    errors: list[BaseException] = []
    start = threading.Barrier(clients)

    def client(c: int) -> None:
        start.wait()
        for iid, event in workload(grp, c):
            try:
                rt.send(iid, event, actor="t")
            except EventNotAllowed:
                pass
            except BaseException as exc:  # anything else fails the test below
                errors.append(exc)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors, errors
    assert rt.group_commit.members == clients * (per_client + 1)
    for s, g in zip(seq, grp):
        assert _snapshot(db, g) == _snapshot(db, s)
