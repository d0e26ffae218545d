"""Import of master data from CSV and XLSX files — all or nothing per file.

A file is read into a `Table` (CSV in UTF-8 with or without BOM, GBK as saved by a Chinese
Excel, or UTF-16; XLSX through openpyxl in read-only mode), its header bound to a layout of
`engine.masterdata.layouts`, every cell parsed, and every row checked against the file itself
and against the database *as it would be after the import*. Every problem is collected — file,
row, column, reason — and if there is any, `ImportRejected` is raised before a single row is
written. Only a clean file is upserted, by stable keys (unit code, emp_no, customer code, contact
code, contact + year), so importing the same file twice changes nothing the second time.

A column that is absent from the file leaves that field as it is; an empty cell clears it.
Each insert and update writes an audit row; tier and owner changes write their own event too.
This module never commits a caller's session except in `import_file`, which is one transaction.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from engine.auth.principal import Principal
from engine.clock import Clock, to_us
from engine.csvsafe import restore
from engine.db import retry_busy
from engine.errors import ImportRejected, NotPermitted, Problem
from engine.i18n import locale, t
from engine.masterdata import audit
from engine.masterdata.layouts import LAYOUTS, Col, header_index, normalise_header
from engine.masterdata.models import (UNIT_PARENT_KIND, Assessment, AuditEntry, Contact, ContactLevel, Customer, DecisionRole,
                                      Dimension, Employee, OrgUnit, Project, ProjectLevel, Role,
                                      SponsorPairing, TierChange, UnitKind, ActivityInvitee, MarketingActivity,
                                      CustomerOrders, ValueCurve)
from engine.masterdata.settings import MasterDataRules, load_masterdata_rules
from engine.masterdata.tiers import TierRules, load_tier_rules

KINDS = tuple(LAYOUTS)


# ============================================================================================ reading


@dataclass
class Table:
    """A file's cells: the header row and the data rows, each with its spreadsheet row number."""

    source: str
    headers: list[str]
    header_row: int
    rows: Sequence[tuple[int, Any]]  # a list, or FileRows streaming from the file
    typed: bool = False  # rows are records (field → typed value) of a program, not cells of a file


def records_table(source: str, kind: str, records: list[dict[str, Any]]) -> Table:
    """A program's records as a table for `import_table`, validated like a file but without writing
    every value out as text to parse it back: the columns are the layout's fields the records use
    (other keys are ignored), a value may be text as in a file or already typed (a date, an int, a
    bool …, see `_TYPED`). Row numbers count from 2, as if under a header row."""
    layout = [c for c in LAYOUTS[kind] if any(c.field in r for r in records)]
    return Table(source, [c.header_en for c in layout], 1, [(i + 2, r) for i, r in enumerate(records)], typed=True)


def _reject(source: str, problems: list[Problem]) -> ImportRejected:
    return ImportRejected(problems, header=t("md.rejected", file=source, n=len(problems)))


def _file_problem(source: str, key: str, **kwargs: Any) -> ImportRejected:
    return _reject(source, [Problem(source, 0, t(key, **kwargs))])


IMPORT_SUFFIXES = (".csv", ".txt", ".xlsx", ".xlsm")


def check_upload(size: int, name: str, *, rules: MasterDataRules | None = None) -> None:
    """The limits of rules/masterdata.yaml for a file about to be imported — by `mcr import` and by
    the web app before it stores an upload: a known file type, at most `limits.max_file_mb`.
    Raises `ImportRejected` (one problem, in the user's language) when the file is refused."""
    limits = (rules or load_masterdata_rules()).limits
    suffix = Path(name).suffix.lower()
    if suffix not in IMPORT_SUFFIXES:
        raise _file_problem(name, "md.file_type", suffix=Path(name).suffix or name)
    if size > limits.max_file_mb * 1024 * 1024:
        raise _file_problem(name, "md.too_big", mb=size / 1024 / 1024, limit=limits.max_file_mb)


def read_table(path: Path | str, *, rules: MasterDataRules | None = None) -> Table:
    """Open a .csv or .xlsx file for import; an unreadable file is one clear `ImportRejected`.

    Nothing is held in memory but the header: `Table.rows` reads the file afresh on each pass
    (streaming), so a file of 400,000 rows costs what one row costs. A quick first scan — CSV
    lexing in C, or openpyxl's read-only rows — already refuses what cannot be read (encoding,
    quoting, too many rows) before any cell is parsed or any row is written.
    """
    path = Path(path)
    source = str(path)
    rules = rules or load_masterdata_rules()
    suffix = path.suffix.lower()
    if suffix not in IMPORT_SUFFIXES:
        raise _file_problem(source, "md.file_type", suffix=path.suffix or path.name)
    try:
        check_upload(path.stat().st_size, source, rules=rules)
        if suffix in (".xlsx", ".xlsm"):
            grid: Callable[[], Iterator[tuple[int, list[Any]]]] = lambda: _xlsx_rows(source, path)  # noqa: E731
        else:
            encoding, delimiter = _sniff_csv(source, path)
            grid = lambda: _csv_rows(source, path, encoding, delimiter)  # noqa: E731
        header_row = 0
        headers: list[str] = []
        for number, cells in grid():
            values = [_clean(v) for v in cells]
            if any(v is not None for v in values):
                header_row = number
                headers = ["" if v is None else str(v).strip() for v in values]
                while headers and not headers[-1]:
                    headers.pop()
                break
        if not header_row:
            raise _file_problem(source, "md.empty_file")
        rows = FileRows(source, grid, header_row, rules.limits.max_rows)
        rows.scan()
    except OSError as exc:
        raise _file_problem(source, "md.file_missing", reason=exc.strerror or str(exc)) from exc
    return Table(source, headers, header_row, rows)


class FileRows(Sequence[tuple[int, list[Any]]]):
    """The data rows of a file as `(spreadsheet row number, cleaned cells)`, read afresh on each
    pass; blank rows are skipped. `scan()` counts them once (and refuses more than `max_rows`)."""

    def __init__(self, source: str, grid: Callable[[], Iterator[tuple[int, list[Any]]]], header_row: int,
                 max_rows: int) -> None:
        self.source, self._grid, self.header_row, self.max_rows = source, grid, header_row, max_rows
        self._count: int | None = None

    def __iter__(self) -> Iterator[tuple[int, list[Any]]]:
        for number, cells in self._grid():
            if number <= self.header_row:
                continue
            values = [_clean(v) for v in cells]
            if all(v is None for v in values):
                continue  # blank lines are not rows
            yield number, values

    def scan(self) -> int:
        count = 0
        for number, cells in self._grid():
            if number > self.header_row and any(_clean(v) is not None for v in cells):
                count += 1
                if count > self.max_rows:
                    raise _file_problem(self.source, "md.too_many_rows", limit=self.max_rows)
        self._count = count
        return count

    def __len__(self) -> int:
        return self._count if self._count is not None else self.scan()

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += len(self)
        for i, row in enumerate(self):
            if i == index:
                return row
        raise IndexError(index)

    def __eq__(self, other: object) -> bool:
        return list(self) == list(other) if isinstance(other, (list, tuple, FileRows)) else NotImplemented


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        value = restore(value.strip())  # `'=x` written by our CSV export is `=x` (engine/csvsafe.py)
        return value or None
    return value


_CHUNK = 1 << 20


