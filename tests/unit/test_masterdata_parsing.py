"""Master data without a database: reading CSV/XLSX in every encoding Excel produces, parsing cells,
the column layouts, the rules files (tiers, scale, sensitive switch) and the visibility rule."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from engine.errors import ImportRejected, InvalidRules
from engine.masterdata.exporter import format_cell
from engine.masterdata.importer import BadValue, _PARSERS, cell_text, parse_date, parse_score, read_table
from engine.masterdata.layouts import LAYOUTS, header_index, normalise_header
from engine.masterdata.models import Contact
from engine.masterdata.settings import MasterDataRules, load_masterdata_rules
from engine.masterdata.tiers import TierRules, load_tier_rules
from engine.auth.principal import Principal
from engine.masterdata.visibility import below, can_manage, can_see_contact, can_see_sensitive
from tests.conftest import ROOT

TEXT = "编码,姓名\nE1,张三\nE2,李四\n"


# ---------------------------------------------------------------------------------------------- reading files


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "utf-16"])
def test_csv_is_read_in_every_encoding_excel_writes(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(TEXT.replace("\n", "\r\n").encode(encoding))
    table = read_table(path)
    assert table.headers == ["编码", "姓名"]
    assert table.rows == [(2, ["E1", "张三"]), (3, ["E2", "李四"])]


def test_tab_and_semicolon_separated_files_are_recognised(tmp_path: Path) -> None:
    for sep in ("\t", ";"):
        path = tmp_path / "f.csv"
        path.write_text(TEXT.replace(",", sep), encoding="utf-8")
        assert read_table(path).rows[0] == (2, ["E1", "张三"])


def test_blank_lines_are_skipped_but_row_numbers_stay_those_of_the_sheet(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("\n编码,姓名\n\nE1,张三\n,\nE2,李四\n", encoding="utf-8")
    table = read_table(path)
    assert table.header_row == 2
    assert [n for n, _ in table.rows] == [4, 6]


def test_undecodable_bytes_give_one_problem_naming_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_LOCALE", "en")
    path = tmp_path / "bad.csv"
    path.write_bytes(b"code,name\nE1,\xff\xff\xff\n")
    with pytest.raises(ImportRejected) as info:
        read_table(path)
    [problem] = info.value.problems
    assert problem.file == str(path)
    assert "neither UTF-8 nor GBK" in problem.message and "0xFF at offset 13" in problem.message


def test_malformed_csv_quote_is_reported_with_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_LOCALE", "en")
    path = tmp_path / "bad.csv"
    path.write_text('code,name\nE1,"unterminated\n', encoding="utf-8")
    with pytest.raises(ImportRejected, match="malformed CSV"):
        read_table(path)


def test_xlsx_first_sheet_is_read_with_typed_cells(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["编码", "生日", "收入"])
    sheet.append([10023, datetime(1980, 3, 5), 12.0])
    sheet.append([None, None, None])
    sheet.append(["E2", "1981-01-01", None])
    book.save(tmp_path / "f.xlsx")
    table = read_table(tmp_path / "f.xlsx")
    assert table.rows[0] == (2, [10023, datetime(1980, 3, 5), 12.0])
    assert table.rows[1][0] == 4
    assert cell_text(10023.0) == "10023" and cell_text(datetime(1980, 3, 5)) == "1980-03-05"


# ---------------------------------------------------------------------------------------------- cells


@pytest.mark.parametrize("text", ["1976-02-29", "1976/2/29", "1976.02.29", "1976年2月29日", "19760229",
                                  "1976-02-29 00:00:00", date(1976, 2, 29), datetime(1976, 2, 29, 0, 0)])
def test_dates_in_the_forms_spreadsheets_hold(text: object) -> None:
    assert parse_date(text) == date(1976, 2, 29)


@pytest.mark.parametrize("text", ["1977-02-29", "29/02/1976", "二月", "1976-2", "abc"])
def test_non_dates_are_refused(text: str) -> None:
    with pytest.raises(BadValue):
        parse_date(text)


def test_scores_accept_numbers_and_labels_on_the_configured_scale() -> None:
    rules = MasterDataRules()
    assert [parse_score(v, rules) for v in ("3", 2.0, "+1", "0", "-1", "教练", "neutral")] == [3, 2, 1, 0, -1, 3, 0]
    for bad in ("4", "-2", "1.5", "很好"):
        with pytest.raises(BadValue):
            parse_score(bad, rules)


def test_list_and_choice_cells() -> None:
    from engine.masterdata.importer import Context

    ctx = Context(None, None, "t", MasterDataRules(), TierRules())  # type: ignore[arg-type]

    def parse(parser: str, value: object) -> object:
        return _PARSERS[parser][0](value, ctx)

    assert parse("roles", "客户经理，主管、流程QA") == "account_manager,supervisor,qa"
    assert parse("decision_roles", "批准者;决定者") == "decider,approver"
    assert parse("locale", "English") == "en" and parse("locale", "中文") == "zh-CN"
    assert parse("bool", "√") is True and parse("bool", "否") is False
    assert parse("tier", "价值客户") == "B" and parse("tier", "strategic") == "S" and parse("tier", "c") == "C"
    assert parse("money", "1,200,000") == 1_200_000
    assert parse("key_events", "3月15日 年度大会；12 预算") == (
        '[{"month": 3, "day": 15, "title": "年度大会"}, {"month": 12, "day": null, "title": "预算"}]')
    assert parse("competitor_support", "爱立信：1；诺基亚=-1") == '{"爱立信": 1, "诺基亚": -1}'
    for parser, value in (("roles", "老板"), ("money", "-5"), ("key_events", "13-01 无此月"), ("key_events", "02-30 x"),
                          ("competitors", "A;B;C"), ("competitors", "A;a"), ("timezone", "Mars/Base"),
                          ("email", "not-an-address"), ("credit", "E")):
        with pytest.raises(BadValue):
            parse(parser, value)


def test_export_formatting_reads_back_to_the_stored_value() -> None:
    from engine.masterdata.importer import Context

    ctx = Context(None, None, "t", MasterDataRules(), TierRules())  # type: ignore[arg-type]
    samples = {"bool": True, "competitors": '["爱立信", "诺基亚"]',
               "key_events": '[{"month": 3, "day": 15, "title": "年度大会"}, {"month": 12, "day": null, "title": "预算"}]',
               "competitor_support": '{"爱立信": 1, "诺基亚": -1}', "decision_roles": "decider,approver",
               "gender": "female", "contact_level": "middle"}
    for layout in LAYOUTS.values():
        for column in layout:
            if column.parser in samples:
                for loc in ("zh-CN", "en"):
                    text = format_cell(column, samples[column.parser], loc)
                    assert _PARSERS[column.parser][0](text, ctx) == samples[column.parser], (column, loc)


# ---------------------------------------------------------------------------------------------- layouts


def test_every_column_has_a_chinese_and_an_english_header_and_no_header_is_ambiguous() -> None:
    for kind, layout in LAYOUTS.items():
        assert all(c.zh and c.en for c in layout), kind
        index = header_index(layout)
        for column in layout:
            for name in (*column.zh, *column.en):
                assert index[normalise_header(name)] is column, (kind, name)  # no header names two columns


def test_headers_match_ignoring_case_blanks_and_required_markers() -> None:
    index = header_index(LAYOUTS["customers"])
    assert index[normalise_header(" Annual Revenue USD ")].field == "annual_revenue_usd"
    assert index[normalise_header("年收入（美元）*")].field == "annual_revenue_usd"


# ---------------------------------------------------------------------------------------------- rules files


def test_shipped_rules_files_load() -> None:
    rules = load_masterdata_rules(ROOT / "rules")
    assert rules.scores == [3, 2, 1, 0, -1] and rules.store_sensitive and rules.max_locked_competitors == 2
    assert rules.label(2) == "支持排他" and rules.label(-1, "en") == "opposes"
    tiers = load_tier_rules(ROOT / "rules")
    assert tiers.with_planning_kit() == ["S", "A"]
    assert tiers.policy("C").manager_visits_per_week == 5 and tiers.policy("C").win_rate_monitored
    assert tiers.policy("B").documents == ["personal_cards"]
    assert tiers.name("A") == "伙伴客户" and tiers.name("A", "en") == "partner"


def test_bad_rules_are_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "masterdata.yaml").write_text("store_sensitive: true\nmax_locked_competitors: 9\n", encoding="utf-8")
    with pytest.raises(InvalidRules) as info:
        load_masterdata_rules(tmp_path)
    assert "masterdata.yaml:2: max_locked_competitors" in str(info.value)
    (tmp_path / "masterdata.yaml").write_text("assessment_scale:\n  - {score: 1, zh: a, en: a}\n  - {score: 1, zh: b, en: b}\n",
                                              encoding="utf-8")
    with pytest.raises(InvalidRules, match="only once"):
        load_masterdata_rules(tmp_path)
    (tmp_path / "tiers.yaml").write_text("tiers:\n  S: {zh: 战略客户, en: strategic}\n", encoding="utf-8")
    with pytest.raises(InvalidRules, match="missing tier"):
        load_tier_rules(tmp_path)


def test_missing_rules_files_fall_back_to_the_spec_defaults(tmp_path: Path) -> None:
    assert load_masterdata_rules(tmp_path) == MasterDataRules()
    assert load_tier_rules(tmp_path).with_planning_kit() == ["S", "A"]


# ---------------------------------------------------------------------------------------------- visibility rule


TREE = {"ceo": None, "boss": "ceo", "lead": "boss", "am1": "lead", "am2": "lead", "other": "boss", "am3": "other"}


def viewer(emp: str, roles: frozenset[str] = frozenset()) -> Principal:
    return Principal(emp_no=emp, name=emp, roles=roles, below=frozenset(below(TREE, emp)))


def contact(owner: str, backup: str | None = None) -> Contact:
    return Contact(code="K", customer_code="C", name="n", owner_emp_no=owner, backup_emp_no=backup)


def test_below_walks_the_whole_subtree() -> None:
    assert below(TREE, "boss") == {"lead", "am1", "am2", "other", "am3"}
    assert below(TREE, "am1") == set()
    assert below({"a": "b", "b": "a"}, "a") == {"b"}  # never spins on a loop


def test_rule_owner_backup_supervisors_peers() -> None:
    k = contact("am1", backup="am2")
    assert can_see_contact(viewer("am1"), k) and can_see_sensitive(viewer("am1"), k)
    assert can_see_contact(viewer("am2"), k) and not can_see_sensitive(viewer("am2"), k)
    assert can_see_contact(viewer("ceo"), k) and can_see_sensitive(viewer("lead"), k)
    assert not can_see_contact(viewer("am3"), k) and not can_see_contact(viewer("other"), k)
    assert not can_see_sensitive(viewer("am1"), k, store_sensitive=False)
    assert can_manage(viewer("lead"), "am1") and not can_manage(viewer("am1"), "am1")
    assert can_manage(viewer("am3", frozenset({"sales_management"})), "am1")


def test_supervisor_of_the_backup_owner_sees_the_card_but_not_its_secrets() -> None:
    k = contact("am3", backup="am1")
    assert can_see_contact(viewer("lead"), k) and not can_see_sensitive(viewer("lead"), k)


@pytest.mark.parametrize("cell, number", [("−2", -2), ("＋3", 3), ("1,200", 1200), ("1，200", 1200), (4.0, 4), (" 7 ", 7)])
def test_imports_and_the_planning_workbook_read_numbers_with_one_parser(cell: object, number: int) -> None:
    from engine.masterdata.importer import parse_int
    from flows.planning.workbook import _int as workbook_int

    assert parse_int(cell) == workbook_int(cell) == number
