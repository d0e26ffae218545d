"""The kit completion page must not slow down with the size of the company (issue 12, "Measured").

Sales management's completion page (/planning/progress: session, completion service, chart and
table) for 2,000 teams, against the same page with 20 teams (1/100 of the data), in the same run:
the median of several repetitions for 2,000 teams stays within 1.5 × the median for 20. Not a
timed test: the figure compared is the ratio of two medians (docs/performance.md, "Kit completion
page"). Rerun: `.venv/bin/pytest tests/benchmarks/test_planning_progress_benchmark.py -s`.

The organisation goes through the master-data importer; the kits are written as the launch leaves
them (one `planning_kit` instance per team with its data and its `overdue` timer), by SQL, so that
seeding 2,000 teams takes seconds rather than a launch's minutes: a third approved, a tenth in
review, the rest open and past the deadline.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest

from engine.clock import FakeClock, to_us
from engine.db import Database
from flows.planning import progress
from flows.planning.sample import load_records, planning_runtime
from tests.support.accounts import add_accounts
from tests.support.bench import figures, interleaved, ratio, second_database
from tests.support.principals import principal_of
from tests.support.web import signed_in
from tests.support.web import with_shipped_rules_and_kit_dir  # noqa: F401  (autouse: the shipped rules)

SMALL, LARGE = 20, 2_000
RUNS = 15
SH = timezone(timedelta(hours=8))
NOW = datetime(2027, 4, 2, 10, 0, tzinfo=SH)
DEADLINE = datetime(2027, 3, 31, 18, 0, tzinfo=SH)
OPEN = ("issued", "assessment_submitted", "objectives_submitted", "plan_submitted")


def _state(i: int) -> str:
    if i % 3 == 0:
        return "done"
    if i % 10 == 1:
        return "supervisor_review"
    return OPEN[i % 4]


def seed_company(db: Database, clock: FakeClock, teams: int) -> None:
    """`teams` teams, 20 per office, 10 offices per region, a team head and two account managers each;
    the year's kits as the launch leaves them (progress by `_state`)."""
    offices = max(1, teams // 20)
    regions = max(1, offices // 10)
    org: list[dict[str, Any]] = [{"kind": "hq", "code": "HQ", "name": "公司总部", "calendar": "CN",
                                  "timezone": "Asia/Shanghai"}]
    org += [{"kind": "region", "code": f"R{r:02d}", "name": f"第{r}地区部", "parent_code": "HQ"} for r in range(regions)]
    org += [{"kind": "office", "code": f"O{o:03d}", "name": f"第{o}代表处", "parent_code": f"R{o % regions:02d}"}
            for o in range(offices)]
    org += [{"kind": "team", "code": f"T{t:04d}", "name": f"第{t}系统部", "parent_code": f"O{t % offices:03d}"}
            for t in range(teams)]

    def emp(code: str, unit: str, sup: str | None, roles: str) -> dict[str, Any]:
        return {"kind": "employee", "code": code, "name": code, "unit_code": unit, "supervisor_emp_no": sup,
                "email": f"{code.lower()}@example.com", "locale": "zh-CN", "roles": roles}

    org.append(emp("SM1", "HQ", None, "sales_management"))
    for t in range(teams):
        org.append(emp(f"H{t:04d}", f"T{t:04d}", None, "supervisor,account_manager"))
        org += [emp(f"A{t:04d}{k}", f"T{t:04d}", f"H{t:04d}", "account_manager") for k in (1, 2)]
    with db.session() as session:
        load_records(session, {"org": org}, clock=clock)
    created = to_us(clock.now())
    with db.tx() as tx:
        for t in range(teams):
            code, office = f"T{t:04d}", f"O{t % offices:03d}"
            data = {"team": code, "team_name": f"第{t}系统部", "year": 2027, "office": office,
                    "region": f"R{t % offices % regions:02d}", "supervisor": f"H{t:04d}",
                    "supervisor_email": f"h{t:04d}@example.com",
                    "team_emails": [f"a{t:04d}{k}@example.com" for k in (1, 2)] + [f"h{t:04d}@example.com"],
                    "customers": [f"C{t:04d}{k}" for k in range(3)], "contacts": 6, "projects": 2,
                    "kit_path": f"/srv/kits/2027/{code}-2027-客户关系规划三件套.xlsx",
                    "deadline": "2027-03-31", "deadline_at": DEADLINE.isoformat(),
                    "escalate_at": (DEADLINE + timedelta(days=7)).isoformat(), "calendar": None,
                    "locale": "zh-CN", "submissions": 0, "reviews": 0}
            state = _state(t)
            iid = int(tx.one("INSERT INTO flow_instance (flow, flow_version, state, version, subject, locale, data, "
                             "created_us, updated_us) VALUES ('planning_kit', 2, :s, 2, :subj, 'zh-CN', :d, :c, :c) "
                             "RETURNING id", {"s": state, "subj": f"kit:{code}:2027",
                                              "d": json.dumps(data, ensure_ascii=False), "c": created})[0])
            tx.execute("INSERT INTO timer (instance_id, timer_key, name, event, state, due_us, catch_up, status) "
                       "VALUES (:i, :k, 'overdue', 'overdue', 'issued', :due, 'fire_late', :st)",
                       {"i": iid, "k": f"{iid}:2:overdue", "due": to_us(DEADLINE),
                        "st": "pending" if state in OPEN else "cancelled"})
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


class Company:
    """One seeded company behind its own app, signed in as sales management."""

    def __init__(self, db: Database, teams: int) -> None:
        self.clock = FakeClock(NOW)
        self.rt = planning_runtime(db, self.clock, sample=False)
        seed_company(db, self.clock, teams)
        add_accounts(db, self.clock, "SM1")
        self.teams = teams
        self.principal = principal_of(self.rt, "SM1")
        self.overdue = sum(1 for t in range(teams) if _state(t) in OPEN)
        self.client = signed_in(self.rt, "SM1")

    def page(self) -> None:
        res = self.client.get("/planning/progress", params={"year": 2027})
        assert res.status_code == 200 and f"逾期系统部（{self.overdue}）" in res.text, res.text[:300]

    def service(self) -> None:
        c = progress.completion(self.rt, 2027, principal=self.principal)
        assert c.total.kits == self.teams and c.total.overdue == self.overdue

    def computed(self) -> None:  # the counts themselves, without the cache of unchanged completions
        c = progress._completion(self.rt, 2027, to_us(self.clock.now()), None, self.principal, None, None)
        assert c.total.kits == self.teams and c.total.overdue == self.overdue


@pytest.fixture
def second_db(db: Database, tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[Database]:
    """A second migrated database of the same kind, for the company a hundred times larger."""
    template = None if db.is_pg else request.getfixturevalue("_sqlite_template")
    yield from second_database(db, tmp_path, sqlite_template=template)


def test_the_completion_page_for_2000_teams_stays_within_1_5x_of_20(db: Database, second_db: Database) -> None:
    small, large = Company(db, SMALL), Company(second_db, LARGE)
    small_page, large_page = interleaved(small.page, large.page, RUNS)
    small_service, large_service = interleaved(small.service, large.service, RUNS)
    small_sql, large_sql = interleaved(small.computed, large.computed, RUNS)
    result = {"backend": "postgresql" if db.is_pg else "sqlite", "runs": RUNS,
              "page_20": figures(small_page), "page_2000": figures(large_page),
              "service_20": figures(small_service), "service_2000": figures(large_service),
              "computed_20": figures(small_sql), "computed_2000": figures(large_sql)}
    result["page_ratio"] = ratio(large_page, small_page)
    result["service_ratio"] = ratio(large_service, small_service)
    print(result)
    assert result["page_ratio"] <= 1.5, result
