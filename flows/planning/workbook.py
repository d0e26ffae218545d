"""The three-piece kit (客户关系规划三件套) as ONE XLSX workbook: written pre-filled from master
data, read back and validated when the team submits it.

Sheets (names are fixed; the reader looks them up by name):
1. 客户关系现状评估表 — one row per key contact of the team's kit customers: last year's six
   scores (上年…) pre-filled, this year's scores with their key event (关键事件) to fill in;
2. 客户关系目标任务书 — one row per kit customer: market target → relationship target;
3. 客户关系公关计划 — the action plan: activity, supported project, date, budget, owner;
plus two read-only helper sheets: 项目参考 (projects with decision dates) and 填写说明.

Headers are on row 1, so a problem's row number is the row the user sees in Excel. Validation
collects EVERY problem — sheet, row, column (and the cell reference) — and raises one
`ImportRejected`; a workbook with any problem records nothing. This module reads the master
data it is given and never writes the database.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Optional

from sqlmodel import Session, col, select

from engine.errors import ImportRejected, Problem
from engine.i18n import locale
from engine.masterdata.models import (DIMENSION_ZH, Assessment, Contact, Customer,
                                      Dimension, Employee, Project)
from engine.masterdata.importer import BadValue, parse_date, parse_int
from engine.masterdata.settings import MasterDataRules, load_masterdata_rules
from engine import i18n
from flows.planning.rules import KitRules

ASSESSMENT_SHEET = "客户关系现状评估表"
OBJECTIVES_SHEET = "客户关系目标任务书"
PLAN_SHEET = "客户关系公关计划"
PROJECTS_SHEET = "项目参考"
README_SHEET = "填写说明"
KIT_SHEETS = (ASSESSMENT_SHEET, OBJECTIVES_SHEET, PLAN_SHEET)
SECTION_OF_SHEET = {ASSESSMENT_SHEET: "assessment", OBJECTIVES_SHEET: "objectives", PLAN_SHEET: "plan"}
SHEET_OF_SECTION = {v: k for k, v in SECTION_OF_SHEET.items()}
SECTIONS = ("assessment", "objectives", "plan")
DIMENSIONS = [d.value for d in Dimension]


@dataclass(frozen=True)
class KCol:
    key: str
    zh: str
    en: str
    input: bool = True  # False: pre-filled for reference, ignored when read back
    required: bool = False
    width: int = 14
    optional: bool = False  # a workbook from before the column existed may leave it out (not a problem)


def _assessment_cols() -> tuple[KCol, ...]:
    cols = [KCol("customer_code", "客户编码", "customer code", input=False, required=True, width=10),
            KCol("customer_name", "客户名称", "customer name", input=False, width=20),
            KCol("contact_code", "联系人编码", "contact code", input=False, required=True, width=14),
            KCol("contact_name", "姓名", "name", input=False, width=10),
            KCol("title", "职务", "title", input=False, width=18),
            KCol("roles", "决策链角色", "decision roles", input=False, width=14),
            KCol("owner", "负责人", "owner", input=False, width=10)]
    cols += [KCol(f"last_{d}", f"上年{DIMENSION_ZH[Dimension(d)]}", f"last year {d}", input=False, width=10)
             for d in DIMENSIONS]
    for d in DIMENSIONS:
        zh = DIMENSION_ZH[Dimension(d)]
        cols += [KCol(d, zh, d, width=10), KCol(f"{d}_evidence", f"{zh}关键事件", f"{d} evidence", width=24)]
    cols += [KCol("support_us", "对我方支持度", "support for us", width=10),
             KCol("locked", "锁定竞争对手", "locked competitors", input=False, width=16),
             KCol("competitor_support", "对竞争对手支持度", "competitor support", width=20),
             # Per customer (any of its rows; two rows of one customer must agree): docs/planning.md.
             KCol("org_relationship", "组织客户关系", "organisational relationship", width=12, optional=True),
             KCol("general_relationship", "普遍客户关系", "general relationship", width=12, optional=True)]
    return tuple(cols)


ASSESSMENT_COLS = _assessment_cols()
OBJECTIVE_COLS = (
    KCol("customer_code", "客户编码", "customer code", input=False, required=True, width=10),
    KCol("customer_name", "客户名称", "customer name", input=False, width=20),
    KCol("tier", "客户级别", "tier", input=False, width=8),
    KCol("market_target", "市场目标", "market target", width=30),
    KCol("relationship_target", "关系目标", "relationship target", required=True, width=36),
    KCol("target_count", "目标人数", "target count", width=8),
    KCol("target_level", "目标关系等级", "target level", width=10),
    KCol("owner", "责任人工号", "owner emp_no", width=10),
    KCol("due_date", "完成时间", "due date", width=12),
    KCol("info_channels", "信息渠道", "info channels", width=28, optional=True),
)
PLAN_COLS = (
    KCol("customer_code", "客户编码", "customer code", required=True, width=10),
    KCol("contacts", "邀请联系人编码", "invited contacts", width=22),
    KCol("activity_type", "活动类型", "activity type", required=True, width=12),
    KCol("title", "活动名称", "activity", required=True, width=28),
    KCol("project_code", "支持项目编码", "supported project", required=True, width=14),
    KCol("planned_date", "计划日期", "planned date", required=True, width=12),
    KCol("budget", "预算（元）", "budget", required=True, width=12),
    KCol("owner", "责任人工号", "owner emp_no", width=10),
    KCol("sponsor", "赞助人工号", "sponsor emp_no", width=10, optional=True),
    KCol("remark", "备注", "remark", input=False, width=20),
)
COLUMNS = {ASSESSMENT_SHEET: ASSESSMENT_COLS, OBJECTIVES_SHEET: OBJECTIVE_COLS, PLAN_SHEET: PLAN_COLS}


# ============================================================================================ problems


@dataclass(frozen=True)
class SheetProblem(Problem):
    """A problem located by sheet, row and column (row 0: the sheet or workbook as a whole)."""

    sheet: str = ""
    column: str = ""
    field: str = ""  # the same place as the kit page's form field (`form_field`); "" for the workbook as a whole


def form_field(section: str, row: int, key: str = "") -> str:
    """The kit page's form field of (sheet row `row`, column `key`) of a section: row 2 is the form's first line.

    The workbook and the form share one row model (headers on row 1), so a problem the validator finds
    names its place both ways — 工作表/行/列 for the workbook, this name for the page."""
    return f"{section}-{row - 2}-{key}" if key else f"{section}-{row - 2}"


def _col_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


class Problems:
    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[SheetProblem] = []

    def cell(self, sheet: str, row: int, col: KCol, index: int, reason: str) -> None:
        self.items.append(SheetProblem(self.file, row, i18n.t("planning.cell", sheet=sheet, row=row, col=col.zh,
                                                           ref=f"{_col_letter(index)}{row}", reason=reason),
                                       sheet=sheet, column=col.zh,
                                       field=form_field(SECTION_OF_SHEET[sheet], row, col.key)))

    def row(self, sheet: str, row: int, reason: str) -> None:
        self.items.append(SheetProblem(self.file, row, i18n.t("planning.sheet_row", sheet=sheet, row=row, reason=reason),
                                       sheet=sheet, field=form_field(SECTION_OF_SHEET[sheet], row)))

    def sheet(self, sheet: str, reason: str, column: str = "") -> None:
        self.items.append(SheetProblem(self.file, 1 if column else 0, i18n.t("planning.sheet_level", sheet=sheet, reason=reason),
                                       sheet=sheet, column=column))

    def workbook(self, reason: str) -> None:
        self.items.append(SheetProblem(self.file, 0, reason))

    def raise_if_any(self) -> None:
        if self.items:
            raise ImportRejected(self.items, header=i18n.t("planning.kit_rejected", file=self.file, n=len(self.items)))


# ============================================================================================ writing


@dataclass
class ContactLine:
    code: str
    name: str
    title: Optional[str]
    roles: str
    owner: str
    customer_code: str
    customer_name: str
    locked: list[str]
    last_scores: dict[str, Optional[int]]
    last_year: Optional[int]


@dataclass
class ProjectLine:
    code: str
    name: str
    customer_code: str
    level: str
    phase: Optional[str]
    decision_date: Optional[date]


@dataclass
class KitContent:
    """Everything the kit is pre-filled with: the team's kit customers, contacts, last scores, projects."""

    team_code: str
    team_name: str
    year: int
    customers: list[dict[str, Any]]  # code, name, tier, locked
    contacts: list[ContactLine]
    projects: list[ProjectLine]
    scale: list[tuple[int, str]]