def _sniff_csv(source: str, path: Path) -> tuple[str, str]:
    """The file's encoding (UTF-16 by BOM, else UTF-8, else GBK) and delimiter, decoding the whole
    file once in 1 MB chunks — never holding it."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"  # Excel's "Unicode text" export
    else:
        utf8_error = _decode_error(path, "utf-8-sig")
        if utf8_error is None:
            encoding = "utf-8-sig"
        elif _decode_error(path, "gbk") is None:
            encoding = "gbk"  # a Chinese Windows Excel saves "CSV (comma delimited)" in the ANSI code page
        else:
            offset, byte = utf8_error
            raise _file_problem(source, "md.undecodable", offset=offset, byte=byte)
    with path.open("r", encoding=encoding, newline="") as fh:
        first_line = fh.readline().rstrip("\r\n")
    delimiter = max((",", "\t", ";"), key=first_line.count) if first_line else ","
    return encoding, delimiter


def _decode_error(path: Path, encoding: str) -> tuple[int, int] | None:
    """(byte offset, byte) of the first byte `encoding` cannot decode, or None."""
    decoder = codecs.getincrementaldecoder(encoding)()
    done = 0
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # The decoder may still hold a few bytes of the previous chunk.
                offset = max(done + exc.start - len(decoder.getstate()[0]), 0) if hasattr(decoder, "getstate") \
                    else done + exc.start
                with path.open("rb") as again:
                    again.seek(offset)
                    found = again.read(1)
                return offset, found[0] if found else 0
            if not chunk:
                return None
            done += len(chunk)


def _csv_rows(source: str, path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[Any]]]:
    with path.open("r", encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        try:
            for number, cells in enumerate(reader, start=1):
                yield number, cells
        except csv.Error as exc:
            raise _reject(source, [Problem(source, reader.line_num, t("md.bad_csv", reason=str(exc)))]) from exc


def _xlsx_rows(source: str, path: Path) -> Iterator[tuple[int, list[Any]]]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        raise _file_problem(source, "md.bad_xlsx", reason=str(exc) or type(exc).__name__) from exc
    try:
        sheet = workbook.worksheets[0]
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(cells)
    finally:
        workbook.close()


# ============================================================================================ cells


class BadValue(ValueError):
    """A cell that does not parse; the message is the localised reason."""


_SEPARATORS = re.compile(r"[;；,，、|\n]+")


def cell_text(value: Any) -> str:
    """A cell as text: Excel's numeric 10023.0 becomes '10023', a date its ISO form."""
    if type(value) is str:
        return value.strip()  # most cells: no need to ask the other types first
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _words(value: Any) -> list[str]:
    return [w.strip() for w in _SEPARATORS.split(cell_text(value)) if w.strip()]


def _choice(value: Any, table: dict[str, str]) -> str:
    word = cell_text(value)
    found = table.get(word.lower())
    if found is None:
        raise BadValue(t("md.bad_choice", value=word, choices=_choices(table)))
    return found


def _choices(table: dict[str, str]) -> str:
    seen: dict[str, list[str]] = {}
    for word, value in table.items():
        seen.setdefault(value, []).append(word)
    return "，".join("/".join(ws[:2]) for ws in seen.values()) if locale() != "en" else \
        ", ".join("/".join(ws[:2]) for ws in seen.values())


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


def parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value)
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                break
    raise BadValue(t("md.not_date", value=text))


_MONTH = re.compile(r"^(\d{4})[-/.年](\d{1,2})月?$")


def parse_month(value: Any) -> str:
    """A calendar month as `YYYY-MM`: 2027-03, 2027/3, 2027年3月, or any date of that month."""
    if isinstance(value, (date, datetime)):
        return f"{value.year:04d}-{value.month:02d}"
    text = cell_text(value)
    match = _MONTH.match(text)
    if match and 1 <= int(match[2]) <= 12:
        return f"{int(match[1]):04d}-{int(match[2]):02d}"
    try:
        day = parse_date(text)
    except BadValue:
        raise BadValue(t("md.not_month", value=text)) from None
    return f"{day.year:04d}-{day.month:02d}"


def parse_int(value: Any) -> int:
    """A whole number from a cell — the one parser of imports and the planning workbook: Excel's 3.0,
    thousands separators (, ，), and the full-width / typographic signs people paste (＋3, −2)."""
    if isinstance(value, bool):
        raise BadValue(t("md.not_int", value=value))
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise BadValue(t("md.not_int", value=value))
    text = (cell_text(value).replace(",", "").replace("，", "").replace(" ", "")
            .replace("−", "-").replace("＋", "+"))
    if re.fullmatch(r"[+-]?\d+(?:\.0*)?", text):
        return int(float(text)) if "." in text else int(text)
    raise BadValue(t("md.not_int", value=cell_text(value)))


_BOOL = {"是": True, "否": False, "y": True, "n": False, "yes": True, "no": False, "true": True, "false": False,
         "1": True, "0": False, "√": True, "✓": True, "×": False, "x": True, "有": True, "无": False}

_ORG_KIND = {"hq": "hq", "公司": "hq", "总部": "hq", "region": "region", "地区部": "region", "office": "office",
             "代表处": "office", "team": "team", "系统部": "team", "employee": "employee", "员工": "employee",
             "人员": "employee"}

_LOCALE = {"zh-cn": "zh-CN", "zh": "zh-CN", "zh_cn": "zh-CN", "中文": "zh-CN", "简体中文": "zh-CN", "en": "en",
           "english": "en", "en-us": "en", "en-gb": "en", "英文": "en", "英语": "en"}

_ROLE = {r.value: r.value for r in Role} | {
    "销售管理部": "sales_management", "销售管理": "sales_management", "客户经理": "account_manager",
    "客户代表": "account_manager", "主管": "supervisor", "系统部部长": "supervisor", "问题接收人": "issue_handler",
    "流程qa": "qa", "赞助人": "sponsor", "客户关怀代表": "customer_care"}

_DECISION = {r.value: r.value for r in DecisionRole} | {
    "发起者": "initiator", "使用者": "user", "影响者": "influencer", "决定者": "decider", "决策者": "decider",
    "批准者": "approver", "购买者": "buyer", "控制者": "gatekeeper"}

_GENDER = {"男": "male", "male": "male", "m": "male", "女": "female", "female": "female", "f": "female"}

_LEVEL = {c.value: c.value for c in ContactLevel} | {"高层": "senior", "中层": "middle", "基层": "base"}

_CADENCE = {"monthly": "monthly", "每月": "monthly", "月度": "monthly", "每月一次": "monthly",
            "bimonthly": "bimonthly", "双月": "bimonthly", "每两月": "bimonthly", "每两个月": "bimonthly",
            "两月一次": "bimonthly"}

_ACTIVITY_STATUS = {"planned": "planned", "计划": "planned", "已计划": "planned", "done": "done", "已举办": "done",
                    "cancelled": "cancelled", "已取消": "cancelled", "取消": "cancelled"}


def _activity_type(value: Any, rules: MasterDataRules) -> str:
    found = rules.parse_activity_type(cell_text(value))
    if found is None:
        raise BadValue(t("md.unknown_activity_type", value=cell_text(value), choices="、".join(
            rules.activity_type_label(c, locale()) for c in rules.activity_type_codes())))
    return found


_PROJECT_LEVEL = {p.value: p.value for p in ProjectLevel} | {
    "公司": "company", "公司级": "company", "地区部": "region", "地区部级": "region", "代表处": "office",
    "代表处级": "office"}

_KEY_EVENT = (re.compile(r"^(\d{1,2})(?:[-/.](\d{1,2}))?\s+(.+)$"),
              re.compile(r"^(\d{1,2})月(?:(\d{1,2})日)?\s*(.+)$"))

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Context:
    session: Session
    clock: Clock
    principal: Principal
    rules: MasterDataRules
    tiers: TierRules
    source: str = ""
    pending: dict[type, list[dict[str, Any]]] = field(default_factory=dict)  # rows awaiting one multi-row INSERT
    # Looked up once per import, not once per cell (400,000 rows × several codes each).
    code_re: re.Pattern[str] = field(init=False)
    scores: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        self.code_re = re.compile(self.rules.code_pattern)
        self.scores = frozenset(self.rules.scores)

    @property
    def actor(self) -> str:
        """Who imports, as audit rows and tier events record it."""
        return self.principal.actor

    @property
    def today(self) -> date:
        return self.clock.now().date()



def _scale_text(rules: MasterDataRules) -> str:
    loc = locale()
    return ", ".join(f"{lvl.score} {lvl.en if loc == 'en' else lvl.zh}" for lvl in rules.assessment_scale)


def parse_score(value: Any, rules: MasterDataRules) -> int:
    text = cell_text(value)
    for level in rules.assessment_scale:  # a label is as good as its number
        if text in (level.zh, level.en):
            return level.score
    try:
        score = parse_int(value)
    except BadValue:
        raise BadValue(t("md.bad_score", value=text, scale=_scale_text(rules))) from None
    if score not in rules.scores:
        raise BadValue(t("md.bad_score", value=text, scale=_scale_text(rules)))
    return score


def _key_events(value: Any) -> str:
    events = []
    for item in re.split(r"[;；\n]+", cell_text(value)):
        item = item.strip()
        if item:
            event = _key_event(item)
            if event is None:
                raise BadValue(t("md.bad_key_event", value=item))
            events.append(event)
    return json.dumps(events, ensure_ascii=False)


