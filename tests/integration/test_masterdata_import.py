"""Master-data import and export against real databases (SQLite file and PostgreSQL):
all-or-nothing files, every refusal reported with file/row/column and the database unchanged,
idempotent upserts, GBK and XLSX input, export → import round trips, audit rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from openpyxl import Workbook
from sqlmodel import SQLModel, select

from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ImportRejected
from engine.masterdata import audit
from engine.auth.principal import Principal
from engine.masterdata.exporter import export_contacts, export_customers
from engine.masterdata.importer import ImportResult, import_file
from engine.masterdata.models import (ActivityInvitee, Assessment, AuditEntry, Contact, Customer, Employee,
                                      MarketingActivity, OrgUnit, Project, SponsorPairing, TierChange)
from engine.masterdata.service import tier_history
from engine.masterdata.settings import MasterDataRules
from tests.conftest import ROOT
from tests.support.principals import principal_of

DATA = ROOT / "tests" / "data" / "masterdata"
IMPORT = Principal.engine("import")
OPERATOR = Principal.operator_only("root")
TABLES: tuple[type[SQLModel], ...] = (OrgUnit, Employee, Customer, TierChange, Contact, Assessment, SponsorPairing,
                                      Project, MarketingActivity, ActivityInvitee, AuditEntry)


# ---------------------------------------------------------------------------------------------- helpers


def run_import(db: Database, clock: FakeClock, kind: str, path: Path | str, *, as_emp: str | None = None,
               principal: Principal | None = None, **kwargs: Any) -> ImportResult:
    """Import as the engine's "import" job, as `principal`, or as employee `as_emp` (the operator's `--as`)."""
    principal = principal_of(db, as_emp) if as_emp else principal or IMPORT
    with db.session() as session:
        return import_file(session, kind, path, clock=clock, principal=principal, **kwargs)


def seed(db: Database, clock: FakeClock, *, upto: str = "projects") -> None:
    """The fixture organisation: HQ → R1 → O1/O2 → T1/T2/T3, 12 employees, 3 customers, 4 contacts."""
    for kind in ("org", "customers", "contacts", "assessments", "sponsors", "projects"):
        run_import(db, clock, kind, DATA / f"{kind}.csv")
        if kind == upto:
            return


def snapshot(db: Database) -> dict[str, list[tuple]]:
    """Every master-data row of every table, to prove a refused import changed nothing."""
    out: dict[str, list[tuple]] = {}
    with db.session() as session:
        for model in TABLES:
            rows = session.exec(select(model).order_by(model.id)).all()  # type: ignore[attr-defined]
            out[model.__tablename__] = [tuple(sorted(r.model_dump().items())) for r in rows]  # type: ignore[attr-defined]
    return out


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rejected(db: Database, clock: FakeClock, kind: str, path: Path, **kwargs: Any) -> ImportRejected:
    """Import `path`, expect a rejection, and check nothing at all changed in the database."""
    before = snapshot(db)
    with pytest.raises(ImportRejected) as info:
        run_import(db, clock, kind, path, **kwargs)
    assert snapshot(db) == before
    return info.value


@pytest.fixture
def en(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MCR_LOCALE", "en")
    yield


def header_of(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8-sig").splitlines()[0]


# ---------------------------------------------------------------------------------------------- happy path


def test_fixture_files_import_cleanly_and_reimport_changes_nothing(db: Database, clock: FakeClock) -> None:
    first = {kind: run_import(db, clock, kind, DATA / f"{kind}.csv")
             for kind in ("org", "customers", "contacts", "assessments", "sponsors", "projects")}
    assert {k: r.inserted for k, r in first.items()} == {
        "org": 19, "customers": 3, "contacts": 4, "assessments": 3, "sponsors": 2, "projects": 3}
    audit_rows = len(snapshot(db)["masterdata_audit"])
    before = snapshot(db)
    for kind in first:
        again = run_import(db, clock, kind, DATA / f"{kind}.csv")
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, first[kind].inserted), kind
    assert snapshot(db) == before
    assert len(snapshot(db)["masterdata_audit"]) == audit_rows  # no change, no audit row


def test_import_normalises_values_from_both_languages(db: Database, clock: FakeClock) -> None:
    seed(db, clock, upto="contacts")
    with db.session() as s:
        e2 = s.exec(select(Employee).where(Employee.emp_no == "E2")).one()
        e3 = s.exec(select(Employee).where(Employee.emp_no == "E3")).one()
        e6 = s.exec(select(Employee).where(Employee.emp_no == "E6")).one()
        c1 = s.exec(select(Customer).where(Customer.code == "C1")).one()
        c2 = s.exec(select(Customer).where(Customer.code == "C2")).one()
        k1 = s.exec(select(Contact).where(Contact.code == "K1")).one()
        k3 = s.exec(select(Contact).where(Contact.code == "K3")).one()
        k4 = s.exec(select(Contact).where(Contact.code == "K4")).one()
        o1 = s.exec(select(OrgUnit).where(OrgUnit.code == "O1")).one()
    assert (e2.roles, e2.locale) == ("sales_management", "en")
    assert e3.roles == "supervisor,issue_handler,sponsor"
    assert e6.email == "e6@corp.example"  # stored lower-case
    assert (o1.calendar, o1.timezone) == ("CN", "Asia/Shanghai")
    assert (c1.tier, c2.tier, c1.annual_revenue_usd) == ("S", "B", 300_000_000)
    assert json.loads(c1.locked_competitors) == ["爱立信", "诺基亚"]
    assert json.loads(c1.key_events) == [{"month": 3, "day": 15, "title": "年度采购大会"},
                                         {"month": 11, "day": None, "title": "预算编制"}]
    assert (k1.decision_roles, k1.has_veto, k1.is_coach, k1.level, k1.gender) == (
        "decider,approver", True, False, "senior", "male")
    assert (k3.birthday.isoformat(), k4.birthday.isoformat()) == ("1970-08-01", "1985-03-03")


def test_gbk_csv_from_excel_is_accepted(db: Database, clock: FakeClock) -> None:
    seed(db, clock, upto="customers")
    result = run_import(db, clock, "contacts", DATA / "contacts_gbk.csv")
    assert result.inserted == 4
    with db.session() as s:
        assert s.exec(select(Contact.name).where(Contact.code == "K2")).one() == "林主任"
    # and the same contacts again in UTF-8 with BOM: nothing to change
    assert run_import(db, clock, "contacts", DATA / "contacts.csv").unchanged == 4


def test_xlsx_import_reads_dates_and_numbers_from_cells(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    from datetime import datetime

    seed(db, clock, upto="customers")
    book = Workbook()
    sheet = book.active
    sheet.append(["联系人编码", "客户编码", "姓名", "生日", "负责人", "电话"])
    sheet.append(["K9", "C1", "钱总", datetime(1971, 2, 3), 6, 13800000009])  # emp_no typed as a number
    book.save(tmp_path / "contacts.xlsx")
    with pytest.raises(ImportRejected) as info:  # owner 6 does not exist: E6 does
        run_import(db, clock, "contacts", tmp_path / "contacts.xlsx")
    message = str(info.value)
    assert "contacts.xlsx:2:" in message and ("'6'" in message or "「6」" in message), message
    sheet.cell(row=2, column=5, value="E6")
    book.save(tmp_path / "contacts.xlsx")
    assert run_import(db, clock, "contacts", tmp_path / "contacts.xlsx").inserted == 1
    with db.session() as s:
        k9 = s.exec(select(Contact).where(Contact.code == "K9")).one()
    assert (k9.birthday.isoformat(), k9.phone) == ("1971-02-03", "13800000009")


def test_absent_column_keeps_data_and_empty_cell_clears_it(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    seed(db, clock, upto="contacts")
    run_import(db, clock, "contacts", write_csv(tmp_path / "a.csv", "code,customer,name,owner\nK1,C1,马总,E6\n"))
    with db.session() as s:
        assert s.exec(select(Contact.hobbies).where(Contact.code == "K1")).one() == "高尔夫"
    result = run_import(db, clock, "contacts", write_csv(tmp_path / "b.csv", "code,customer,name,owner,hobbies\nK1,C1,马总,E6,\n"))
    assert result.updated == 1
    with db.session() as s:
        assert s.exec(select(Contact.hobbies).where(Contact.code == "K1")).one() is None


def test_import_writes_audit_rows_for_inserts_and_updates(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    seed(db, clock, upto="contacts")
    with db.session() as s:
        inserts = audit.entries(s, entity="contact", action="insert")
    assert [e.entity_key for e in inserts] == ["K1", "K2", "K3", "K4"]
    assert all(e.actor == "import" and e.detail["source"].endswith("contacts.csv") for e in inserts)
    path = write_csv(tmp_path / "k.csv", "code,customer,name,owner,family\nK1,C1,马总,E6,离异\n")
    run_import(db, clock, "contacts", path, as_emp="E2")
    with db.session() as s:
        [update] = audit.entries(s, entity="contact", key="K1", action="update")
    assert update.actor == "E2"
    assert update.detail["changed"] == {"family": "(sensitive)"}  # the log never holds the value
    assert "离异" not in json.dumps(update.detail, ensure_ascii=False)


def test_owner_change_by_import_is_audited(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    seed(db, clock, upto="contacts")
    run_import(db, clock, "contacts", write_csv(tmp_path / "k.csv", "code,customer,name,owner,backup_owner\nK1,C1,马总,E7,E6\n"))
    with db.session() as s:
        [event] = audit.entries(s, entity="contact", key="K1", action="owner_change")
    assert event.detail["changed"] == {"owner_emp_no": ["E6", "E7"], "backup_emp_no": ["E7", "E6"]}


def test_tier_change_by_import_is_an_event_with_history(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    seed(db, clock, upto="customers")
    text = (DATA / "customers.csv").read_text(encoding="utf-8").replace(",优先,", ",伙伴,")
    result = run_import(db, clock, "customers", write_csv(tmp_path / "c.csv", text), as_emp="E2")
    assert (result.updated, result.unchanged) == (1, 2)
    with db.session() as s:
        history = tier_history(s, "C2")
        events = audit.entries(s, entity="customer", key="C2", action="tier_change")
    assert [(h.from_tier, h.to_tier, h.actor) for h in history] == [(None, "B", "import"), ("B", "A", "E2")]
    assert history[1].reason is not None and "c.csv" in history[1].reason
    assert events[-1].detail["changed"] == {"tier": ["B", "A"]}


def test_assessment_reimport_with_changes_adds_a_revision_and_keeps_history(db: Database, clock: FakeClock,
                                                                             tmp_path: Path) -> None:
    seed(db, clock, upto="assessments")
    text = (DATA / "assessments.csv").read_text(encoding="utf-8").replace("K2,2025,3,", "K2,2025,2,")
    result = run_import(db, clock, "assessments", write_csv(tmp_path / "a.csv", text))
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 2)
    with db.session() as s:
        revisions = s.exec(select(Assessment).where(Assessment.contact_code == "K2")
                           .order_by(Assessment.revision)).all()  # type: ignore[arg-type]
    assert [(a.revision, a.acceptance) for a in revisions] == [(1, 3), (2, 2)]
    # importing the revised file again: nothing new
    assert run_import(db, clock, "assessments", tmp_path / "a.csv").unchanged == 3


def test_org_import_may_move_and_readdress_people(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    seed(db, clock, upto="org")
    # E6 and E7 swap e-mail addresses in one file: legal, because both are re-addressed.
    text = ("kind,code,name,unit,supervisor,email\n"
            "employee,E6,刘经理,T2,E8,e7@corp.example\n"
            "employee,E7,陈经理,T1,E5,e6-new@corp.example\n")
    result = run_import(db, clock, "org", write_csv(tmp_path / "o.csv", text))
    assert result.updated == 2
    with db.session() as s:
        e6 = s.exec(select(Employee).where(Employee.emp_no == "E6")).one()
    assert (e6.unit_code, e6.supervisor_emp_no, e6.email) == ("T2", "E8", "e7@corp.example")


# ---------------------------------------------------------------------------------------------- refusals


def test_missing_required_columns_are_listed(db: Database, clock: FakeClock, tmp_path: Path, en: None) -> None:
    seed(db, clock, upto="customers")
    error = rejected(db, clock, "contacts", write_csv(tmp_path / "k.csv", "code,name\nK9,某人\n"))
    message = str(error)
    assert "k.csv:1:" in message and "missing required column(s)" in message
    assert "客户编码/customer" in message and "负责人/owner" in message


def test_unknown_column_is_refused_with_the_known_ones(db: Database, clock: FakeClock, tmp_path: Path, en: None) -> None:
    seed(db, clock, upto="customers")
    error = rejected(db, clock, "contacts", write_csv(tmp_path / "k.csv", "code,customer,name,owner,nickname\nK9,C1,x,E6,\n"))
    assert "k.csv:1: unknown column(s): 'nickname'; known columns: code, customer, name" in str(error)


def test_unknown_references_are_reported_per_row_and_column(db: Database, clock: FakeClock, tmp_path: Path,
                                                            en: None) -> None:
    seed(db, clock, upto="customers")
    org = ("kind,code,name,parent,unit,supervisor,email\n"
           "team,T9,新系统部,O9,,,\n"
           "employee,E20,新人,,T9,E99,e20@corp.example\n"
           "employee,E21,新人二,,X1,E1,e21@corp.example\n")
    message = str(rejected(db, clock, "org", write_csv(tmp_path / "org.csv", org)))
    assert "org.csv:2: row 2, column 'parent': parent unit 'O9' does not exist" in message
    assert "org.csv:3: row 3, column 'supervisor': supervisor 'E99' does not exist" in message
    assert "org.csv:4: row 4, column 'unit': unit 'X1' does not exist" in message
    cust = ("code,name,tier,office,team,owner,backup_owner\n"
            "C9,某客户,S,O9,T1,E6,\n"
            "C8,某客户二,A,O2,T1,E66,E77\n")
    message = str(rejected(db, clock, "customers", write_csv(tmp_path / "c.csv", cust)))
    assert "c.csv:2: row 2, column 'office': office 'O9' does not exist" in message
    assert "c.csv:3: row 3, column 'team': team 'T1' does not belong to office 'O2'" in message
    assert "c.csv:3: row 3, column 'owner': owner 'E66' does not exist" in message
    assert "c.csv:3: row 3, column 'backup_owner': backup owner 'E77' does not exist" in message
    cont = "联系人编码,客户编码,姓名,负责人\nK9,C9,某人,E6\n"
    message = str(rejected(db, clock, "contacts", write_csv(tmp_path / "k.csv", cont)))
    assert "k.csv:2: row 2, column '客户编码': customer 'C9' does not exist" in message


def test_office_column_must_name_an_office(db: Database, clock: FakeClock, tmp_path: Path, en: None) -> None:
    seed(db, clock, upto="org")
    message = str(rejected(db, clock, "customers", write_csv(tmp_path / "c.csv", "code,name,tier,office,owner\nC9,x,S,T1,E6\n")))
    assert "row 2, column 'office': office 'T1' is a(n) team, expected a(n) office" in message


def test_duplicate_keys_and_emails_in_the_file_and_against_the_database(db: Database, clock: FakeClock,
                                                                        tmp_path: Path, en: None) -> None:
    seed(db, clock, upto="org")
    org = ("kind,code,name,unit,supervisor,email\n"
           "employee,E20,甲,T1,E5,dup@corp.example\n"
           "employee,E21,乙,T1,E5,DUP@corp.example\n"
           "employee,E20,甲二,T1,E5,other@corp.example\n"
           "employee,E22,丙,T1,E5,e6@corp.example\n")
    message = str(rejected(db, clock, "org", write_csv(tmp_path / "org.csv", org)))
    assert "org.csv:3: row 3, column 'email': e-mail 'dup@corp.example' appears twice in the file (first at row 2)" in message
    assert "org.csv:4: row 4, column 'code': employee 'E20' appears twice in the file (first at row 2)" in message
    assert "org.csv:5: row 5, column 'email': e-mail 'e6@corp.example' already belongs to employee E6" in message
    seed_customers = (DATA / "customers.csv").read_text(encoding="utf-8")
    dup = seed_customers + seed_customers.splitlines()[1] + "\n"
    message = str(rejected(db, clock, "customers", write_csv(tmp_path / "c.csv", dup)))
    assert "c.csv:5: row 5, column 'code': customer 'C1' appears twice in the file (first at row 2)" in message


def test_bad_dates_tiers_scores_and_flags_are_reported(db: Database, clock: FakeClock, tmp_path: Path,
                                                        en: None) -> None:
    seed(db, clock, upto="contacts")
    contacts = ("联系人编码,客户编码,姓名,负责人,生日,教练\n"
                "K9,C1,甲,E6,1980-13-45,是\n"
                "K8,C1,乙,E6,下个月,maybe\n"
                "K7,C1,丙,E6,2030-01-01,否\n")
    message = str(rejected(db, clock, "contacts", write_csv(tmp_path / "k.csv", contacts)))
    assert "k.csv:2: row 2, column '生日': '1980-13-45' is not a date" in message
    assert "k.csv:3: row 3, column '生日': '下个月' is not a date" in message
    assert "k.csv:3: row 3, column '教练': 'maybe' is not yes/no" in message
    assert "k.csv:4: row 4, column '生日': '2030-01-01' lies in the future" in message
    customers = "code,name,tier,office,owner\nC9,x,D,O1,E6\nC8,y,VIP,O1,E6\n"
    message = str(rejected(db, clock, "customers", write_csv(tmp_path / "c.csv", customers)))
    assert "c.csv:2: row 2, column 'tier': tier 'D' is not S/A/B/C" in message
    assert "c.csv:3: row 3, column 'tier': tier 'VIP' is not S/A/B/C" in message
    scores = "contact,year,acceptance,acceptance_evidence,support_us\nK1,2026,4,某事件,-2\nK2,2026,,,\nK3,1890,1,x,\n"
    message = str(rejected(db, clock, "assessments", write_csv(tmp_path / "a.csv", scores)))
    assert "a.csv:2: row 2, column 'acceptance': score '4' is not on the assessment scale (3 coach" in message
    assert "a.csv:2: row 2, column 'support_us': score '-2' is not on the assessment scale" in message
    assert "a.csv:4: row 4, column 'year': '1890' is not a valid year" in message


def test_seven_level_scale_accepts_minus_three(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    seed(db, clock, upto="contacts")
    from engine.masterdata.settings import ScaleLevel

    seven = MasterDataRules(assessment_scale=[ScaleLevel(score=s, zh=str(s), en=str(s)) for s in range(3, -4, -1)])
    path = write_csv(tmp_path / "a.csv", "contact,year,acceptance,acceptance_evidence\nK1,2026,-3,公开反对我司方案\n")
    assert run_import(db, clock, "assessments", path, rules=seven).inserted == 1
    rejected(db, clock, "assessments", path)  # the shipped 3…−1 scale refuses it


def test_score_needs_its_key_event(db: Database, clock: FakeClock, tmp_path: Path, en: None) -> None:
    seed(db, clock, upto="contacts")
    path = write_csv(tmp_path / "a.csv", "contact,year,guidance,guidance_evidence\nK1,2026,2,\n")
    message = str(rejected(db, clock, "assessments", path))
    assert "a.csv:2: row 2, column 'guidance_evidence': a score needs its key event" in message


def test_a_third_locked_competitor_is_refused(db: Database, clock: FakeClock, tmp_path: Path, en: None) -> None:
    seed(db, clock, upto="org")
    path = write_csv(tmp_path / "c.csv", "code,name,tier,office,owner,locked_competitors\nC9,x,S,O1,E6,爱立信;诺基亚;中兴\n")
    message = str(rejected(db, clock, "customers", path))
    assert "c.csv:2: row 2, column 'locked_competitors': 3 competitors locked (爱立信、诺基亚、中兴); at most 2 allowed" in message
    seed(db, clock, upto="contacts")
    support = write_csv(tmp_path / "a.csv", "contact,year,competitor_support\nK1,2026,爱立信:1;中兴:0\n")
    message = str(rejected(db, clock, "assessments", support))
    assert "competitor '中兴' is not locked for customer C1 (爱立信、诺基亚)" in message


def test_supervisor_cycle_is_reported_with_its_path(db: Database, clock: FakeClock, tmp_path: Path, en: None) -> None:
    seed(db, clock, upto="org")
    # E5 now reports to E6, who reports to E5: a loop through existing people
    org = "kind,code,name,supervisor\nemployee,E5,张部长,E6\n"
    message = str(rejected(db, clock, "org", write_csv(tmp_path / "org.csv", org)))
    assert "org.csv:2: row 2, column 'supervisor': supervisor cycle: E5 → E6 → E5" in message
    org = ("kind,code,name,unit,supervisor,email\n"
           "employee,X1,甲,T1,X3,x1@corp.example\n"
           "employee,X2,乙,T1,X1,x2@corp.example\n"
           "employee,X3,丙,T1,X2,x3@corp.example\n"
           "employee,X4,丁,T1,X4,x4@corp.example\n")
    message = str(rejected(db, clock, "org", write_csv(tmp_path / "org2.csv", org)))
    assert "org2.csv:2: row 2, column 'supervisor': supervisor cycle: X1 → X3 → X2 → X1" in message
    assert message.count("supervisor cycle") == 1
    assert "org2.csv:5: row 5, column 'supervisor': an employee cannot be their own supervisor" in message


def test_unit_tree_must_follow_hq_region_office_team(db: Database, clock: FakeClock, tmp_path: Path, en: None) -> None:
    seed(db, clock, upto="org")
    org = ("kind,code,name,parent\n"
           "team,T9,x,R1\n"
           "hq,HQ2,第二总部,\n"
           "office,O1,深圳代表处,R1\n"
           "team,O2,改类型,O1\n")
    message = str(rejected(db, clock, "org", write_csv(tmp_path / "org.csv", org)))
    assert "row 2, column 'parent': parent unit 'R1' is a(n) region, expected a(n) office" in message
    assert "row 3, column 'kind': there can be only one hq unit; 'HQ' exists" in message
    assert "row 5, column 'kind': unit 'O2' is already a(n) office; it cannot become a(n) team" in message


def test_sensitive_columns_are_refused_when_storing_them_is_switched_off(db: Database, clock: FakeClock,
                                                                         en: None) -> None:
    seed(db, clock, upto="customers")
    message = str(rejected(db, clock, "contacts", DATA / "contacts.csv",
                           rules=MasterDataRules(store_sensitive=False)))
    for column in ("家庭", "个人痛点", "职业痛点"):
        assert f"contacts.csv:1: column '{column}' holds sensitive data but rules/masterdata.yaml sets store_sensitive: false" in message


def test_sensitive_switch_is_read_from_the_rules_folder(db: Database, clock: FakeClock, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seed(db, clock, upto="customers")
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "tiers.yaml", rules / "tiers.yaml")
    (rules / "masterdata.yaml").write_text("store_sensitive: false\n", encoding="utf-8")
    monkeypatch.setenv("MCR_RULES_DIR", str(rules))
    error = rejected(db, clock, "contacts", DATA / "contacts.csv")
    assert "store_sensitive: false" in str(error)


def test_undecodable_file_gives_one_message_naming_the_file(db: Database, clock: FakeClock, tmp_path: Path,
                                                            en: None) -> None:
    seed(db, clock, upto="customers")
    path = tmp_path / "broken.csv"
    path.write_bytes("code,customer,name,owner\nK9,C1,".encode() + b"\xff\xfe\x80\x81\xfe" + b",E6\n")
    error = rejected(db, clock, "contacts", path)
    assert len(error.problems) == 1
    assert str(error.problems[0]).startswith(f"{path}:0: the file is neither UTF-8 nor GBK text")


def test_not_an_xlsx_and_wrong_suffix_are_clear(db: Database, clock: FakeClock, tmp_path: Path, en: None) -> None:
    fake = tmp_path / "org.xlsx"
    fake.write_text("this is not a workbook", encoding="utf-8")
    assert "not a valid XLSX workbook" in str(rejected(db, clock, "org", fake))
    assert "unsupported file type '.json'" in str(rejected(db, clock, "org", write_csv(tmp_path / "org.json", "{}")))
    assert "the file is empty" in str(rejected(db, clock, "org", write_csv(tmp_path / "empty.csv", "\n\n")))


def test_every_bad_row_is_reported_not_only_the_first(db: Database, clock: FakeClock, tmp_path: Path,
                                                      en: None) -> None:
    seed(db, clock, upto="org")
    rows = "".join(f"C{i},name,X,O1,E6\n" for i in range(10))
    error = rejected(db, clock, "customers", write_csv(tmp_path / "c.csv", "code,name,tier,office,owner\n" + rows))
    assert [p.line for p in error.problems] == list(range(2, 12))
    assert str(error).splitlines()[0] == f"import rejected: {tmp_path / 'c.csv'} has 10 problem(s); nothing was written"


def test_refusal_messages_are_chinese_by_default(db: Database, clock: FakeClock, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MCR_LOCALE", raising=False)
    seed(db, clock, upto="contacts")
    message = str(rejected(db, clock, "contacts", write_csv(tmp_path / "k.csv", "联系人编码,客户编码,姓名,负责人,生日\nK9,C1,甲,E6,abc\n")))
    assert "导入被拒绝" in message
    assert "k.csv:2: 第 2 行，列「生日」：「abc」不是日期" in message


# ---------------------------------------------------------------------------------------------- export round trips


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
@pytest.mark.parametrize("loc", ["zh-CN", "en"])
def test_export_then_reimport_changes_nothing(db: Database, clock: FakeClock, tmp_path: Path, suffix: str, loc: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_LOCALE", loc)
    seed(db, clock)
    with db.session() as s:
        assert export_customers(s, tmp_path / f"c.{suffix}", principal=OPERATOR) == 3
    with db.session() as s:
        assert export_contacts(s, tmp_path / f"k.{suffix}", principal=OPERATOR, clock=clock) == 4
    before = {k: v for k, v in snapshot(db).items() if k != "masterdata_audit"}
    customers = run_import(db, clock, "customers", tmp_path / f"c.{suffix}")
    contacts = run_import(db, clock, "contacts", tmp_path / f"k.{suffix}")
    assert (customers.inserted, customers.updated, customers.unchanged) == (0, 0, 3)
    assert (contacts.inserted, contacts.updated, contacts.unchanged) == (0, 0, 4)
    assert {k: v for k, v in snapshot(db).items() if k != "masterdata_audit"} == before


def test_export_as_an_employee_applies_visibility_and_audits_each_card(db: Database, clock: FakeClock,
                                                                       tmp_path: Path) -> None:
    seed(db, clock, upto="contacts")
    with db.session() as s:
        assert export_contacts(s, tmp_path / "k.csv", principal=principal_of(s, "E7"), clock=clock) == 2  # K1 (backup), K2 (owner)
        assert export_customers(s, tmp_path / "c.csv", principal=principal_of(s, "E9")) == 1
    header = (tmp_path / "k.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert "家庭" not in header and "个人痛点" not in header  # E7 is only the backup owner of K1
    assert (tmp_path / "c.csv").read_text(encoding="utf-8-sig").splitlines()[1].startswith("C2,")
    with db.session() as s:
        reads = audit.entries(s, actor="E7", action="export_card")
    assert sorted(e.entity_key for e in reads) == ["K1", "K2"]
    # re-importing the partial export leaves the hidden sensitive data alone
    before = snapshot(db)["contact"]
    assert run_import(db, clock, "contacts", tmp_path / "k.csv").unchanged == 2
    assert snapshot(db)["contact"] == before
    with db.session() as s:
        assert export_contacts(s, tmp_path / "k2.csv", principal=principal_of(s, "E5"), clock=clock) == 2
    assert "家庭" in (tmp_path / "k2.csv").read_text(encoding="utf-8-sig").splitlines()[0]


def test_text_that_looks_like_a_formula_survives_an_xlsx_round_trip(db: Database, clock: FakeClock,
                                                                    tmp_path: Path) -> None:
    seed(db, clock, upto="contacts")
    run_import(db, clock, "contacts", write_csv(tmp_path / "k.csv", "code,customer,name,owner,hobbies\nK1,C1,马总,E6,=SUM(A1)\n"))
    with db.session() as s:
        export_contacts(s, tmp_path / "k.xlsx", principal=OPERATOR, clock=clock)
    assert run_import(db, clock, "contacts", tmp_path / "k.xlsx").unchanged == 4
    with db.session() as s:
        assert s.exec(select(Contact.hobbies).where(Contact.code == "K1")).one() == "=SUM(A1)"


def test_a_team_moved_to_another_office_takes_its_customers_along(db: Database, clock: FakeClock,
                                                                  tmp_path: Path) -> None:
    seed(db, clock, upto="customers")
    run_import(db, clock, "org", write_csv(tmp_path / "o.csv", "kind,code,name,parent\nteam,T2,深圳金融系统部,O2\n"))
    with db.session() as s:
        assert s.exec(select(Customer.office_code).where(Customer.code == "C2")).one() == "O2"
        [moved] = audit.entries(s, entity="customer", key="C2", action="update")
    assert moved.detail["changed"] == {"office_code": ["O1", "O2"]}
    # the customers file still says O1 for C2 with team T2: now refused, the team is in O2
    with pytest.raises(ImportRejected, match="T2"):
        run_import(db, clock, "customers", DATA / "customers.csv")