_DECISION_ZH = {"initiator": "发起者", "user": "使用者", "influencer": "影响者", "decider": "决定者",
                "approver": "批准者", "buyer": "购买者", "gatekeeper": "控制者"}


def kit_content(session: Session, team_code: str, team_name: str, year: int, tiers: Iterable[str],
                rules: MasterDataRules) -> KitContent:
    """Read the master data the kit of `team_code` for planning year `year` is pre-filled with."""
    custs = session.exec(select(Customer).where(Customer.team_code == team_code, col(Customer.tier).in_(list(tiers)))
                         .order_by(col(Customer.code))).all()
    codes = [c.code for c in custs]
    by_code = {c.code: c for c in custs}
    contacts = session.exec(select(Contact).where(col(Contact.customer_code).in_(codes))
                            .order_by(col(Contact.customer_code), col(Contact.code))).all() if codes else []
    # Only the owners of these contacts: the whole staff list grows with the company, a team's kit does not.
    owners = sorted({c.owner_emp_no for c in contacts if c.owner_emp_no})
    people = {e.emp_no: e.name for e in session.exec(select(Employee).where(col(Employee.emp_no).in_(owners)))} \
        if owners else {}
    last: dict[str, Assessment] = {}
    if contacts:
        rows = session.exec(select(Assessment).where(col(Assessment.contact_code).in_([c.code for c in contacts]),
                                                     Assessment.year < year)
                            .order_by(col(Assessment.year), col(Assessment.revision))).all()
        for a in rows:  # the latest year's latest revision wins
            last[a.contact_code] = a
    lines = []
    for c in contacts:
        a = last.get(c.code)
        cust = by_code[c.customer_code]
        lines.append(ContactLine(
            c.code, c.name, c.title, "、".join(_DECISION_ZH.get(r, r) for r in c.decision_roles.split(",") if r),
            people.get(c.owner_emp_no, c.owner_emp_no), c.customer_code, cust.name,
            json.loads(cust.locked_competitors or "[]"),
            {d: getattr(a, d) if a else None for d in DIMENSIONS}, a.year if a else None))
    projects = session.exec(select(Project).where(col(Project.customer_code).in_(codes), Project.closed == False)  # noqa: E712
                            .order_by(col(Project.customer_code), col(Project.code))).all() if codes else []
    return KitContent(team_code, team_name, year,
                      [{"code": c.code, "name": c.name, "tier": c.tier,
                        "locked": json.loads(c.locked_competitors or "[]")} for c in custs],
                      lines,
                      [ProjectLine(p.code, p.name, p.customer_code, p.level, p.phase, p.decision_date) for p in projects],
                      [(lvl.score, lvl.zh) for lvl in rules.assessment_scale])