_PBC_NUM = {"一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10,
            "once": 1, "twice": 2, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_PBC_UNIT = {"周": 7, "星期": 7, "礼拜": 7, "week": 7, "月": 30, "month": 30, "天": 1, "日": 1, "day": 1}
_N = r"(\d+|[一两二三四五六七八九十]|once|twice|one|two|three|four|five)"
_PBC = (re.compile(rf"^(?:每|一)?(?:{_N}个?)?(周|星期|礼拜|月|天|日){_N}次$"),            # 每周3次, 每两周1次
        re.compile(rf"^{_N}次?/{_N}?个?(周|星期|礼拜|月|天|日|week|month|day)$"),         # 3次/周, 3/week
        re.compile(rf"^{_N}(?:times?)?(?:a|per|every|each)(?:{_N})?(week|month|day)s?$"))  # 3 times a week


def _pbc_num(word: str | None, default: int) -> int:
    if not word:
        return default
    return int(word) if word.isdigit() else _PBC_NUM[word]


def parse_visit_pbc(value: Any) -> str:
    """The PBC's visit commitment ("每周拜访3次", "visit 3 times a week", "3次/周", "每两周1次") as
    JSON {"visits": n, "days": d}; anything else is refused (the cell is named by the importer)."""
    text = re.sub(r"\s+|拜访|至少|客户|visits?|at least|customers?|\.", "", cell_text(value).lower())
    for number, pattern in enumerate(_PBC):
        m = pattern.match(text)
        if not m:
            continue
        if number == 0:
            every, unit, visits = m[1], m[2], m[3]
        elif number == 1:
            visits, every, unit = m[1], m[2], m[3]
        else:
            visits, every, unit = m[1], m[2], m[3]
        n, days = _pbc_num(visits, 1), _pbc_num(every, 1) * _PBC_UNIT[unit]
        if 1 <= n <= days * 3:
            return json.dumps({"visits": n, "days": days})
    raise BadValue(t("care.bad_visit_pbc", value=cell_text(value)))


def _key_event(item: str) -> dict[str, Any] | None:
    for pattern in _KEY_EVENT:
        match = pattern.match(item)
        if match:
            month, day = int(match[1]), (int(match[2]) if match[2] else None)
            try:
                date(2024, month, day or 1)  # a leap year, so 02-29 is a valid day
            except ValueError:
                return None
            return {"month": month, "day": day, "title": match[3].strip()}
    return None


def _bool(value: Any) -> bool:
    found = _BOOL.get(cell_text(value).lower())
    if found is None:
        raise BadValue(t("md.not_bool", value=cell_text(value)))
    return found


def _competitors(value: Any, rules: MasterDataRules) -> str:
    names = _words(value)
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise BadValue(t("md.duplicate_competitor", name=name))
        seen.add(name.lower())
    if len(names) > rules.max_locked_competitors:
        raise BadValue(t("md.too_many_competitors", n=len(names), names="、".join(names), max=rules.max_locked_competitors))
    return json.dumps(names, ensure_ascii=False)


def _competitor_support(value: Any, rules: MasterDataRules) -> str:
    support: dict[str, int] = {}
    for item in _words(value):
        parts = re.split(r"\s*[:：=]\s*", item)
        if len(parts) != 2 or not parts[0]:
            raise BadValue(t("md.bad_competitor_support", value=item))
        if parts[0] in support:
            raise BadValue(t("md.duplicate_competitor", name=parts[0]))
        support[parts[0]] = parse_score(parts[1], rules)
    return json.dumps(support, ensure_ascii=False, sort_keys=True)


def _timezone(value: Any) -> str:
    text = cell_text(value)
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadValue(t("md.bad_timezone", value=text)) from None
    return text


def _email(value: Any) -> str:
    text = cell_text(value).lower()
    if not _EMAIL.match(text):
        raise BadValue(t("md.not_email", value=cell_text(value)))
    return text


def _money(value: Any) -> int:
    amount = parse_int(value)
    if amount < 0:
        raise BadValue(t("md.negative", value=amount))
    return amount


def _year(value: Any, ctx: Context) -> int:
    lo, hi = 1990, ctx.today.year + 1
    try:
        year = parse_int(value)
    except BadValue:
        raise BadValue(t("md.bad_year", value=cell_text(value), lo=lo, hi=hi)) from None
    if not lo <= year <= hi:
        raise BadValue(t("md.bad_year", value=year, lo=lo, hi=hi))
    return year


def _tier(value: Any, ctx: Context) -> str:
    tier = ctx.tiers.normalise(cell_text(value))
    if tier is None:
        raise BadValue(t("md.bad_tier", value=cell_text(value)))
    return tier


def _credit(value: Any) -> str:
    text = cell_text(value).upper()
    if text not in ("A", "B", "C", "D"):
        raise BadValue(t("md.bad_choice", value=cell_text(value), choices="A, B, C, D"))
    return text


def _code(value: Any, ctx: "Context") -> str:
    # Codes become file names (kit workbooks, exports): refused here, where they enter.
    text = cell_text(value)
    if not ctx.code_re.fullmatch(text):
        raise BadValue(t("md.bad_code", value=text, pattern=ctx.rules.code_pattern))
    return text


def _multi(value: Any, table: dict[str, str], order: tuple[str, ...]) -> str:
    picked = {_choice(word, table) for word in _words(value)}
    return ",".join(v for v in order if v in picked)


_ROLE_ORDER = tuple(r.value for r in Role)
_DECISION_ORDER = tuple(r.value for r in DecisionRole)


# parser name -> (parse non-empty cell, value of an empty cell)
_PARSERS: dict[str, tuple[Callable[[Any, Context], Any], Any]] = {
    "text": (lambda v, c: cell_text(v), None),
    "code": (lambda v, c: _code(v, c), None),
    "email": (lambda v, c: _email(v), None),
    "date": (lambda v, c: parse_date(v), None),
    "date_any": (lambda v, c: parse_date(v), None),
    "money": (lambda v, c: _money(v), None),
    "bool": (lambda v, c: _bool(v), False),
    "tier": (_tier, None),
    "credit": (lambda v, c: _credit(v), None),
    "score": (lambda v, c: parse_score(v, c.rules), None),
    "year": (_year, None),
    "locale": (lambda v, c: _choice(v, _LOCALE), "zh-CN"),
    "roles": (lambda v, c: _multi(v, _ROLE, _ROLE_ORDER), ""),
    "org_kind": (lambda v, c: _choice(v, _ORG_KIND), None),
    "gender": (lambda v, c: _choice(v, _GENDER), None),
    "contact_level": (lambda v, c: _choice(v, _LEVEL), None),
    "decision_roles": (lambda v, c: _multi(v, _DECISION, _DECISION_ORDER), ""),
    "competitors": (lambda v, c: _competitors(v, c.rules), "[]"),
    "key_events": (lambda v, c: _key_events(v), "[]"),
    "visit_pbc": (lambda v, c: parse_visit_pbc(v), None),
    "competitor_support": (lambda v, c: _competitor_support(v, c.rules), "{}"),
    "cadence": (lambda v, c: _choice(v, _CADENCE), "monthly"),
    "project_level": (lambda v, c: _choice(v, _PROJECT_LEVEL), None),
    "timezone": (lambda v, c: _timezone(v), None),
    "activity_type": (lambda v, c: _activity_type(v, c.rules), None),
    "activity_status": (lambda v, c: _choice(v, _ACTIVITY_STATUS), "planned"),
    "code_list": (lambda v, c: _words(v), []),
    "month": (lambda v, c: parse_month(v), None),
}


# Typed values — a program's records (the demo generator), never a file's cells — are checked, not
# parsed: a value already in the form its parser returns is accepted when valid for the column;
# anything else, every other string included, goes through the one parser above. So a record can
# hold nothing a file could not, and yields the same row as the file with that value written out.
_NAME_BREAK = re.compile(r"[;；,，、|\n:：=]")  # what would split or end a name in a list cell


def _plain_name(name: Any) -> bool:
    return type(name) is str and bool(name) and name == name.strip() and not _NAME_BREAK.search(name)


def _typed_choice(table: dict[str, str]) -> Callable[[Any, Context], Any]:
    canonical = frozenset(table.values())
    return lambda v, c: v if type(v) is str and v in canonical else _choice(v, table)


def _typed_competitor_support(value: Any, ctx: Context) -> str:
    if (type(value) is dict and all(_plain_name(n) for n in value)
            and all(type(s) is int and s in ctx.scores for s in value.values())):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return _competitor_support(value if isinstance(value, str) else cell_text(value), ctx.rules)


_TYPED: dict[str, Callable[[Any, Context], Any]] = {
    "bool": lambda v, c: v if type(v) is bool else _bool(v),
    "score": lambda v, c: v if type(v) is int and v in c.scores else parse_score(v, c.rules),
    "competitor_support": _typed_competitor_support,
    **{name: _typed_choice(table) for name, table in (
        ("locale", _LOCALE), ("org_kind", _ORG_KIND), ("gender", _GENDER), ("contact_level", _LEVEL),
        ("cadence", _CADENCE), ("project_level", _PROJECT_LEVEL), ("activity_status", _ACTIVITY_STATUS))},
}


# ============================================================================================ rows and problems


@dataclass
class Row:
    number: int
    values: dict[str, Any]                  # field -> parsed value, only for columns in the file
    bad: set[str] = field(default_factory=set)   # fields whose cell did not parse

    def has(self, name: str) -> bool:
        return name in self.values

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)


