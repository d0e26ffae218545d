"""The annual third-party survey against real databases (SQLite file and PostgreSQL): sample lists from
CSV (UTF-8, GBK) and XLSX, every refusal with file/row/column and nothing written, the XLSX export read
back as a list and as a results template, results published in full to the teams, and the report's
figures on known data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from engine.app import build_runtime
from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ImportRejected, MCRError
from engine.runtime import Runtime
from flows.survey import service
from flows.survey.fixtures import insert_org, standard_org
from flows.survey.report import render_html

from tests.integration.test_survey_callbacks import snapshot
from tests.support.principals import principal_of

C1_GOOD = ([(i, "面访") for i in range(1, 7)] + [(i, "电话") for i in range(9, 18)]
           + [(i, "问卷") for i in range(21, 36)])
C2_GOOD = [(1, "面访"), (2, "面访"), (4, "电话"), (5, "电话"), (6, "电话"), (8, "问卷"), (9, "问卷"), (10, "问卷"),
           (11, "问卷"), (12, "问卷")]


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    runtime = build_runtime(db, clock=clock, migrate=False)
    insert_org(db, standard_org())
    return runtime


def rows(customer: str, picks: list[tuple[int, str]]) -> list[dict[str, Any]]:
    return [{"contact": f"{customer}-K{i:02d}", "method": method} for i, method in picks]


def write_csv(path: Path, header: list[str], body: list[list[Any]], encoding: str = "utf-8-sig") -> Path:
    text = "\n".join(",".join(str(c) for c in r) for r in [header, *body]) + "\n"
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], body: list[list[Any]], title: str = "Sheet") -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    ws.append(header)
    for r in body:
        ws.append(r)
    wb.save(path)
    return path


def exported(rt: Runtime, tmp_path: Path, year: int = 2026) -> Path:
    service.submit_sample_list(rt, "C1", year, principal=principal_of(rt, "E6"), rows=rows("C1", C1_GOOD))
    service.submit_sample_list(rt, "C2", year, principal=principal_of(rt, "E9"), rows=rows("C2", C2_GOOD))
    path = tmp_path / f"sample-{year}.xlsx"
    service.export_samples(rt, year, path, principal=principal_of(rt, "E2"))
    return path


# ---------------------------------------------------------------------------------------------- sample lists


def test_a_gbk_csv_list_with_chinese_headers_is_accepted(rt: Runtime, db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "样本.csv", ["联系人编码", "姓名", "调查方式", "备注"],
                     [[f"C1-K{i:02d}", "某某", m, ""] for i, m in C1_GOOD], encoding="gbk")
    out = service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), file=path)
    assert (out["size"], out["required"], out["revision"], out["status"]) == (30, 30, 1, "accepted")
    assert (out["senior"], out["middle"], out["base"]) == (6, 9, 15)
    with db.read() as tx:
        entries = tx.all("SELECT row_no, contact_code, level, method FROM survey_sample_entry ORDER BY row_no")
        sample = tx.one("SELECT year, customer_code, source, submitted_by FROM survey_sample")
    assert entries[0] == (2, "C1-K01", "senior", "face_to_face") and entries[-1] == (31, "C1-K35", "base", "questionnaire")
    assert sample == (2026, "C1", str(path), "E6")


def test_a_resubmitted_list_replaces_the_first_one_as_a_new_revision(rt: Runtime, db: Database) -> None:
    service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), rows=rows("C1", C1_GOOD))
    swapped = [(7 if i == 6 else i, m) for i, m in C1_GOOD]
    out = service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E7"), rows=rows("C1", swapped))
    assert out["revision"] == 2
    with db.read() as tx:
        codes = {r[0] for r in tx.all("SELECT contact_code FROM survey_sample_entry")}
        assert tx.one("SELECT COUNT(*) FROM survey_sample")[0] == 1
    assert "C1-K07" in codes and "C1-K06" not in codes and len(codes) == 30


@pytest.mark.parametrize("picks, expected", [
    # a ratio broken
    ([(1, "面访"), (2, "面访")] + [(i, "电话") for i in range(9, 18)] + [(i, "问卷") for i in range(21, 40)],
     ["inline:0: 高层占比 6.7%（2/30），规定为 20% ± 5%（15%–25%）",
      "inline:0: 基层占比 63.3%（19/30），规定为 50% ± 5%（45%–55%）"]),
    # a contact twice
    (C1_GOOD + [(5, "电话")],
     ["inline:31: 第 31 行，列「联系人编码/contact_code」：联系人 C1-K05 重复（第 5 行已列出）；同一联系人只能出现一次"]),
    # too few
    (C1_GOOD[:5] + C1_GOOD[6:14] + C1_GOOD[15:],
     ["inline:0: 样本数量 28 人，少于规定的 30 人（年订货额 USD 50,000,000）"]),
])
def test_a_list_breaking_the_rules_is_refused_with_every_problem_and_nothing_written(
        rt: Runtime, db: Database, picks: list[tuple[int, str]], expected: list[str]) -> None:
    before = snapshot(db)
    with pytest.raises(ImportRejected) as err:
        service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), rows=rows("C1", picks))
    assert str(err.value).splitlines() == [f"导入被拒绝：inline 有 {len(expected)} 个问题，未写入任何数据", *expected]
    assert snapshot(db) == before  # not even the year's survey instance


def test_a_file_naming_contacts_of_another_customer_or_unknown_ones_is_refused(rt: Runtime, db: Database,
                                                                               tmp_path: Path) -> None:
    body = [[f"C1-K{i:02d}", m] for i, m in C1_GOOD[:-2]] + [["C2-K01", "电话"], ["ZZ-9", "电话"]]
    path = write_xlsx(tmp_path / "list.xlsx", ["contact_code", "method"], body)
    before = snapshot(db)
    with pytest.raises(ImportRejected) as err:
        service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), file=path)
    lines = str(err.value).splitlines()
    assert f"{path}:30: 第 30 行，列「联系人编码/contact_code」：联系人 C2-K01 属于客户 C2，不属于客户 C1" in lines
    assert f"{path}:31: 第 31 行，列「联系人编码/contact_code」：未知联系人「ZZ-9」（主数据中没有）" in lines
    assert snapshot(db) == before


def test_a_list_for_an_unknown_customer_or_an_unreadable_file_is_refused(rt: Runtime, db: Database,
                                                                       tmp_path: Path) -> None:
    before = snapshot(db)
    with pytest.raises(ImportRejected, match="inline:0: 未知客户「C9」"):
        service.submit_sample_list(rt, "C9", 2026, principal=principal_of(rt, "E6"), rows=rows("C1", C1_GOOD))
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ImportRejected, match="文件无法读取"):
        service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), file=broken)
    with pytest.raises(ImportRejected, match="不支持的文件类型「.pdf」"):
        service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), file=tmp_path / "list.pdf")
    assert snapshot(db) == before


def test_checking_a_list_stores_nothing(rt: Runtime, db: Database) -> None:
    before = snapshot(db)
    checked = service.check_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), rows=rows("C1", C1_GOOD))
    assert len(checked.rows) == 30 and checked.required == 30
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------------- export


def test_the_export_reads_back_as_the_same_sample_list(rt: Runtime, db: Database, tmp_path: Path) -> None:
    path = exported(rt, tmp_path)
    wb = load_workbook(path)
    assert wb.sheetnames == ["样本清单", "结果模板"]
    ws = wb["样本清单"]
    header = [c.value for c in ws[1]]
    assert header == ["年度", "客户编码", "客户名称", "联系人编码", "姓名", "职务", "层级", "调查方式", "电话", "邮箱"]
    first = [c.value for c in ws[2]]
    assert first[:8] == [2026, "C1", "深圳移动", "C1-K01", "C1联系人01", "副总经理", "高层", "面访"]
    assert ws.max_row == 41
    assert [c.value for c in wb["结果模板"][1]] == ["年度", "客户编码", "客户名称", "联系人编码", "类别", "项目", "得分", "意见"]
    with db.read() as tx:
        assert tx.all("SELECT customer_code, status FROM survey_sample ORDER BY customer_code") == [
            ("C1", "exported"), ("C2", "exported")]
    # The export is a valid list file: its C1 rows submitted again are accepted unchanged.
    c1_only = write_xlsx(tmp_path / "c1.xlsx", header, [[c.value for c in r] for r in ws.iter_rows(min_row=2)
                                                        if r[1].value == "C1"], title="样本清单")
    again = service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), file=c1_only)
    assert (again["size"], again["revision"], again["status"]) == (30, 2, "accepted")


def test_nothing_to_export_is_a_clear_error(rt: Runtime, tmp_path: Path) -> None:
    with pytest.raises(MCRError, match="2026 年没有可导出的样本清单"):
        service.export_samples(rt, 2026, tmp_path / "x.xlsx", principal=principal_of(rt, "E2"))
    assert not (tmp_path / "x.xlsx").exists()


# ---------------------------------------------------------------------------------------------- results


RESULTS = [
    ["C1", "C1-K01", "产品", "路由器", 4, None],
    ["C1", "C1-K01", "服务", "售前", 5, None],
    ["C1", "C1-K09", "服务", "售后", 2, "备件到货慢"],
    ["C1", "C1-K09", "产品", "交换机", 3, None],
    ["C1", "C1-K21", "品牌", "品牌形象", 5, None],
    ["C1", "C1-K21", "服务", "售中", 3, None],
    ["C2", "C2-K01", "服务", "售后", 1, "故障响应太慢"],
    ["C2", "C2-K04", "产品", "路由器", 4, None],
]


def results_file(export: Path, body: list[list[Any]], out: Path) -> Path:
    """The survey firm fills the results template sheet of our export."""
    wb = load_workbook(export)
    ws = wb["结果模板"]
    for r in body:
        ws.append([2026, r[0], None, *r[1:]])
    wb.save(out)
    return out


def test_results_filled_into_the_exported_template_are_imported_and_published_in_full(
        rt: Runtime, db: Database, tmp_path: Path) -> None:
    export = exported(rt, tmp_path)
    path = results_file(export, RESULTS, tmp_path / "results.xlsx")
    out = service.import_results(rt, 2026, principal=principal_of(rt, "E2"), file=path)
    assert (out["rows"], out["customers"]) == (8, ["C1", "C2"])
    with db.read() as tx:
        stored = tx.all("SELECT customer_code, contact_code, category, item, score, tier, office_code, region_code "
                        "FROM survey_result ORDER BY row_no")
        mails = tx.all("SELECT recipient, locale, subject, body FROM outbox WHERE template = 'survey_results_published' "
                       "ORDER BY id")
        statuses = tx.all("SELECT customer_code, status FROM survey_sample ORDER BY customer_code")
        imp = tx.one("SELECT year, rows, customers, actor FROM survey_result_import")
    assert stored[2] == ("C1", "C1-K09", "service", "after_sale", 2, "S", "O1", "R1")
    assert stored[6] == ("C2", "C2-K01", "service", "after_sale", 1, "A", "O2", "R2")
    assert statuses == [("C1", "published"), ("C2", "published")]
    assert (imp[0], imp[1], json.loads(imp[2]), imp[3]) == (2026, 8, ["C1", "C2"], "E2")
    assert [(m[0], m[1]) for m in mails] == [("e6@corp.example", "zh-CN"), ("e7@corp.example", "zh-CN"),
                                             ("e5@corp.example", "zh-CN"), ("e9@corp.example", "en"),
                                             ("e8@corp.example", "en")]
    zh = mails[0]
    assert zh[2] == "2026 年第三方满意度调查结果：深圳移动（平均 3.67 分）"
    assert "服务 · 售后：2.00（1 条）" in zh[3]              # by item, lowest first
    assert zh[3].index("服务 · 售后") < zh[3].index("品牌 · 品牌形象")
    assert "C1联系人09 | 服务 · 售后 | 2 分 | 备件到货慢" in zh[3]   # every row, in full
    assert "C2联系人01 | service / after-sale | 1 | 故障响应太慢" in mails[3][3]


@pytest.mark.parametrize("bad_row, problem", [
    (["C9", "", "服务", "售前", 3, None], "第 10 行，列「客户编码/customer_code」：未知客户「C9」（主数据中没有）"),
    (["C1", "C1-K01", "产品", "路由器", 6, None], "第 10 行，列「得分/score」：得分「6」无效：须为 1–5 的整数"),
    (["C1", "C1-K01", "产品", "路由器", 0, None], "第 10 行，列「得分/score」：得分「0」无效：须为 1–5 的整数"),
    (["C1", "C1-K40", "产品", "路由器", 3, None], "第 10 行，列「联系人编码/contact_code」：联系人 C1-K40 不在客户 C1 的 2026 年样本清单中"),
])
def test_a_bad_result_file_is_refused_whole_and_nothing_is_written(rt: Runtime, db: Database, tmp_path: Path,
                                                                   bad_row: list[Any], problem: str) -> None:
    export = exported(rt, tmp_path)
    path = results_file(export, RESULTS + [bad_row], tmp_path / "results.xlsx")
    before = snapshot(db)
    with pytest.raises(ImportRejected) as err:
        service.import_results(rt, 2026, principal=principal_of(rt, "E2"), file=path)
    assert str(err.value).splitlines() == [f"导入被拒绝：{path} 有 1 个问题，未写入任何数据", f"{path}:10: {problem}"]
    assert snapshot(db) == before


def test_results_cannot_be_imported_before_the_export_or_twice(rt: Runtime, db: Database, tmp_path: Path) -> None:
    service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), rows=rows("C1", C1_GOOD))
    one = [{"customer": "C1", "contact": "C1-K01", "category": "产品", "item": "路由器", "score": 4}]
    with pytest.raises(ImportRejected, match="客户 C1 没有已导出给调查公司的 2026 年样本清单"):
        service.import_results(rt, 2026, principal=principal_of(rt, "E2"), rows=one)
    service.export_samples(rt, 2026, tmp_path / "s.xlsx", principal=principal_of(rt, "E2"))
    service.import_results(rt, 2026, principal=principal_of(rt, "E2"), rows=one)
    before = snapshot(db)
    with pytest.raises(ImportRejected, match="客户 C1 的 2026 年结果已发布过，不能再次导入"):
        service.import_results(rt, 2026, principal=principal_of(rt, "E2"), rows=one)
    with pytest.raises(MCRError, match="客户 C1 的 2026 年调查结果已发布，样本清单不能再修改"):
        service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), rows=rows("C1", C1_GOOD))
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------------- report


def _year_with(rt: Runtime, tmp_path: Path, year: int, body: list[dict[str, Any]]) -> None:
    service.submit_sample_list(rt, "C1", year, principal=principal_of(rt, "E6"), rows=rows("C1", C1_GOOD))
    service.submit_sample_list(rt, "C2", year, principal=principal_of(rt, "E9"), rows=rows("C2", C2_GOOD))
    service.export_samples(rt, year, tmp_path / f"s{year}.xlsx", principal=principal_of(rt, "E2"))
    service.import_results(rt, year, principal=principal_of(rt, "E2"), rows=body)


def _as_dicts(body: list[list[Any]]) -> list[dict[str, Any]]:
    keys = ("customer", "contact", "category", "item", "score", "comment")
    return [dict(zip(keys, r)) for r in body]


def test_the_report_ranks_items_lowest_first_by_product_phase_brand_unit_tier_and_year(
        rt: Runtime, db: Database, tmp_path: Path) -> None:
    _year_with(rt, tmp_path, 2025, _as_dicts([["C1", "C1-K01", "产品", "路由器", 2, None],
                                              ["C2", "C2-K01", "服务", "售后", 2, None]]))
    _year_with(rt, tmp_path, 2026, _as_dicts(RESULTS))
    service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    service.record_callback(rt, principal=principal_of(rt, "E6"), project="P-REG",
                            scores={"product": 5, "solution": 2, "delivery": 4, "service_attitude": 5})
    r = service.report(db, 2026, principal=principal_of(rt, "E2"), locale="zh-CN")
    assert (r["year"], r["responses"], r["customers"], r["contacts"], r["average"], r["low_share"]) == \
        (2026, 8, 2, 5, 3.38, 0.25)
    assert [(e["key"], e["average"], e["count"]) for e in r["by_category"]] == [
        ("service", 2.75, 4), ("product", 3.67, 3), ("brand", 5.0, 1)]
    assert [(e["label"], e["average"], e["low_share"]) for e in r["by_phase"]] == [
        ("售后", 1.5, 1.0), ("售中", 3.0, 0.0), ("售前", 5.0, 0.0)]
    assert [(e["key"], e["average"]) for e in r["by_product"]] == [("交换机", 3.0), ("路由器", 4.0)]
    assert [(e["key"], e["average"]) for e in r["by_brand"]] == [("品牌形象", 5.0)]
    assert [(e["label"], e["average"], e["count"]) for e in r["by_region"]] == [("华东地区部", 2.5, 2),
                                                                               ("华南地区部", 3.67, 6)]
    assert [(e["key"], e["average"]) for e in r["by_office"]] == [("O2", 2.5), ("O1", 3.67)]
    assert [(e["key"], e["label"], e["average"]) for e in r["by_tier"]] == [("A", "A 伙伴客户", 2.5),
                                                                           ("S", "S 战略客户", 3.67)]
    assert [(e["label"], e["average"]) for e in r["lowest_items"]][:3] == [
        ("服务 · 售后", 1.5), ("产品 · 交换机", 3.0), ("服务 · 售中", 3.0)]
    assert r["trend"] == [{"year": 2025, "average": 2.0, "count": 2, "by_category": {"product": 2.0, "service": 2.0}},
                          {"year": 2026, "average": 3.38, "count": 8,
                           "by_category": {"service": 2.75, "product": 3.67, "brand": 5.0}}]
    cb = r["callbacks"]["projects"]
    assert cb["count"] == 1 and cb["low"] == 1 and cb["improvement_issues"] == 1
    assert [(e["item"], e["average"]) for e in cb["by_item"]] == [("solution", 2.0), ("delivery", 4.0),
                                                                 ("product", 5.0), ("service_attitude", 5.0)]
    html = render_html(r, "zh-CN")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "2026 年客户满意度分析" in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_a_year_without_results_gives_an_empty_report(rt: Runtime, db: Database) -> None:
    r = service.report(db, 2030, principal=principal_of(rt, "E2"))
    assert r["responses"] == 0 and r["average"] is None and r["lowest_items"] == [] and r["trend"] == []
    assert "<svg" not in render_html(r, "en") and "Customer satisfaction 2030" in render_html(r, "en")


def test_teams_without_a_list_are_reminded_every_five_business_days(rt: Runtime, db: Database,
                                                                   clock: FakeClock) -> None:
    from datetime import timedelta

    service.submit_sample_list(rt, "C1", 2026, principal=principal_of(rt, "E6"), rows=rows("C1", C1_GOOD))  # starts the year (Thu 26 Nov)
    clock.set(clock.now() + timedelta(days=7))  # Thu 3 Dec 09:00 = 5 business days later
    rt.sweep()
    with db.read() as tx:
        mails = tx.all("SELECT template, recipient, locale, subject FROM outbox ORDER BY id")
        data = json.loads(tx.one("SELECT data FROM flow_instance WHERE flow = 'annual_survey'")[0])
    assert mails == [("sample_list_reminder", "e9@corp.example", "en",
                      "Please submit the 2026 third-party survey sample list of 上海农商银行")]
    assert data["missing_lists"] == ["C2"]
