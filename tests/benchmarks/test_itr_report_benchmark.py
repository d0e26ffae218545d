"""The ITR monthly report page must not slow down as issues pile up (issue 12, "Measured").

The monthly quality analysis of the region (/itr/reports/monthly?unit=R-SOUTH&month=2026-11: session,
report service, charts, template) rendered with 1,000 and then with 100,000 issues in the database,
spread evenly over the 400 days up to the report's month — so the month itself holds 100 × more
issues in the second run, as does the history before it; 100 issues are open in both. Issues are
written with plain SQL (the flow's steps would take minutes), which bypasses the counters the steps
keep: the report counter rows are dropped after each seeding, so the warm-up request makes them with
one scan, as the first read of a window does in production, and the timed requests read them the
way every later one does. Not a timed test: the figure compared is the ratio of two medians measured
in the same run (docs/performance.md, "ITR reports"). Rerun:
`.venv/bin/pytest tests/benchmarks/test_itr_report_benchmark.py -s`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from engine.clock import FakeClock, to_us
from engine.db import Database
from tests.support.accounts import itr_runtime
from tests.support.bench import figures, interleaved, ratio, second_database
from tests.support.web import signed_in
from tests.support.web import with_shipped_rules  # noqa: F401  (autouse: the shipped rules)

OPEN = 100
SMALL, LARGE = 1_000, 100_000
RUNS = 15
BATCH = 20_000
DAY_US, HOUR_US = 86_400_000_000, 3_600_000_000

_SERIES = "WITH RECURSIVE n(i) AS (SELECT CAST(:first AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < :last) "


def seed(db: Database, *, first: int, count: int, now_us: int, open_: bool) -> None:
    """`count` issues with ids first.., alternately of Shenzhen and Guangzhou, opened one day apart
    (modulo 400) before `now_us`; closed an hour later unless `open_`."""
    last = first + count - 1
    opened = ":now - :hour - (i % 400) * :day - (i % 24) * :hour"
    ended = "NULL" if open_ else f"{opened} + :hour"
    p = {"first": first, "last": last, "now": now_us, "day": DAY_US, "hour": HOUR_US}
    with db.tx() as tx:
        tx.execute(_SERIES + "INSERT INTO flow_instance (id, flow, flow_version, state, version, subject, calendar, "
                   "locale, data, created_us, updated_us, ended_us) "
                   f"SELECT i, 'itr_issue', 1, '{'handling' if open_ else 'closed'}', 3, NULL, 'CN', 'zh-CN', '{{}}', "
                   f"{opened}, {opened}, {ended} FROM n", p)
        tx.execute(_SERIES + "INSERT INTO itr_issue (id, title, source, type, severity, major_incident, customer_code, "
                   "contact_code, submitter_emp_no, office_code, region_code, sla_hours, calendar, level, "
                   "handler_emp_no, valid, opened_us, dispatched_us, resolved_us, closed_us, sla_due_us, sla_breaches) "
                   "SELECT i, 'issue ' || CAST(i AS TEXT), 'hotline', "
                   "CASE WHEN i % 3 = 0 THEN 'non_technical' ELSE 'technical' END, 'normal', FALSE, "
                   "CASE WHEN i % 2 = 0 THEN 'C-BIG' ELSE 'C-GZ' END, CASE WHEN i % 2 = 0 THEN 'K-BIG1' ELSE 'K-GZ1' END, "
                   "'SZ-HL', CASE WHEN i % 2 = 0 THEN 'OFF-SZ' ELSE 'OFF-GZ' END, 'R-SOUTH', 16, 'CN', 'office', "
                   f"CASE WHEN i % 5 = 0 THEN NULL ELSE 'SZ-H1' END, TRUE, {opened}, {opened}, {ended}, {ended}, "
                   f"{opened} + 16 * :hour, 0 FROM n", p)
        if db.is_pg:
            tx.execute("SELECT setval(pg_get_serial_sequence('flow_instance', 'id'), (SELECT MAX(id) FROM flow_instance))")


def _fresh(db: Database) -> None:
    """Seeding bypassed the steps that keep the counters: drop them (the warm-up read makes them again)."""
    with db.tx() as tx:
        tx.execute("DELETE FROM itr_counter")
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    if not db.is_pg:  # a bulk load leaves a long write-ahead log that a running server would have checkpointed
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


@pytest.fixture
def large_db(db: Database, tmp_path: Path) -> Iterator[Database]:
    yield from second_database(db, tmp_path)


def test_monthly_report_page_at_100k_issues_stays_within_1_5x_of_1k(db: Database, large_db: Database,
                                                                    clock: FakeClock) -> None:
    now = to_us(clock.now())
    runtimes = {}
    for size, database in ((SMALL, db), (LARGE, large_db)):
        runtimes[size] = itr_runtime(database, clock, "HQ-QA", worker_id=f"bench{size}")
        seed(database, first=1, count=OPEN, now_us=now, open_=True)
        for first in range(OPEN + 1, size + 1, BATCH):
            seed(database, first=first, count=min(BATCH, size - first + 1), now_us=now, open_=False)
        _fresh(database)
        with database.read() as tx:
            assert tx.one("SELECT COUNT(*) FROM itr_issue")[0] == size
    month_issues: dict[int, int] = {}
    clients = {size: signed_in(rt, "HQ-QA") for size, rt in runtimes.items()}
    try:
        def page(size: int) -> None:
            res = clients[size].get("/itr/reports/monthly", params={"unit": "R-SOUTH", "month": "2026-11"})
            assert res.status_code == 200 and f'data-figure="open_issues" data-value=\'{OPEN}\'' in res.text
            month_issues[size] = int(res.text.split('data-figure="new_valid_issues" data-value=\'')[1].split("'")[0])

        # The warm-up request of each size makes the windows' counter rows.
        small, large = interleaved(lambda: page(SMALL), lambda: page(LARGE), RUNS)
    finally:
        for client in clients.values():
            client.close()

    assert month_issues[LARGE] > 50 * month_issues[SMALL] > 0  # the month itself grew with the data
    result = {"backend": "postgresql" if db.is_pg else "sqlite", "runs": RUNS, "open": OPEN,
              "month_issues_1k": month_issues[SMALL], "month_issues_100k": month_issues[LARGE],
              "page_1k": figures(small), "page_100k": figures(large)}
    result["page_ratio"] = ratio(large, small)
    print(result)
    assert result["page_ratio"] <= 1.5, result
