"""Sales management's pages through the ASGI app (SQLite and PostgreSQL): the launch preview and its
refusal, the completion page's drill-down with chart and table, a reminder posted twice sent once,
the rhythm pages, and the refusals a team member gets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.db import Database
from flows.planning.kit import issue_kit
from flows.planning.rhythm import start_self_checks
from flows.planning.sample import planning_runtime
from tests.support.accounts import add_accounts
from tests.support.web import with_shipped_rules_and_kit_dir  # noqa: F401  (autouse: the shipped rules)
from tests.support.web import form_csrf, signed_in

SH = timezone(timedelta(hours=8))


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Any:
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
    runtime = planning_runtime(db, clock)
    add_accounts(db, clock, "E002", "E100", "E101", "E020")
    return runtime



def test_the_launch_page_lists_the_teams_and_why_then_refuses_a_year_already_launched(rt: Any) -> None:
    sm = signed_in(rt, "E002")
    page = sm.get("/planning/launch", params={"year": 2027})
    assert page.status_code == 200
    assert 'data-team="T-SZ-OP"' in page.text and 'data-team="T-SZ-FI"' in page.text
    assert "深圳移动" in page.text and 'data-team="T-SZ-EG"' not in page.text  # B/C only: no kit
    assert 'data-testid="launch-confirm"' in page.text
    issue_kit(rt, "T-SZ-OP", 2027)
    again = sm.get("/planning/launch", params={"year": 2027})
    assert 'data-testid="launch-refused"' in again.text and 'data-testid="launch-confirm"' not in again.text
    refused = sm.post("/planning/launch", data={"csrf_token": form_csrf(again.text), "year": "2027",
                                                "client_event_id": "x-1"})
    assert refused.status_code == 409 and "不能重复发放" in refused.text


def test_a_team_member_gets_no_launch_page(rt: Any) -> None:
    assert signed_in(rt, "E101").get("/planning/launch").status_code == 403


def test_the_completion_page_drills_down_and_a_reminder_posted_twice_is_sent_once(rt: Any, db: Database,
                                                                                    clock: FakeClock) -> None:
    for team in ("T-SZ-OP", "T-SZ-FI"):
        issue_kit(rt, team, 2027)
    clock.set(datetime(2027, 4, 2, 10, 0, tzinfo=SH))
    sm = signed_in(rt, "E002")
    top = sm.get("/planning/progress", params={"year": 2027})
    assert top.status_code == 200
    assert 'data-testid="progress-chart-table"' in top.text and 'data-unit="R-S"' in top.text
    assert top.text.count('class="overdue"') >= 2  # the region row and the overdue teams listed
    office = sm.get("/planning/progress", params={"year": 2027, "office": "O-SZ"})
    assert 'data-team="T-SZ-FI"' in office.text and 'data-team="T-SZ-OP"' in office.text
    form = {"csrf_token": form_csrf(office.text), "year": "2027", "unit": "O-SZ", "client_event_id": "click-1",
            "back": "/planning/progress?year=2027&office=O-SZ"}
    first = sm.post("/planning/progress/remind", data=form, follow_redirects=False)
    second = sm.post("/planning/progress/remind", data=form, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"].startswith("/planning/progress?year=2027&office=O-SZ&reminded=2")
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM flow_history WHERE event = 'remind'")[0] == 2
    assert "已发送 2 条催办提醒" in sm.get(first.headers["location"]).text


def test_a_team_head_sees_only_their_team_on_the_completion_page(rt: Any) -> None:
    for team in ("T-SZ-OP", "T-SZ-FI"):
        issue_kit(rt, team, 2027)
    page = signed_in(rt, "E100").get("/planning/progress", params={"year": 2027, "office": "O-SZ"})
    assert page.status_code == 200
    assert 'data-team="T-SZ-OP"' in page.text and 'data-team="T-SZ-FI"' not in page.text


def test_the_rhythm_pages_show_completion_and_what_each_person_owes(rt: Any, clock: FakeClock) -> None:
    april = datetime(2027, 4, 1, 9, 0, tzinfo=SH)
    clock.set(april)
    start_self_checks(rt, april, weekly=False)
    sm = signed_in(rt, "E002")
    index = sm.get("/planning/rhythm")
    assert index.status_code == 200 and 'data-testid="rhythm-chart-table"' in index.text
    page = sm.get("/planning/rhythm/self_check")
    assert page.status_code == 200 and "2027-Q2" in page.text and "E101" in page.text
    assert sm.get("/planning/rhythm/unknown").status_code == 404


def test_the_pages_speak_english_to_an_english_user(rt: Any, db: Database) -> None:
    with db.tx() as tx:
        tx.execute("UPDATE employee SET locale = 'en' WHERE emp_no = 'E002'")
    page = signed_in(rt, "E002").get("/planning/launch", params={"year": 2027})
    assert "Launch the 2027 planning kits" in page.text and "Why (customers owned)" in page.text


def test_the_half_year_revision_is_uploaded_from_its_page_and_a_wrong_file_is_named(rt: Any, db: Database,
                                                                                    clock: FakeClock,
                                                                                    tmp_path: Path) -> None:
    from flows.planning.rhythm import start_team_reviews
    from flows.planning.workbook import workbook_from_rows
    from tests.integration.test_planning_manage import complete_kit

    issue_kit(rt, "T-SZ-OP", 2027)
    complete_kit(rt, tmp_path)
    july = datetime(2027, 7, 1, 9, 0, tzinfo=SH)
    clock.set(july)
    (review,) = start_team_reviews(rt, "half_year_review", july)
    head = signed_in(rt, "E100")
    page = head.get("/planning/rhythm/half_year_review")
    assert page.status_code == 200 and 'data-testid="revise-T-SZ-OP"' in page.text
    url = f"/planning/rhythm/half_year_review/{review}/revise"
    wrong = head.post(url, data={"csrf_token": form_csrf(page.text), "reason": "市场变化", "client_event_id": "f-0"},
                      files={"file": ("notes.txt", b"not a workbook", "text/plain")})
    assert wrong.status_code == 422 and 'data-testid="revise-problems"' in wrong.text
    revised = workbook_from_rows(tmp_path / "rev.xlsx", team="T-SZ-OP", year=2027,
                                 objectives=[{"customer_code": "C001", "relationship_target": "3 名 CXO 支持排他"}],
                                 plan=[{"customer_code": "C001", "activity_type": "高层拜访", "title": "高层拜访",
                                        "project_code": "P001", "planned_date": "2027-09-01", "budget": 35000}])
    done = head.post(url, data={"csrf_token": form_csrf(page.text), "reason": "市场变化", "client_event_id": "f-1"},
                     files={"file": ("rev.xlsx", revised.read_bytes(),
                                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")},
                     follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].endswith("revised=1")
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM planning_revision")[0] == 1