def write_kit_workbook(content: KitContent, path: Path) -> Path:
    """Write the pre-filled kit to `path` (parent folders created); returns the path."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    # Write-only: rows are streamed as appended (no cell objects for the whole book), so widths,
    # frozen panes and validations are set before the first row.
    wb = Workbook(write_only=True)
    head_font = Font(bold=True)
    info_fill = PatternFill("solid", fgColor="EEEEEE")
    input_fill = PatternFill("solid", fgColor="FFF8DC")
    wrap = Alignment(wrap_text=True, vertical="center")

    def sheet(title: str, cols: tuple[KCol, ...]) -> Any:
        ws = wb.create_sheet(title)
        for i, c in enumerate(cols):
            ws.column_dimensions[_col_letter(i)].width = c.width
        ws.freeze_panes = "A2"
        heads = []
        for c in cols:
            cell = WriteOnlyCell(ws, value=c.zh + ("*" if c.required and c.input else ""))
            cell.font, cell.fill, cell.alignment = head_font, input_fill if c.input else info_fill, wrap
            heads.append(cell)
        return ws, heads

    ws, heads = sheet(ASSESSMENT_SHEET, ASSESSMENT_COLS)
    ws.append(heads)
    keys = [c.key for c in ASSESSMENT_COLS]
    for line in content.contacts:
        values = {"customer_code": line.customer_code, "customer_name": line.customer_name,
                  "contact_code": line.code, "contact_name": line.name, "title": line.title, "roles": line.roles,
                  "owner": line.owner, "locked": "；".join(line.locked) or None}
        values.update({f"last_{d}": line.last_scores.get(d) for d in DIMENSIONS})
        ws.append([values.get(k) for k in keys])

    ws, heads = sheet(OBJECTIVES_SHEET, OBJECTIVE_COLS)
    ws.append(heads)
    keys = [c.key for c in OBJECTIVE_COLS]
    for cust in content.customers:
        values = {"customer_code": cust["code"], "customer_name": cust["name"], "tier": cust["tier"]}
        ws.append([values.get(k) for k in keys])

    ws, heads = sheet(PLAN_SHEET, PLAN_COLS)
    md_rules = load_masterdata_rules()
    names = ",".join(md_rules.activity_type_label(c) for c in md_rules.activity_type_codes())
    types = DataValidation(type="list", formula1='"' + names + '"', allow_blank=True)
    column = _col_letter([c.key for c in PLAN_COLS].index("activity_type"))
    types.add(f"{column}2:{column}500")
    ws.data_validations.append(types)
    ws.append(heads)

    ws = wb.create_sheet(PROJECTS_SHEET)
    for i, width in enumerate((14, 36, 10, 8, 10, 12)):
        ws.column_dimensions[_col_letter(i)].width = width
    ws.freeze_panes = "A2"
    row = []
    for h in ("项目编码", "项目名称", "客户编码", "级别", "阶段", "决策日期"):
        cell = WriteOnlyCell(ws, value=h)
        cell.font = head_font
        row.append(cell)
    ws.append(row)
    level_zh = {"company": "公司级", "region": "地区部级", "office": "代表处级"}
    for p in content.projects:
        day = WriteOnlyCell(ws, value=p.decision_date)
        if p.decision_date is not None:
            day.number_format = "yyyy-mm-dd"
        ws.append([p.code, p.name, p.customer_code, level_zh.get(p.level, p.level), p.phase, day])

    ws = wb.create_sheet(README_SHEET)
    ws.column_dimensions["A"].width = 120
    scale = "；".join(f"{s} {label}" for s, label in content.scale)
    lines = [
        f"{content.team_name}（{content.team_code}） {content.year} 年客户关系规划三件套",
        "",
        f"1. {ASSESSMENT_SHEET}：为每位关键客户填写六个维度的本年度评分（{scale}），每个分数都要填写对应的关键事件作为依据；"
        "灰色列是上年评分和主数据，仅供参考。不适用的维度留空。对竞争对手支持度写成「竞争对手:分数」，用分号分隔。",
        f"2. {OBJECTIVES_SHEET}：把市场目标分解为关系目标，例如「2–3 名 CXO 支持排他，3–4 名关键客户支持」。",
        f"3. {PLAN_SHEET}：每项活动必须写明支持的项目（见「{PROJECTS_SHEET}」），计划日期必须早于该项目的决策日期，并填写预算（元）。"
        "地区部级及以上的未关闭项目至少要有一项活动；填写赞助人工号的主管，须赞助与自己层级相匹配的项目（数量见规则）。",
        f"4. 组织客户关系、普遍客户关系按客户填写（同一客户的各行一致即可）；{OBJECTIVES_SHEET}的信息渠道用分号分隔。",
        "",
        f"不要重命名或删除工作表；填好后运行：mcr planning submit {content.team_code} <文件>",
    ]
    for text in lines:
        ws.append([text])
    wb.properties.title = f"{content.team_code} {content.year} 客户关系规划三件套"
    wb.properties.keywords = f"mcr-kit team={content.team_code} year={content.year}"

    path.parent.mkdir(parents=True, exist_ok=True)
    # Two first downloads at once each write their own temporary file; the last rename wins whole.
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex}.tmp.xlsx")
    wb.save(tmp)
    tmp.replace(path)  # a reader never sees half a workbook
    return path


# ============================================================================================ reading


_BLANKS = re.compile(r"[\s*＊_\-]+")


def _norm(header: Any) -> str:
    text = str(header or "").strip().replace("（", "(").replace("）", ")")
    return _BLANKS.sub("", text).lower()


@dataclass
class RawSheet:
    name: str
    columns: dict[str, int]  # key -> 0-based column index
    rows: list[tuple[int, dict[str, Any]]]


@dataclass
class RawKit:
    file: str
    sheets: dict[str, RawSheet]
    meta: dict[str, str]
    problems: Problems


@functools.lru_cache(maxsize=None)
def _wanted_headers(sheet: str) -> dict[str, str]:
    """Normalised header text (Chinese or English) → column key of a kit sheet."""
    cols = COLUMNS[sheet]
    return {_norm(c.zh): c.key for c in cols} | {_norm(c.en): c.key for c in cols}


def read_kit_workbook(path: Path | str, sections: Iterable[str] | None = None) -> RawKit:
    """Read the three kit sheets (cells as they are); sheet and header problems are collected, not raised.

    With `sections`, only those sections' sheets are read (an upload of one section): the others
    are neither required nor looked at."""
    from openpyxl import load_workbook

    file = str(path)
    problems = Problems(file)
    p = Path(path)
    if not p.is_file():
        problems.workbook(i18n.t("planning.no_file", file=file))
        problems.raise_if_any()
    try:
        wb = load_workbook(p, data_only=True, read_only=True)  # streamed: no cell objects kept for the whole book
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        problems.workbook(i18n.t("planning.not_xlsx", reason=str(exc) or type(exc).__name__))
        problems.raise_if_any()
        raise AssertionError("unreachable")
    meta: dict[str, str] = {}
    for word in (wb.properties.keywords or "").split():
        k, _, v = word.partition("=")
        if v:
            meta[k] = v
    sheets: dict[str, RawSheet] = {}
    names = [ws.title for ws in wb.worksheets]
    wanted_sheets = KIT_SHEETS if sections is None else [n for n in KIT_SHEETS if SECTION_OF_SHEET[n] in set(sections)]
    for name in wanted_sheets:
        ws = wb[name] if name in names else None
        if ws is None:
            problems.workbook(i18n.t("planning.missing_sheet", sheet=name, found="、".join(names) or "-"))
            continue
        cols = COLUMNS[name]
        # One pass over the sheet (a read-only sheet is parsed again by every iter_rows).
        it = ws.iter_rows(values_only=True)
        header = list(next(it, ()))
        wanted = _wanted_headers(name)
        found: dict[str, int] = {}
        for i, h in enumerate(header):
            key = wanted.get(_norm(h))
            if key is not None and key not in found:
                found[key] = i
        for c in cols:
            if c.key not in found and (c.required or (c.input and not c.optional)):
                problems.sheet(name, i18n.t("planning.missing_column", col=c.zh), column=c.zh)
        rows = []
        for r, values in enumerate(it, start=2):
            cells = {key: _clean(values[i]) if i < len(values) else None for key, i in found.items()}
            if any(v is not None for v in cells.values()):
                rows.append((r, cells))
        sheets[name] = RawSheet(name, found, rows)
    wb.close()
    return RawKit(file, sheets, meta, problems)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


# ============================================================================================ validation


@dataclass
class AssessmentRow:
    row: int
    customer_code: str
    contact_code: str
    scores: dict[str, Optional[int]]
    evidence: dict[str, Optional[str]]
    support_us: Optional[int]
    competitor_support: dict[str, int]
    org_relationship: Optional[str] = None  # the rating's code (rules/planning.yaml kit.org_relationship_levels)
    general_relationship: Optional[str] = None


@dataclass
class ObjectiveRow:
    row: int
    customer_code: str
    market_target: Optional[str]
    relationship_target: str
    target_count: Optional[int]
    target_level: Optional[int]
    owner: Optional[str]
    due_date: Optional[date]
    info_channels: list[str] = field(default_factory=list)


@dataclass
class ActivityRow:
    row: int
    customer_code: str
    contacts: list[str]
    activity_type: str
    title: str
    project_code: str
    planned_date: date
    budget: int
    owner: Optional[str]
    sponsor: Optional[str] = None


@dataclass
class ParsedKit:
    """A validated workbook: the rows of each sheet that carry something to record."""

    file: str
    team: str
    year: int
    assessments: list[AssessmentRow] = field(default_factory=list)
    objectives: list[ObjectiveRow] = field(default_factory=list)
    activities: list[ActivityRow] = field(default_factory=list)

    @property
    def sections(self) -> list[str]:
        return [name for name, rows in (("assessment", self.assessments), ("objectives", self.objectives),
                                        ("plan", self.activities)) if rows]

    @property
    def budget(self) -> int:
        return sum(a.budget for a in self.activities)

    def section_payload(self, section: str) -> list[dict[str, Any]]:
        rows = {"assessment": self.assessments, "objectives": self.objectives, "plan": self.activities}[section]
        return [_jsonable(r.__dict__) for r in rows]


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in d.items()}


@dataclass
class KitReference:
    """The master data a workbook is checked against."""

    team: str
    year: int
    customers: dict[str, dict[str, Any]]  # the team's kit customers: code -> {name, tier, locked}
    contacts: dict[str, str]  # contact code -> customer code (codes named in the workbook)
    projects: dict[str, tuple[str, Optional[date], bool]]  # code -> (customer, decision date, closed)
    employees: set[str]
    rules: MasterDataRules
    # The checks of the book (rules/planning.yaml `kit`); None: none of them (the rows alone are checked).
    checks: Optional[KitRules] = None
    contact_levels: dict[str, Optional[str]] = field(default_factory=dict)  # named contacts: code -> level
    project_levels: dict[str, str] = field(default_factory=dict)  # named projects: code -> level
    # The open projects of `checks.required_activity_project_levels` of the kit customers: code -> (customer,
    # name, level); loaded only when the plan is checked.
    required_projects: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    employee_units: dict[str, Optional[str]] = field(default_factory=dict)  # named people: emp_no -> unit kind


def _in(prefix: str, values: Iterable[str]) -> tuple[str, dict[str, Any]]:
    names = sorted(set(values))
    return ", ".join(f":{prefix}{i}" for i in range(len(names))), {f"{prefix}{i}": v for i, v in enumerate(names)}


def _day(value: Any) -> Optional[date]:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])  # SQLite hands a DATE back as text to a plain statement


def load_reference(session: Any, raw: RawKit, team: str, year: int, tiers: Iterable[str],
                   rules: MasterDataRules, checks: Optional[KitRules] = None) -> KitReference:
    """The master data a kit's rows name (its team's kit customers, and only the contacts, projects and
    people the rows mention): a few keyed look-ups, whatever the size of the company.

    `session`: an ORM session, or a read transaction of `engine.db` (`db.read()`: no ORM set-up)."""
    from sqlalchemy import text

    if hasattr(session, "all"):  # engine.db's Tx
        def rows(sql: str, params: dict[str, Any]) -> list[Any]:
            return list(session.all(sql, params))
    else:
        conn = session.connection()

        def rows(sql: str, params: dict[str, Any]) -> list[Any]:
            return list(conn.execute(text(sql), params).fetchall())
    marks, params = _in("t", tiers)
    custs = rows(f"SELECT code, name, tier, locked_competitors FROM customer "
                 f"WHERE team_code = :team AND tier IN ({marks or 'NULL'})", {"team": team, **params})
    named: dict[str, set[str]] = {"contact": set(), "project": set(), "emp": set()}
    for sheet in raw.sheets.values():
        for _, cells in sheet.rows:
            if cells.get("contact_code"):
                named["contact"].add(_text(cells["contact_code"]))
            for code in _split(cells.get("contacts")):
                named["contact"].add(code)
            if cells.get("project_code"):
                named["project"].add(_text(cells["project_code"]))
            if cells.get("owner") and sheet.name != ASSESSMENT_SHEET:
                named["emp"].add(_text(cells["owner"]))
            if cells.get("sponsor"):
                named["emp"].add(_text(cells["sponsor"]))
    contacts: dict[str, str] = {}
    if named["contact"]:
        marks, params = _in("c", named["contact"])
        found = rows(f"SELECT code, customer_code, level FROM contact WHERE code IN ({marks})", params)
        contacts = {r[0]: r[1] for r in found}
        contact_levels = {r[0]: r[2] for r in found}
    else:
        contact_levels = {}
    projects: dict[str, tuple[str, Optional[date], bool]] = {}
    project_levels: dict[str, str] = {}
    if named["project"]:
        marks, params = _in("p", named["project"])
        found = rows(f"SELECT code, customer_code, decision_date, closed, level FROM project WHERE code IN ({marks})",
                     params)
        projects = {r[0]: (r[1], _day(r[2]), bool(r[3])) for r in found}
        project_levels = {r[0]: r[4] for r in found}
    emps: set[str] = set()
    units: dict[str, Optional[str]] = {}
    if named["emp"]:
        marks, params = _in("e", named["emp"])
        found = rows(f"SELECT e.emp_no, u.kind FROM employee e LEFT JOIN org_unit u ON u.code = e.unit_code "
                     f"WHERE e.emp_no IN ({marks})", params)
        emps = {r[0] for r in found}
        units = {r[0]: r[1] for r in found}
    required: dict[str, tuple[str, str, str]] = {}
    if checks is not None and checks.required_activity_project_levels and PLAN_SHEET in raw.sheets and custs:
        # One keyed read of the team's big projects the plan must cover, not the company's project list.
        cmarks, cparams = _in("k", [c[0] for c in custs])
        lmarks, lparams = _in("l", checks.required_activity_project_levels)
        required = {r[0]: (r[1], r[2], r[3]) for r in rows(
            f"SELECT code, customer_code, name, level FROM project WHERE customer_code IN ({cmarks}) "
            f"AND level IN ({lmarks}) AND closed = :no AND (decision_date IS NULL OR decision_date >= :start) "
            f"ORDER BY code", {**cparams, **lparams, "no": False, "start": date(year, 1, 1)})}
    return KitReference(team, year, {c[0]: {"name": c[1], "tier": c[2], "locked": json.loads(c[3] or "[]")}
                                     for c in custs},
                        contacts, projects, emps, rules, checks, contact_levels, project_levels, required, units)


_SEPARATORS = re.compile(r"[;；,，、|\n]+")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _split(value: Any) -> list[str]:
    return [w.strip() for w in _SEPARATORS.split(_text(value))] if value is not None and _text(value) else []


class _Bad(ValueError):
    pass


def _int(value: Any) -> int:
    try:
        return parse_int(value)  # the importer's parser: one way to read a number from a cell
    except BadValue:
        raise _Bad(i18n.t("planning.not_int", value=_text(value))) from None


def _scale_text(rules: MasterDataRules) -> str:
    en = locale() == "en"
    return ", ".join(f"{lvl.score} {lvl.en if en else lvl.zh}" for lvl in rules.assessment_scale)


def _score(value: Any, rules: MasterDataRules) -> int:
    text = _text(value)
    for lvl in rules.assessment_scale:
        if text in (lvl.zh, lvl.en):
            return lvl.score
    try:
        score = _int(value)
    except _Bad:
        raise _Bad(i18n.t("planning.bad_score", value=text, scale=_scale_text(rules))) from None
    if score not in rules.scores:
        raise _Bad(i18n.t("planning.bad_score", value=text, scale=_scale_text(rules)))
    return score


def _date(value: Any) -> date:
    try:
        return parse_date(value)  # the importer's parser: one way to read a date from a cell
    except BadValue:
        raise _Bad(i18n.t("planning.not_date", value=_text(value))) from None


def _money(value: Any) -> int:
    if isinstance(value, bool):
        raise _Bad(i18n.t("planning.not_money", value=value))
    if isinstance(value, (int, float)):
        amount = float(value)
    else:
        text = _text(value).replace("，", ",").replace(",", "").replace(" ", "").replace("元", "").replace("¥", "")
        text = text.replace("￥", "").replace("−", "-").replace("＋", "+")
        factor = 10_000 if text.endswith("万") else 1
        text = text.rstrip("万")
        try:
            amount = float(text) * factor
        except ValueError:
            raise _Bad(i18n.t("planning.not_money", value=_text(value))) from None
    if amount < 0:
        raise _Bad(i18n.t("planning.negative", value=_text(value)))
    return int(round(amount))


def _activity_type(value: Any, md_rules: MasterDataRules) -> str:
    """A type's code, Chinese or English name (or a pre-book name): master data's one parser, with the
    master-data rules the kit is checked against (not read from disk again for every row)."""
    text = _text(value)
    found = md_rules.parse_activity_type(text) or md_rules.parse_activity_type(text.lower())
    if found is None:
        raise _Bad(i18n.t("planning.bad_activity_type", value=text, choices="、".join(
            md_rules.activity_type_label(c) for c in md_rules.activity_type_codes())))
    return found


def validate_kit(raw: RawKit, ref: KitReference) -> ParsedKit:
    """Check every row of the three sheets; raise one `ImportRejected` listing every problem."""
    problems = raw.problems
    if raw.meta.get("team") and (raw.meta.get("team"), raw.meta.get("year")) != (ref.team, str(ref.year)):
        problems.workbook(i18n.t("planning.wrong_kit", team=raw.meta.get("team"), year=raw.meta.get("year"), want_team=ref.team,
                              want_year=ref.year))
    out = ParsedKit(raw.file, ref.team, ref.year)
    known = "、".join(sorted(ref.customers)) or "-"
    kr = ref.checks or KitRules()  # the rating scales are read even when no check of the book is on

    def checker(sheet: RawSheet, cols: tuple[KCol, ...]) -> Any:
        by_key = {c.key: c for c in cols}

        def bad(row: int, key: str, reason: str) -> None:
            problems.cell(sheet.name, row, by_key[key], sheet.columns.get(key, 0), reason)

        def parse(row: int, cells: dict[str, Any], key: str, fn: Any, *, required: bool = False) -> Any:
            value = cells.get(key)
            if value is None:
                if required and key in sheet.columns:
                    bad(row, key, i18n.t("planning.required"))
                return None
            try:
                return fn(value)
            except _Bad as exc:
                bad(row, key, str(exc))
                return None
        return bad, parse

    def customer(row: int, cells: dict[str, Any], bad: Any) -> Optional[str]:
        code = _text(cells["customer_code"]) if cells.get("customer_code") is not None else None
        if code is None:
            bad(row, "customer_code", i18n.t("planning.required"))
        elif code not in ref.customers:
            bad(row, "customer_code", i18n.t("planning.unknown_customer", value=code, known=known))
            return None
        return code

    # ---------------------------------------------------------------- 客户关系现状评估表
    sheet = raw.sheets.get(ASSESSMENT_SHEET)
    if sheet is not None:
        bad, parse = checker(sheet, ASSESSMENT_COLS)
        seen: dict[str, int] = {}
        for row, cells in sheet.rows:
            if not any(cells.get(c.key) is not None for c in ASSESSMENT_COLS if c.input):
                continue  # a pre-filled contact nobody assessed this time
            cust = customer(row, cells, bad)
            contact = _text(cells["contact_code"]) if cells.get("contact_code") is not None else None
            if contact is None:
                bad(row, "contact_code", i18n.t("planning.required"))
            elif contact not in ref.contacts:
                bad(row, "contact_code", i18n.t("planning.unknown_contact", value=contact))
                contact = None
            elif cust is not None and ref.contacts[contact] != cust:
                bad(row, "contact_code", i18n.t("planning.contact_other_customer", value=contact, actual=ref.contacts[contact],
                                             customer=cust))
            elif contact in seen:
                bad(row, "contact_code", i18n.t("planning.duplicate_contact", value=contact, first=seen[contact]))
            if contact is not None:
                seen.setdefault(contact, row)
            scores: dict[str, Optional[int]] = {}
            evidence: dict[str, Optional[str]] = {}
            for d in DIMENSIONS:
                scores[d] = parse(row, cells, d, lambda v: _score(v, ref.rules))
                evidence[d] = _text(cells[f"{d}_evidence"]) if cells.get(f"{d}_evidence") is not None else None
                if cells.get(d) is not None and evidence[d] is None and ref.rules.assessment_requires_evidence:
                    bad(row, f"{d}_evidence", i18n.t("planning.evidence_required"))
            support = parse(row, cells, "support_us", lambda v: _score(v, ref.rules))
            comp: dict[str, int] = {}
            raw_comp = cells.get("competitor_support")
            locked = ref.customers.get(cust or "", {}).get("locked", [])
            for item in _split(raw_comp):
                name, sep, score_text = item.replace("：", ":").rpartition(":")
                if not sep or not name.strip():
                    bad(row, "competitor_support", i18n.t("planning.competitor_format", value=item))
                    continue
                try:
                    comp[name.strip()] = _score(score_text.strip(), ref.rules)
                except _Bad as exc:
                    bad(row, "competitor_support", str(exc))
                    continue
                if cust is not None and name.strip() not in locked:
                    bad(row, "competitor_support", i18n.t("planning.competitor_not_locked", name=name.strip(), customer=cust,
                                                       locked="、".join(locked) or "-"))
            ratings: dict[str, Optional[str]] = {}
            for key, scale in (("org_relationship", kr.org_relationship_levels),
                               ("general_relationship", kr.general_relationship_levels)):
                ratings[key] = parse(row, cells, key, lambda v, scale=scale: _rating(v, scale))
            if cust and contact:
                out.assessments.append(AssessmentRow(row, cust, contact, scores, evidence, support, comp,
                                                     ratings["org_relationship"], ratings["general_relationship"]))
        if ref.checks is not None and sheet.rows:  # only a section being handed in is checked as a whole
            _check_assessment(sheet, out.assessments, ref, ref.checks, problems)

    # ---------------------------------------------------------------- 客户关系目标任务书
    sheet = raw.sheets.get(OBJECTIVES_SHEET)
    if sheet is not None:
        bad, parse = checker(sheet, OBJECTIVE_COLS)
        for row, cells in sheet.rows:
            if not any(cells.get(c.key) is not None for c in OBJECTIVE_COLS if c.input):
                continue  # a pre-filled customer without objectives (yet)
            cust = customer(row, cells, bad)
            target = parse(row, cells, "relationship_target", _text, required=True)
            count = parse(row, cells, "target_count", _int)
            if count is not None and count < 1:
                bad(row, "target_count", i18n.t("planning.negative", value=count))
            level = parse(row, cells, "target_level", lambda v: _score(v, ref.rules))
            owner = parse(row, cells, "owner", _text)
            if owner is not None and owner not in ref.employees:
                bad(row, "owner", i18n.t("planning.unknown_employee", value=owner))
            due = parse(row, cells, "due_date", _date)
            channels = list(dict.fromkeys(_split(cells.get("info_channels"))))
            need = ref.checks.min_info_channels if ref.checks is not None else 0
            if cust and len(channels) < need:
                bad(row, "info_channels", i18n.t("planning.kit.check.info_channels", customer=cust, n=len(channels),
                                                 min=need))
            if cust and target:
                out.objectives.append(ObjectiveRow(row, cust, _text(cells["market_target"])
                                                   if cells.get("market_target") is not None else None,
                                                   target, count, level, owner, due, channels))

    # ---------------------------------------------------------------- 客户关系公关计划
    sheet = raw.sheets.get(PLAN_SHEET)
    if sheet is not None:
        bad, parse = checker(sheet, PLAN_COLS)
        activity_type = functools.partial(_activity_type, md_rules=ref.rules)
        for row, cells in sheet.rows:
            if not any(cells.get(c.key) is not None for c in PLAN_COLS if c.input):
                continue
            ok = True
            cust = customer(row, cells, bad)
            kind = parse(row, cells, "activity_type", activity_type, required=True)
            title = parse(row, cells, "title", _text, required=True)
            when = parse(row, cells, "planned_date", _date, required=True)
            budget = parse(row, cells, "budget", _money, required=True)
            project = parse(row, cells, "project_code", _text, required=True)
            if project is not None:
                found = ref.projects.get(project)
                if found is None:
                    bad(row, "project_code", i18n.t("planning.unknown_project", value=project))
                    ok = False
                elif cust is not None and found[0] != cust:
                    bad(row, "project_code", i18n.t("planning.project_other_customer", value=project, actual=found[0],
                                                 customer=cust))
                    ok = False
                elif found[2]:
                    bad(row, "project_code", i18n.t("planning.project_closed", value=project))
                    ok = False
                elif found[1] is None:
                    bad(row, "project_code", i18n.t("planning.project_no_decision", value=project))
                    ok = False
                elif when is not None and when >= found[1]:
                    bad(row, "planned_date", i18n.t("planning.after_decision", date=when.isoformat(), project=project,
                                                 decision=found[1].isoformat()))
                    ok = False
            contacts = _split(cells.get("contacts"))
            for c in contacts:
                if c not in ref.contacts:
                    bad(row, "contacts", i18n.t("planning.unknown_contact", value=c))
                    ok = False
                elif cust is not None and ref.contacts[c] != cust:
                    bad(row, "contacts", i18n.t("planning.contact_other_customer", value=c, actual=ref.contacts[c], customer=cust))
                    ok = False
            owner = parse(row, cells, "owner", _text)
            if owner is not None and owner not in ref.employees:
                bad(row, "owner", i18n.t("planning.unknown_employee", value=owner))
                ok = False
            sponsor = parse(row, cells, "sponsor", _text)
            if sponsor is not None and sponsor not in ref.employees:
                bad(row, "sponsor", i18n.t("planning.unknown_employee", value=sponsor))
                ok = False
            if ok and None not in (cust, kind, title, when, budget, project):
                out.activities.append(ActivityRow(row, cust, contacts, kind, title, project, when, budget,  # type: ignore[arg-type]
                                                  owner, sponsor))
        if ref.checks is not None and sheet.rows:  # only a section being handed in is checked as a whole
            _check_plan(sheet, out.activities, ref, ref.checks, problems, bad)
    if not problems.items and not out.sections:
        problems.workbook(i18n.t("planning.nothing_filled"))
    problems.raise_if_any()
    return out


def _rating(value: Any, scale: list[Any]) -> str:
    rank = KitRules.rating(scale, _text(value))
    if rank is None:
        en = locale() == "en"
        raise _Bad(i18n.t("planning.kit.check.bad_rating", value=_text(value),
                          scale="、".join(lvl.en if en else lvl.zh for lvl in scale)))
    return str(scale[rank].code)


def _label(scale: list[Any], code: str) -> str:
    lvl = next(lvl for lvl in scale if lvl.code == code)
    return str(lvl.en if locale() == "en" else lvl.zh)


def _check_assessment(sheet: RawSheet, rows: list[AssessmentRow], ref: KitReference, checks: KitRules,
                      problems: Problems) -> None:
    """The book's checks of the assessment as a whole: one rating of each kind per customer, at least the
    minimum; a coach at each contact level of every kit customer."""
    by_key = {c.key: c for c in ASSESSMENT_COLS}

    def cell(row: int, key: str, reason: str) -> None:
        problems.cell(sheet.name, row, by_key[key], sheet.columns.get(key, 0), reason)

    def whole(key: str, reason: str) -> None:
        problems.sheet(sheet.name, reason, column=by_key[key].zh)

    for key, scale, minimum in (("org_relationship", checks.org_relationship_levels, checks.org_relationship_min),
                                ("general_relationship", checks.general_relationship_levels,
                                 checks.general_relationship_min)):
        first: dict[str, tuple[int, str]] = {}
        for r in rows:
            value = getattr(r, key)
            if value is None:
                continue
            if r.customer_code in first and first[r.customer_code][1] != value:
                cell(r.row, key, i18n.t("planning.kit.check.rating_differs", customer=r.customer_code,
                                        value=_label(scale, value), first=_label(scale, first[r.customer_code][1]),
                                        row=first[r.customer_code][0]))
            first.setdefault(r.customer_code, (r.row, value))
        if minimum is None:
            continue
        codes = [lvl.code for lvl in scale]
        for cust in sorted(ref.customers):
            what = i18n.t(f"planning.kit.check.{key}")
            if cust not in first:
                whole(key, i18n.t("planning.kit.check.rating_missing", customer=cust, what=what,
                                  min=_label(scale, minimum)))
            elif codes.index(first[cust][1]) < codes.index(minimum):
                cell(first[cust][0], key, i18n.t("planning.kit.check.rating_low", customer=cust, what=what,
                                                 value=_label(scale, first[cust][1]), min=_label(scale, minimum)))
    if checks.coach_levels:
        top = max(ref.rules.scores)
        coach = next(lvl for lvl in ref.rules.assessment_scale if lvl.score == top)
        have: dict[str, set[str]] = {}
        for r in rows:
            level = ref.contact_levels.get(r.contact_code)
            if r.support_us == top and level:
                have.setdefault(r.customer_code, set()).add(level)
        for cust in sorted(ref.customers):
            for level in checks.coach_levels:
                if level not in have.get(cust, set()):
                    whole("support_us", i18n.t("planning.kit.check.coach_missing", customer=cust,
                                               level=i18n.t(f"planning.kit.check.level.{level}"),
                                               coach=coach.en if locale() == "en" else coach.zh, score=top))


def _check_plan(sheet: RawSheet, rows: list[ActivityRow], ref: KitReference, checks: KitRules,
                problems: Problems, bad: Any) -> None:
    """The book's checks of the action plan as a whole: every big project has an activity; every sponsor
    carries exactly the rule's number of projects, each of their own level."""
    # A row naming the project covers it even when the row has its own problem (reported on the row).
    covered = {_text(cells["project_code"]) for _, cells in sheet.rows if cells.get("project_code") is not None}
    column = next(c.zh for c in PLAN_COLS if c.key == "project_code")
    for code, (cust, name, level) in ref.required_projects.items():
        if code not in covered:
            problems.sheet(sheet.name, i18n.t("planning.kit.check.project_without_activity", project=code, name=name,
                                              customer=cust, level=i18n.t(f"planning.kit.check.project_level.{level}")),
                           column=column)
    n = checks.sponsored_projects_per_manager
    if n == 0:
        return
    sponsored: dict[str, list[str]] = {}
    for a in rows:
        if a.sponsor is None:
            continue
        kind = ref.employee_units.get(a.sponsor)
        want = checks.sponsor_project_level.get(kind) if kind else None  # type: ignore[call-overload]
        got = ref.project_levels.get(a.project_code)
        if want is not None and got is not None and got != want:
            bad(a.row, "sponsor", i18n.t("planning.kit.check.sponsor_level", sponsor=a.sponsor, project=a.project_code,
                                         level=i18n.t(f"planning.kit.check.project_level.{got}"),
                                         want=i18n.t(f"planning.kit.check.project_level.{want}")))
            continue
        mine = sponsored.setdefault(a.sponsor, [])
        if a.project_code in mine:
            continue  # a second activity of a project already sponsored
        mine.append(a.project_code)
        if len(mine) == n + 1:  # the first project over the norm is the one named
            bad(a.row, "sponsor", i18n.t("planning.kit.check.sponsor_too_many", sponsor=a.sponsor,
                                         project=a.project_code, n=n, m=n + 1,
                                         projects="、".join(mine[:n])))
    column = next(c.zh for c in PLAN_COLS if c.key == "sponsor")
    for sponsor, projects in sorted(sponsored.items()):
        if len(projects) < n:
            problems.sheet(sheet.name, i18n.t("planning.kit.check.sponsor_too_few", sponsor=sponsor, got=len(projects),
                                              n=n, projects="、".join(projects)), column=column)


