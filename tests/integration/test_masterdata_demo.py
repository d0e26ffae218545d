"""Demo data (deterministic, idempotent, realistic) and the `mcr import|export|demo-data` commands,
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import typer
from sqlmodel import select
from typer.testing import CliRunner

from engine.auth.principal import Principal
from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ImportRejected
from engine.masterdata import service as md
from engine.masterdata.cli import register
from engine.masterdata.demo import generate_demo
from engine.masterdata.exporter import export_contacts, export_customers
from engine.masterdata.models import Assessment, Contact, Customer, Employee, OrgUnit, SponsorPairing
from engine.masterdata.settings import MasterDataRules
from tests.integration.test_masterdata_import import DATA, snapshot


def test_demo_builds_a_realistic_organisation(db: Database, clock: FakeClock) -> None:
    with db.session() as s:
        result = generate_demo(s, customers=200, seed=1, clock=clock)
    assert (result.customers, result.updated, result.unchanged) == (200, 0, 0)
    with db.session() as s:
        units = Counter(u.kind for u in s.exec(select(OrgUnit)))
        tiers = Counter(c.tier for c in s.exec(select(Customer)))
        contacts = s.exec(select(Contact)).all()
        offices = s.exec(select(OrgUnit).where(OrgUnit.kind == "office")).all()
        names = [e.name for e in s.exec(select(Employee))]
        deepest = max(len(md.supervisor_chain(s, e.emp_no)) for e in s.exec(select(Employee)))
        assessed_years = {a.year for a in s.exec(select(Assessment))}
        sponsors = s.exec(select(SponsorPairing)).all()
        projects = md.projects_of(s)
        activities = md.activities_of(s)
    assert units["hq"] == 1 and units["region"] >= 3 and units["office"] >= 6 and units["team"] >= 9
    assert all(o.calendar == "CN" and o.timezone == "Asia/Shanghai" for o in offices)
    assert deepest >= 3  # account manager → team head → office head → region → CEO
    assert tiers["S"] < tiers["A"] < tiers["B"] < tiers["C"]  # a pyramid
    assert all("\u4e00" <= n[0] <= "\u9fff" for n in names) and len(set(names)) == len(names)
    birthdays = [c.birthday for c in contacts if c.birthday]
    assert date(1976, 2, 29) in birthdays
    assert {b.month for b in birthdays} == set(range(1, 13))
    assert assessed_years == {clock.now().year - 1}
    assert sponsors and projects and all(p.decision_date and p.decision_date > clock.now().date() for p in projects)
    decision = {p.code: p.decision_date for p in projects}
    assert activities and all(a.activity_date < decision[a.project_code] for a in activities)  # type: ignore[index,operator]


def test_demo_is_deterministic_for_a_seed(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    other.upgrade()
    try:
        for database in (db, other):
            with database.session() as s:
                generate_demo(s, customers=30, seed=7, clock=clock)
        exports = []
        for i, database in enumerate((db, other)):
            with database.session() as s:
                export_customers(s, tmp_path / f"c{i}.csv", principal=Principal.operator_only("root"))
                export_contacts(s, tmp_path / f"k{i}.csv", principal=Principal.operator_only("root"), clock=clock)
            exports.append(((tmp_path / f"c{i}.csv").read_text(encoding="utf-8-sig"),
                            (tmp_path / f"k{i}.csv").read_text(encoding="utf-8-sig")))
        assert exports[0] == exports[1]
        with other.session() as s:
            generate_demo(s, customers=30, seed=8, clock=clock)  # another seed, other people
            assert len(s.exec(select(Employee)).all()) > 0
    finally:
        other.dispose()


def test_demo_is_idempotent(db: Database, clock: FakeClock) -> None:
    with db.session() as s:
        first = generate_demo(s, customers=40, seed=1, clock=clock)
    before = snapshot(db)
    with db.session() as s:
        again = generate_demo(s, customers=40, seed=1, clock=clock)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, first.inserted)
    assert snapshot(db) == before


def test_demo_respects_store_sensitive_false(db: Database, clock: FakeClock) -> None:
    with db.session() as s:
        generate_demo(s, customers=10, seed=1, clock=clock, rules=MasterDataRules(store_sensitive=False))
        assert all(c.family is None and c.pain_points_career is None for c in s.exec(select(Contact)))


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> tuple[CliRunner, typer.Typer]:
    monkeypatch.setenv("MCR_DATABASE_URL", db.url)
    app = typer.Typer()
    register(app)
    return CliRunner(), app


def test_cli_imports_print_a_summary_and_reimport_changes_nothing(cli: tuple[CliRunner, typer.Typer],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    runner, app = cli
    for kind in ("org", "customers", "contacts", "assessments", "sponsors", "projects"):
        acting = ["--as", "E2"] if kind != "org" else []  # the organisation is the operator's own import
        result = runner.invoke(app, ["import", kind, str(DATA / f"{kind}.csv"), *acting])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("导入完成：新增 ")
    monkeypatch.setenv("MCR_LOCALE", "en")
    result = runner.invoke(app, ["import", "contacts", str(DATA / "contacts_gbk.csv")])
    assert result.output.strip() == "import done: 0 inserted, 0 updated, 4 unchanged"


def test_cli_rejected_import_raises_the_problem_list(cli: tuple[CliRunner, typer.Typer], tmp_path: Path) -> None:
    runner, app = cli
    bad = tmp_path / "org.csv"
    bad.write_text("kind,code,name\nteam,T1,x\n", encoding="utf-8")
    result = runner.invoke(app, ["import", "org", str(bad)])
    assert result.exit_code == 1
    assert isinstance(result.exception, ImportRejected)  # the main CLI prints it on one line and exits 1
    assert f"{bad}:2:" in str(result.exception)


def test_cli_export_applies_visibility_and_writes_xlsx(cli: tuple[CliRunner, typer.Typer], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    runner, app = cli
    for kind in ("org", "customers", "contacts"):
        runner.invoke(app, ["import", kind, str(DATA / f"{kind}.csv")])
    monkeypatch.setenv("MCR_LOCALE", "en")
    result = runner.invoke(app, ["export", "contacts", str(tmp_path / "k.xlsx"), "--as", "E8"])
    assert result.exit_code == 0 and result.output.strip() == f"export done: 1 row(s) -> {tmp_path / 'k.xlsx'}"
    result = runner.invoke(app, ["export", "customers", str(tmp_path / "c.csv")])
    assert result.output.startswith("export done: 3 row(s)")
    assert (tmp_path / "c.csv").read_text(encoding="utf-8-sig").startswith("code,name,industry,tier")


def test_cli_demo_data(cli: tuple[CliRunner, typer.Typer]) -> None:
    runner, app = cli
    first = runner.invoke(app, ["demo-data", "--customers", "20", "--seed", "3"])
    assert first.exit_code == 0, first.output
    assert "20 个客户" in first.output
    again = runner.invoke(app, ["demo-data", "--customers", "20", "--seed", "3"])
    assert "新增 0" in again.output


# Rows per table and a digest of every table of the 200-customer demo for seed 1, as the demo
# wrote them before it handed the importer typed records table by table (and after: nothing changed).
# A change to the demo's data must change these on purpose, never by accident.
DEMO_200_SEED_1 = {
    "org_unit": (40, "3f40671f7197fe08"), "employee": (146, "8f63ce818b1e565a"),
    "customer": (200, "7b05ac4dbf743df1"), "customer_tier_change": (200, "a337d5e7f2c90514"),
    "contact": (442, "c963414f7c5d2767"), "contact_assessment": (328, "8421d0c290b62201"),
    "sponsor_pairing": (32, "4df4de70c4b6e9cb"), "project": (112, "aa09024deeb1b34c"),
    "marketing_activity": (26, "446fc306513fdee1"), "marketing_activity_invitee": (51, "c5a0e1c4d97955f9"),
    "masterdata_audit": (1526, "c9ce75387e42ba4f"),
}


def _table_digests(db: Database) -> dict[str, tuple[int, str]]:
    import hashlib
    import json

    from engine.masterdata.models import ActivityInvitee, AuditEntry, MarketingActivity, Project, TierChange

    out: dict[str, tuple[int, str]] = {}
    with db.session() as s:
        for model in (OrgUnit, Employee, Customer, TierChange, Contact, Assessment, SponsorPairing, Project,
                      MarketingActivity, ActivityInvitee, AuditEntry):
            lines = sorted(json.dumps(row.model_dump(exclude={"id"}), sort_keys=True, ensure_ascii=False, default=str)
                           for row in s.exec(select(model)))
            out[model.__tablename__] = (len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16])
    return out


def test_demo_data_for_a_seed_is_unchanged(db: Database, clock: FakeClock) -> None:
    with db.session() as s:
        generate_demo(s, customers=200, seed=1, clock=clock)
    assert _table_digests(db) == DEMO_200_SEED_1


def test_typed_records_are_checked_like_the_cells_of_a_file(db: Database, clock: FakeClock) -> None:
    from engine.masterdata.importer import import_table, records_table

    records = [
        {"kind": "hq", "code": "HQ", "name": "公司总部"},
        {"kind": "region", "code": "bad code!", "name": "地区部", "parent_code": "HQ"},   # not a code
        {"kind": "galaxy", "code": "R2", "name": "银河", "parent_code": "HQ"},              # no such kind
        {"kind": "employee", "code": "E1", "name": "王伟", "unit_code": "HQ", "email": "e1@demo.example.com",
         "locale": 7},                                                                       # typed, but no locale
        {"kind": "region", "code": "R3", "name": "长" * 500, "parent_code": "HQ"},          # over the length limit
    ]
    with db.session() as s, pytest.raises(ImportRejected) as refused:
        import_table(s, "org", records_table("demo:org", "org", records), clock=clock,
                     principal=Principal.engine("demo"))
    assert sorted({p.line for p in refused.value.problems}) == [3, 4, 5, 6]
    with db.session() as s:
        assert s.exec(select(OrgUnit)).all() == []  # nothing written
