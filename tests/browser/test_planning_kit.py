"""The planning kit in the real browser (Debian Chromium against `mcr serve`): a team fills the kit form
with one wrong score and sees the field marked, corrects it, uploads a workbook for another section,
fills the action plan and submits it; the supervisor approves."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from engine.clock import FakeClock
from flows.planning.workbook import workbook_from_rows
from tests.browser.conftest import FAKE_NOW, LiveServer, as_user

TEAM, YEAR = "T-SZ1", 2027


def issue_team_kit(server: LiveServer) -> int:
    """An open project to plan for (the ITR organisation has none) and the team's kit, issued as the
    launch does (the serve process and this one share the database)."""
    from engine.app import build_runtime
    from engine.masterdata.models import Project

    from sqlmodel import select

    with server.db.session() as s:
        if s.exec(select(Project).where(Project.code == "P-BIG1")).first() is None:
            s.add(Project(code="P-BIG1", name="鹏城电信核心网扩容", customer_code="C-BIG", level="office",
                          team_code=TEAM, closed=False, decision_date=date(2027, 9, 30)))
            s.commit()
    from flows.planning.kit import issue_kit

    rt = build_runtime(server.db, clock=FakeClock(datetime.fromisoformat(FAKE_NOW)), migrate=False)
    return issue_kit(rt, TEAM, YEAR).instance_id


def objectives_workbook(folder: Path) -> Path:
    return workbook_from_rows(folder / f"{TEAM}-{YEAR}-目标任务书.xlsx", team=TEAM, year=YEAR,
                              objectives=[{"customer_code": "C-BIG", "market_target": "核心网份额 60%",
                                           "relationship_target": "2–3 名 CXO 支持排他", "target_count": 3,
                                           "owner": "SZ-AM1"}])


def test_a_team_fills_the_kit_in_the_browser_and_the_supervisor_approves(
        server: LiveServer, new_page: Callable[..., Any], tmp_path: Path) -> None:
    kit = issue_team_kit(server)
    team = as_user(new_page, server, "SZ-AM1")
    team.goto(f"{server.url}/planning/kits")
    team.click(f"[data-testid=kit-{TEAM}-{YEAR}]")
    assert team.url.endswith(f"/planning/kits/{kit}")

    # One wrong score: the page answers on the field, as the workbook names its cell.
    team.fill("[data-testid=assessment-0-acceptance]", "7")
    team.fill("[data-testid=assessment-0-acceptance_evidence]", "参加公司总部参观")
    team.click("[data-testid=submit-assessment]")
    team.wait_for_load_state()
    error = team.locator("[data-testid=error-assessment-0-acceptance]")
    assert error.is_visible() and "7" in error.inner_text()
    assert team.get_attribute("[data-testid=assessment-0-acceptance]", "aria-invalid") == "true"
    assert "客户关系现状评估表" in team.inner_text("[data-testid=problems]")
    assert server.state(kit) == "issued" and server.history_count(kit, "submit_assessment") == 0
    assert team.input_value("[data-testid=assessment-0-acceptance_evidence]") == "参加公司总部参观"  # kept

    team.fill("[data-testid=assessment-0-acceptance]", "2")
    team.click("[data-testid=submit-assessment]")
    team.wait_for_load_state()
    assert team.locator("[data-testid=error-assessment-0-acceptance]").count() == 0
    assert server.state(kit) == "assessment_submitted"

    # The objective task book comes back as a workbook, for that section only.
    team.set_input_files("[data-testid=upload-file]", str(objectives_workbook(tmp_path)))
    team.select_option("[data-testid=upload-section]", "objectives")
    team.click("[data-testid=do-upload]")
    team.wait_for_load_state()
    assert "客户关系目标任务书" in team.inner_text("[data-testid=notice]")
    assert team.input_value("[data-testid=objectives-0-relationship_target]") == "2–3 名 CXO 支持排他"
    team.click("[data-testid=submit-objectives]")
    team.wait_for_load_state()
    assert server.state(kit) == "objectives_submitted"

    # The action plan, typed; submitting it asks the supervisor.
    team.select_option("[data-testid=plan-0-customer_code]", "C-BIG")
    team.select_option("[data-testid=plan-0-activity_type]", "company_visit")
    team.fill("[data-testid=plan-0-title]", "总部参观")
    team.fill("[data-testid=plan-0-contacts]", "K-BIG1")
    team.select_option("[data-testid=plan-0-project_code]", "P-BIG1")
    team.fill("[data-testid=plan-0-planned_date]", "2027-05-10")
    team.fill("[data-testid=plan-0-budget]", "30000")
    team.click("[data-testid=submit-plan]")
    team.wait_for_load_state()
    assert server.state(kit) == "supervisor_review"
    assert team.locator("[data-testid=review]").count() == 0  # the team does not review itself

    boss = as_user(new_page, server, "SZ-SUP")
    boss.goto(f"{server.url}/planning/kits/{kit}")
    assert boss.inner_text("[data-testid=value-plan-0-budget]") == "30000"
    boss.fill("[data-testid=comment]", "同意")
    boss.click("[data-testid=approve]")
    boss.wait_for_load_state()
    assert server.state(kit) == "done"
    assert "已审批" in boss.inner_text("[data-testid=kit-state]")