class Problems:
    """Collects everything wrong with one file, in file order."""

    # A file with a problem on every one of 400,000 rows must not need gigabytes to say so: the
    # first LISTED problems are listed, the rest counted.
    LISTED = 1000

    def __init__(self, table: Table, layout: tuple[Col, ...]) -> None:
        self.table = table
        self.items: list[Problem] = []
        self.total = 0
        self.header_of: dict[str, str] = {c.field: c.header(locale()) for c in layout}

    def _add(self, problem: Problem) -> None:
        self.total += 1
        if len(self.items) < self.LISTED:
            self.items.append(problem)

    def header(self, key: str, **kwargs: Any) -> None:
        self._add(Problem(self.table.source, self.table.header_row, t(key, **kwargs)))

    def cell(self, row: Row | int, name: str, reason: str) -> None:
        number = row.number if isinstance(row, Row) else row
        self._add(Problem(self.table.source, number,
                          t("md.cell", row=number, col=self.header_of.get(name, name), reason=reason)))

    def row(self, row: Row, reason: str) -> None:
        self._add(Problem(self.table.source, row.number, t("md.row", row=row.number, reason=reason)))

    def raise_if_any(self) -> None:
        if self.items:
            self.items.sort(key=lambda p: p.line)
            listed = list(self.items)
            if self.total > len(listed):
                listed.append(Problem(self.table.source, listed[-1].line,
                                      t("md.more_problems", n=self.total - len(self.items))))
            raise ImportRejected(listed, header=t("md.rejected", file=self.table.source, n=self.total))


def _bind(table: Table, layout: tuple[Col, ...], ctx: Context, problems: Problems) -> dict[int, Col]:
    index = header_index(layout)
    bound: dict[int, Col] = {}
    first_header: dict[str, str] = {}
    unknown: list[str] = []
    for position, text in enumerate(table.headers):
        if not text:
            continue
        column = index.get(normalise_header(text))
        if column is None:
            unknown.append(text)
            continue
        if column.field in first_header:
            problems.header("md.duplicate_column", col=text, other=first_header[column.field])
            continue
        if column.sensitive and not ctx.rules.store_sensitive:
            problems.header("md.sensitive_off", col=text)
            continue
        first_header[column.field] = text
        problems.header_of[column.field] = text  # messages quote the header the user wrote
        bound[position] = column
    if unknown:
        zh = locale() != "en"
        problems.header("md.unknown_column", cols=("、".join(f"「{u}」" for u in unknown) if zh else
                                               ", ".join(f"'{u}'" for u in unknown)),
                        known=("，".join(c.header_zh for c in layout) if zh else ", ".join(c.header_en for c in layout)))
    missing = [c.label for c in layout if c.required and c.field not in first_header]
    if missing:
        problems.header("md.missing_columns", cols="，".join(missing) if locale() != "en" else ", ".join(missing))
    return bound


def _parse_rows(table: Table, layout: tuple[Col, ...], ctx: Context) -> tuple[ParsedRows, Problems]:
    problems = Problems(table, layout)
    bound = _bind(table, layout, ctx, problems)
    if not table.rows:
        problems.header("md.no_rows")
    if problems.items:
        # A header that cannot be read makes every row's findings noise: report the header alone.
        problems.raise_if_any()
    return ParsedRows(table, bound, ctx, problems), problems


class ParsedRows:
    """The rows of a table, parsed afresh on each pass so that nothing per row stays in memory
    between the check pass and the write pass; cell problems are recorded on the first pass."""

    def __init__(self, table: Table, bound: dict[int, Col], ctx: Context, problems: Problems) -> None:
        self.table, self.bound, self.ctx, self.problems = table, bound, ctx, problems
        self._recorded = False
        # A table built in memory (demo data, samples) already holds every cell: its parsed rows are
        # kept after the first pass instead of parsed again (half the parsing; files still stream).
        self._kept: Optional[list[Row]] = [] if isinstance(table.rows, list) else None

    def __iter__(self) -> Iterator[Row]:
        if self._recorded and self._kept is not None:
            yield from self._kept
            return
        sink = None if self._recorded else self.problems
        if self._kept is not None:
            self._kept = []  # a pass broken off early is parsed again in full
        columns = _columns(self.bound, typed=self.table.typed)
        for number, cells in self.table.rows:
            row = _parse_row(number, cells, columns, self.ctx, sink)
            if self._kept is not None:
                self._kept.append(row)
            yield row
        self._recorded = True


# One bound column, resolved once per pass: where its cell is (position in a file row, field of a
# record), how it parses, what an empty cell means.
_Bound = tuple[Any, Col, Callable[[Any, Context], Any], Any]


def _columns(bound: dict[int, Col], *, typed: bool) -> list[_Bound]:
    out: list[_Bound] = []
    for position, column in bound.items():
        parse, empty = _PARSERS[column.parser]
        if typed:
            out.append((column.field, column, _TYPED.get(column.parser, parse), empty))
        else:
            out.append((position, column, parse, empty))
    return out


def _parse_row(number: int, cells: list[Any] | dict[str, Any], columns: list[_Bound], ctx: Context,
               problems: Optional[Problems]) -> Row:
    """A file row's cells (a list) or a program's record (field → value, of a `records_table`)."""
    row = Row(number, {})
    limits = ctx.rules.limits
    record = isinstance(cells, dict)
    for where, column, parse, empty in columns:
        if record:
            raw = cells.get(where)  # type: ignore[union-attr]
        else:
            raw = cells[where] if where < len(cells) else None
        reason: Optional[str] = None
        if isinstance(raw, str):
            size = len(raw)
            if column.field == "name" and size > limits.max_name_chars:
                reason = t("md.too_long", n=size, limit=limits.max_name_chars, key="max_name_chars")
            elif size > limits.max_text_chars:
                reason = t("md.too_long", n=size, limit=limits.max_text_chars, key="max_text_chars")
        if reason is None and raw is None:
            if not column.required:
                row.values[column.field] = empty
                continue
            reason = t("md.required")
        elif reason is None:
            try:
                row.values[column.field] = parse(raw, ctx)
                continue
            except BadValue as exc:
                reason = str(exc)
        if problems is not None:
            problems.cell(row, column.field, reason)
        row.bad.add(column.field)
        row.values[column.field] = empty
    return row


class _FirstRows:
    """Rows whose key is seen for the first time; a repeated key is reported on the later row.
    The first pass remembers key → row number; later passes yield the same rows again."""

    def __init__(self, rows: Iterable[Row], key: Callable[[Row], Any], problems: Problems, name: str,
                 what: str) -> None:
        self.rows, self.key, self.problems, self.name, self.what = rows, key, problems, name, what
        self.first: Optional[dict[Any, int]] = None

    def __iter__(self) -> Iterator[Row]:
        if self.first is not None:
            for row in self.rows:
                value = self.key(row)
                if value is not None and self.first.get(value) == row.number:
                    yield row
            return
        first: dict[Any, int] = {}
        for row in self.rows:
            value = self.key(row)
            if value is None:
                continue
            if value in first:
                self.problems.cell(row, self.name, t("md.duplicate_key", what=t(self.what), key=_key_text(value),
                                                     first=first[value]))
                continue
            first[value] = row.number
            yield row
        self.first = first


def _first_rows(rows: Iterable[Row], key: Callable[[Row], Any], problems: Problems, name: str, what: str) -> _FirstRows:
    return _FirstRows(rows, key, problems, name, what)


def _key_text(value: Any) -> str:
    return " / ".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


# ============================================================================================ results and writing


class ImportResult(BaseModel):
    kind: str
    source: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def summary(self) -> str:
        return t("md.imported", inserted=self.inserted, updated=self.updated, unchanged=self.unchanged)

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


def _diff(obj: SQLModel, values: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (getattr(obj, k), v) for k, v in values.items() if getattr(obj, k) != v}


