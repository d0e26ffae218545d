"""The book's checks at kit submission (flows/planning/workbook.py `validate_kit` with `KitReference.checks`):
each refusal names the project, the customer and level, or the sponsor, is located by sheet/row/column
like the other problems, and sits exactly on the rule's edge; contradictory rules are refused at load."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from engine.errors import ImportRejected
from engine.masterdata.settings import MasterDataRules
from engine.rules import InvalidRules as RulesError
from flows.planning.rules import KitRules, load_planning_rules
from flows.planning.workbook import (ASSESSMENT_SHEET, OBJECTIVES_SHEET, PLAN_SHEET, KitReference, ParsedKit,
                                     SheetProblem, raw_from_rows, validate_kit)


def ref(checks: KitRules, **extra: Any) -> KitReference:
    base: dict[str, Any] = dict(
        team="T1", year=2027,
        customers={"C001": {"name": "深圳移动", "tier": "S", "locked": []}},
        contacts={"K001": "C001", "K002": "C001", "K003": "C001"},
        projects={f"P00{i}": ("C001", date(2027, 9, 30), False) for i in range(1, 7)},
        employees={"E101", "E020", "E010"}, rules=MasterDataRules(), checks=checks,
        contact_levels={"K001": "senior", "K002": "middle", "K003": "base"},
        project_levels={"P001": "region", **{f"P00{i}": "office" for i in range(2, 7)}},
        employee_units={"E101": "team", "E020": "office", "E010": "region"})
    base.update(extra)
    return KitReference(**base)


OFF = KitRules(required_activity_project_levels=[], sponsored_projects_per_manager=0)


def run(reference: KitReference, **sections: list[dict[str, Any]]) -> ParsedKit:
    return validate_kit(raw_from_rows(sections, team="T1", year=2027), reference)


def refused(reference: KitReference, **sections: list[dict[str, Any]]) -> list[SheetProblem]:
    with pytest.raises(ImportRejected) as err:
        run(reference, **sections)
    return err.value.problems  # type: ignore[return-value]


def act(project: str, sponsor: str | None = None, **k: Any) -> dict[str, Any]:
    row = {"customer_code": "C001", "activity_type": "company_visit", "title": f"活动{project}",
           "project_code": project, "planned_date": "2027-05-10", "budget": "1000"}
    return {**row, **({"sponsor": sponsor} if sponsor else {}), **k}


# ------------------------------------------------------------------------------------ big projects need an activity


def test_a_region_project_without_a_plan_activity_is_named_and_one_activity_is_enough() -> None:
    checks = OFF.model_copy(update={"required_activity_project_levels": ["company", "region"]})
    r = ref(checks, required_projects={"P001": ("C001", "核心网扩容", "region")})
    [p] = refused(r, plan=[act("P002")])
    assert (p.sheet, p.line, p.column) == (PLAN_SHEET, 1, "支持项目编码")
    assert "P001" in p.message and "核心网扩容" in p.message and "地区部级" in p.message
    assert [a.project_code for a in run(r, plan=[act("P002"), act("P001")]).activities] == ["P002", "P001"]


def test_the_project_rule_is_not_applied_to_a_submission_without_the_plan() -> None:
    r = ref(OFF.model_copy(update={"required_activity_project_levels": ["region"]}),
            required_projects={"P001": ("C001", "核心网扩容", "region")})
    assert run(r, objectives=[{"customer_code": "C001", "relationship_target": "x"}]).sections == ["objectives"]


# ------------------------------------------------------------------------------------ information channels


def test_two_information_channels_pass_and_one_is_refused_on_its_cell() -> None:
    r = ref(OFF.model_copy(update={"min_info_channels": 2}))
    row = {"customer_code": "C001", "relationship_target": "3 名 CXO 支持"}
    [p] = refused(r, objectives=[{**row, "info_channels": "周例会"}])
    assert (p.sheet, p.line, p.column, p.field) == (OBJECTIVES_SHEET, 2, "信息渠道", "objectives-0-info_channels")
    assert "C001" in p.message and "1" in p.message and "2" in p.message
    parsed = run(r, objectives=[{**row, "info_channels": "周例会；技术交流会；周例会"}])
    assert parsed.objectives[0].info_channels == ["周例会", "技术交流会"]
    # a repeated channel is one channel
    assert refused(r, objectives=[{**row, "info_channels": "周例会, 周例会"}])[0].column == "信息渠道"


# ------------------------------------------------------------------------------------ coaches at every level


def contact(code: str, support: Any, **k: Any) -> dict[str, Any]:
    return {"customer_code": "C001", "contact_code": code, "support_us": support, **k}


def test_a_customer_without_a_middle_level_coach_is_named_with_the_missing_level() -> None:
    r = ref(OFF.model_copy(update={"coach_levels": ["base", "middle", "senior"]}))
    [p] = refused(r, assessment=[contact("K001", 3), contact("K002", 2), contact("K003", "教练")])
    assert (p.sheet, p.column) == (ASSESSMENT_SHEET, "对我方支持度")
    assert "C001" in p.message and "中层" in p.message and "教练" in p.message
    assert len(run(r, assessment=[contact("K001", 3), contact("K002", 3), contact("K003", 3)]).assessments) == 3


def test_coach_levels_are_configurable() -> None:
    r = ref(OFF.model_copy(update={"coach_levels": ["senior"]}))
    assert run(r, assessment=[contact("K001", 3), contact("K002", 0)]).assessments


# ------------------------------------------------------------------------------------ sponsors: 3 projects of their level


def test_the_third_sponsored_project_passes_and_the_fourth_is_refused_on_its_row() -> None:
    r = ref(OFF.model_copy(update={"sponsored_projects_per_manager": 3}))
    three = [act("P002", "E020"), act("P003", "E020"), act("P004", "E020"), act("P004", "E020", title="第二场")]
    assert len(run(r, plan=three).activities) == 4  # a second activity of a sponsored project is no new project
    [p] = refused(r, plan=three + [act("P005", "E020")])
    assert (p.sheet, p.line, p.column, p.field) == (PLAN_SHEET, 6, "赞助人工号", "plan-4-sponsor")
    assert "E020" in p.message and "P005" in p.message and "3" in p.message


def test_a_sponsor_of_two_projects_is_short_of_the_norm() -> None:
    r = ref(OFF.model_copy(update={"sponsored_projects_per_manager": 3}))
    [p] = refused(r, plan=[act("P002", "E020"), act("P003", "E020")])
    assert (p.line, p.column) == (1, "赞助人工号") and "E020" in p.message and "2" in p.message


def test_a_sponsor_on_a_project_of_another_level_is_refused_and_zero_switches_the_rule_off() -> None:
    r = ref(OFF.model_copy(update={"sponsored_projects_per_manager": 1}))
    [p] = refused(r, plan=[act("P001", "E020")])  # an office head on a region project
    assert (p.line, p.column) == (2, "赞助人工号") and "P001" in p.message and "地区部级" in p.message
    assert run(r, plan=[act("P001", "E010")]).activities[0].sponsor == "E010"
    assert run(ref(OFF), plan=[act("P001", "E020")]).activities  # 0: off


def test_an_unknown_sponsor_is_refused() -> None:
    [p] = refused(ref(OFF), plan=[act("P002", "E999")])
    assert (p.column, p.field) == ("赞助人工号", "plan-0-sponsor") and "E999" in p.message


# ------------------------------------------------------------------------------------ relationship ratings


def test_organisational_relationship_below_partner_and_general_below_medium_name_the_customer() -> None:
    r = ref(OFF.model_copy(update={"org_relationship_min": "partner", "general_relationship_min": "medium"}))
    found = refused(r, assessment=[contact("K001", 2, org_relationship="普通供应商", general_relationship="低")])
    assert [(p.line, p.column) for p in found] == [(2, "组织客户关系"), (2, "普遍客户关系")]
    assert all("C001" in p.message for p in found) and "伙伴" in found[0].message and "中等" in found[1].message
    ok = run(r, assessment=[contact("K001", 2, org_relationship="partner", general_relationship="中等"),
                            contact("K002", 1)])
    assert (ok.assessments[0].org_relationship, ok.assessments[0].general_relationship) == ("partner", "medium")


def test_a_missing_rating_an_unknown_one_and_two_different_ones_are_refused() -> None:
    r = ref(OFF.model_copy(update={"org_relationship_min": "partner"}))
    [missing] = refused(r, assessment=[contact("K001", 2)])
    assert (missing.line, missing.column) == (1, "组织客户关系") and "C001" in missing.message
    [unknown] = refused(ref(OFF), assessment=[contact("K001", 2, org_relationship="挚友")])
    assert unknown.field == "assessment-0-org_relationship" and "挚友" in unknown.message
    [differs] = refused(ref(OFF), assessment=[contact("K001", 2, org_relationship="partner"),
                                              contact("K002", 2, org_relationship="strategic")])
    assert (differs.line, differs.column) == (3, "组织客户关系") and "2" in differs.message


# ------------------------------------------------------------------------------------ rules refused at load


def write_rules(tmp_path: Path, kit: str = "", rhythm: str = "") -> Path:
    (tmp_path / "planning.yaml").write_text(f"kit:\n  deadline: \"03-31\"\n{kit}rhythm:\n  revisions_per_half: 1\n{rhythm}",
                                            encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("kit, rhythm, words", [
    ("  min_info_channels: -1\n", "", "min_info_channels"),
    ("  sponsored_projects_per_manager: -3\n", "", "sponsored_projects_per_manager"),
    ("  org_relationship_min: friend\n", "", "friend"),
    ("", "  annual_evaluation:\n    due_business_days: 15\n    weights: {process: 0.4, result: 0.7}\n", "100 %"),
    ("", "  annual_evaluation:\n    due_business_days: 15\n    weights: {process: 0.5, result: 0.5}\n", "2:8 or 3:7"),
])
def test_contradictory_check_rules_are_refused_at_load_with_file_and_line(tmp_path: Path, kit: str, rhythm: str,
                                                                           words: str) -> None:
    with pytest.raises(RulesError) as err:
        load_planning_rules(write_rules(tmp_path, kit, rhythm))
    text = str(err.value)
    assert "planning.yaml:" in text and words in text


def test_the_shipped_rules_weigh_process_and_result_3_to_7() -> None:
    w = load_planning_rules().rhythm.annual_evaluation.weights
    assert (w.process, w.result, w.total(80, 90)) == (0.3, 0.7, 87.0)
