"""Reading and validating the three-piece kit workbook: every bad input is reported with its sheet,
row and column, all problems at once, and a workbook with any problem yields nothing to record."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.errors import ImportRejected
from engine.masterdata.settings import MasterDataRules, ScaleLevel
from flows.planning.workbook import (ASSESSMENT_SHEET, KIT_SHEETS, OBJECTIVES_SHEET, PLAN_SHEET, ContactLine,
                                     KitContent, KitReference, ProjectLine, SheetProblem, read_kit_workbook,
                                     validate_kit, workbook_from_rows, write_kit_workbook)


def ref(rules: MasterDataRules | None = None) -> KitReference:
    return KitReference(
        team="T1", year=2027,
        customers={"C001": {"name": "深圳移动", "tier": "S", "locked": ["爱立信", "诺基亚"]},
                   "C002": {"name": "深圳电信", "tier": "A", "locked": []}},
        contacts={"K001": "C001", "K002": "C001", "K003": "C002", "K009": "C009"},
        projects={"P001": ("C001", date(2027, 9, 30), False), "P002": ("C001", date(2027, 5, 31), False),
                  "P003": ("C002", date(2027, 6, 30), False), "P008": ("C001", None, False),
                  "P009": ("C001", date(2026, 6, 30), True)},
        employees={"E101", "E102"}, rules=rules or MasterDataRules())


GOOD_PLAN = {"customer_code": "C001", "activity_type": "公司参观", "title": "总部参观", "project_code": "P001",
             "planned_date": "2027-05-10", "budget": 30000, "contacts": "K001; K002", "owner": "E101"}


def check(tmp_path: Path, **rows: object) -> object:
    path = workbook_from_rows(tmp_path / "kit.xlsx", team="T1", year=2027, **rows)  # type: ignore[arg-type]
    return validate_kit(read_kit_workbook(path), ref())


def problems(tmp_path: Path, **rows: object) -> list[SheetProblem]:
    with pytest.raises(ImportRejected) as err:
        check(tmp_path, **rows)
    return err.value.problems  # type: ignore[return-value]


def test_a_clean_workbook_yields_its_rows(tmp_path: Path) -> None:
    parsed = check(tmp_path, assessments=[{"customer_code": "C001", "contact_code": "K001", "acceptance": 2,
                                           "acceptance_evidence": "主动介绍决策流程", "competitor_support": "爱立信:1"}],
                   objectives=[{"customer_code": "C001", "relationship_target": "2–3 名 CXO 支持排他",
                                "target_count": 3, "target_level": "支持排他", "owner": "E101"}],
                   plan=[GOOD_PLAN, {**GOOD_PLAN, "customer_code": "C002", "project_code": "P003",
                                     "budget": "2.5万", "contacts": "K003", "activity_type": "专题交流"}])
    assert parsed.sections == ["assessment", "objectives", "plan"]
    a = parsed.assessments[0]
    assert (a.contact_code, a.scores["acceptance"], a.competitor_support) == ("K001", 2, {"爱立信": 1})
    assert parsed.objectives[0].target_level == 2
    assert [(x.row, x.budget, x.contacts, x.activity_type) for x in parsed.activities] == [
        (2, 30000, ["K001", "K002"], "company_visit"), (3, 25000, ["K003"], "topic_exchange")]
    assert parsed.budget == 55000


def test_wrong_sheet_names_are_reported_by_name(tmp_path: Path) -> None:
    found = problems(tmp_path, plan=[GOOD_PLAN], sheet_names={PLAN_SHEET: "公关计划", ASSESSMENT_SHEET: "Sheet1"})
    missing = [p for p in found if "缺少工作表" in p.message or "missing sheet" in p.message]
    assert len(missing) == 2
    assert PLAN_SHEET in missing[0].message + missing[1].message and "公关计划" in missing[0].message
    assert all(p.line == 0 for p in missing)


def test_a_score_of_4_on_the_3_to_minus_1_scale_is_refused_with_sheet_row_and_column(tmp_path: Path) -> None:
    [p] = problems(tmp_path, assessments=[{"customer_code": "C001", "contact_code": "K001", "acceptance": 4,
                                           "acceptance_evidence": "x"}])
    assert (p.sheet, p.line, p.column) == (ASSESSMENT_SHEET, 2, "接受认可度")
    assert "N2" in p.message and "4" in p.message and "3 教练" in p.message


def test_the_seven_level_scale_accepts_minus_3(tmp_path: Path) -> None:
    seven = MasterDataRules(assessment_scale=[ScaleLevel(score=s, zh=str(s), en=str(s)) for s in range(-3, 4)])
    path = workbook_from_rows(tmp_path / "kit.xlsx", team="T1", year=2027,
                              assessments=[{"customer_code": "C001", "contact_code": "K001", "acceptance": -3,
                                            "acceptance_evidence": "公开反对"}])
    assert validate_kit(read_kit_workbook(path), ref(seven)).assessments[0].scores["acceptance"] == -3
    with pytest.raises(ImportRejected):
        validate_kit(read_kit_workbook(path), ref())


def test_an_activity_on_or_after_its_projects_decision_is_refused(tmp_path: Path) -> None:
    found = problems(tmp_path, plan=[{**GOOD_PLAN, "project_code": "P002", "planned_date": "2027-06-01"},
                                     {**GOOD_PLAN, "project_code": "P002", "planned_date": date(2027, 5, 31)}])
    assert [(p.sheet, p.line, p.column) for p in found] == [(PLAN_SHEET, 2, "计划日期"), (PLAN_SHEET, 3, "计划日期")]
    assert "2027-05-31" in found[0].message and "P002" in found[0].message


def test_a_missing_budget_is_refused(tmp_path: Path) -> None:
    row = dict(GOOD_PLAN)
    del row["budget"]
    [p] = problems(tmp_path, plan=[row])
    assert (p.sheet, p.line, p.column) == (PLAN_SHEET, 2, "预算（元）")
    assert "G2" in p.message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        assessments=[{"customer_code": "C001", "contact_code": "K001", "information": 1},  # no evidence
                     {"customer_code": "C001", "contact_code": "K003", "acceptance": 1, "acceptance_evidence": "x"},
                     {"customer_code": "C001", "contact_code": "K777", "acceptance": 1, "acceptance_evidence": "x"},
                     {"customer_code": "C001", "contact_code": "K002", "competitor_support": "中兴:1"}],
        objectives=[{"customer_code": "C009", "relationship_target": "x"},
                    {"customer_code": "C001", "target_count": "三", "owner": "E999"}],
        plan=[{**GOOD_PLAN, "project_code": "P003"},  # another customer's project
              {**GOOD_PLAN, "project_code": "P009"},  # closed
              {**GOOD_PLAN, "project_code": "P008"},  # no decision date
              {**GOOD_PLAN, "project_code": "P404"},
              {**GOOD_PLAN, "budget": -5, "activity_type": "喝茶", "planned_date": "明年", "contacts": "K003"}])
    where = [(p.sheet, p.line, p.column) for p in found]
    assert where == [
        (ASSESSMENT_SHEET, 2, "信息传递关键事件"), (ASSESSMENT_SHEET, 3, "联系人编码"), (ASSESSMENT_SHEET, 4, "联系人编码"),
        (ASSESSMENT_SHEET, 5, "对竞争对手支持度"),
        (OBJECTIVES_SHEET, 2, "客户编码"), (OBJECTIVES_SHEET, 3, "关系目标"), (OBJECTIVES_SHEET, 3, "目标人数"),
        (OBJECTIVES_SHEET, 3, "责任人工号"),
        (PLAN_SHEET, 2, "支持项目编码"), (PLAN_SHEET, 3, "支持项目编码"), (PLAN_SHEET, 4, "支持项目编码"),
        (PLAN_SHEET, 5, "支持项目编码"),
        (PLAN_SHEET, 6, "活动类型"), (PLAN_SHEET, 6, "计划日期"), (PLAN_SHEET, 6, "预算（元）"), (PLAN_SHEET, 6, "邀请联系人编码"),
    ]


def test_problems_speak_english_with_mcr_locale_en(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_LOCALE", "en")
    row = dict(GOOD_PLAN)
    del row["budget"]
    with pytest.raises(ImportRejected) as err:
        check(tmp_path, plan=[row])
    text = str(err.value)
    assert "workbook rejected" in text and "sheet '客户关系公关计划' row 2, column '预算（元）' (G2): required" in text


def test_an_empty_workbook_is_refused(tmp_path: Path) -> None:
    [p] = problems(tmp_path)
    assert "没有填写任何内容" in p.message


def test_another_teams_workbook_is_refused(tmp_path: Path) -> None:
    path = workbook_from_rows(tmp_path / "kit.xlsx", team="T9", year=2026, plan=[GOOD_PLAN])
    with pytest.raises(ImportRejected, match="T9"):
        validate_kit(read_kit_workbook(path), ref())


def test_a_file_that_is_not_a_workbook_is_one_clear_problem(tmp_path: Path) -> None:
    bad = tmp_path / "kit.xlsx"
    bad.write_text("not a zip")
    with pytest.raises(ImportRejected, match="XLSX"):
        read_kit_workbook(bad)
    with pytest.raises(ImportRejected, match="不存在|does not exist"):
        read_kit_workbook(tmp_path / "missing.xlsx")


def test_the_written_kit_reads_back_with_only_prefilled_rows_ignored(tmp_path: Path) -> None:
    content = KitContent("T1", "深圳运营商系统部", 2027,
                         [{"code": "C001", "name": "深圳移动", "tier": "S", "locked": ["爱立信"]}],
                         [ContactLine("K001", "黄总", "总经理", "决定者", "陈经理", "C001", "深圳移动", ["爱立信"],
                                      {"acceptance": 1, "participation": None, "information": None, "guidance": None,
                                       "decision_support": 0, "competitor_stance": None}, 2026)],
                         [ProjectLine("P001", "核心网扩容", "C001", "region", "投标", date(2027, 9, 30))],
                         [(3, "教练"), (2, "支持排他"), (1, "支持"), (0, "中立"), (-1, "反对")])
    path = write_kit_workbook(content, tmp_path / "out" / "kit.xlsx")
    raw = read_kit_workbook(path)
    assert list(raw.sheets) == list(KIT_SHEETS)
    assert raw.meta == {"team": "T1", "year": "2027"}
    with pytest.raises(ImportRejected, match="没有填写任何内容"):
        validate_kit(raw, ref())  # pre-filled master data alone is nothing to record

    from openpyxl import load_workbook

    wb = load_workbook(path)
    assert wb.sheetnames[:3] == list(KIT_SHEETS) and "项目参考" in wb.sheetnames
    ws = wb[ASSESSMENT_SHEET]
    header = [c.value for c in ws[1]]
    assert header[:3] == ["客户编码", "客户名称", "联系人编码"] and "上年接受认可度" in header
    row = {h: c.value for h, c in zip(header, ws[2])}
    assert (row["联系人编码"], row["上年接受认可度"], row["上年决策支持度"], row["锁定竞争对手"]) == ("K001", 1, 0, "爱立信")
    projects = [[c.value for c in r] for r in wb["项目参考"].iter_rows(min_row=2)]
    assert projects[0][0] == "P001" and projects[0][5].date() == date(2027, 9, 30)
