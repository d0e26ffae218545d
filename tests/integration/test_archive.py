"""`mcr archive --closed-before DATE` on real databases (a SQLite file and PostgreSQL): closed instances'
history, timers and sent mail leave the hot tables, and every reader — `mcr instances show`, the
instance and issue pages, the audit page, the ITR weekly and monthly reports, the outbox and timer
lists — shows exactly what it showed before; open instances, a closed one with a pending timer and
one with unsent mail stay; a second run moves nothing; a chunk that fails moves nothing of its own;
a bad date is one line and exit 1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.app import load_calendar_registry
from engine.archive import archive_closed, midnight
from engine.clock import FakeClock
from engine.db import Database
from engine.definition import load_definitions
from engine.mailers import FolderMailer
from engine.notify import OutboxSender, list_outbox
from engine.runtime import Runtime
from flows.itr import service
from tests.conftest import ROOT, TEST_FLOWS
from tests.integration.test_itr_reports import PERIODS, STAFF, life_cycle
from tests.support.accounts import itr_runtime
from tests.support.principals import ENGINE
from tests.support.web import with_shipped_rules  # noqa: F401  (autouse: the shipped rules)
from tests.support.web import signed_in

MOVED = ("flow_history", "timer", "outbox")
# What differs per session or per rendering of a form, whatever the data.
_PER_RENDER = re.compile(r'"X-CSRF-Token": "[^"]*"|name="(csrf_token|client_event_id)" value="[^"]*"')


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    return itr_runtime(db, clock, *STAFF, extra_flows=("tests/flows/ticket",))


def _mcr(db: Database, clock: FakeClock, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MCR_DATABASE_URL": db.url, "MCR_FAKE_NOW": clock.now().isoformat(),
           "MCR_RULES_DIR": str(ROOT / "rules"), "MCR_LOCALE": "en"}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=str(ROOT))


def _ticket(rt: Runtime, *, close: bool, cid: str) -> int:
    iid = rt.start("ticket", {"summary": "打印机", "calendar": "CN"}, actor="t").instance_id
    rt.send(iid, "assign", actor="t", payload={"assignee": "sz-h1@example.com"}, client_event_id=cid)
    if close:
        rt.send(iid, "resolve", actor="t")
        rt.send(iid, "close", actor="t")
    return iid


def _snapshot(rt: Runtime, db: Database, qa: Any, ids: list[int], tickets: list[int], issues: list[int],
              monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from engine.cli import app

    monkeypatch.setenv("MCR_DATABASE_URL", db.url)
    runner = CliRunner()
    shown = {}
    for iid in ids:
        res = runner.invoke(app, ["instances", "show", str(iid), "--json"])
        assert res.exit_code == 0, res.output
        shown[iid] = json.loads(res.output)
    timers = runner.invoke(app, ["timers", "list", "--status", "all", "--limit", "1000", "--json"])
    pages = {path: qa.get(path) for path in [*(f"/instances/{i}" for i in tickets), *(f"/issues/{i}" for i in issues),
                                            "/audit", "/itr/reports/weekly?unit=OFF-SZ&week=2026-W48",
                                            "/itr/reports/monthly?unit=R-SOUTH&month=2026-11"]}
    assert all(p.status_code == 200 for p in pages.values()), {k: p.status_code for k, p in pages.items()}
    return {"show": shown, "timers": json.loads(timers.output),
            "pages": {k: _PER_RENDER.sub("", p.text) for k, p in pages.items()},
            "reports": [service.report(rt, principal=ENGINE, **a).model_dump() for a in PERIODS],  # type: ignore[arg-type]
            "outbox": [v.__dict__ for v in list_outbox(db, "sent", limit=1000)]}


def _hot_rows(db: Database, iid: int) -> dict[str, int]:
    with db.read() as tx:
        return {t: int(tx.one(f"SELECT COUNT(*) FROM {t} WHERE instance_id = :i", {"i": iid})[0]) for t in MOVED}


def test_archiving_moves_closed_instances_and_every_reader_shows_the_same(
        rt: Runtime, db: Database, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    life_cycle(rt, clock)
    closed_ticket = _ticket(rt, close=True, cid="assign-closed")
    open_ticket = _ticket(rt, close=False, cid="assign-open")
    OutboxSender(db, FolderMailer(tmp_path / "mail"), clock, worker_id="archive-test").deliver_due_sync(1000)
    timer_ticket = _ticket(rt, close=True, cid="assign-timer")
    unsent_ticket = _ticket(rt, close=True, cid="assign-unsent")  # its mail is still pending
    with db.tx() as tx:  # a closed instance that still has something to fire must stay
        tx.execute("UPDATE timer SET status = 'pending' WHERE id = (SELECT MAX(id) FROM timer WHERE instance_id = :i)",
                   {"i": timer_ticket})
        tx.execute("UPDATE outbox SET status = 'sent' WHERE instance_id = :i", {"i": timer_ticket})
        ids = [r[0] for r in tx.all("SELECT id FROM flow_instance ORDER BY id")]
        closed = [r[0] for r in tx.all("SELECT id FROM flow_instance WHERE ended_us IS NOT NULL ORDER BY id")]
        open_ = [r[0] for r in tx.all("SELECT id FROM flow_instance WHERE ended_us IS NULL ORDER BY id")]
        issues = [r[0] for r in tx.all("SELECT id FROM itr_issue ORDER BY id")]
    assert closed_ticket in closed and len(closed) >= 4 and len(open_) >= 5
    tickets = [closed_ticket, open_ticket, timer_ticket, unsent_ticket]
    qa = signed_in(rt, "HQ-QA")  # once: a sign-in is itself an audit row
    before = _snapshot(rt, db, qa, ids, tickets, issues, monkeypatch)
    hot_before = {i: _hot_rows(db, i) for i in ids}
    assert hot_before[closed_ticket]["outbox"] == 1 and before["show"][closed_ticket]["history"]

    cutoff = midnight(clock.now().date() + timedelta(days=1), rt.calendars.get(None).tz)
    dry = archive_closed(db, clock, cutoff, dry_run=True)
    done = _mcr(db, clock, "archive", "--closed-before", cutoff.date().isoformat(), "--batch", "2")
    assert done.returncode == 0, done.stderr
    expected = [i for i in closed if i not in (timer_ticket, unsent_ticket)]
    moved = {t: sum(hot_before[i][t] for i in expected) for t in MOVED}
    assert moved["outbox"] >= 1 and (dry.instances, dry.history, dry.timers, dry.outbox, dry.waiting) == \
        (len(expected), moved["flow_history"], moved["timer"], moved["outbox"], 0)
    assert done.stdout.splitlines()[0].endswith(
        f": {len(expected)} instance(s), {moved['flow_history']} history row(s), {moved['timer']} timer(s), "
        f"{moved['outbox']} sent mail(s)"), done.stdout
    for iid in ids:
        assert _hot_rows(db, iid) == ({t: 0 for t in MOVED} if iid in expected else hot_before[iid]), iid

    after = _snapshot(rt, db, qa, ids, tickets, issues, monkeypatch)
    assert after == before
    # A client retrying an event of an archived instance gets its old answer, not a refusal.
    again = rt.send(closed_ticket, "assign", actor="t", payload={"assignee": "x"}, client_event_id="assign-closed")
    assert again.duplicate and again.to_state == "assigned"

    rerun = archive_closed(db, clock, cutoff, batch=2)
    assert (rerun.instances, rerun.history, rerun.timers, rerun.outbox, rerun.chunks) == (0, 0, 0, 0, 0)


def _fail_archiving_instance(db: Database, iid: int) -> None:
    """A real database error in the middle of a chunk: after its history and timers were copied."""
    with db.tx() as tx:
        if db.is_pg:
            tx.execute("CREATE FUNCTION archive_boom() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$ BEGIN RAISE EXCEPTION 'boom'; END $$")
            tx.execute(f"CREATE TRIGGER archive_boom BEFORE INSERT ON outbox_archive FOR EACH ROW "
                       f"WHEN (NEW.instance_id = {int(iid)}) EXECUTE FUNCTION archive_boom()")
        else:
            tx.execute(f"CREATE TRIGGER archive_boom BEFORE INSERT ON outbox_archive "
                       f"WHEN NEW.instance_id = {int(iid)} BEGIN SELECT RAISE(ABORT, 'boom'); END")


def _ticket_runtime(db: Database, clock: FakeClock) -> Runtime:
    rt = Runtime(db, load_definitions(TEST_FLOWS / "ticket"), clock=clock, calendars=load_calendar_registry())
    rt.register_definitions()
    return rt


def test_the_instance_holding_the_newest_rows_waits_so_no_id_is_ever_reused(
        db: Database, clock: FakeClock, tmp_path: Path) -> None:
    rt = _ticket_runtime(db, clock)
    first, newest = (_ticket(rt, close=True, cid=f"c{n}") for n in range(2))
    OutboxSender(db, FolderMailer(tmp_path / "mail"), clock, worker_id="archive-test").deliver_due_sync(100)
    cutoff = midnight(clock.now().date() + timedelta(days=1), rt.calendars.get(None).tz)
    done = archive_closed(db, clock, cutoff)
    assert (done.instances, done.waiting) == (1, 1) and done.moved_ids == [first]
    with db.read() as tx:
        top = {t: tx.one(f"SELECT MAX(id) FROM {t}_archive")[0] for t in MOVED}
    later = _ticket(rt, close=False, cid="later")  # newer rows now exist: the waiting one can go
    with db.read() as tx:
        for t in MOVED:
            assert tx.one(f"SELECT MIN(id) FROM {t} WHERE instance_id = :i", {"i": later})[0] > top[t], t
    assert archive_closed(db, clock, cutoff).moved_ids == [newest]


def test_a_chunk_that_fails_moves_none_of_its_instances_and_the_next_run_finishes(
        db: Database, clock: FakeClock, tmp_path: Path) -> None:
    rt = _ticket_runtime(db, clock)
    tickets = [_ticket(rt, close=True, cid=f"c{n}") for n in range(5)]
    _ticket(rt, close=False, cid="open")  # holds the newest rows
    OutboxSender(db, FolderMailer(tmp_path / "mail"), clock, worker_id="archive-test").deliver_due_sync(100)
    rows = {i: _hot_rows(db, i) for i in tickets}
    _fail_archiving_instance(db, tickets[3])
    cutoff = midnight(clock.now().date() + timedelta(days=1), rt.calendars.get(None).tz)
    with pytest.raises(Exception, match="boom"):
        archive_closed(db, clock, cutoff, batch=2)
    for iid in tickets[:2]:  # the first chunk committed completely
        assert _hot_rows(db, iid) == {t: 0 for t in MOVED}
    for iid in tickets[2:]:  # the failed chunk (tickets 2, 3) and what came after: untouched
        assert _hot_rows(db, iid) == rows[iid]
    with db.read() as tx:
        assert [r[0] for r in tx.all("SELECT instance_id FROM instance_archive ORDER BY instance_id")] == tickets[:2]
        assert tx.one("SELECT COUNT(*) FROM flow_history_archive WHERE instance_id IN (:a, :b)",
                      {"a": tickets[2], "b": tickets[3]})[0] == 0
    with db.tx() as tx:
        tx.execute("DROP TRIGGER archive_boom ON outbox_archive" if db.is_pg else "DROP TRIGGER archive_boom")
    done = archive_closed(db, clock, cutoff, batch=2)
    assert done.instances == 3 and done.history == sum(rows[i]["flow_history"] for i in tickets[2:])
    with db.read() as tx:
        for table in MOVED:
            archived = tx.one(f"SELECT COUNT(*) FROM {table}_archive")[0]
            assert archived == sum(rows[i][table] for i in tickets), table


def test_a_bad_date_or_batch_is_one_line_and_exit_1_before_touching_the_database(tmp_path: Path) -> None:
    for args, line in ((["--closed-before", "2026-13-01"], "--closed-before '2026-13-01': use a date YYYY-MM-DD"),
                       (["--closed-before", "2026-01-01", "--batch", "0"],
                        "--batch 0: use a positive number of instances")):
        res = subprocess.run([sys.executable, "-m", "engine.cli", "archive", *args],
                             env={**os.environ, "MCR_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}",
                                  "MCR_LOCALE": "en"}, capture_output=True, text=True, timeout=60, cwd=str(ROOT))
        assert res.returncode == 1
        assert res.stderr.strip().splitlines() == [f"error: {line}"]
    assert not (tmp_path / "none.db").exists()
