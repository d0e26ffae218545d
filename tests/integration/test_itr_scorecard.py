"""The unit scorecard (flows/itr/scorecard.py) and the tier queue order, on SQLite and PostgreSQL:
the figures come from the quota counters and the monitoring report, a unit past its allowance is
marked, only the people covering a unit read it (service, page, JSON API, CLI), and a queue lists a
strategic (S) customer's issue before an older one of a lower tier."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from engine.clock import FakeClock
from engine.db import Database
from flows.itr import scorecard as sc
from flows.itr import service
from flows.itr.errors import ItrUsageError
from tests.conftest import ROOT
from tests.support.accounts import itr_runtime
from tests.support.principals import principal_of
from tests.support.web import signed_in

SHANGHAI = timezone(timedelta(hours=8))
FIELDS = dict(customer="C-MID", contact="K-MID1", type="technical", severity="minor", source="online")


@pytest.fixture
def rules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", folder)
    monkeypatch.setenv("MCR_RULES_DIR", str(folder))
    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    return folder


@pytest.fixture
def rt(db: Database, clock: FakeClock, rules_dir: Path) -> Any:
    clock.set(datetime(2026, 10, 8, 9, 30, tzinfo=SHANGHAI))
    return itr_runtime(db, clock, "SZ-SUP", "SZ-H1", "GZ-SUP", "R-SUP")


def opened(rt: Any, n: int = 1, **fields: Any) -> list[int]:
    ids = []
    for i in range(n):
        view = service.open_issue(rt, principal=principal_of(rt, "SZ-HL"), title=f"问题 {i + 1}", **{**FIELDS, **fields})
        service.dispatch(rt, view.id, principal=principal_of(rt, "SZ-HL"))
        ids.append(view.id)
    return ids


def test_an_escalation_within_the_shipped_minimum_allowance_is_granted_and_the_scorecard_is_within_quota(
        rt: Any) -> None:
    [issue] = opened(rt)
    esc = service.escalate(rt, issue, principal=principal_of(rt, "SZ-SUP"), reason="no_owner")
    assert (esc.decision, esc.qa_flag, esc.escalated_before, esc.unit_issues) == ("granted", False, 0, 1)
    card = sc.scorecard(rt, principal=principal_of(rt, "SZ-SUP"), unit="OFF-SZ", period="2026-Q4")
    assert (card.quota.issues, card.quota.escalated, card.quota.allowed, card.quota.min_allowed) == (1, 1, 1, 1)
    assert card.quota.within_quota and card.concerns == []
    outlook = service.escalation_outlook(rt, opened(rt)[0], principal=principal_of(rt, "SZ-SUP"))
    assert outlook is not None and (outlook.min_allowed, outlook.remaining) == (1, 0)  # 2/2 = 100 %: none left


def test_too_many_escalations_worsen_the_scorecard_and_it_follows_later_steps(rt: Any) -> None:
    sup = principal_of(rt, "SZ-SUP")
    first, second = opened(rt, 2)
    before = sc.scorecard(rt, principal=sup, unit="OFF-SZ", period="2026-Q4")
    assert (before.quota.escalated, before.quota.within_quota, before.concerns) == (0, True, [])
    service.escalate(rt, first, principal=sup, reason="no_owner")  # the one always allowed
    service.escalate(rt, second, principal=sup, reason="no_owner", override_by="SZ-SM", override_why="客户高层要求")
    card = sc.scorecard(rt, principal=sup, unit="OFF-SZ", period="2026-Q4")
    # The counter rows made by the first read were kept exact by the escalate step itself.
    assert (card.quota.issues, card.quota.escalated, card.quota.allowed, card.quota.over_by) == (2, 2, 1, 1)
    assert card.quota.self_resolution_rate == 0.0 and not card.quota.within_quota
    assert card.concerns == ["over_quota", "overridden"]
    assert (card.escalations.granted, card.escalations.overridden, card.escalations.refused) == (1, 1, 0)
    assert [m.month for m in card.months] == ["2026-10", "2026-11", "2026-12"]
    month = sc.scorecard(rt, principal=sup, unit="OFF-SZ", period="2026-10")
    report = service.report(rt, principal=sup, month="2026-10", office="OFF-SZ")
    assert (month.dispatch.base, month.dispatch.rate) == (report.dispatch.dispatched, report.dispatch.accuracy)
    assert month.timely_closure.base == report.closure.closed
    region = sc.scorecard(rt, principal=principal_of(rt, "R-SUP"), unit="R-SOUTH", period="2026-Q4")
    assert (region.unit_kind, region.quota.issues, region.quota.escalated) == ("region", 2, 0)


def test_only_the_heads_covering_a_unit_sales_management_and_qa_read_its_scorecard(rt: Any) -> None:
    for emp in ("SZ-SUP", "R-SUP", "HQ-SM", "HQ-QA"):
        assert sc.scorecard(rt, principal=principal_of(rt, emp), unit="OFF-SZ", period="2026-11").unit == "OFF-SZ"
    for emp in ("GZ-SUP", "SZ-H1"):
        with pytest.raises(sc.ScorecardNotVisible, match="OFF-SZ"):
            sc.scorecard(rt, principal=principal_of(rt, emp), unit="OFF-SZ", period="2026-11")
    assert [u.code for u in sc.units_covered(rt, principal=principal_of(rt, "SZ-SUP"))] == ["OFF-SZ"]
    assert [u.code for u in sc.units_covered(rt, principal=principal_of(rt, "R-SUP"))] == ["OFF-GZ", "OFF-SZ", "R-SOUTH"]
    assert sc.units_covered(rt, principal=principal_of(rt, "SZ-H1")) == []


@pytest.mark.parametrize("period", ["2026-Q5", "2026-13", "Q4", "2026W48"])
def test_a_period_that_is_neither_a_quarter_nor_a_month_is_refused_naming_it(rt: Any, period: str) -> None:
    with pytest.raises(ItrUsageError, match=period):
        sc.scorecard(rt, principal=principal_of(rt, "SZ-SUP"), unit="OFF-SZ", period=period)


def test_a_team_or_unknown_unit_has_no_scorecard(rt: Any) -> None:
    for unit in ("T-SZ1", "NOPE"):
        with pytest.raises(ItrUsageError, match=unit):
            sc.scorecard(rt, principal=principal_of(rt, "HQ-SM"), unit=unit, period="2026-Q4")



def test_the_scorecard_page_shows_the_figures_with_charts_and_refuses_a_peer(rt: Any) -> None:
    first, second = opened(rt, 2)
    service.escalate(rt, first, principal=principal_of(rt, "SZ-SUP"), reason="no_owner")
    service.escalate(rt, second, principal=principal_of(rt, "SZ-SUP"), reason="no_owner", override_by="SZ-SM",
                     override_why="客户高层要求")
    page = signed_in(rt, "SZ-SUP").get("/itr/scorecard?period=2026-Q4")
    assert page.status_code == 200, page.text
    assert 'data-testid="scorecard"' in page.text and "问题自行解决率" in page.text
    assert 'data-testid="itr-scorecard-rates-table"' in page.text
    assert 'data-testid="itr-scorecard-escalations-table"' in page.text
    assert "升级过多" in page.text and 'href="/itr/scorecard"' in page.text
    peer = signed_in(rt, "GZ-SUP").get("/itr/scorecard?unit=OFF-SZ&period=2026-Q4")
    assert peer.status_code == 403
    none = signed_in(rt, "SZ-H1").get("/itr/scorecard")
    assert none.status_code == 200 and 'data-testid="scorecard-none"' in none.text


def test_the_scorecard_api_answers_json_for_the_covering_head_and_403_for_a_peer(rt: Any) -> None:
    opened(rt, 3)
    ok = signed_in(rt, "R-SUP").get("/api/itr/scorecard?unit=OFF-SZ&period=2026-10")
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (body["unit"], body["period_kind"], body["quota"]["issues"], body["dispatch"]["base"]) == \
        ("OFF-SZ", "month", 3, 3)
    peer = signed_in(rt, "GZ-SUP").get("/api/itr/scorecard?unit=OFF-SZ")
    assert peer.status_code == 403 and peer.json()["error"] == "not_visible"
    bad = signed_in(rt, "R-SUP").get("/api/itr/scorecard?unit=OFF-SZ&period=2026-Q9")
    assert bad.status_code == 422 and "2026-Q9" in bad.json()["message"]


def test_a_queue_lists_a_strategic_customers_issue_before_older_issues_of_lower_tiers(rt: Any) -> None:
    older = opened(rt, 2)                                     # C-MID: tier B, opened first
    strategic = opened(rt, 1, customer="C-BIG", contact="K-BIG1")[0]   # tier S, opened last
    queue = service.queue_issues(rt, principal=principal_of(rt, "SZ-SUP"), unit="OFF-SZ")
    assert [(i.id, i.tier) for i in queue] == [(strategic, "S"), (older[0], "B"), (older[1], "B")]
    page = signed_in(rt, "SZ-SUP").get("/queues/OFF-SZ")
    assert page.status_code == 200
    rows = page.text.index(f'href="/issues/{strategic}"'), page.text.index(f'href="/issues/{older[0]}"')
    assert rows[0] < rows[1]


def test_mcr_itr_scorecard_prints_a_table_and_json(sqlite_db: Database, clock: FakeClock, rules_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.itr.cli import register

    db = sqlite_db
    monkeypatch.setenv("MCR_DATABASE_URL", db.url)
    monkeypatch.setenv("MCR_FLOWS_DIR", str(ROOT / "flows" / "itr"))
    monkeypatch.setenv("MCR_FAKE_NOW", "2026-10-08T09:30:00+08:00")
    clock.set(datetime(2026, 10, 8, 9, 30, tzinfo=SHANGHAI))
    rt = itr_runtime(db, clock)
    opened(rt, 2)
    app = typer.Typer()
    register(app)
    res = CliRunner().invoke(app, ["itr", "scorecard", "--unit", "OFF-SZ", "--period", "2026-Q4", "--as", "SZ-SUP"])
    assert res.exit_code == 0, res.output
    assert "组织绩效记分卡：深圳代表处（OFF-SZ）2026-Q4" in res.output and "问题自行解决率" in res.output
    res = CliRunner().invoke(app, ["itr", "scorecard", "--unit", "OFF-SZ", "--period", "2026-Q4", "--as", "SZ-SUP",
                                   "--json"])
    assert json.loads(res.output)["quota"]["issues"] == 2
    res = CliRunner().invoke(app, ["itr", "scorecard", "--unit", "OFF-SZ", "--as", "GZ-SUP"])
    assert res.exit_code != 0 and isinstance(res.exception, sc.ScorecardNotVisible)
