"""Sales management launches the annual cycle from the page and watches a team complete its kit
(issue 12, "Tests in the real browser"), in Chromium against a real `mcr serve` on a SQLite file.

The launch runs the Prefect flow in the server's background (its first run starts Prefect's local
API, ~10 s); the page shows each team's task state, refreshed by htmx until the launch is done. The
kit itself is completed through the kit services (`submit_kit`, `review_kit`): the kit form has its
own browser test. The completion page then shows the team done.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from engine.auth import accounts
from engine.clock import FakeClock
from tests.browser.conftest import FAKE_NOW, PASSWORD, LiveServer, as_user, start_server, stop_server
from tests.support.principals import principal_of

YEAR = 2027


@pytest.fixture(scope="module")
def planning_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    work = tmp_path_factory.mktemp("serve-planning")
    live = start_server(f"sqlite:///{work / 'mcr.db'}", work, PREFECT_HOME=str(work / "prefect"),
                        PREFECT_SERVER_ANALYTICS_ENABLED="false", MCR_KIT_DIR=str(work / "kits"))
    accounts.add_account(live.db, "HQ-SM", PASSWORD, clock=FakeClock(datetime.fromisoformat(FAKE_NOW)))
    yield live
    stop_server(live)


def launch_and_wait(page: Any, base: str) -> None:
    page.goto(f"{base}/planning/launch?year={YEAR}")
    page.click("[data-testid=launch-confirm]")
    page.wait_for_url("**/planning/launch/*")
    # htmx polls the task table every second until the launch is over (Prefect's first run: ~10 s).
    page.wait_for_selector("[data-testid=launch-tasks]:not([data-status=running])", timeout=240_000)
    status = page.locator("[data-testid=launch-tasks]").get_attribute("data-status")
    assert status == "done", page.locator("[data-testid=launch-tasks]").inner_text()


def complete_kit(server: LiveServer, tmp_path: Path, team: str = "T-SZ1") -> None:
    """The team fills and submits its kit and sales management approves it (for an absent team head)."""
    from flows.planning.kit import review_kit, submit_kit
    from flows.planning.sample import load_records, planning_runtime
    from flows.planning.workbook import workbook_from_rows

    clock = FakeClock(datetime.fromisoformat(FAKE_NOW))
    rt = planning_runtime(server.db, clock, sample=False)
    with server.db.session() as session:
        load_records(session, {"projects": [{"code": "P-BIG", "name": "鹏城电信核心网扩容", "customer_code": "C-BIG",
                                             "level": "region", "decision_date": f"{YEAR}-09-30", "team_code": team}]},
                     clock=clock)
    workbook = workbook_from_rows(
        tmp_path / "kit.xlsx", team=team, year=YEAR,
        assessments=[{"customer_code": "C-BIG", "contact_code": "K-BIG1", "acceptance": 2,
                      "acceptance_evidence": "参加公司参观"}],
        objectives=[{"customer_code": "C-BIG", "relationship_target": "2–3 名 CXO 支持排他", "target_count": 3}],
        plan=[{"customer_code": "C-BIG", "activity_type": "公司参观", "title": "总部参观", "project_code": "P-BIG",
               "planned_date": f"{YEAR}-05-10", "budget": 30000}])
    submit_kit(rt, team, workbook, principal=principal_of(server.db, "SZ-AM1"), year=YEAR)
    review_kit(rt, team, YEAR, principal=principal_of(server.db, "HQ-SM"), approve=True, comment="同意")


def test_sales_management_launches_the_cycle_and_watches_a_team_complete_its_kit(
        planning_server: LiveServer, new_page: Callable[..., Any], tmp_path: Path) -> None:
    base = planning_server.url
    sm = as_user(new_page, planning_server, "HQ-SM")
    sm.goto(f"{base}/planning/launch?year={YEAR}")
    teams = sm.locator("[data-testid=launch-teams] tbody tr")
    assert sorted(teams.evaluate_all("rows => rows.map(r => r.dataset.team)")) == ["T-GZ1", "T-SZ1"]
    assert "鹏城电信" in sm.locator("tr[data-team=T-SZ1]").inner_text()  # why: its S customer
    launch_and_wait(sm, base)
    states = sm.locator("[data-testid=launch-tasks] tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.team, r.dataset.state])")
    assert sorted(states) == [["T-GZ1", "completed"], ["T-SZ1", "completed"]]
    assert sm.locator("[data-testid=count-completed]").inner_text() == "2"

    # A second launch of the same year is refused on the page, before anything is posted.
    sm.goto(f"{base}/planning/launch?year={YEAR}")
    assert "不能重复发放" in sm.locator("[data-testid=launch-refused]").inner_text()
    assert sm.locator("[data-testid=launch-confirm]").count() == 0

    sm.goto(f"{base}/planning/progress?year={YEAR}&office=OFF-SZ")
    assert sm.locator("tr[data-team=T-SZ1]").get_attribute("data-state") == "issued"
    complete_kit(planning_server, tmp_path)
    sm.reload()
    assert sm.locator("tr[data-team=T-SZ1]").get_attribute("data-state") == "done"
    sm.goto(f"{base}/planning/progress?year={YEAR}")
    assert sm.locator("[data-testid=total-pct]").inner_text() == "50.0%"
    table = sm.locator("[data-testid=progress-chart-table]").inner_text()
    assert "华南地区部" in table
