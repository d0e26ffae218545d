"""Property tests (hypothesis): random rows into every importer, written as a real CSV file. Whatever
the cells — hostile text, numbers, dates, formulas, look-alike codes, blanks, codes that do or do not
exist — an import either succeeds or is refused with an `MCRError`, never a traceback; and a
refused import writes nothing (all or nothing). On a SQLite file and on PostgreSQL; bounded so
that the whole file stays well under a minute."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.auth.principal import Principal
from engine.clock import FakeClock
from engine.db import Database
from engine.errors import MCRError
from engine.masterdata.importer import KINDS, import_file
from engine.masterdata.layouts import LAYOUTS
from tests.conftest import ROOT

IMPORT = Principal.engine("import")
DATA = ROOT / "tests" / "data" / "masterdata"
# Every table an import may write to, the audit log included.
TABLES = ("org_unit", "employee", "customer", "contact", "contact_assessment", "sponsor_pairing", "project",
          "customer_tier_change", "masterdata_audit")
KNOWN = ["HQ", "R1", "O1", "O2", "T1", "T2", "T3", "E6", "E7", "E9", "E12", "C1", "C2", "C3", "K1", "K2", "K3",
         "P1", "P2"]
WORDS = ["", " ", "是", "否", "高层", "运营商", "S", "优先", "一般", "A", "2025", "2026-02-29", "1976/2/29",
         "=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "@SUM(1)", "-1", "'=1", "../../x", "C\u2025", "T\uff0f1",
         "a\\b", "爱立信:2;诺基亚:-1", "03-15 年度采购大会", "每月", "代表处", "公司", "员工", "x" * 300, "3", "0", "-2",
         "zh-CN", "en", "Asia/Shanghai", "CN", "a@b.example", "not-an-email", "9" * 30]

CELLS = st.one_of(st.sampled_from(KNOWN), st.sampled_from(WORDS), st.integers(-10, 10**7).map(str),
                  st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12))

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def _counts(db: Database) -> dict[str, int]:
    with db.read() as tx:
        return {t: int(tx.one(f"SELECT COUNT(*) FROM {t}")[0]) for t in TABLES}


def _write(path: Path, headers: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(headers)
        writer.writerows(rows)


@pytest.fixture
def seeded(db: Database, clock: FakeClock) -> Database:
    """The sample organisation, customers and contacts, so that random rows can refer to real codes."""
    for kind in ("org", "customers", "contacts"):
        with db.session() as session:
            import_file(session, kind, DATA / f"{kind}.csv", clock=clock, principal=IMPORT)
    return db


@pytest.mark.parametrize("kind", KINDS)
def test_random_rows_are_imported_or_refused_all_or_nothing(
        seeded: Database, clock: FakeClock, tmp_path: Path, kind: str) -> None:
    layout = LAYOUTS[kind]
    outcomes: dict[str, int] = {"imported": 0, "refused": 0}

    @SETTINGS
    @given(st.data())
    def one_file(data: st.DataObject) -> None:
        # The required columns always, the others sometimes; cells random, rows 1..6.
        columns = [c for c in layout if c.required or data.draw(st.booleans(), label=c.field)]
        rows = data.draw(st.lists(st.lists(CELLS, min_size=len(columns), max_size=len(columns)),
                                  min_size=1, max_size=6), label="rows")
        path = tmp_path / f"{kind}.csv"
        _write(path, [c.header_en for c in columns], rows)
        before = _counts(seeded)
        try:
            with seeded.session() as session:
                import_file(session, kind, path, clock=clock, principal=IMPORT)
            outcomes["imported"] += 1
        except MCRError:
            outcomes["refused"] += 1
            after = _counts(seeded)
            # A refusal may leave its own audit rows (a refused tier/owner change), nothing else.
            assert {t: n for t, n in after.items() if t != "masterdata_audit"} == \
                {t: n for t, n in before.items() if t != "masterdata_audit"}, f"a refused {kind} import wrote rows"

    one_file()
    assert outcomes["refused"], outcomes  # hostile cells are refused, each time without a trace left


def test_a_valid_sample_file_still_imports_after_the_hostile_ones(seeded: Database, clock: FakeClock) -> None:
    with seeded.session() as session:
        result = import_file(session, "customers", DATA / "customers.csv", clock=clock, principal=IMPORT)
    assert (result.inserted, result.updated) == (0, 0)
