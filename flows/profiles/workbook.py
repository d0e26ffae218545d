"""A CP or VP as an XLSX workbook, out and in.

Out: one sheet per section (field key, label, value), for a VP a `comparison` sheet (criterion,
weight, a score column for us and each locked competitor, then weighted scores and gaps computed
from the rules' weights), and a `reviews` sheet with every round (read-only).
In: the section sheets and the comparison's score columns are read back; every cell that does not
parse is reported with its sheet, row and column (`ImportRejected`), and nothing is saved unless
the whole workbook is clean. Cells go through the master-data cell parser
(`engine.masterdata.importer.cell_text` / `parse_int`), the one parser of every import.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from engine.errors import ImportRejected, Problem
from engine.i18n import t
from engine.masterdata.importer import BadValue, cell_text, parse_int
from flows.profiles import sections
from flows.profiles.rules import ProfilesRules

COMPARISON_SHEET = "comparison"
REVIEWS_SHEET = "reviews"
_US = {"us", "我司", "我方"}


def write_workbook(view: dict[str, Any], rules: ProfilesRules, target: Path) -> Path:
    from openpyxl import Workbook

    kind, content = view["kind"], view["content"]
    wb = Workbook()
    wb.remove(wb.active)
    for section, fields in sections.sections_of(kind).items():
        ws = wb.create_sheet(section)
        ws.append(["field", "label", "value"])
        for name, k in fields:
            if k == sections.COMPARISON:
                continue
            value = (content.get(section) or {}).get(name)
            ws.append([name, t(f"profiles.field.{name}"), "\n".join(value) if isinstance(value, list) else value or ""])
    if kind == "VP":
        table = sections.comparison_table(content, rules)
        parties = table["parties"]
        ws = wb.create_sheet(COMPARISON_SHEET)
        ws.append(["criterion", "label", "weight", *parties, *[f"weighted {p}" for p in parties],
                   *[f"gap us-{p}" for p in parties[1:]]])
        for row in table["criteria"]:
            ws.append([row["key"], row["zh"], row["weight"], *[row["scores"][p] for p in parties],
                       *[row["weighted"][p] for p in parties], *[row["gap"][p] for p in parties[1:]]])
        ws.append(["total", "加权总分", 100, *[None for _ in parties], *[table["totals"][p] for p in parties],
                   *[table["gap"][p] for p in parties[1:]]])
    ws = wb.create_sheet(REVIEWS_SHEET)
    ws.append(["round", "reviewer", "decision", "section", "comment"])
    for r in view.get("reviews", []):
        for section, texts in (r["comments"] or {"-": []}).items():
            for text in texts or [""]:
                ws.append([r["round"], r["reviewer"], r["decision"], section, text])
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    return target


def _col(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


def read_workbook(source: Path, kind: str, rules: ProfilesRules) -> dict[str, Any]:
    """The sections of a filled-in workbook ({section: {field: value}}); every problem at once, or none."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    src = str(source)
    try:
        wb = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        raise ImportRejected([Problem(src, 0, t("profiles.xlsx_unreadable", reason=str(exc) or type(exc).__name__))],
                             header=t("profiles.xlsx_rejected", file=src, n=1)) from exc
    problems: list[Problem] = []

    def bad(sheet: str, row: int, col: int, reason: str) -> None:
        problems.append(Problem(src, row, t("profiles.xlsx_cell", sheet=sheet, row=row, col=_col(col), reason=reason)))

    out: dict[str, Any] = {}
    try:
        for section, fields in sections.sections_of(kind).items():
            if section not in wb.sheetnames:
                continue
            known = dict(fields)
            for number, cells in enumerate(wb[section].iter_rows(values_only=True), start=1):
                if number == 1 or not cells or all(c is None for c in cells):
                    continue
                name = cell_text(cells[0]) if cells[0] is not None else ""
                if name not in known or known[name] == sections.COMPARISON:
                    bad(section, number, 1, t("profiles.unknown_field", field=f"{section}.{name}",
                                              known=", ".join(n for n, k in fields if k != sections.COMPARISON)))
                    continue
                value = cells[2] if len(cells) > 2 else None
                text = "" if value is None else cell_text(value)
                out.setdefault(section, {})[name] = sections._as_list(text, name) if known[name] == sections.LIST else text
        if kind == "VP" and COMPARISON_SHEET in wb.sheetnames:
            out.setdefault("overview", {})["comparison"] = _read_comparison(wb[COMPARISON_SHEET], rules, bad)
    finally:
        wb.close()
    if problems:
        problems.sort(key=lambda p: p.line)
        raise ImportRejected(problems, header=t("profiles.xlsx_rejected", file=src, n=len(problems)))
    return out


def _read_comparison(ws: Any, rules: ProfilesRules, bad: Any) -> dict[str, Any]:
    rows = list(ws.iter_rows(values_only=True))
    header = [cell_text(c) if c is not None else "" for c in (rows[0] if rows else ())]
    parties: list[tuple[int, str]] = []
    for i, name in enumerate(header[3:], start=3):
        if not name or name.startswith(("weighted", "gap")):
            break
        parties.append((i, "us" if name in _US else name))
    competitors = [p for _, p in parties if p != "us"]
    if len(competitors) > rules.vp.max_competitors:
        bad(COMPARISON_SHEET, 1, parties[-1][0] + 1,
            t("profiles.too_many_competitors", field="overview.comparison.competitors", n=len(competitors),
              names="、".join(competitors), max=rules.vp.max_competitors))
    keys = {c.key for c in rules.vp.criteria}
    scores: dict[str, dict[str, int]] = {p: {} for _, p in parties}
    for number, cells in enumerate(rows[1:], start=2):
        if not cells or cells[0] is None:
            continue
        key = cell_text(cells[0])
        if key == "total":
            continue
        if key not in keys:
            bad(COMPARISON_SHEET, number, 1, t("profiles.unknown_criterion", field=key, known=", ".join(sorted(keys))))
            continue
        for i, party in parties:
            raw = cells[i] if i < len(cells) else None
            if raw is None or cell_text(raw) == "":
                continue
            try:
                score = parse_int(raw)
            except BadValue as exc:
                bad(COMPARISON_SHEET, number, i + 1, str(exc))
                continue
            if not rules.vp.score_min <= score <= rules.vp.score_max:
                bad(COMPARISON_SHEET, number, i + 1, t("profiles.bad_score", field=f"{party}.{key}", value=score,
                                                       lo=rules.vp.score_min, hi=rules.vp.score_max))
                continue
            scores[party][key] = score
    return {"competitors": competitors, "scores": scores}
