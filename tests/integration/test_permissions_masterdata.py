"""Who may change master data, also through `mcr import`, and what an export may contain: refused
changes write nothing but an audit row; an export without `--as` never carries sensitive fields
(SQLite and PostgreSQL). The organisation is tests/data/masterdata (see test_masterdata_visibility).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from engine.auth.principal import Principal, UnknownEmployee
from engine.clock import FakeClock
from engine.db import Database
from engine.errors import NotPermitted
from engine.masterdata import audit
from engine.masterdata.cli import register
from engine.masterdata.exporter import export_contacts
from tests.integration.test_masterdata_import import DATA, run_import, seed, snapshot, write_csv


def masterdata_only(db: Database) -> dict:
    return {k: v for k, v in snapshot(db).items() if k != "masterdata_audit"}


def refused(db: Database, action: str) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(e.actor, e.entity_key) for e in audit.entries(s, action=action) if not e.allowed]


def test_a_tier_change_through_import_is_refused_to_peers_and_the_operator_alone(db: Database, clock: FakeClock,
                                                                                 tmp_path: Path) -> None:
    seed(db, clock, upto="customers")
    raised = write_csv(tmp_path / "c.csv", "code,name,tier,office,team,owner\nC2,深圳农商银行,A,O1,T2,E9\n")
    before = masterdata_only(db)
    with pytest.raises(NotPermitted, match="C2"):
        run_import(db, clock, "customers", raised, as_emp="E5")  # head of T1, a peer of E9's team
    with pytest.raises(NotPermitted, match="operator root"):
        run_import(db, clock, "customers", raised, principal=Principal.operator_only("root"))
    assert masterdata_only(db) == before
    assert refused(db, "tier_or_owner_change") == [("E5", "C2"), ("operator root", "C2")]
    assert run_import(db, clock, "customers", raised, as_emp="E8").updated == 1  # E9's supervisor


def test_an_owner_cannot_hand_their_contact_to_someone_else_through_import(db: Database, clock: FakeClock,
                                                                           tmp_path: Path) -> None:
    seed(db, clock, upto="contacts")
    grab = write_csv(tmp_path / "k.csv", "code,customer,name,owner,backup_owner\nK1,C1,马总,E7,E6\n")
    before = masterdata_only(db)
    with pytest.raises(NotPermitted, match="K1"):
        run_import(db, clock, "contacts", grab, as_emp="E6")  # K1's owner
    assert masterdata_only(db) == before and refused(db, "tier_or_owner_change") == [("E6", "K1")]
    assert run_import(db, clock, "contacts", grab, as_emp="E2").updated == 1  # sales management


def test_the_organisation_is_imported_by_the_operator_only(db: Database, clock: FakeClock) -> None:
    seed(db, clock, upto="org")
    before = masterdata_only(db)
    with pytest.raises(NotPermitted):
        run_import(db, clock, "org", DATA / "org.csv", as_emp="E1")
    assert masterdata_only(db) == before and refused(db, "import") == [("E1", str(DATA / "org.csv"))]
    assert run_import(db, clock, "org", DATA / "org.csv", principal=Principal.operator_only("root")).unchanged > 0


def test_an_export_without_as_never_writes_sensitive_fields(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    seed(db, clock, upto="contacts")
    with db.session() as s:
        assert export_contacts(s, tmp_path / "k.csv", principal=Principal.operator_only("root"), clock=clock) == 4
    header = (tmp_path / "k.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert "家庭" not in header and "个人痛点" not in header and "职业痛点" not in header


def test_cli_export_as_an_unknown_employee_is_refused_and_writes_nothing(db: Database, clock: FakeClock,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db, clock, upto="contacts")
    monkeypatch.setenv("MCR_DATABASE_URL", db.url)
    monkeypatch.delenv("MCR_LOCALE", raising=False)
    app = typer.Typer()
    register(app)
    res = CliRunner().invoke(app, ["export", "contacts", str(tmp_path / "k.csv"), "--as", "NOBODY"])
    assert res.exit_code == 1 and isinstance(res.exception, UnknownEmployee)
    assert str(res.exception) == "没有工号为「NOBODY」的员工：--as 必须是主数据中的员工"
    assert not (tmp_path / "k.csv").exists()
