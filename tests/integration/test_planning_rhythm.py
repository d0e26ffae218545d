"""The execution rhythm and the strategy review against real databases: quarterly self-checks (or
weekly ones for flagged teams), card reviews, the half-year review with its one revision, the annual
evaluation, the tier review and the win-rate alert."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ActionFailed, MCRError
from flows.planning.common import find_instance, instances
from flows.planning.kit import issue_kit, review_kit, submit_kit
from flows.planning.rhythm import revise, start_card_reviews, start_self_checks, start_team_reviews
from flows.planning.sample import planning_runtime
from flows.planning.strategy import record_win_rate, start_tier_reviews
from flows.planning.workbook import workbook_from_rows
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))


@pytest.fixture
def rt(db: Database, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
    return planning_runtime(db, clock)


def mails(db: Database, template: str) -> list[str]:
    with db.read() as tx:
        return [r[0] for r in tx.all("SELECT recipient FROM outbox WHERE template = :t ORDER BY id", {"t": template})]


def test_quarterly_self_check_is_due_in_10_business_days_and_overdue_goes_to_the_supervisor(
        rt: Any, db: Database, clock: FakeClock) -> None:
    at = datetime(2027, 4, 1, 9, 0, tzinfo=SH)  # Thu; Qingming 5 Apr 2027 is a holiday
    clock.set(at)
    started = start_self_checks(rt, at, weekly=False)
    assert len(started) == 7 and start_self_checks(rt, at, weekly=False) == []  # re-run starts nothing
    check = find_instance(db, "self_check", "selfcheck:E101:2027-Q2")
    assert check is not None and check.state == "open" and check.data["due"] == "2027-04-16"
    assert "e101@example.com" in mails(db, "rhythm_open")
    clock.set(datetime(2027, 4, 16, 9, 0, tzinfo=SH))
    rt.sweep()
    assert find_instance(db, "self_check", "selfcheck:E101:2027-Q2").state == "overdue"  # type: ignore[union-attr]
    assert "e100@example.com" in mails(db, "rhythm_overdue")
    with pytest.raises(ActionFailed):
        rt.send(check.id, "submit", actor="E102", payload={"progress": 50})  # someone else's self-check
    with pytest.raises(ActionFailed, match="0"):
        rt.send(check.id, "submit", actor="E101", payload={"progress": 150})
    assert rt.send(check.id, "submit", actor="E101", payload={"progress": 60, "note": "按计划"}).to_state == "done"
    assert mails(db, "check_submitted") == ["e100@example.com"]


def test_weekly_rhythm_teams_get_a_weekly_check_instead_of_the_quarterly(rt: Any, db: Database, clock: FakeClock,
                                                                        tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "planning.yaml").write_text("rhythm:\n  weekly_teams: [T-SZ-EG]\n", encoding="utf-8")
    monkeypatch.setenv("MCR_RULES_DIR", str(rules))
    at = datetime(2027, 4, 5, 9, 0, tzinfo=SH)
    quarterly = start_self_checks(rt, at, weekly=False)
    weekly = start_self_checks(rt, at, weekly=True)
    q = {i.data["emp"] for i in instances(db, "self_check", "selfcheck:%")}
    w = {i.subject for i in instances(db, "self_check", "weeklycheck:%")}
    assert (len(quarterly), len(weekly)) == (5, 2)
    assert q == {"E100", "E101", "E102", "E200", "E201"}
    assert w == {"weeklycheck:E300:2027-W14", "weeklycheck:E301:2027-W14"}


def test_card_review_carries_the_visits_and_the_previous_commitment(rt: Any, db: Database, clock: FakeClock) -> None:
    from flows.planning.care import log_visit

    clock.set(datetime(2027, 3, 20, 9, 0, tzinfo=SH))
    log_visit(db, clock, "K001", principal=principal_of(db, "E101"), on=datetime(2027, 3, 10).date())
    q2 = datetime(2027, 4, 1, 9, 0, tzinfo=SH)
    clock.set(q2)
    assert len(start_card_reviews(rt, q2)) == 4  # owners of S/A/B key contacts: E101, E102, E201, E301
    card = find_instance(db, "card_review", "card:E101:2027-Q2")
    assert card.data["contacts"] == [{"code": "K001", "name": "黄总", "customer": "深圳移动", "tier": "S",  # type: ignore[union-attr]
                                      "visits_3m": 1}]
    with pytest.raises(ActionFailed, match="PBC"):
        rt.send(card.id, "review", actor="E101", payload={"kept": 2, "committed": 3})  # type: ignore[union-attr]
    rt.send(card.id, "review", actor="E101", payload={"kept": 2, "committed": 3, "pbc": "每周拜访 3 次"})  # type: ignore[union-attr]
    assert rt.send(card.id, "confirm", actor="E100", payload={}).to_state == "done"  # type: ignore[union-attr]
    q3 = datetime(2027, 7, 1, 9, 0, tzinfo=SH)
    clock.set(q3)
    start_card_reviews(rt, q3)
    assert find_instance(db, "card_review", "card:E101:2027-Q3").data["previous_pbc"] == "每周拜访 3 次"  # type: ignore[union-attr]


def _approved_kit(rt: Any, tmp_path: Path) -> None:
    issue_kit(rt, "T-SZ-OP", 2027)
    wb = workbook_from_rows(tmp_path / "kit.xlsx", team="T-SZ-OP", year=2027,
                            assessments=[{"customer_code": "C001", "contact_code": "K001", "acceptance": 1,
                                          "acceptance_evidence": "x"}],
                            objectives=[{"customer_code": "C001", "relationship_target": "CXO 支持"}],
                            plan=[{"customer_code": "C001", "activity_type": "公司参观", "title": "参观",
                                   "project_code": "P001", "planned_date": "2027-08-01", "budget": 20000}])
    submit_kit(rt, "T-SZ-OP", wb, principal=principal_of(rt, "E101"))
    review_kit(rt, "T-SZ-OP", 2027, principal=principal_of(rt, "E100"), approve=True)


def test_objectives_may_be_revised_once_per_half_year(rt: Any, db: Database, clock: FakeClock, tmp_path: Path) -> None:
    _approved_kit(rt, tmp_path)
    revised = workbook_from_rows(tmp_path / "rev.xlsx", team="T-SZ-OP", year=2027,
                                 objectives=[{"customer_code": "C001", "relationship_target": "3 名 CXO 支持排他"}],
                                 plan=[{"customer_code": "C001", "activity_type": "高层拜访", "title": "高层拜访",
                                        "project_code": "P001", "planned_date": "2027-09-01", "budget": 35000}])
    with pytest.raises(MCRError, match="半年度审视|half-year review"):
        revise(rt, "T-SZ-OP", 2027, revised, principal=principal_of(rt, "E100"), reason="市场变化")  # no half-year review open yet
    july = datetime(2027, 7, 1, 9, 0, tzinfo=SH)
    clock.set(july)
    assert len(start_team_reviews(rt, "half_year_review", july)) == 1
    out = revise(rt, "T-SZ-OP", 2027, revised, principal=principal_of(rt, "E100"), reason="市场变化")
    assert (out["half"], out["seq"], out["budget_before"], out["budget_after"]) == ("H2", 1, 20000, 35000)
    with db.read() as tx:
        before = (tx.one("SELECT COUNT(*) FROM planning_revision")[0], tx.one("SELECT COUNT(*) FROM planning_activity")[0])
    with pytest.raises(ActionFailed) as err:
        revise(rt, "T-SZ-OP", 2027, revised, principal=principal_of(rt, "E100"), reason="再改一次")
    assert "只允许修订 1 次" in str(err.value) and "下半年" in str(err.value)
    with db.read() as tx:
        after = (tx.one("SELECT COUNT(*) FROM planning_revision")[0], tx.one("SELECT COUNT(*) FROM planning_activity")[0])
        refusal = tx.one("SELECT code FROM flow_refusal WHERE event = 'revise'")
    assert after == before and refusal[0] == "action_refused"
    assert mails(db, "revision_recorded") == ["e002@example.com"]
    hy = find_instance(db, "half_year_review", "halfyear:T-SZ-OP:2027")
    assert rt.send(hy.id, "complete", actor="E100", payload={"summary": "辅导完成"}).to_state == "done"  # type: ignore[union-attr]


def test_annual_evaluation_is_submitted_by_the_head_and_approved_above(rt: Any, db: Database, clock: FakeClock,
                                                                       tmp_path: Path) -> None:
    _approved_kit(rt, tmp_path)
    dec = datetime(2027, 12, 15, 9, 0, tzinfo=SH)
    clock.set(dec)
    [iid] = start_team_reviews(rt, "annual_evaluation", dec)
    ev = find_instance(db, "annual_evaluation", "evaluation:T-SZ-OP:2027")
    assert ev.data["activities"] == 1 and ev.data["budget"] == 20000  # type: ignore[union-attr]
    with pytest.raises(ActionFailed):
        rt.send(iid, "submit", actor="E100", payload={"score": "好"})
    rt.send(iid, "submit", actor="E100", payload={"score": 85, "summary": "关系明显改善"})
    assert mails(db, "evaluation_submitted") == ["e020@example.com"]
    assert rt.send(iid, "approve", actor="E020", payload={}).to_state == "done"


def test_tier_review_per_industry_cadence_and_an_approved_change_is_applied(rt: Any, db: Database, clock: FakeClock,
                                                                           tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "planning.yaml").write_text("strategy:\n  industry_cadence: {金融: quarterly}\n", encoding="utf-8")
    monkeypatch.setenv("MCR_RULES_DIR", str(rules))
    q2 = datetime(2027, 4, 1, 9, 0, tzinfo=SH)
    clock.set(q2)
    started = start_tier_reviews(rt, q2)
    assert [i.data["customer"] for i in instances(db, "tier_review")] == ["C003"]  # only the fast industry in Q2
    rt.send(started[0], "propose", actor="E201", payload={"tier": "战略", "reason": "营收翻倍"})
    with pytest.raises(ActionFailed):
        rt.send(started[0], "approve", actor="E201", payload={})  # the owner cannot approve their own proposal
    rt.send(started[0], "approve", actor="E002", payload={})
    with db.read() as tx:
        assert tx.one("SELECT tier FROM customer WHERE code = 'C003'")[0] == "S"
        change = tx.one("SELECT from_tier, to_tier, actor FROM customer_tier_change WHERE customer_code = 'C003' "
                        "ORDER BY id DESC")
    assert tuple(change) == ("A", "S", "E002")
    q1 = datetime(2028, 1, 1, 9, 0, tzinfo=SH)
    assert len(start_tier_reviews(rt, q1)) == 5  # every customer in the yearly review quarter


def test_a_general_customers_win_rate_drop_of_10_points_alerts_the_office_once(rt: Any, db: Database) -> None:
    assert record_win_rate(rt, "C005", "2027-Q1", principal=principal_of(rt, "E301"), rate=40)["alert"] is None
    assert record_win_rate(rt, "C005", "2027-Q2", principal=principal_of(rt, "E301"), rate=31)["alert"] is None  # 9 points
    out = record_win_rate(rt, "C005", "2027-Q2", principal=principal_of(rt, "E301"), wins=3, bids=10)  # corrected: 30 %
    assert out["alert"] is not None
    again = record_win_rate(rt, "C005", "2027-Q2", principal=principal_of(rt, "E301"), rate=30)
    assert again["alert"] == out["alert"]
    assert sorted(mails(db, "win_rate_alert")) == ["e020@example.com", "e301@example.com"]
    assert record_win_rate(rt, "C001", "2027-Q1", principal=principal_of(rt, "E101"), rate=60)["alert"] is None
    assert record_win_rate(rt, "C001", "2027-Q2", principal=principal_of(rt, "E101"), rate=20)["alert"] is None  # S: not watched
    with pytest.raises(MCRError):
        record_win_rate(rt, "C005", "2027 Q3", principal=principal_of(rt, "E301"), rate=10)
    alert = find_instance(db, "win_rate_alert", "winrate:C005:2027-Q2")
    assert alert.data["drop"] == 10.0  # type: ignore[union-attr]
    assert rt.send(alert.id, "acknowledge", actor="E020", payload={"note": "加强拜访"}).to_state == "acknowledged"  # type: ignore[union-attr]
