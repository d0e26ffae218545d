"""The rules a third-party survey sample list and a result file are checked against (pure, no database):
every problem found at once, each with its row and column, in Chinese or English."""

from __future__ import annotations

from typing import Any

import pytest

from flows.survey import results, samples
from engine.masterdata.read import Contact, Customer
from flows.survey.rules import AnnualSurveyRules
from flows.survey.tables import bind, normalise_header

RULES = AnnualSurveyRules()
C1 = Customer("C1", "深圳移动", "S", "O1", "T1", "E6", None, 50_000_000)
LEVELS = ["senior"] * 8 + ["middle"] * 12 + ["base"] * 20
CONTACTS = {f"K{i:02d}": Contact(f"K{i:02d}", "C1", f"联系人{i}", None, LEVELS[i - 1], None, None, "E6")
            for i in range(1, 41)}
CONTACTS["X1"] = Contact("X1", "C2", "别家", None, "senior", None, None, "E9")
CONTACTS["NOLEVEL"] = Contact("NOLEVEL", "C1", "无层级", None, None, None, None, "E6")


def good_rows() -> list[dict[str, Any]]:
    """6 senior, 9 middle, 15 base = 30, exactly the ratios."""
    picks = list(range(1, 7)) + list(range(9, 18)) + list(range(21, 36))
    return [{"contact": f"K{i:02d}", "method": "电话"} for i in picks]


def check(rows: list[dict[str, Any]], customer: Customer | None = C1, rules: AnnualSurveyRules = RULES) -> samples.Checked:
    return samples.check_sample("list.xlsx", samples.inline_rows(rows), customer_code="C1", customer=customer,
                                year=2026, contacts=CONTACTS, rules=rules)


def messages(checked: Any) -> list[str]:
    return [str(p) for p in checked.problems]


def test_a_list_of_the_right_size_and_ratios_passes() -> None:
    c = check(good_rows())
    assert c.ok and c.required == 30 and len(c.rows) == 30
    assert c.counts == {"senior": 6, "middle": 9, "base": 15}
    assert {r.method for r in c.rows} == {"phone"}


def test_a_list_shorter_than_the_order_volume_requires_is_refused() -> None:
    rows = good_rows()[:-2] + [{"contact": "K36", "method": "问卷"}]  # 29
    assert messages(check(rows)) == [
        "list.xlsx:0: 样本数量 29 人，少于规定的 30 人（年订货额 USD 50,000,000）"]


def test_every_level_outside_its_tolerance_is_named_with_its_share_and_the_rule() -> None:
    picks = [1, 2] + list(range(9, 18)) + list(range(21, 40))
    got = messages(check([{"contact": f"K{i:02d}", "method": "面访"} for i in picks]))
    assert got == ["list.xlsx:0: 高层占比 6.7%（2/30），规定为 20% ± 5%（15%–25%）",
                   "list.xlsx:0: 基层占比 63.3%（19/30），规定为 50% ± 5%（45%–55%）"]


def test_a_share_exactly_at_the_edge_of_the_tolerance_is_accepted() -> None:
    # 5 of 20 = 25 % senior against 20 % ± 5 %
    rules = AnnualSurveyRules(sizes=[{"min_order_usd": 0, "contacts": 20}])
    picks = list(range(1, 6)) + list(range(9, 15)) + list(range(21, 30))
    assert check([{"contact": f"K{i:02d}", "method": "电话"} for i in picks], rules=rules).ok


def test_the_same_contact_twice_is_refused_at_the_second_row() -> None:
    rows = good_rows() + [{"contact": "K05", "method": "面访"}]
    assert messages(check(rows)) == [
        "list.xlsx:31: 第 31 行，列「联系人编码/contact_code」：联系人 K05 重复（第 5 行已列出）；同一联系人只能出现一次"]


