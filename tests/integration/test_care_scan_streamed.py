"""The daily care scan streams (issue 15): contacts are read in keyset chunks with their visits, entry
days, clock starts and sponsor pairings read per chunk — and it finds exactly what the whole-table
scan before it found (tests/support/care_reference.py), on the planning sample plus bulk-seeded
contacts, some never visited, on ordinary days, a festival, a leap-day birthday, a Thursday (the
weekly norm) and a Monday (its escalation)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event

from engine.bench_scale import seed_care
from engine.clock import FakeClock
from engine.db import Database
from flows.planning.care import _contact_chunks, add_briefs, care_items, run_care_scan
from flows.planning.sample import planning_runtime
from tests.support.care_reference import care_items_before_streaming

SH = timezone(timedelta(hours=8))
DAYS = (date(2027, 2, 3), date(2027, 2, 27), date(2027, 3, 11), date(2027, 3, 15), date(2027, 3, 25))


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Any:
    clock.set(datetime(2027, 1, 10, 7, 0, tzinfo=SH))
    runtime = planning_runtime(db, clock)
    seed_care(db, 300, day="2027-03-10", per_owner=60)
    with db.tx() as tx:  # some contacts never visited: their clocks start at the first scan
        tx.execute("DELETE FROM care_visit WHERE contact_code LIKE '%-K03' OR contact_code LIKE '%-K07'")
        # a key event three days after the last day, and four years on one customer (rotation)
        tx.execute("UPDATE customer SET key_events = :e WHERE code = 'C0000001'",
                   {"e": '[{"month": 3, "day": 28, "title": "年度采购大会"}]'})
        tx.execute("INSERT INTO care_coverage (customer_code, emp_no, since, actor, at_us) "
                   "VALUES ('C0000002', 'E000002', '2023-05-01', 'test', 0)")
    return runtime


def _canon(items: list[Any]) -> list[str]:
    return sorted(json.dumps(asdict(i), ensure_ascii=False, sort_keys=True) for i in items)


def test_the_streamed_scan_finds_the_same_reminders_and_clock_starts_as_the_whole_table_scan(rt: Any) -> None:
    tz = rt.calendars.get(None).tz
    found = 0
    with rt.db.session() as session:
        for day in DAYS:
            new_old: dict[str, date] = {}
            new_streamed: dict[str, date] = {}
            old = care_items_before_streaming(session, day, tz=tz, new_starts=new_old, brief=day == DAYS[-1])
            streamed = care_items(session, day, tz=tz, new_starts=new_streamed, brief=day == DAYS[-1], chunk=7)
            assert _canon(streamed) == _canon(old), day
            assert new_streamed == new_old, day
            found += len(streamed)
    with rt.db.session() as session:
        kinds = {i.kind for d in DAYS for i in care_items(session, d, tz=tz, brief=False)}
    assert found > 100 and {"birthday", "festival", "visit", "visit_escalation", "sponsor", "key_event",
                                  "rotation"} <= kinds


def test_briefs_added_after_the_scan_are_the_briefs_the_scan_gives(rt: Any) -> None:
    """The daily scan briefs only the reminders it sends (`add_briefs`): each must get exactly the
    brief — open issues, callbacks, coming dates — that `care_items(brief=True)` gives it."""
    tz = rt.calendars.get(None).tz
    day = DAYS[-1]
    with rt.db.session() as session:
        briefed = care_items(session, day, tz=tz)
        later = care_items(session, day, tz=tz, brief=False, chunk=7)
        assert _canon(later) != _canon(briefed)
        add_briefs(session, later, day)
    assert _canon(later) == _canon(briefed)
    assert sum(1 for i in later if "brief" in i.extra and i.extra["brief"]["dates"]) > 0
    assert all("brief" in i.extra for i in later if i.kind == "visit")


def test_the_scan_reads_contacts_one_bounded_chunk_at_a_time(rt: Any, db: Database) -> None:
    """Every read of the contact table is a LIMIT-ed keyset page; 300 seeded + the sample's contacts
    in chunks of 50 take ceil(n / 50) reads (one more when n is a multiple of 50)."""
    with db.read() as tx:
        total = int(tx.one("SELECT COUNT(*) FROM contact")[0])
    reads: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM contact" in statement:
            reads.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.session() as session:
            sizes = [len(rows) for rows in _contact_chunks(session, 50)]
            reads.clear()
            care_items(session, date(2027, 3, 11), brief=False, chunk=50)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert sum(sizes) == total and max(sizes) == 50 and len(sizes) == -(-total // 50)
    assert len(reads) == len(sizes) + (1 if total % 50 == 0 else 0)
    assert all("LIMIT" in r for r in reads), reads


def test_a_streamed_scan_sends_each_reminder_once(rt: Any, db: Database) -> None:
    first = run_care_scan(rt, date(2027, 3, 11))
    again = run_care_scan(rt, date(2027, 3, 11))
    assert first.items > 0 and first.mails == first.people > 0
    assert again.items == 0 and again.mails == 0
    with db.read() as tx:
        assert int(tx.one("SELECT COUNT(*) FROM care_reminder")[0]) == first.items
