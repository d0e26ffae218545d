"""Bounded input: imports stream their rows (a 400,000-row CSV stays under 300 MB of RSS, measured
in a subprocess), files and rows and text cells have limits set in rules/masterdata.yaml, and the
web app's uploads go through the same `check_upload`. On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine.auth.principal import Principal
from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ImportRejected
from engine.masterdata.importer import check_upload, import_file
from engine.masterdata.settings import ImportLimits, MasterDataRules
from tests.conftest import ROOT

IMPORT = Principal.engine("import")
DATA = ROOT / "tests" / "data" / "masterdata"
HEADER = ["code", "name", "industry", "tier", "office", "team", "owner", "backup_owner", "annual_revenue_usd",
          "credit_grade", "locked_competitors", "key_events"]


def write_customers(path: Path, n: int, name: str = "深圳客户有限公司第{i}号分公司") -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(n):
            writer.writerow([f"C{i:07d}", name.format(i=i), "运营商", "一般", "O1", "T1", "E6", "E7",
                             str(1_000_000 + i), "A", "爱立信;诺基亚", "03-15 年度采购大会;11 预算编制"])
    return path


def with_org(db: Database, clock: FakeClock) -> None:
    with db.session() as session:
        import_file(session, "org", DATA / "org.csv", clock=clock, principal=IMPORT)


def count(db: Database, table: str) -> int:
    with db.read() as tx:
        return int(tx.one(f"SELECT COUNT(*) FROM {table}")[0])


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~2 min alone; the shared test machine can be several times slower
def test_a_400k_row_csv_is_imported_in_less_than_300_mb(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    with_org(db, clock)
    big = write_customers(tmp_path / "customers.csv", 400_000)
    script = textwrap.dedent("""
        import sys
        from engine.auth.principal import Principal
        from engine.clock import SystemClock
        from engine.db import Database
        from engine.masterdata.importer import import_file
        db = Database(sys.argv[1], create=False)
        with db.session() as session:
            result = import_file(session, "customers", sys.argv[2], clock=SystemClock(),
                                 principal=Principal.engine("import"))
        # VmHWM: the peak RSS of this program since it started. ru_maxrss would also count the parent's
        # pages at fork time (Linux keeps it across exec), i.e. the test process's own size.
        peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        print(result.inserted, peak)  # KiB
    """)
    done = subprocess.run([sys.executable, "-c", script, db.url, str(big)], cwd=ROOT, capture_output=True,
                          text=True, timeout=880, env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    inserted, max_rss_kib = map(int, done.stdout.split())
    assert inserted == 400_000
    assert max_rss_kib < 300 * 1024, f"peak RSS {max_rss_kib // 1024} MB"
    assert count(db, "customer") == 400_000 and count(db, "customer_tier_change") == 400_000


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
        db: Database, clock: FakeClock, tmp_path: Path) -> None:
    with_org(db, clock)
    path = write_customers(tmp_path / "customers.csv", 200)
    rules = MasterDataRules(limits=ImportLimits(max_file_mb=0.01))
    with db.session() as session, pytest.raises(ImportRejected) as err:
        import_file(session, "customers", path, clock=clock, principal=IMPORT, rules=rules)
    assert "limits.max_file_mb" in str(err.value)
    assert count(db, "customer") == 0


def test_a_file_over_the_row_limit_is_refused_and_nothing_is_written(
        db: Database, clock: FakeClock, tmp_path: Path) -> None:
    with_org(db, clock)
    path = write_customers(tmp_path / "customers.csv", 11)
    rules = MasterDataRules(limits=ImportLimits(max_rows=10))
    with db.session() as session, pytest.raises(ImportRejected) as err:
        import_file(session, "customers", path, clock=clock, principal=IMPORT, rules=rules)
    assert "limits.max_rows" in str(err.value) and "10" in str(err.value)
    assert count(db, "customer") == 0


def test_a_name_of_100000_characters_is_refused_with_its_row_and_limit(
        db: Database, clock: FakeClock, tmp_path: Path) -> None:
    with_org(db, clock)
    path = write_customers(tmp_path / "customers.csv", 3, name="名" * 100_000)
    with db.session() as session, pytest.raises(ImportRejected) as err:
        import_file(session, "customers", path, clock=clock, principal=IMPORT)
    lines = str(err.value).splitlines()
    assert len(lines) == 4 and all("100000" in line and "limits.max_name_chars" in line for line in lines[1:])
    assert "第 2 行" in lines[1]
    assert count(db, "customer") == 0


def test_a_long_text_cell_is_refused_against_max_text_chars(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    with_org(db, clock)
    path = write_customers(tmp_path / "customers.csv", 1)
    text = path.read_text(encoding="utf-8").replace("运营商", "行" * 2001)
    path.write_text(text, encoding="utf-8")
    with db.session() as session, pytest.raises(ImportRejected, match="limits.max_text_chars"):
        import_file(session, "customers", path, clock=clock, principal=IMPORT)


def test_a_file_with_thousands_of_problems_lists_the_first_thousand_and_counts_the_rest(
        db: Database, clock: FakeClock, tmp_path: Path) -> None:
    with_org(db, clock)
    path = write_customers(tmp_path / "customers.csv", 1500)
    path.write_text(path.read_text(encoding="utf-8").replace(",E6,", ",E404,"), encoding="utf-8")
    with db.session() as session, pytest.raises(ImportRejected) as err:
        import_file(session, "customers", path, clock=clock, principal=IMPORT)
    assert "1500 个问题" in str(err.value).splitlines()[0]
    assert len(err.value.problems) == 1001 and "另有 500 个问题" in err.value.problems[-1].message


def test_check_upload_applies_the_same_limits_for_the_web_app() -> None:
    rules = MasterDataRules(limits=ImportLimits(max_file_mb=1))
    check_upload(1024 * 1024, "客户.xlsx", rules=rules)  # at the limit: accepted
    with pytest.raises(ImportRejected, match="limits.max_file_mb"):
        check_upload(1024 * 1024 + 1, "客户.xlsx", rules=rules)
    with pytest.raises(ImportRejected):
        check_upload(10, "客户.exe", rules=rules)