def _model_values(model: type[SQLModel], row: Row, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    fields = _FIELDS.get((model, drop))
    if fields is None:  # once per model, not once per row
        fields = _FIELDS[(model, drop)] = frozenset(model.model_fields) - {"id"} - set(drop)
    return {k: v for k, v in row.values.items() if k in fields}


_FIELDS: dict[tuple[type, tuple[str, ...]], frozenset[str]] = {}


# New rows are written with one multi-row INSERT per model and BATCH rows (SQLAlchemy Core), not
# one ORM object each: at 400,000 rows the ORM objects alone cost minutes and gigabytes. `_flush`
# writes what is pending — call it wherever the ORM session would be flushed.
BATCH = 2000


def _insert(ctx: Context, model: type[SQLModel], values: dict[str, Any]) -> None:
    defaults = _defaults(model)
    batch = ctx.pending.setdefault(model, [])
    batch.append({**defaults, **{k: v for k, v in values.items() if k in defaults}})
    if len(batch) >= BATCH:
        _flush(ctx)


def _flush(ctx: Context) -> None:
    """Write the pending multi-row INSERTs (in the order their models were first used: parents
    first), then flush the ORM session (updates)."""
    for model, batch in ctx.pending.items():
        if batch:
            ctx.session.execute(insert(model.__table__), batch)  # type: ignore[attr-defined]
            batch.clear()
    ctx.session.flush()


_DEFAULTS: dict[type, dict[str, Any]] = {}


def _defaults(model: type[SQLModel]) -> dict[str, Any]:
    """Every column of `model` but the id, with its Python default (what the ORM constructor would
    fill in): all rows of one multi-row INSERT must name the same columns."""
    found = _DEFAULTS.get(model)
    if found is None:
        found = {name: (None if info.is_required() else info.get_default(call_default_factory=True))
                 for name, info in model.model_fields.items() if name != "id"}
        _DEFAULTS[model] = found
    return found


def _upsert(ctx: Context, result: ImportResult, model: type[SQLModel], existing: Optional[SQLModel],
            values: dict[str, Any], *, entity: str, key: str, row: int) -> tuple[SQLModel, dict[str, tuple[Any, Any]]]:
    """Insert or update one record and audit it; returns the record and what changed (empty if unchanged)."""
    if existing is None:
        _insert(ctx, model, values)
        result.count("inserted")
        _insert(ctx, AuditEntry, audit.entry_values(ctx.clock, actor=ctx.actor, action="insert", entity=entity,
                                                    key=key, source=ctx.source, row=row))
        return SimpleNamespace(**values), {name: (None, value) for name, value in values.items()}  # type: ignore[return-value]
    changes = _diff(existing, values)
    if not changes:
        result.count("unchanged")
        return existing, {}
    for name, (_, new) in changes.items():
        setattr(existing, name, new)
    ctx.session.add(existing)
    result.count("updated")
    audit.record(ctx.session, ctx.clock, actor=ctx.actor, action="update", entity=entity, key=key,
                 source=ctx.source, row=row, changed=audit.changed_fields(changes))
    return existing, changes


def _owner_event(ctx: Context, entity: str, key: str, changes: dict[str, tuple[Any, Any]], row: int) -> None:
    owner_changes = {k: v for k, v in changes.items() if k in ("owner_emp_no", "backup_emp_no")}
    if owner_changes:
        audit.record(ctx.session, ctx.clock, actor=ctx.actor, action="owner_change", entity=entity, key=key,
                     source=ctx.source, row=row, changed=audit.changed_fields(owner_changes))


# ============================================================================================ org


_EMPLOYEE_ONLY = ("unit_code", "supervisor_emp_no", "email", "locale", "roles")
_UNIT_ONLY = ("parent_code", "calendar", "timezone")


def _kind_name(kind: str) -> str:
    return t(f"md.kind.{kind}")


def _import_org(ctx: Context, table: Table) -> ImportResult:
    session = ctx.session
    rows, problems = _parse_rows(table, LAYOUTS["org"], ctx)
    units_db = {u.code: u for u in session.exec(select(OrgUnit))}
    emps_db = {e.emp_no: e for e in session.exec(select(Employee))}

    unit_rows = [r for r in rows if r.get("kind") not in (None, "employee")]
    emp_rows = [r for r in rows if r.get("kind") == "employee"]
    for row in unit_rows:
        for name in _EMPLOYEE_ONLY:
            value = row.get(name)
            # locale and roles parse an empty cell to their defaults; only a written value is a mistake
            if value not in (None, "") and not (name == "locale" and value == "zh-CN"):
                problems.cell(row, name, t("md.employee_only"))
    for row in emp_rows:
        for name in _UNIT_ONLY:
            if row.get(name) is not None:
                problems.cell(row, name, t("md.unit_only"))
    unit_rows = _first_rows(unit_rows, lambda r: r.get("code"), problems, "code", "md.w_unit")
    emp_rows = _first_rows(emp_rows, lambda r: r.get("code"), problems, "code", "md.w_employee")

    # --- units, judged on the tree as it will be after the import
    final_units: dict[str, tuple[str, Optional[str]]] = {c: (u.kind, u.parent_code) for c, u in units_db.items()}
    for row in unit_rows:
        code, kind = row.get("code"), row.get("kind")
        existing = units_db.get(code)
        if existing is not None and existing.kind != kind:
            problems.cell(row, "kind", t("md.kind_changed", key=code, old=_kind_name(existing.kind), new=_kind_name(kind)))
        parent = row.get("parent_code") if row.has("parent_code") else (existing.parent_code if existing else None)
        final_units[code] = (kind, parent)
    hq_codes = sorted(c for c, (k, _) in final_units.items() if k == UnitKind.hq.value)
    for row in unit_rows:
        code = row.get("code")
        kind, parent = final_units[code]
        expected = UNIT_PARENT_KIND[UnitKind(kind)]
        if expected is None:
            if parent:
                problems.cell(row, "parent_code", t("md.hq_has_parent"))
            others = [c for c in hq_codes if c != code]
            if others and code not in units_db:
                problems.cell(row, "kind", t("md.second_hq", existing=others[0]))
            continue
        if "parent_code" in row.bad:
            continue
        if not parent:
            problems.cell(row, "parent_code", t("md.parent_required"))
        elif parent not in final_units:
            problems.cell(row, "parent_code", t("md.unknown_ref", what=t("md.w_parent"), key=parent))
        elif final_units[parent][0] != expected.value:
            problems.cell(row, "parent_code", t("md.wrong_kind", what=t("md.w_parent"), key=parent,
                                                actual=_kind_name(final_units[parent][0]),
                                                expected=_kind_name(expected.value)))

    # --- employees, judged on the organisation as it will be after the import
    final_sup: dict[str, Optional[str]] = {e: x.supervisor_emp_no for e, x in emps_db.items()}
    # Addresses after the import: the file's where it gives one, the database's otherwise.
    final_email: dict[str, str] = {e: x.email for e, x in emps_db.items()}
    readdressed: set[str] = set()
    for row in emp_rows:
        code = row.get("code")
        if row.has("supervisor_emp_no"):
            final_sup[code] = row.get("supervisor_emp_no")
        elif code not in emps_db:
            final_sup[code] = None
        if row.get("email"):
            final_email[code] = row.get("email")
            readdressed.add(code)
    holders: dict[str, list[str]] = {}
    for emp_no, email in final_email.items():
        holders.setdefault(email, []).append(emp_no)
    first_email: dict[str, int] = {}
    for row in emp_rows:
        code = row.get("code")
        existing = emps_db.get(code)
        email = row.get("email")
        if not email and "email" not in row.bad and (existing is None or row.has("email")):
            problems.cell(row, "email", t("md.email_required_emp"))
        if email:
            if email in first_email:
                problems.cell(row, "email", t("md.duplicate_email", email=email, first=first_email[email]))
            else:
                first_email[email] = row.number
                others = sorted(e for e in holders.get(email, []) if e != code and e not in readdressed)
                if others:
                    problems.cell(row, "email", t("md.email_taken", email=email, owner=others[0]))
        unit = row.get("unit_code") if row.has("unit_code") else (existing.unit_code if existing else None)
        if "unit_code" not in row.bad:
            if not unit:
                problems.cell(row, "unit_code", t("md.unit_required"))
            elif unit not in final_units:
                problems.cell(row, "unit_code", t("md.unknown_ref", what=t("md.w_unit"), key=unit))
        supervisor = final_sup.get(code)
        if supervisor and "supervisor_emp_no" not in row.bad:
            if supervisor == code:
                problems.cell(row, "supervisor_emp_no", t("md.self_supervisor"))
            elif supervisor not in final_sup:
                problems.cell(row, "supervisor_emp_no", t("md.unknown_ref", what=t("md.w_supervisor"), key=supervisor))
    reported: set[frozenset[str]] = set()
    for row in emp_rows:
        cycle = _cycle_from(row.get("code"), final_sup)
        # reported once, on the first row of the file that is part of the loop
        if cycle and len(cycle) > 2 and row.get("code") in cycle and frozenset(cycle) not in reported:
            reported.add(frozenset(cycle))
            problems.cell(row, "supervisor_emp_no", t("md.supervisor_cycle", path=" → ".join(cycle)))
    problems.raise_if_any()

    # --- write: parents before children, inserts before updates, so every reference exists when written
    result = ImportResult(kind="org", source=ctx.source)
    depth = {"hq": 0, "region": 1, "office": 2, "team": 3}
    new_units = sorted((r for r in unit_rows if r.get("code") not in units_db), key=lambda r: depth[r.get("kind")])
    for row in new_units:
        _upsert(ctx, result, OrgUnit, None, _unit_values(row), entity="org_unit", key=row.get("code"), row=row.number)
    _flush(ctx)
    moved_teams: dict[str, str] = {}
    for row in unit_rows:
        if row.get("code") in units_db:
            unit, changes = _upsert(ctx, result, OrgUnit, units_db[row.get("code")], _unit_values(row),
                                    entity="org_unit", key=row.get("code"), row=row.number)
            if "parent_code" in changes and unit.kind == UnitKind.team.value:  # type: ignore[attr-defined]
                moved_teams[unit.code] = unit.parent_code  # type: ignore[attr-defined]
    _flush(ctx)
    _follow_moved_teams(ctx, moved_teams)
    levels = {code: _depth(code, final_sup) for code in final_sup}
    new_emps = sorted((r for r in emp_rows if r.get("code") not in emps_db), key=lambda r: levels[r.get("code")])
    for row in new_emps:
        _upsert(ctx, result, Employee, None, _employee_values(row), entity="employee", key=row.get("code"),
                row=row.number)
    _flush(ctx)
    # Addresses may move between people in one file (A takes B's, B gets a new one): park the
    # changing ones on placeholders first, or the unique index would refuse the intermediate state.
    moving = [(emps_db[r.get("code")], emps_db[r.get("code")].email) for r in emp_rows
              if r.get("code") in emps_db and r.get("email") and r.get("email") != emps_db[r.get("code")].email]
    if moving:
        for emp, _ in moving:
            emp.email = f"~moving~{emp.emp_no}"
        _flush(ctx)
        for emp, old_email in moving:
            emp.email = old_email  # back to the committed value, so the audit shows old → new
    for row in emp_rows:
        if row.get("code") in emps_db:
            _upsert(ctx, result, Employee, emps_db[row.get("code")], _employee_values(row), entity="employee",
                    key=row.get("code"), row=row.number)
    _flush(ctx)
    return result


def _follow_moved_teams(ctx: Context, moved: dict[str, str]) -> None:
    """A team moved to another office takes its customers along (customer.office_code follows)."""
    if not moved:
        return
    for customer in ctx.session.exec(select(Customer).where(col(Customer.team_code).in_(list(moved)))):
        new_office = moved[customer.team_code]  # type: ignore[index]
        if customer.office_code != new_office:
            audit.record(ctx.session, ctx.clock, actor=ctx.actor, action="update", entity="customer",
                         key=customer.code, source=ctx.source, changed={"office_code": [customer.office_code, new_office]},
                         reason=f"team {customer.team_code} moved")
            customer.office_code = new_office
            ctx.session.add(customer)
    _flush(ctx)


def _unit_values(row: Row) -> dict[str, Any]:
    return _model_values(OrgUnit, row)


def _employee_values(row: Row) -> dict[str, Any]:
    values = _model_values(Employee, row)
    values["emp_no"] = row.get("code")
    return values


def _cycle_from(start: str, sup: dict[str, Optional[str]]) -> list[str] | None:
    path: list[str] = []
    seen: dict[str, int] = {}
    node: Optional[str] = start
    while node is not None and node in sup:
        if node in seen:
            return path[seen[node]:] + [node]
        seen[node] = len(path)
        path.append(node)
        node = sup[node]
    return None


def _depth(code: str, sup: dict[str, Optional[str]]) -> int:
    depth, node, seen = 0, sup.get(code), {code}
    while node is not None and node not in seen:
        seen.add(node)
        depth += 1
        node = sup.get(node)
    return depth


# ============================================================================================ customers


def _import_customers(ctx: Context, table: Table) -> ImportResult:
    session = ctx.session
    rows, problems = _parse_rows(table, LAYOUTS["customers"], ctx)
    rows = _first_rows(rows, lambda r: r.get("code"), problems, "code", "md.w_customer")
    units = {u.code: u for u in session.exec(select(OrgUnit))}
    employees = set(session.exec(select(Employee.emp_no)))
    existing = {c.code: c for c in session.exec(select(Customer))}
    for row in rows:
        old = existing.get(row.get("code"))
        office = row.get("office_code")
        if office and "office_code" not in row.bad:
            _check_unit(problems, row, "office_code", office, "office", units, "md.w_office")
        team = row.get("team_code") if row.has("team_code") else (old.team_code if old else None)
        if team and "team_code" not in row.bad and _check_unit(problems, row, "team_code", team, "team", units, "md.w_team"):
            if office and units.get(office) is not None and units[team].parent_code != office:
                problems.cell(row, "team_code", t("md.team_not_in_office", team=team, office=office,
                                                  actual=units[team].parent_code))
        _check_people(problems, row, employees, old)
    problems.raise_if_any()
    _refuse_unmanaged(ctx, "customer", rows, existing, ("tier", "owner_emp_no", "backup_emp_no"))

    result = ImportResult(kind="customers", source=ctx.source)
    tier_events: list[tuple[str, Optional[str], str, int]] = []
    for row in rows:
        code = row.get("code")
        old = existing.get(code)
        old_tier = old.tier if old else None
        obj, changes = _upsert(ctx, result, Customer, old, _model_values(Customer, row), entity="customer", key=code,
                               row=row.number)
        if "tier" in changes:
            tier_events.append((code, old_tier, obj.tier, row.number))
        if old is not None:
            _owner_event(ctx, "customer", code, changes, row.number)
    _flush(ctx)  # tier events refer to the customer rows
    for code, old_tier, new_tier, number in tier_events:
        _tier_event(ctx, code, old_tier, new_tier, reason=f"import {ctx.source}", row=number)
    _flush(ctx)
    return result


def _refuse_unmanaged(ctx: Context, entity: str, rows: list[Row], existing: dict[str, Any],
                      guarded: tuple[str, ...]) -> None:
    """Tier and owner changes through an import obey the rule of `change_tier`/`change_owner`.

    New records may be imported by anyone allowed to import; changing the tier or owner of an
    existing one needs sales management or a supervisor above its current owner. A refusal writes
    nothing but one refused audit row per record, and names every record refused.
    """
    from engine.masterdata.service import may_manage

    if not existing:
        return  # only new records: nothing to guard (and no pass over a large file for nothing)
    refused = []
    for row in rows:
        old = existing.get(row.get("code"))
        if old is None or may_manage(ctx.principal, old.owner_emp_no):
            continue
        if any(row.has(name) and row.get(name) != getattr(old, name) for name in guarded):
            refused.append(old.code)
    if not refused:
        return
    ctx.session.rollback()
    for key in refused:
        audit.record(ctx.session, ctx.clock, actor=ctx.actor, action="tier_or_owner_change", entity=entity, key=key,
                     allowed=False, source=ctx.source)
    ctx.session.commit()
    raise NotPermitted(t("md.not_allowed_import_owner", viewer=ctx.actor, what=t("md.w_" + entity),
                         keys=", ".join(refused)))


def _tier_event(ctx: Context, code: str, old: Optional[str], new: str, *, reason: Optional[str], row: int | None = None) -> None:
    _insert(ctx, TierChange, {"customer_code": code, "from_tier": old, "to_tier": new, "actor": ctx.actor,
                              "at_us": to_us(ctx.clock.now()), "reason": reason})
    _insert(ctx, AuditEntry, audit.entry_values(ctx.clock, actor=ctx.actor, action="tier_change", entity="customer",
                                                key=code, changed={"tier": [old, new]}, reason=reason,
                                                **({"row": row} if row else {})))


def _check_unit(problems: Problems, row: Row, name: str, code: str, kind: str, units: dict[str, OrgUnit],
                what: str) -> bool:
    unit = units.get(code)
    if unit is None:
        problems.cell(row, name, t("md.unknown_ref", what=t(what), key=code))
        return False
    if unit.kind != kind:
        problems.cell(row, name, t("md.wrong_kind", what=t(what), key=code, actual=_kind_name(unit.kind),
                                   expected=_kind_name(kind)))
        return False
    return True


def _check_people(problems: Problems, row: Row, employees: set[str], old: Any) -> None:
    owner = row.get("owner_emp_no")
    if owner and "owner_emp_no" not in row.bad and owner not in employees:
        problems.cell(row, "owner_emp_no", t("md.unknown_ref", what=t("md.w_owner"), key=owner))
    backup = row.get("backup_emp_no")
    if backup and "backup_emp_no" not in row.bad:
        if backup not in employees:
            problems.cell(row, "backup_emp_no", t("md.unknown_ref", what=t("md.w_backup"), key=backup))
        elif backup == (owner or (old.owner_emp_no if old else None)):
            problems.cell(row, "backup_emp_no", t("md.backup_is_owner"))


# ============================================================================================ contacts


def _import_contacts(ctx: Context, table: Table) -> ImportResult:
    session = ctx.session
    rows, problems = _parse_rows(table, LAYOUTS["contacts"], ctx)
    rows = _first_rows(rows, lambda r: r.get("code"), problems, "code", "md.w_contact")
    customers = set(session.exec(select(Customer.code)))
    employees = set(session.exec(select(Employee.emp_no)))
    existing = {c.code: c for c in session.exec(select(Contact))}
    for row in rows:
        old = existing.get(row.get("code"))
        customer = row.get("customer_code")
        if customer and "customer_code" not in row.bad:
            if customer not in customers:
                problems.cell(row, "customer_code", t("md.unknown_ref", what=t("md.w_customer"), key=customer))
            elif old is not None and old.customer_code != customer:
                problems.cell(row, "customer_code", t("md.customer_changed", key=old.code, old=old.customer_code,
                                                      new=customer))
        birthday = row.get("birthday")
        if birthday is not None and birthday > ctx.today:
            problems.cell(row, "birthday", t("md.future_date", value=birthday.isoformat()))
        _check_people(problems, row, employees, old)
    problems.raise_if_any()
    _refuse_unmanaged(ctx, "contact", rows, existing, ("owner_emp_no", "backup_emp_no"))

    result = ImportResult(kind="contacts", source=ctx.source)
    for row in rows:
        code = row.get("code")
        old = existing.get(code)
        _, changes = _upsert(ctx, result, Contact, old, _model_values(Contact, row), entity="contact", key=code,
                             row=row.number)
        if old is not None:
            _owner_event(ctx, "contact", code, changes, row.number)
    _flush(ctx)
    return result


# ============================================================================================ assessments


_EVIDENCE_OF = tuple((d.value, f"{d.value}_evidence") for d in Dimension)  # Enum lookups cost, per row
ASSESSMENT_FIELDS: tuple[str, ...] = tuple(
    [f for d in Dimension for f in (d.value, f"{d.value}_evidence")] + ["support_us", "competitor_support",
                                                                          "assessor_emp_no"])


def _import_assessments(ctx: Context, table: Table) -> ImportResult:
    session = ctx.session
    rows, problems = _parse_rows(table, LAYOUTS["assessments"], ctx)
    rows = _first_rows(rows, lambda r: (r.get("contact_code"), r.get("year")) if r.get("contact_code") and r.get("year")
                       else None, problems, "contact_code", "md.w_assessment")
    contacts = {c: cust for c, cust in session.exec(select(Contact.code, Contact.customer_code))}
    locked = {code: json.loads(comp) for code, comp in session.exec(select(Customer.code, Customer.locked_competitors))}
    employees = set(session.exec(select(Employee.emp_no)))
    latest = _latest_assessments(session)
    for row in rows:
        contact = row.get("contact_code")
        if contact and "contact_code" not in row.bad and contact not in contacts:
            problems.cell(row, "contact_code", t("md.unknown_ref", what=t("md.w_contact"), key=contact))
            continue
        values = _assessment_snapshot(row, latest.get((contact, row.get("year"))))
        if ctx.rules.assessment_requires_evidence:
            for dim, evidence_col in _EVIDENCE_OF:
                if values[dim] is not None and not values[evidence_col] and dim not in row.bad:
                    problems.cell(row, evidence_col, t("md.evidence_required", col=problems.header_of.get(evidence_col)))
        support = json.loads(values["competitor_support"] or "{}")
        if support and contact in contacts:
            customer = contacts[contact]
            allowed = locked.get(customer, [])
            for name in support:
                if name not in allowed:
                    problems.cell(row, "competitor_support", t("md.competitor_not_locked", name=name, customer=customer,
                                                               locked="、".join(allowed) or "-"))
        assessor = row.get("assessor_emp_no")
        if assessor and assessor not in employees:
            problems.cell(row, "assessor_emp_no", t("md.unknown_ref", what=t("md.w_assessor"), key=assessor))
    problems.raise_if_any()

    result = ImportResult(kind="assessments", source=ctx.source)
    for row in rows:
        key = (row.get("contact_code"), row.get("year"))
        previous = latest.get(key)
        values = _assessment_snapshot(row, previous)
        if previous is not None and all(getattr(previous, f) == values[f] for f in ASSESSMENT_FIELDS):
            result.count("unchanged")
            continue
        revision = (previous.revision + 1) if previous else 1
        # a new revision is a new row either way: batched like every insert (no ORM object per row)
        _insert(ctx, Assessment, {"contact_code": key[0], "year": key[1], "revision": revision, "actor": ctx.actor,
                                  "source": ctx.source, "recorded_us": to_us(ctx.clock.now()), **values})
        result.count("updated" if previous else "inserted")
        changed = ({f: [getattr(previous, f), values[f]] for f in ASSESSMENT_FIELDS if getattr(previous, f) != values[f]}
                   if previous else {})
        _insert(ctx, AuditEntry, audit.entry_values(
            ctx.clock, actor=ctx.actor, action="update" if previous else "insert", entity="assessment",
            key=f"{key[0]}/{key[1]}", source=ctx.source, row=row.number, revision=revision,
            **({"changed": changed} if changed else {})))
    _flush(ctx)
    return result


def _latest_assessments(session: Session) -> dict[tuple[str, int], Assessment]:
    latest: dict[tuple[str, int], Assessment] = {}
    for a in session.exec(select(Assessment).order_by(col(Assessment.revision))):
        latest[(a.contact_code, a.year)] = a
    return latest


def _assessment_snapshot(row: Row, previous: Optional[Assessment]) -> dict[str, Any]:
    """The full revision this row makes: its columns, and the previous revision's for absent ones."""
    out: dict[str, Any] = {}
    for name in ASSESSMENT_FIELDS:
        if row.has(name):
            out[name] = row.get(name)
        elif previous is not None:
            out[name] = getattr(previous, name)
        else:
            out[name] = "{}" if name == "competitor_support" else None
    return out


# ============================================================================================ sponsors, projects


def _import_sponsors(ctx: Context, table: Table) -> ImportResult:
    session = ctx.session
    rows, problems = _parse_rows(table, LAYOUTS["sponsors"], ctx)
    rows = _first_rows(rows, lambda r: (r.get("sponsor_emp_no"), r.get("contact_code"))
                       if r.get("sponsor_emp_no") and r.get("contact_code") else None, problems, "contact_code",
                       "md.w_pairing")
    employees = set(session.exec(select(Employee.emp_no)))
    contacts = set(session.exec(select(Contact.code)))
    existing = {(p.sponsor_emp_no, p.contact_code): p for p in session.exec(select(SponsorPairing))}
    for row in rows:
        if row.get("sponsor_emp_no") not in employees:
            problems.cell(row, "sponsor_emp_no", t("md.unknown_ref", what=t("md.w_sponsor"), key=row.get("sponsor_emp_no")))
        if row.get("contact_code") not in contacts:
            problems.cell(row, "contact_code", t("md.unknown_ref", what=t("md.w_contact"), key=row.get("contact_code")))
    problems.raise_if_any()
    result = ImportResult(kind="sponsors", source=ctx.source)
    for row in rows:
        key = (row.get("sponsor_emp_no"), row.get("contact_code"))
        _upsert(ctx, result, SponsorPairing, existing.get(key), _model_values(SponsorPairing, row),
                entity="sponsor_pairing", key="/".join(key), row=row.number)
    _flush(ctx)
    return result


def _import_projects(ctx: Context, table: Table) -> ImportResult:
    session = ctx.session
    rows, problems = _parse_rows(table, LAYOUTS["projects"], ctx)
    rows = _first_rows(rows, lambda r: r.get("code"), problems, "code", "md.w_project")
    customers = set(session.exec(select(Customer.code)))
    units = {u.code: u for u in session.exec(select(OrgUnit))}
    existing = {p.code: p for p in session.exec(select(Project))}
    for row in rows:
        customer = row.get("customer_code")
        if customer and customer not in customers:
            problems.cell(row, "customer_code", t("md.unknown_ref", what=t("md.w_customer"), key=customer))
        team = row.get("team_code")
        if team and "team_code" not in row.bad:
            _check_unit(problems, row, "team_code", team, "team", units, "md.w_team")
    problems.raise_if_any()
    result = ImportResult(kind="projects", source=ctx.source)
    for row in rows:
        _upsert(ctx, result, Project, existing.get(row.get("code")), _model_values(Project, row), entity="project",
                key=row.get("code"), row=row.number)
    _flush(ctx)
    return result


def _import_activities(ctx: Context, table: Table) -> ImportResult:
    """Marketing activities (品牌/营销活动) with their invited contacts; the same checks as
    `service.plan_activity`: a planned activity names its project (of the same customer), carries a
    budget and falls before the project's decision date."""
    session = ctx.session
    rows, problems = _parse_rows(table, LAYOUTS["activities"], ctx)
    rows = _first_rows(rows, lambda r: r.get("code"), problems, "code", "md.w_activity")
    customers = set(session.exec(select(Customer.code)))
    employees = set(session.exec(select(Employee.emp_no)))
    contacts = dict(session.exec(select(Contact.code, Contact.customer_code)).all())
    projects = {p.code: p for p in session.exec(select(Project))}
    existing = {a.code: a for a in session.exec(select(MarketingActivity))}
    for row in rows:
        customer = row.get("customer_code")
        if customer and customer not in customers:
            problems.cell(row, "customer_code", t("md.unknown_ref", what=t("md.w_customer"), key=customer))
        if row.get("inviter_emp_no") and row.get("inviter_emp_no") not in employees:
            problems.cell(row, "inviter_emp_no", t("md.unknown_ref", what=t("md.w_employee"), key=row.get("inviter_emp_no")))
        for contact in row.get("invitees") or []:
            if contact not in contacts:
                problems.cell(row, "invitees", t("md.unknown_ref", what=t("md.w_contact"), key=contact))
        status = row.get("status") or "planned"
        project_code = row.get("project_code")
        if status == "planned" and not project_code and "project_code" not in row.bad:
            problems.cell(row, "project_code", t("md.activity_needs_project"))
        if status == "planned" and row.get("budget") is None and "budget" not in row.bad:
            problems.cell(row, "budget", t("md.activity_needs_budget"))
        project = projects.get(project_code) if project_code else None
        if project_code and project is None and "project_code" not in row.bad:
            problems.cell(row, "project_code", t("md.unknown_ref", what=t("md.w_project"), key=project_code))
        if project is not None and customer and project.customer_code != customer:
            problems.cell(row, "project_code", t("md.project_other_customer", project=project_code,
                                                 actual=project.customer_code, customer=customer))
        day = row.get("activity_date")
        if (project is not None and project.decision_date is not None and isinstance(day, date)
                and day >= project.decision_date and status == "planned"):
            problems.cell(row, "activity_date", t("md.activity_after_decision", date=day.isoformat(), project=project_code,
                                                  decision=project.decision_date.isoformat()))
    problems.raise_if_any()
    result = ImportResult(kind="activities", source=ctx.source)
    invited_now = {(i.activity_code, i.contact_code)
                   for i in session.exec(select(ActivityInvitee))}
    for row in rows:
        values = _model_values(MarketingActivity, row, drop=("invitees",))
        values.setdefault("status", "planned")
        values.setdefault("currency", "CNY")
        _upsert(ctx, result, MarketingActivity, existing.get(row.get("code")), values, entity="marketing_activity",
                key=row.get("code"), row=row.number)
    _flush(ctx)
    for row in rows:
        for contact in row.get("invitees") or []:
            if (row.get("code"), contact) not in invited_now:
                _insert(ctx, ActivityInvitee, {"activity_code": row.get("code"), "contact_code": contact})
                invited_now.add((row.get("code"), contact))
    _flush(ctx)
    return result


# ============================================================================================ orders, value curves


def _import_orders(ctx: Context, table: Table) -> ImportResult:
    """Monthly order intake per customer (the customer watch counts it), upserted by customer + month."""
    session = ctx.session
    rows, problems = _parse_rows(table, LAYOUTS["orders"], ctx)
    rows = _first_rows(rows, lambda r: (r.get("customer_code"), r.get("month"))
                       if r.get("customer_code") and r.get("month") else None, problems, "month", "md.w_orders")
    customers = set(session.exec(select(Customer.code)))
    existing = {(o.customer_code, o.month): o for o in session.exec(select(CustomerOrders))}
    for row in rows:
        customer = row.get("customer_code")
        if customer and "customer_code" not in row.bad and customer not in customers:
            problems.cell(row, "customer_code", t("md.unknown_ref", what=t("md.w_customer"), key=customer))
    problems.raise_if_any()
    result = ImportResult(kind="orders", source=ctx.source)
    for row in rows:
        key = (row.get("customer_code"), row.get("month"))
        _upsert(ctx, result, CustomerOrders, existing.get(key), _model_values(CustomerOrders, row),
                entity="customer_orders", key="/".join(key), row=row.number)
    _flush(ctx)
    return result


def _import_curves(ctx: Context, table: Table) -> ImportResult:
    """The value-return curve per customer (years 1, 3, 5); a negative revenue is refused by the money parser."""
    session = ctx.session
    rows, problems = _parse_rows(table, LAYOUTS["curves"], ctx)
    rows = _first_rows(rows, lambda r: r.get("customer_code"), problems, "customer_code", "md.w_curve")
    customers = set(session.exec(select(Customer.code)))
    existing = {c.customer_code: c for c in session.exec(select(ValueCurve))}
    for row in rows:
        customer = row.get("customer_code")
        if customer and "customer_code" not in row.bad and customer not in customers:
            problems.cell(row, "customer_code", t("md.unknown_ref", what=t("md.w_customer"), key=customer))
    problems.raise_if_any()
    result = ImportResult(kind="curves", source=ctx.source)
    for row in rows:
        code = row.get("customer_code")
        _upsert(ctx, result, ValueCurve, existing.get(code), _model_values(ValueCurve, row),
                entity="customer_value_curve", key=code, row=row.number)
    _flush(ctx)
    return result


# ============================================================================================ entry points


_HANDLERS: dict[str, Callable[[Context, Table], ImportResult]] = {
    "org": _import_org, "customers": _import_customers, "contacts": _import_contacts,
    "assessments": _import_assessments, "sponsors": _import_sponsors, "projects": _import_projects,
    "activities": _import_activities,
    "orders": _import_orders, "curves": _import_curves,
}


def import_table(session: Session, kind: str, table: Table, *, clock: Clock, principal: Principal,
                 rules: MasterDataRules | None = None, tiers: TierRules | None = None) -> ImportResult:
    """Validate and upsert one table into the session (flushed, not committed), as `principal`.

    Raises `ImportRejected` listing every problem before anything is written; `NotPermitted` when
    the principal may not import the organisation or change a tier or owner (audited).
    """
    if kind not in _HANDLERS:
        raise ValueError(f"unknown import kind {kind!r}; one of {', '.join(_HANDLERS)}")
    if kind == "org" and not (principal.is_operator or principal.is_engine):
        session.rollback()
        audit.record(session, clock, actor=principal.actor, action="import", entity="org", key=table.source,
                     allowed=False)
        session.commit()
        raise NotPermitted(t("md.not_allowed_import_org", viewer=principal.actor))
    ctx = Context(session, clock, principal, rules or load_masterdata_rules(), tiers or load_tier_rules(),
                  table.source)
    try:
        return _HANDLERS[kind](ctx, table)
    except IntegrityError as exc:
        session.rollback()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise _file_problem(table.source, "md.conflict", reason=reason) from exc


def import_file(session: Session, kind: str, path: Path | str, *, clock: Clock, principal: Principal,
                rules: MasterDataRules | None = None, tiers: TierRules | None = None) -> ImportResult:
    """Import one file in one transaction: committed when clean, nothing written otherwise.

    If another process writes meanwhile and the database stays busy, the whole transaction is
    rolled back and run again (`retry_busy`); the file is read only once."""
    rules = rules or load_masterdata_rules()
    table = read_table(path, rules=rules)

    def attempt() -> ImportResult:
        try:
            result = import_table(session, kind, table, clock=clock, principal=principal, rules=rules, tiers=tiers)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return result

    return retry_busy(attempt)