def raw_from_rows(sections: dict[str, list[dict[str, Any]]], *, team: str, year: int, file: str = "form") -> RawKit:
    """The kit page's (or the API's) rows as the workbook reader's model: row i of a section is sheet row i + 2.

    Rows are dicts keyed by column key (`COLUMNS`), values as typed (blank = not given); the validator
    then cannot tell a form from a workbook, so both get the same checks and the same messages."""
    sheets: dict[str, RawSheet] = {}
    for section, rows in sections.items():
        name = SHEET_OF_SECTION[section]
        cols = COLUMNS[name]
        columns = {c.key: i for i, c in enumerate(cols)}
        out = []
        for i, values in enumerate(rows):
            cells = {c.key: _clean(values.get(c.key)) for c in cols}
            if any(v is not None for v in cells.values()):
                out.append((i + 2, cells))
        sheets[name] = RawSheet(name, columns, out)
    return RawKit(file, sheets, {"team": team, "year": str(year)}, Problems(file))


def parse_kit(session: Session, path: Path | str, team: str, year: int, tiers: Iterable[str],
              rules: MasterDataRules, sections: Iterable[str] | None = None,
              checks: Optional[KitRules] = None) -> ParsedKit:
    """Read and validate a filled kit; `ImportRejected` with every problem, or the rows to record."""
    raw = read_kit_workbook(path, sections)
    return validate_kit(raw, load_reference(session, raw, team, year, tiers, rules, checks))


# ============================================================================================ building test/replay workbooks


def workbook_from_rows(path: Path, *, team: str, year: int, assessments: list[dict[str, Any]] | None = None,
                       objectives: list[dict[str, Any]] | None = None, plan: list[dict[str, Any]] | None = None,
                       sheet_names: dict[str, str] | None = None) -> Path:
    """A filled kit written from plain rows keyed by column key (tests, replay scenarios, demos).

    `sheet_names` renames sheets (to build the wrong-sheet-name case).
    """
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for name, cols, rows in ((ASSESSMENT_SHEET, ASSESSMENT_COLS, assessments or []),
                             (OBJECTIVES_SHEET, OBJECTIVE_COLS, objectives or []),
                             (PLAN_SHEET, PLAN_COLS, plan or [])):
        ws = wb.create_sheet((sheet_names or {}).get(name, name))
        for i, c in enumerate(cols):
            ws.cell(row=1, column=i + 1, value=c.zh)
        for r, values in enumerate(rows, start=2):
            for i, c in enumerate(cols):
                if c.key in values:
                    ws.cell(row=r, column=i + 1, value=values[c.key])
    wb.properties.keywords = f"mcr-kit team={team} year={year}"
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path
