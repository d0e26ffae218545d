"""The master-data read port (`engine.masterdata.read.MasterData`) on a raw transaction and on a
SQLModel session, on SQLite and PostgreSQL.

The organisation: HQ (calendar CN, timezone Asia/Shanghai) → R1 华南地区部 → O1 深圳代表处
(calendar HK) → T1 and T2 (T2 has no supervisor member; its members report to E4); R1 → O2 with a
calendar the engine does not know.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Iterator

import pytest

from engine.db import Database
from engine.masterdata.models import (ActivityInvitee, AuditEntry, Contact, Customer, Employee, MarketingActivity,
                                      OrgUnit, Project)
from engine.masterdata.read import MasterData, as_date


@pytest.fixture
def org(db: Database) -> Database:
    with db.session() as s:
        for code, kind, parent, cal, tz in (("HQ", "hq", None, "CN", "Asia/Shanghai"), ("R1", "region", "HQ", None, None),
                                            ("O1", "office", "R1", "HK", None), ("O2", "office", "R1", "NOPE", None),
                                            ("T1", "team", "O1", None, None), ("T2", "team", "O1", None, None)):
            s.add(OrgUnit(code=code, kind=kind, name=f"{code}名", parent_code=parent, calendar=cal, timezone=tz))
            s.flush()
        for emp, unit, sup, roles in (("E1", "HQ", None, "supervisor"), ("E2", "HQ", "E1", "sales_management"),
                                      ("E3", "O1", "E1", "supervisor,qa_lead"), ("E4", "O1", "E3", "qa"),
                                      ("E5", "T1", "E4", "supervisor"), ("E6", "T1", "E5", "account_manager"),
                                      ("E7", "T2", "E4", "account_manager"), ("E8", "T2", "E4", "")):
            s.add(Employee(emp_no=emp, name=f"{emp}名", email=f"{emp.lower()}@corp.example", unit_code=unit,
                           supervisor_emp_no=sup, locale="zh-CN", roles=roles))
            s.flush()
        s.add(Customer(code="C1", name="深圳移动", tier="S", office_code="O1", team_code="T1", owner_emp_no="E6",
                       backup_emp_no="E7", annual_revenue_usd=50_000_000, industry="carrier"))
        s.add(Customer(code="C2", name="深圳银行", tier="B", office_code="O1", team_code="T2", owner_emp_no="E7",
                       annual_revenue_usd=1_000))
        s.flush()
        for i in range(1, 4):
            s.add(Contact(code=f"K{i}", customer_code="C1", name=f"联系人{i}", level="senior", owner_emp_no="E6",
                          backup_emp_no="E7" if i == 1 else None, email=f"k{i}@customer.example"))
        s.add(Project(code="P1", name="核心网", customer_code="C1", level="region", team_code="T1", closed=True))
        s.flush()
        s.add(MarketingActivity(code="A1", type="exhibition_forum", title="大会", customer_code="C1", project_code="P1",
                                activity_date=date(2026, 11, 19), budget=10, inviter_emp_no="E6", status="done"))
        s.flush()
        s.add(ActivityInvitee(activity_code="A1", contact_code="K2"))
        s.add(ActivityInvitee(activity_code="A1", contact_code="K1"))
        # C1 entered on 2026-01-05 owned by E5, handed to E6 on 2026-03-02 (UTC noon).
        s.add(AuditEntry(at_us=1_767_614_400_000_000, actor="E1", action="insert", entity="customer", entity_key="C1"))
        s.add(AuditEntry(at_us=1_772_452_800_000_000, actor="E1", action="owner_change", entity="customer",
                         entity_key="C1", detail=json.dumps({"changed": {"owner_emp_no": ["E5", "E6"]}})))
        s.commit()
    return db


@pytest.fixture
def md(org: Database) -> Iterator[MasterData]:
    with org.read() as tx:
        yield MasterData(tx)


def test_a_units_path_runs_from_hq_down_and_names_its_office_region_and_hq(md: MasterData) -> None:
    assert [u.code for u in md.unit_path("T1")] == ["HQ", "R1", "O1", "T1"]
    assert (md.office_of("T1").code, md.region_of("T1").code, md.hq_of("T1").code) == ("O1", "R1", "HQ")
    assert md.office_of("R1") is None and md.unit("NOWHERE") is None and md.unit_path("NOWHERE") == []


def test_the_calendar_and_timezone_are_the_nearest_ones_upwards(md: MasterData) -> None:
    assert md.calendar_of("T1") == "HK" and md.calendar_of("R1") == "CN"
    assert md.timezone_of("T1") == "Asia/Shanghai"
    # A calendar the engine does not know falls back to the default (None) instead of failing a step.
    assert md.calendar_of("O2", known={"CN", "HK"}) is None and md.calendar_of("O2") == "NOPE"


def test_subtree_and_units_of_a_kind_under_a_unit(md: MasterData) -> None:
    assert md.subtree("O1") == {"O1", "T1", "T2"}
    assert [u.code for u in md.units_of_kind("office")] == ["O1", "O2"]
    assert [u.code for u in md.units_of_kind("team", under="O1")] == ["T1", "T2"]


def test_people_with_a_role_match_the_role_exactly(md: MasterData) -> None:
    # "qa" must not match E3's "qa_lead" although LIKE narrows with it.
    assert [p.emp_no for p in md.people_with_role("qa", md.subtree("O1"))] == ["E4"]
    assert [p.emp_no for p in md.people_with_role("supervisor")] == ["E1", "E3", "E5"]
    assert md.people_with_role("supervisor", []) == []


def test_a_person_carries_roles_and_the_supervisor_chain_goes_up_to_the_top(md: MasterData) -> None:
    e3 = md.person("E3")
    assert e3 is not None and e3.roles == frozenset({"supervisor", "qa_lead"}) and e3.has_role("qa_lead")
    assert md.supervisor("E6").emp_no == "E5" and md.supervisor("E1") is None and md.person(None) is None
    assert [p.emp_no for p in md.supervisor_chain("E6")] == ["E5", "E4", "E3", "E1"]


def test_unit_heads_and_a_team_head_without_a_supervisor_member(md: MasterData) -> None:
    assert [p.emp_no for p in md.heads("O1")] == ["E3"]
    assert [p.emp_no for p in md.heads("O1", ["qa"])] == ["E4"]
    assert md.team_head("T1").emp_no == "E5"
    assert md.team_head("T2").emp_no == "E4"  # nobody holds the role: whom most members report to


def test_a_team_with_its_office_region_members_and_calendar(md: MasterData) -> None:
    team = md.team("T1")
    assert team is not None
    assert (team.office_code, team.region_code, team.head.emp_no, team.calendar) == ("O1", "R1", "E5", "HK")
    assert team.member_emails == ["e5@corp.example", "e6@corp.example"] and team.locale == "zh-CN"
    assert md.team("NOWHERE") is None


def test_sales_management_addresses_include_configured_ones_once(md: MasterData) -> None:
    assert md.sales_management([" E2@corp.example ", "Boss@Corp.example", ""]) == ["boss@corp.example",
                                                                                   "e2@corp.example"]


def test_customers_by_code_tier_and_revenue(md: MasterData) -> None:
    c1 = md.customer("C1")
    assert c1 is not None and (c1.owner_emp_no, c1.backup_emp_no, c1.industry) == ("E6", "E7", "carrier")
    assert [c.code for c in md.customers_with_tiers(["S", "A"])] == ["C1"] and md.customers_with_tiers([]) == []
    assert [c.code for c in md.big_customers(1_000_000)] == ["C1"]
    assert md.customer(None) is None and md.customer("C9") is None


def test_contacts_of_a_customer_and_by_codes_with_owner_and_backup(md: MasterData) -> None:
    k1 = md.contact("K1")
    assert k1 is not None and (k1.customer_code, k1.owner_emp_no, k1.backup_emp_no) == ("C1", "E6", "E7")
    assert [k.code for k in md.contacts_of_customer("C1")] == ["K1", "K2", "K3"]
    assert sorted(md.contacts(["K3", "K1", "K1", "X9"])) == ["K1", "K3"]
    assert len(md.contacts([f"X{i}" for i in range(1200)] + ["K2"])) == 1  # three chunks of IN (...)


def test_projects_activities_and_invitees(md: MasterData) -> None:
    p1 = md.project("P1")
    assert p1 is not None and p1.closed is True and p1.customer_code == "C1"
    a1 = md.activity("A1")
    assert a1 is not None and as_date(a1.activity_date) == date(2026, 11, 19) and a1.inviter_emp_no == "E6"
    assert md.invitees("A1") == ["K1", "K2"]
    assert md.project("P9") is None and md.activity(None) is None


def test_coverage_since_is_the_day_the_audit_log_shows_the_owner(md: MasterData) -> None:
    assert md.audit_since("customer", "C1", "E6") == date(2026, 3, 2)
    assert md.audit_since("customer", "C1", "E5") == date(2026, 1, 5)
    assert md.audit_since("customer", "C9", "E5") is None


def test_the_least_loaded_handler_without_open_work_is_the_lowest_number(md: MasterData) -> None:
    people = md.people_with_role("account_manager")
    assert md.open_load(["E7", "E6"]) == {"E6": 0, "E7": 0}
    assert md.least_loaded(people).emp_no == "E6" and md.least_loaded([]) is None


def test_the_port_on_a_session_reads_the_sessions_own_transaction(org: Database) -> None:
    with org.session() as s:
        s.add(Employee(emp_no="E9", name="新人", email="e9@corp.example", unit_code="T1", supervisor_emp_no="E5",
                       locale="en", roles="supervisor"))
        s.flush()  # not committed: only the session's own transaction sees it
        found = MasterData.of_session(s).person("E9")
        assert found is not None and found.locale == "en"
        assert [p.emp_no for p in MasterData.of_session(s).heads("T1")] == ["E5", "E9"]
        s.rollback()
    with org.read() as tx:
        assert MasterData(tx).person("E9") is None


def test_customer_pages_walk_every_customer_once_in_id_order_and_only_the_tiers_asked(md: MasterData) -> None:
    assert [[c.code for c in page] for page in md.customer_pages(1)] == [["C1"], ["C2"]]
    assert [[c.code for c in page] for page in md.customer_pages(5)] == [["C1", "C2"]]
    assert [[(c.code, c.tier, c.owner_emp_no, c.backup_emp_no) for c in page]
            for page in md.customer_pages(1, tiers=["B", "C"])] == [[("C2", "B", "E7", None)]]
    assert list(md.customer_pages(1, tiers=[])) == []


def test_the_care_scans_names_pairings_and_entry_days(org: Database) -> None:
    from engine.masterdata.models import SponsorPairing

    with org.session() as s:
        s.add(SponsorPairing(sponsor_emp_no="E3", contact_code="K2", cadence="monthly", accepted=True))
        s.add(SponsorPairing(sponsor_emp_no="E1", contact_code="K3", cadence="bimonthly", accepted=False))
        s.add(SponsorPairing(sponsor_emp_no="E1", contact_code="K1", cadence="monthly", accepted=True))
        s.add(AuditEntry(at_us=1_767_614_400_000_000, actor="E1", action="insert", entity="contact", entity_key="K2"))
        s.add(AuditEntry(at_us=1_767_700_800_000_000, actor="E1", action="update", entity="contact", entity_key="K2"))
        s.commit()
    with org.read() as tx:
        md = MasterData(tx)
        names = md.person_names()
        assert names["E6"] == ("E6", "E6名", "E5") and names["E1"].supervisor_emp_no is None and len(names) == 8
        # by sponsor, then id; only the contacts in the range
        assert [(p.sponsor_emp_no, p.contact_code, p.accepted) for p in md.pairings_between("K1", "K3")] == [
            ("E1", "K3", False), ("E1", "K1", True), ("E3", "K2", True)]
        assert [p.contact_code for p in md.pairings_between("K2", "K3")] == ["K3", "K2"]
        # the first insert, as a local day (UTC noon 2026-01-05 is the same day in Shanghai)
        from zoneinfo import ZoneInfo

        tz = ZoneInfo("Asia/Shanghai")
        assert md.entry_days("contact", tz, ("K1", "K3")) == {"K2": date(2026, 1, 5)}
        assert md.entry_days("customer", tz, keys=["C1", "C2"]) == {"C1": date(2026, 1, 5)}
        assert md.entry_days("customer", tz, keys=[]) == {} and md.entry_us("contact", ("K3", "K9")) == {}


def test_many_owners_since_agree_with_one_at_a_time(md: MasterData) -> None:
    assert md.audit_since_many("customer", {"C1": "E6", "C2": "E7"}) == {
        "C1": md.audit_since("customer", "C1", "E6"), "C2": None}
    assert md.audit_since_many("customer", {"C1": "E5"}) == {"C1": date(2026, 1, 5)}
