"""The my-work inbox must not slow down as closed issues pile up (issue 9, "Measured").

A handler with 500 open issues; the inbox page (/inbox: session, inbox service, template) rendered
with 1,000 and with 100,000 issues in the database (two databases of the same backend, timed in
turns so that a burst of load on the shared machine falls on both alike) — the 99,500 closed ones
handled by the same person, the worst case for the look-up. Not a timed test: the figure compared is
the ratio of two medians measured in the same run (docs/performance.md, "My-work inbox"). Rerun:
`.venv/bin/pytest tests/benchmarks/test_inbox_benchmark.py -s`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from engine.clock import FakeClock, to_us
from engine.db import Database
from engine.inbox import inbox
from tests.conftest import ROOT
from tests.support.accounts import itr_runtime
from tests.support.bench import figures, interleaved, ratio, second_database
from tests.support.inbox_seed import seed_issues
from tests.support.principals import principal_of
from tests.support.web import signed_in

OPEN = 500
SMALL, LARGE = 1_000, 100_000
RUNS = 9
BATCH = 20_000


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MCR_RULES_DIR", str(ROOT / "rules"))
    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    yield


@pytest.fixture
def large_db(db: Database, tmp_path: Path) -> Iterator[Database]:
    yield from second_database(db, tmp_path)


def test_inbox_of_500_open_items_at_100k_issues_stays_within_1_5x_of_1k(db: Database, large_db: Database,
                                                                       clock: FakeClock) -> None:
    now = to_us(clock.now())
    runtimes = {}
    for size, database in ((SMALL, db), (LARGE, large_db)):
        runtimes[size] = itr_runtime(database, clock, "SZ-H1", worker_id=f"bench{size}")
        seed_issues(database, first=1, count=OPEN, state="handling", handler="SZ-H1", at_us=now)
        for first in range(OPEN + 1, size + 1, BATCH):
            seed_issues(database, first=first, count=min(BATCH, size - first + 1), state="closed", handler="SZ-H1",
                        at_us=now, closed=True)
        with database.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        with database.read() as tx:
            assert tx.one("SELECT COUNT(*) FROM itr_issue")[0] == size
    principals = {size: principal_of(rt, "SZ-H1") for size, rt in runtimes.items()}
    clients = {size: signed_in(rt, "SZ-H1") for size, rt in runtimes.items()}
    try:
        def page(size: int) -> None:
            res = clients[size].get("/inbox")
            assert res.status_code == 200 and res.text.count('href="/issues/') >= OPEN

        def service(size: int) -> None:
            assert len(inbox(runtimes[size], principal=principals[size]).items) == OPEN

        small_page, large_page = interleaved(lambda: page(SMALL), lambda: page(LARGE), RUNS)
        small_service, large_service = interleaved(lambda: service(SMALL), lambda: service(LARGE), RUNS)
    finally:
        for client in clients.values():
            client.close()

    result = {"backend": "postgresql" if db.is_pg else "sqlite", "open_items": OPEN, "runs": RUNS,
              "page_1k": figures(small_page), "page_100k": figures(large_page),
              "service_1k": figures(small_service), "service_100k": figures(large_service),
              "page_ratio": ratio(large_page, small_page), "service_ratio": ratio(large_service, small_service)}
    print(result)
    assert result["page_ratio"] <= 1.5, result
