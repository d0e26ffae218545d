"""The my-work inbox must not slow down as closed issues pile up (issue 9, "Measured").

A handler with 500 open issues; the inbox page (/inbox: session, inbox service, template) rendered
with 1,000 and then with 100,000 issues in the database — the 99,500 closed ones handled by the same
person, the worst case for the look-up. Not a timed test: the figure compared is the ratio of two
medians measured in the same run (docs/performance.md, "My-work inbox"). Rerun:
`.venv/bin/pytest tests/benchmarks/test_inbox_benchmark.py -s`.
"""

from __future__ import annotations

import statistics
from typing import Any, Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from engine.clock import FakeClock, to_us, wall_time
from engine.db import Database
from engine.inbox import inbox
from engine.web import WebSettings, create_app
from tests.conftest import ROOT
from tests.support.accounts import PASSWORD, itr_runtime
from tests.support.inbox_seed import seed_issues
from tests.support.principals import principal_of

OPEN = 500
SMALL, LARGE = 1_000, 100_000
RUNS = 9
BATCH = 20_000


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MCR_RULES_DIR", str(ROOT / "rules"))
    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    yield


def _analyze(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def _timings(fn: Callable[[], Any]) -> list[float]:
    fn()  # warm-up: caches, prepared statements, template compilation
    out = []
    for _ in range(RUNS):
        started = wall_time()
        fn()
        out.append((wall_time() - started) * 1000)
    return out


def _figures(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 2), "min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2)}


def test_inbox_of_500_open_items_at_100k_issues_stays_within_1_5x_of_1k(db: Database, clock: FakeClock) -> None:
    rt = itr_runtime(db, clock, "SZ-H1", worker_id="bench")
    now = to_us(clock.now())
    seed_issues(db, first=1, count=OPEN, state="handling", handler="SZ-H1", at_us=now)
    seed_issues(db, first=OPEN + 1, count=SMALL - OPEN, state="closed", handler="SZ-H1", at_us=now, closed=True)
    _analyze(db)
    principal = principal_of(rt, "SZ-H1")

    with TestClient(create_app(rt, WebSettings())) as client:
        client.cookies.set("mcr_csrf", "bench")
        signed = client.post("/signin", data={"emp_no": "SZ-H1", "password": PASSWORD, "csrf_token": "bench"},
                             follow_redirects=False)
        assert signed.status_code == 303

        def page() -> None:
            res = client.get("/inbox")
            assert res.status_code == 200 and res.text.count('href="/issues/') >= OPEN

        def service() -> None:
            assert len(inbox(rt, principal=principal).items) == OPEN

        small_page, small_service = _timings(page), _timings(service)
        for first in range(SMALL + 1, LARGE + 1, BATCH):
            seed_issues(db, first=first, count=min(BATCH, LARGE - first + 1), state="closed", handler="SZ-H1",
                        at_us=now, closed=True)
        _analyze(db)
        with db.read() as tx:
            assert tx.one("SELECT COUNT(*) FROM itr_issue")[0] == LARGE
        large_page, large_service = _timings(page), _timings(service)

    result = {"backend": "postgresql" if db.is_pg else "sqlite", "open_items": OPEN, "runs": RUNS,
              "page_1k": _figures(small_page), "page_100k": _figures(large_page),
              "service_1k": _figures(small_service), "service_100k": _figures(large_service)}
    result["page_ratio"] = round(statistics.median(large_page) / statistics.median(small_page), 3)
    result["service_ratio"] = round(statistics.median(large_service) / statistics.median(small_service), 3)
    print(result)
    assert result["page_ratio"] <= 1.5, result