def test_unknown_contacts_contacts_of_other_customers_and_bad_cells_are_all_reported_at_once() -> None:
    rows = good_rows() + [
        {"contact": "NOPE", "method": "电话"},
        {"contact": "X1", "method": "电话"},
        {"contact": "K36", "method": "微信"},
        {"contact": "K37", "method": "电话", "level": "高管"},
        {"contact": "K38", "method": "电话", "level": "高层"},   # master data says base
        {"contact": "NOLEVEL", "method": "电话"},
        {"contact": "", "method": ""},
    ]
    got = messages(check(rows))
    assert got[:7] == [
        "list.xlsx:31: 第 31 行，列「联系人编码/contact_code」：未知联系人「NOPE」（主数据中没有）",
        "list.xlsx:32: 第 32 行，列「联系人编码/contact_code」：联系人 X1 属于客户 C2，不属于客户 C1",
        "list.xlsx:33: 第 33 行，列「调查方式/method」：调查方式「微信」无效：请填 面访、电话 或 问卷",
        "list.xlsx:34: 第 34 行，列「层级/level」：层级「高管」无效：请填 高层、中层 或 基层",
        "list.xlsx:35: 第 35 行，列「层级/level」：层级「高层」与主数据不符（主数据为基层）；请先更正主数据",
        "list.xlsx:36: 第 36 行，列「层级/level」：联系人 NOLEVEL 在主数据中没有层级，请在本列填写 高层、中层 或 基层",
        "list.xlsx:37: 第 37 行，列「联系人编码/contact_code」：必填，不能为空",
    ]
    assert "list.xlsx:37: 第 37 行，列「调查方式/method」：必填，不能为空" in got


def test_a_level_given_in_the_file_fills_a_gap_of_master_data() -> None:
    rows = good_rows()[:-1] + [{"contact": "NOLEVEL", "method": "问卷", "level": "基层"}]
    c = check(rows)
    assert c.ok and c.counts["base"] == 15


def test_the_year_and_customer_columns_must_match_the_list() -> None:
    rows = good_rows()
    rows[0] = {**rows[0], "year": "2025", "customer_code": "C2"}
    assert messages(check(rows)) == [
        "list.xlsx:1: 第 1 行，列「年度/year」：年度「2025」与本次调查年度 2026 不符",
        "list.xlsx:1: 第 1 行，列「客户编码/customer_code」：客户编码「C2」不是本清单的客户 C1"]


def test_a_method_the_rules_do_not_allow_is_refused() -> None:
    rules = AnnualSurveyRules(methods=["face_to_face", "phone"])
    got = messages(check(good_rows()[:-1] + [{"contact": "K36", "method": "问卷"}], rules=rules))
    assert got == ["list.xlsx:30: 第 30 行，列「调查方式/method」：调查方式「问卷」未被 rules/survey.yaml 允许（允许：面访、电话）"]


def test_an_unknown_customer_is_one_problem() -> None:
    assert messages(check(good_rows(), customer=None)) == ["list.xlsx:0: 未知客户「C1」（主数据中没有）"]


