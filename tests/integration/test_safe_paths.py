"""No file is written outside its folder: codes are checked against `code_pattern` at import, and
every writer joins its paths through `engine.paths.safe_join` — tested with `../`, absolute
paths, NUL, backslashes and Unicode look-alikes, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.auth.principal import Principal
from engine.db import Database
from engine.errors import ImportRejected, InvalidRules
from engine.mailers import FolderMailer, OUTBOX_ID_HEADER
from engine.masterdata.exporter import export_customers
from engine.masterdata.importer import import_file
from engine.masterdata.settings import load_masterdata_rules
from engine.paths import UnsafePath, check_name, output_file, safe_join
from flows.planning.kit import issue_kit
from flows.planning.sample import planning_runtime

IMPORT = Principal.engine("import")
OPERATOR = Principal.operator_only("root")

SH = timezone(timedelta(hours=8))

HOSTILE = [
    "../../../../tmp/x",          # climbing out
    "..",                         # the parent itself
    "/etc/cron.d/x",              # absolute
    "a\x00b",                     # NUL: C truncates the name here
    "..\\..\\windows",            # backslashes
    "\u2025",                     # '‥' two-dot leader
    "a\uff0fb",                   # fullwidth solidus
    "\uff0e\uff0e",               # fullwidth full stops, NFKC '..'
    "a\u2215b",                   # division slash
    "x\u202egpj.exe",             # right-to-left override
    "CON",                        # reserved on Windows
]


@pytest.mark.parametrize("name", HOSTILE)
def test_safe_join_refuses_every_hostile_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath):
        safe_join(tmp_path, name)
    with pytest.raises(UnsafePath):
        safe_join(tmp_path, "2027", name)
    assert list(tmp_path.iterdir()) == []


def test_safe_join_keeps_plain_names_including_chinese(tmp_path: Path) -> None:
    assert safe_join(tmp_path, 2027, "T-SZ1-2027-客户关系规划三件套.xlsx") == \
        tmp_path.resolve() / "2027" / "T-SZ1-2027-客户关系规划三件套.xlsx"
    assert check_name("a..b") == "a..b"  # two dots inside a name do not climb


def test_a_symbolic_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    base = tmp_path / "base"
    base.mkdir()
    (base / "link").symlink_to(outside)
    with pytest.raises(UnsafePath):
        safe_join(base, "link", "x.xlsx")


def test_the_default_code_pattern_refuses_hostile_codes_and_a_lax_one_is_refused_at_load(tmp_path: Path) -> None:
    import re

    rules = load_masterdata_rules()
    for name in HOSTILE:
        if name != "CON":  # a fine code; only as a Windows file name is it reserved (safe_join says no)
            assert not re.fullmatch(rules.code_pattern, name), name
    (tmp_path / "masterdata.yaml").write_text("code_pattern: '.*'\n", encoding="utf-8")
    with pytest.raises(InvalidRules) as err:
        load_masterdata_rules(tmp_path)
    assert "masterdata.yaml:1" in str(err.value) and "'..'" in str(err.value)


@pytest.mark.parametrize("code", ["../../../../tmp/x", "T\\..\\x", "T\u2025x", "T\uff0fx", "/abs"])
def test_an_import_with_a_path_like_code_is_refused_and_writes_nothing(
        db: Database, clock: FakeClock, tmp_path: Path, code: str) -> None:
    csv = tmp_path / "org.csv"
    csv.write_text("类型,编码,名称,上级单位\n公司,HQ,总部,\n系统部," + code.replace(",", "") + ",坏系统部,HQ\n",
                   encoding="utf-8")
    with db.session() as session, pytest.raises(ImportRejected) as err:
        import_file(session, "org", csv, clock=clock, principal=IMPORT)
    assert "code_pattern" in str(err.value)
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM org_unit")[0] == 0


def test_a_kit_for_a_team_code_that_slipped_past_the_import_is_refused_not_written_outside(
        db: Database, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kits = tmp_path / "kits"
    monkeypatch.setenv("MCR_KIT_DIR", str(kits))
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
    rt = planning_runtime(db, clock)
    # Written straight into the table, as an older mcr (without code_pattern) could have.
    with db.tx() as tx:
        office = tx.one("SELECT parent_code FROM org_unit WHERE code = 'T-SZ-OP'")[0]
        tx.execute("INSERT INTO org_unit (code, kind, name, parent_code) VALUES (:c, 'team', 'evil', :p)",
                   {"c": "../../../../escape", "p": office})
    with pytest.raises(UnsafePath):
        issue_kit(rt, "../../../../escape", 2027)
    assert not (tmp_path / "escape").exists() and not Path("/escape").exists()
    assert not any(p.suffix == ".xlsx" for p in tmp_path.rglob("*") if kits not in p.parents)


def test_the_folder_mailer_writes_only_inside_its_folder(tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["Message-ID"] = "<../../../escape@x>"
    msg[OUTBOX_ID_HEADER] = "../../escape"
    msg.set_content("x")
    box = tmp_path / "box"
    assert asyncio.run(FolderMailer(box).send_many([msg])) == [None]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(box.resolve() in p.resolve().parents for p in written)


def test_an_export_stays_inside_the_output_folder_when_one_is_configured(
        db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("MCR_OUTPUT_DIR", str(out))
    with db.session() as session:
        assert export_customers(session, "customers.csv", principal=OPERATOR) == 0
        with pytest.raises(UnsafePath):
            export_customers(session, "../customers.csv", principal=OPERATOR)
        with pytest.raises(UnsafePath):
            export_customers(session, str(tmp_path / "elsewhere.csv"), principal=OPERATOR)
    assert (out / "customers.csv").is_file() and not (tmp_path / "customers.csv").exists()


def test_an_output_file_name_with_nul_or_naming_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafePath):
        output_file(str(tmp_path / "a\x00.csv"))
    with pytest.raises(UnsafePath):
        output_file(tmp_path)
