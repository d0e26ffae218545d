"""The annual third-party survey sample list (第三方满意度调查样本清单): its file layout, the rules
check, and the XLSX export for the survey firm.

`check_sample` is the whole rule set, run on rows already read: each contact known and belonging
to the customer, given once, with a level (高层/中层/基层, from master data when the file has no
level; a file level that contradicts master data is a problem) and a survey method (面访/电话/问卷);
the list at least as long as the customer's order volume requires, and each level's share within
the tolerance of its ratio. Every problem is collected with file, row and column; the caller
writes nothing when there is one. Pure apart from the contact lookup it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from engine.errors import Problem
from engine.paths import output_file

from engine.i18n import label, t
from engine.masterdata.read import Contact, Customer, MasterData
from flows.survey.rules import CONTACT_LEVELS, METHODS, AnnualSurveyRules
from flows.survey.tables import Column, text

COLUMNS: tuple[Column, ...] = (
    Column("year", ("年度",), ("year",)),
    Column("customer_code", ("客户编码",), ("customer_code", "customer")),
    Column("customer_name", ("客户名称",), ("customer_name",)),
    Column("contact_code", ("联系人编码", "关键客户编码"), ("contact_code", "contact", "code"), required=True),
    Column("name", ("姓名",), ("name",)),
    Column("title", ("职务",), ("title",)),
    Column("level", ("层级",), ("level",)),
    Column("method", ("调查方式", "方式"), ("method", "survey_method"), required=True),
    Column("phone", ("电话",), ("phone",)),
    Column("email", ("邮箱",), ("email",)),
    Column("note", ("备注",), ("note", "remark")),
)
COLUMN = {c.field: c for c in COLUMNS}

LEVEL_WORDS: dict[str, str] = {"高层": "senior", "中层": "middle", "基层": "base",
                               "senior": "senior", "middle": "middle", "base": "base"}
METHOD_WORDS: dict[str, str] = {"面访": "face_to_face", "面对面": "face_to_face", "面谈": "face_to_face",
                                "facetoface": "face_to_face", "face_to_face": "face_to_face",
                                "电话": "phone", "phone": "phone", "问卷": "questionnaire",
                                "questionnaire": "questionnaire"}


def _word(table: dict[str, str], value: Any) -> str | None:
    raw = text(value).lower().replace("-", "_").replace(" ", "_")
    return table.get(raw) or table.get(raw.replace("_", ""))


@dataclass(frozen=True)
class SampleRow:
    row: int
    contact_code: str
    level: str
    method: str


@dataclass
class Checked:
    rows: list[SampleRow]
    problems: list[Problem]
    required: int
    counts: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.problems


def _cell(source: str, row: int, field: str, reason: str) -> Problem:
    return Problem(source, row, t("survey.cell", row=row, col=COLUMN[field].label, reason=reason))


def check_sample(source: str, rows: Iterable[tuple[int, dict[str, Any]]], *, customer_code: str,
                 customer: Customer | None, year: int, contacts: dict[str, Contact],
                 rules: AnnualSurveyRules) -> Checked:
    """Check a sample list against the rules; `contacts` holds every contact the rows name that exists."""
    problems: list[Problem] = []
    if customer is None:
        return Checked([], [Problem(source, 0, t("survey.unknown_customer", customer=customer_code))], 0, {})
    required = rules.required_size(customer.annual_revenue_usd)
    seen: dict[str, int] = {}
    good: list[SampleRow] = []
    levels_seen: list[str] = []
    belonging = 0  # distinct contacts of this customer: the list's size
    for row, cells in rows:
        before = len(problems)
        if "year" in cells and text(cells["year"]) and text(cells["year"]) != str(year):
            problems.append(_cell(source, row, "year", t("survey.wrong_year", value=text(cells["year"]), year=year)))
        if "customer_code" in cells and text(cells["customer_code"]) and text(cells["customer_code"]) != customer_code:
            problems.append(_cell(source, row, "customer_code",
                                  t("survey.row_other_customer", value=text(cells["customer_code"]), customer=customer_code)))
        code = text(cells.get("contact_code"))
        contact = None
        if not code:
            problems.append(_cell(source, row, "contact_code", t("survey.required")))
        elif code in seen:
            problems.append(_cell(source, row, "contact_code", t("survey.duplicate_contact", contact=code, first=seen[code])))
        else:
            seen[code] = row
            contact = contacts.get(code)
            if contact is None:
                problems.append(_cell(source, row, "contact_code", t("survey.unknown_contact", contact=code)))
            elif contact.customer_code != customer_code:
                problems.append(_cell(source, row, "contact_code",
                                      t("survey.contact_other_customer", contact=code, actual=contact.customer_code,
                                        customer=customer_code)))
                contact = None
        if contact is not None:
            belonging += 1
        level = None
        given_level = text(cells.get("level"))
        if given_level:
            level = _word(LEVEL_WORDS, given_level)
            if level is None:
                problems.append(_cell(source, row, "level", t("survey.bad_level", value=given_level)))
            elif contact is not None and contact.level and contact.level != level:
                problems.append(_cell(source, row, "level", t("survey.level_mismatch", value=given_level,
                                                              master=label("survey.level", contact.level))))
        elif contact is not None:
            level = contact.level
            if level not in CONTACT_LEVELS:
                problems.append(_cell(source, row, "level", t("survey.level_unknown", contact=code)))
                level = None
        method_text = text(cells.get("method"))
        method = _word(METHOD_WORDS, method_text) if method_text else None
        if not method_text:
            problems.append(_cell(source, row, "method", t("survey.required")))
        elif method is None:
            problems.append(_cell(source, row, "method", t("survey.bad_method", value=method_text)))
        elif method not in rules.methods:
            problems.append(_cell(source, row, "method", t("survey.method_not_allowed", value=label("survey.method", method),
                                                            allowed="、".join(label("survey.method", x) for x in rules.methods))))
        if contact is not None and level:
            levels_seen.append(level)  # a typo in another cell must not also show up as a ratio problem
            if len(problems) == before and method:
                good.append(SampleRow(row, code, level, method))
    counts = {lv: levels_seen.count(lv) for lv in CONTACT_LEVELS}
    size = belonging
    if size < required:
        problems.append(Problem(source, 0, t("survey.too_small", size=size, required=required,
                                             volume=_usd(customer.annual_revenue_usd))))
    total = sum(counts.values())
    if total:
        for lv in CONTACT_LEVELS:
            ratio = rules.levels[lv]
            share = counts[lv] / total
            if abs(share - ratio) > rules.tolerance + 1e-9:
                problems.append(Problem(source, 0, t("survey.bad_ratio", level=label("survey.level", lv), share=share * 100,
                                                     n=counts[lv], total=total, ratio=ratio * 100,
                                                     tol=rules.tolerance * 100,
                                                     low=max(0.0, ratio - rules.tolerance) * 100,
                                                     high=min(1.0, ratio + rules.tolerance) * 100)))
    return Checked(good, problems, required, counts)


def check_in(tx: Any, source: str, rows: list[tuple[int, dict[str, Any]]], *, customer_code: str, year: int,
             rules: AnnualSurveyRules) -> Checked:
    """`check_sample` with its lookups read through `tx` (a step's transaction or a read-only one)."""

    names = [text(c.get("contact_code")) for _, c in rows]
    return check_sample(source, rows, customer_code=customer_code, customer=MasterData(tx).customer(customer_code),
                        year=year, contacts=MasterData(tx).contacts([n for n in names if n]), rules=rules)


def _usd(value: int | None) -> str:
    return f"USD {value:,}" if value else "USD 0"


def inline_rows(items: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Rows given inline (scenarios, tests, the web form): numbered from 1, keys as field names
    (`contact` is accepted for `contact_code`)."""
    out = []
    for i, item in enumerate(items, start=1):
        cells = dict(item)
        if "contact" in cells and "contact_code" not in cells:
            cells["contact_code"] = cells.pop("contact")
        out.append((i, cells))
    return out


# ---------------------------------------------------------------------------------------------- export

RESULT_TEMPLATE_SHEET = "结果模板"
SAMPLE_SHEET = "样本清单"


def write_export(path: Path, lists: list[dict[str, Any]], locale: str) -> int:
    """The workbook for the survey firm: one sheet with every contact of the given lists, one
    results template sheet in the layout `mcr survey results import` reads back."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    from flows.survey.results import COLUMNS as RESULT_COLUMNS

    wb = Workbook()
    ws = wb.active
    ws.title = SAMPLE_SHEET
    fields = ["year", "customer_code", "customer_name", "contact_code", "name", "title", "level", "method",
              "phone", "email"]
    ws.append([COLUMN[f].header(locale) for f in fields])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    n = 0
    for lst in lists:
        for e in lst["entries"]:
            ws.append([lst["year"], lst["customer_code"], lst["customer_name"], e["contact_code"], e["name"],
                       e.get("title"), label("survey.level", e["level"], locale), label("survey.method", e["method"], locale),
                       e.get("phone"), e.get("email")])
            n += 1
    for col, width in zip("ABCDEFGHIJ", (8, 12, 24, 14, 12, 20, 8, 10, 16, 26)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    rt = wb.create_sheet(RESULT_TEMPLATE_SHEET)
    rt.append([c.header(locale) for c in RESULT_COLUMNS])
    for cell in rt[1]:
        cell.font = Font(bold=True)
    wb.save(output_file(path))
    return n