def test_problems_are_in_english_with_mcr_locale_en(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_LOCALE", "en")
    got = messages(check(good_rows() + [{"contact": "K05", "method": "phone"}]))
    assert got == ["list.xlsx:31: row 31, column '联系人编码/contact_code': contact K05 is listed twice (first at row 5); "
                   "list each contact once"]


@pytest.mark.parametrize("word, method", [("面访", "face_to_face"), ("face-to-face", "face_to_face"),
                                          ("Face to face", "face_to_face"), ("电话", "phone"), ("PHONE", "phone"),
                                          ("问卷", "questionnaire")])
def test_methods_are_understood_in_chinese_and_english(word: str, method: str) -> None:
    rows = good_rows()
    rows[0] = {**rows[0], "method": word}
    assert check(rows).rows[0].method == method


# ---------------------------------------------------------------------------------------------- file headers


def test_headers_are_matched_in_chinese_or_english_ignoring_case_blanks_and_stars() -> None:
    sheet = bind("f.csv", [["联系人编码*", "Survey Method", "备注"], ["K01", "电话", "x"]], samples.COLUMNS)
    assert sheet.rows == [(2, {"contact_code": "K01", "method": "电话", "note": "x"})]
    assert normalise_header(" Contact_Code ") == "contactcode"


def test_an_unknown_or_missing_column_is_reported_at_the_header_row() -> None:
    from engine.errors import ImportRejected

    with pytest.raises(ImportRejected) as err:
        bind("f.csv", [[], ["联系人编码", "调查方试"], ["K01", "电话"]], samples.COLUMNS)
    lines = str(err.value).splitlines()
    assert lines[0] == "导入被拒绝：f.csv 有 2 个问题，未写入任何数据"
    assert lines[1].startswith("f.csv:2: 无法识别的列「调查方试」")
    assert lines[2] == "f.csv:2: 表头缺少必填列：调查方式/method"


# ---------------------------------------------------------------------------------------------- results


@pytest.mark.parametrize("value, score", [(1, 1), (5, 5), ("4", 4), (4.0, 4), ("3.0", 3), (" 2 ", 2),
                                          (0, None), (6, None), (4.5, None), ("4.5", None), ("五", None),
                                          (True, None), ("", None), (-1, None)])
def test_a_score_is_a_whole_number_from_1_to_5(value: Any, score: int | None) -> None:
    assert results.parse_score(value) == score


def check_results(rows: list[dict[str, Any]], status: dict[str, str] | None = None) -> results.Checked:
    customers = {"C1": C1, "C2": Customer("C2", "上海农商银行", "A", "O2", "T2", "E9", None, 5_000_000)}
    status = {"C1": "exported", "C2": "published"} if status is None else status
    return results.check_results("res.xlsx", results.inline_rows(rows), year=2026, customer=customers.get,
                                 sample_status=status.get, sample_contacts=lambda c: {"K01", "K09"},
                                 contacts=CONTACTS)


def test_result_rows_are_normalised_category_and_service_phase() -> None:
    c = check_results([{"customer": "C1", "contact": "K01", "category": "服务", "item": "售后", "score": 2},
                       {"customer": "C1", "category": "Product", "item": "路由器", "score": "5"},
                       {"customer": "C1", "category": "品牌", "item": "品牌形象", "score": 4.0, "comment": "好"}])
    assert not c.problems
    assert [(r.category, r.item, r.score) for r in c.rows] == [("service", "after_sale", 2), ("product", "路由器", 5),
                                                               ("brand", "品牌形象", 4)]
    assert c.customers == ["C1"]


def test_every_bad_result_row_is_reported_with_row_and_column() -> None:
    c = check_results([
        {"customer": "C9", "category": "服务", "item": "售前", "score": 3},
        {"customer": "C9", "category": "服务", "item": "售前", "score": 3},
        {"customer": "C2", "category": "服务", "item": "售前", "score": 3},
        {"customer": "C1", "contact": "K02", "category": "产品", "item": "路由器", "score": 3},
        {"customer": "C1", "contact": "X1", "category": "产品", "item": "路由器", "score": 3},
        {"customer": "C1", "category": "价格", "item": "报价", "score": 3},
        {"customer": "C1", "category": "服务", "item": "售后服务", "score": 3},
        {"customer": "C1", "category": "产品", "item": "", "score": 6},
    ])
    assert [str(p) for p in c.problems] == [
        "res.xlsx:1: 第 1 行，列「客户编码/customer_code」：未知客户「C9」（主数据中没有）",
        "res.xlsx:2: 第 2 行，列「客户编码/customer_code」：未知客户「C9」（主数据中没有）",
        "res.xlsx:3: 第 3 行，列「客户编码/customer_code」：客户 C2 的 2026 年结果已发布过，不能再次导入",
        "res.xlsx:4: 第 4 行，列「联系人编码/contact_code」：联系人 K02 不在客户 C1 的 2026 年样本清单中",
        "res.xlsx:5: 第 5 行，列「联系人编码/contact_code」：联系人 X1 属于客户 C2，不属于客户 C1",
        "res.xlsx:6: 第 6 行，列「类别/category」：类别「价格」无效：请填 产品、服务 或 品牌",
        "res.xlsx:7: 第 7 行，列「项目/item」：服务类的项目须为 售前、售中 或 售后，而不是「售后服务」",
        "res.xlsx:8: 第 8 行，列「项目/item」：必填，不能为空",
        "res.xlsx:8: 第 8 行，列「得分/score」：得分「6」无效：须为 1–5 的整数",
    ]


def test_results_for_a_customer_whose_list_was_never_exported_are_refused() -> None:
    c = check_results([{"customer": "C1", "category": "产品", "item": "路由器", "score": 3}], status={"C1": "accepted"})
    assert [str(p) for p in c.problems] == [
        "res.xlsx:1: 第 1 行，列「客户编码/customer_code」：客户 C1 没有已导出给调查公司的 2026 年样本清单"]
