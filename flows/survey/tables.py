"""Reading the survey files — sample lists (CSV or XLSX) and survey-firm results (XLSX) — into rows
keyed by field, with Chinese or English headers.

A file is read whole into (row number, {field: cell}) pairs with the spreadsheet's own row numbers,
so every problem can name file, row and column. An unreadable file is one `ImportRejected`.
Nothing here knows the survey rules; `samples.py` and `results.py` check the rows.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ImportRejected, Problem

from engine.i18n import t


@dataclass(frozen=True)
class Column:
    field: str
    zh: tuple[str, ...]
    en: tuple[str, ...]
    required: bool = False

    def header(self, locale: str) -> str:
        return self.en[0] if locale == "en" else self.zh[0]

    @property
    def label(self) -> str:
        return f"{self.zh[0]}/{self.en[0]}"


def normalise_header(text: Any) -> str:
    s = str(text or "").strip().lower().rstrip("*＊").strip()
    s = s.replace("（", "(").replace("）", ")")
    return re.sub(r"[\s_\-]+", "", s)


@dataclass
class Sheet:
    source: str
    header_row: int
    columns: dict[str, int]            # field -> cell index
    rows: list[tuple[int, dict[str, Any]]]


def rejected(source: str, problems: list[Problem]) -> ImportRejected:
    return ImportRejected(problems, header=t("survey.rejected", file=source, n=len(problems)))


def _read_csv(source: str, raw: bytes) -> list[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise rejected(source, [Problem(source, 0, t("survey.undecodable"))])
    try:
        return [row for row in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise rejected(source, [Problem(source, 0, t("survey.bad_file", reason=str(exc)))]) from exc


def _read_xlsx(source: str, raw: bytes, sheet: str | None) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise rejected(source, [Problem(source, 0, t("survey.bad_file", reason=str(exc) or type(exc).__name__))]) from exc
    try:
        ws = wb[sheet] if sheet and sheet in wb.sheetnames else wb.worksheets[0]
        return [list(r) for r in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


def read_rows(path: Path | str, columns: tuple[Column, ...], *, sheets: tuple[str, ...] = (),
              xlsx_only: bool = False) -> Sheet:
    """Read a CSV/XLSX file and bind its header row to `columns`; problems with the header are
    reported at once (file, row 1, column) — the rows are checked by the caller."""
    path = Path(path)
    source = str(path)
    suffix = path.suffix.lower()
    allowed = (".xlsx", ".xlsm") if xlsx_only else (".csv", ".txt", ".xlsx", ".xlsm")
    if suffix not in allowed:
        raise rejected(source, [Problem(source, 0, t("survey.file_type", suffix=path.suffix or path.name,
                                                       allowed=", ".join(allowed)))])
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise rejected(source, [Problem(source, 0, t("survey.file_missing", reason=exc.strerror or str(exc)))]) from exc
    if suffix in (".xlsx", ".xlsm"):
        sheet_name = None
        if sheets:
            from openpyxl import load_workbook

            try:
                names = load_workbook(io.BytesIO(raw), read_only=True).sheetnames
            except Exception:  # reported by _read_xlsx below with the reason
                names = []
            sheet_name = next((s for s in sheets if s in names), None)
        cells = _read_xlsx(source, raw, sheet_name)
    else:
        cells = _read_csv(source, raw)
    return bind(source, cells, columns)


def bind(source: str, cells: list[list[Any]], columns: tuple[Column, ...]) -> Sheet:
    """Find the header (the first non-empty row) and map each data row to {field: value}."""
    header_at = next((i for i, r in enumerate(cells) if any(_blank(c) is False for c in r)), None)
    if header_at is None:
        raise rejected(source, [Problem(source, 0, t("survey.empty_file"))])
    lookup = {normalise_header(h): c for c in columns for h in (*c.zh, *c.en)}
    problems: list[Problem] = []
    bound: dict[str, int] = {}
    for idx, text in enumerate(cells[header_at]):
        if _blank(text):
            continue
        col = lookup.get(normalise_header(text))
        if col is None:
            problems.append(Problem(source, header_at + 1, t("survey.unknown_column", col=str(text).strip(),
                                                             known="、".join(c.label for c in columns))))
        elif col.field in bound:
            problems.append(Problem(source, header_at + 1, t("survey.duplicate_column", col=col.label)))
        else:
            bound[col.field] = idx
    missing = [c.label for c in columns if c.required and c.field not in bound]
    if missing:
        problems.append(Problem(source, header_at + 1, t("survey.missing_columns", cols="、".join(missing))))
    if problems:
        raise rejected(source, problems)
    rows: list[tuple[int, dict[str, Any]]] = []
    for i in range(header_at + 1, len(cells)):
        r = cells[i]
        if all(_blank(c) for c in r):
            continue
        rows.append((i + 1, {f: (r[idx] if idx < len(r) else None) for f, idx in bound.items()}))
    if not rows:
        raise rejected(source, [Problem(source, header_at + 1, t("survey.no_rows"))])
    return Sheet(source, header_at + 1, bound, rows)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(value: Any) -> str:
    """A cell as trimmed text; Excel's 12.0 for a typed-in code 12 becomes "12"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
