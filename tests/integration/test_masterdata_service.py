"""The master-data service layer the flows call, on SQLite and PostgreSQL: organisation look-ups,
tier changes with history, handovers, birthdays (29 February included), sponsors, projects,
marketing activities and assessment revisions."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from engine.clock import FakeClock
from engine.db import Database
from engine.errors import NotPermitted, NotVisible
from engine.masterdata import audit
from engine.masterdata import service as md
from engine.masterdata.models import Customer, TierChange
from engine.masterdata.settings import MasterDataRules
from tests.support.principals import principal_of
from tests.integration.test_masterdata_import import seed


@pytest.fixture
def org(db: Database, clock: FakeClock) -> Database:
    seed(db, clock)
    return db


# ---------------------------------------------------------------------------------------------- organisation


def test_employee_lookup_and_supervisor_chain(org: Database) -> None:
    with org.session() as s:
        e6 = md.get_employee(s, "E6")
        assert (e6.name, e6.email, e6.unit_code, e6.roles) == ("刘经理", "e6@corp.example", "T1", ["account_manager"])
        assert [e.emp_no for e in md.supervisor_chain(s, "E6")] == ["E5", "E4", "E3", "E1"]
        assert md.supervisor_chain(s, "E1") == []
        assert md.employee_by_email(s, "E9@CORP.example").emp_no == "E9"  # type: ignore[union-attr]
        assert md.find_employee(s, "E99") is None
        with pytest.raises(md.UnknownRecord, match="E99"):
            md.get_employee(s, "E99")
        assert [e.emp_no for e in md.subordinates(s, "E4")] == ["E5", "E6", "E7", "E8", "E9"]
        assert [e.emp_no for e in md.subordinates(s, "E4", direct_only=True)] == ["E5", "E8"]


def test_office_region_calendar_and_timezone_of_a_team(org: Database) -> None:
    with org.session() as s:
        assert md.office_of(s, "T1").code == "O1"  # type: ignore[union-attr]
        assert md.office_of(s, "O2").code == "O2"  # type: ignore[union-attr]
        assert md.office_of(s, "R1") is None
        assert md.region_of(s, "T3").code == "R1"  # type: ignore[union-attr]
        assert [u.code for u in md.unit_path(s, "T2")] == ["HQ", "R1", "O1", "T2"]
        assert (md.calendar_of(s, "T1"), md.timezone_of(s, "T1")) == ("CN", "Asia/Shanghai")
        assert md.office_of_employee(s, "E9").code == "O1"  # type: ignore[union-attr]
        assert md.office_of_employee(s, "E1") is None


def test_people_by_role_and_unit(org: Database) -> None:
    with org.session() as s:
        assert [e.emp_no for e in md.employees_with_role(s, "issue_handler", "O1")] == ["E4"]
        assert [e.emp_no for e in md.employees_with_role(s, "issue_handler", "R1", within=True)] == ["E3", "E4"]
        assert [e.emp_no for e in md.employees_with_role(s, "sales_management")] == ["E2"]
        assert [e.emp_no for e in md.unit_heads(s, "T1")] == ["E5"]


# ---------------------------------------------------------------------------------------------- customers and tiers


def test_customer_owner_team_and_tier(org: Database) -> None:
    with org.session() as s:
        c1 = md.get_customer(s, "C1")
        assert (c1.tier, c1.team_code, c1.office_code, c1.owner_emp_no) == ("S", "T1", "O1", "E6")
        assert c1.locked_competitors == ["爱立信", "诺基亚"] and c1.key_events[0].title == "年度采购大会"
        units = md.customer_units(s, "C1")
        assert (units.team.code, units.office.code, units.region.code) == ("T1", "O1", "R1")  # type: ignore[union-attr]
        assert [c.code for c in md.customers(s, tiers=["S", "A"])] == ["C1"]
        assert md.teams_owning(s, ["S", "A"]) == ["T1"]
        assert [c.code for c in md.contacts_of_customer(s, "C1")] == ["K1", "K2"]
        assert md.contact_owner(s, "K3").emp_no == "E9"


def test_tier_change_is_an_event_with_history_and_audit(org: Database, clock: FakeClock) -> None:
    with org.session() as s:
        change = md.change_tier(s, "C2", "伙伴", principal=principal_of(s, "E2"), reason="2027 战略升级", clock=clock)
    assert (change.from_tier, change.to_tier, change.actor, change.reason) == ("B", "A", "E2", "2027 战略升级")
    with org.session() as s:
        assert md.get_customer(s, "C2").tier == "A"
        history = md.tier_history(s, "C2")
        [event] = audit.entries(s, entity="customer", key="C2", action="tier_change", actor="E2")
    assert [(h.from_tier, h.to_tier) for h in history] == [(None, "B"), ("B", "A")]
    assert event.detail == {"changed": {"tier": ["B", "A"]}, "reason": "2027 战略升级"}


def test_tier_change_by_a_supervisor_above_the_owner_is_allowed_but_not_by_peers(org: Database,
                                                                                  clock: FakeClock) -> None:
    with org.session() as s:
        md.change_tier(s, "C2", "C", principal=principal_of(s, "E4"), reason="收入下滑", clock=clock)  # E4 is above E9
        with pytest.raises(NotPermitted, match="C2"):
            md.change_tier(s, "C2", "B", principal=principal_of(s, "E5"), reason="peer", clock=clock)  # E5 is E8's peer
        with pytest.raises(NotPermitted):
            md.change_tier(s, "C1", "A", principal=principal_of(s, "E6"), reason="own customer", clock=clock)  # owners cannot self-grade
        with pytest.raises(md.InvalidChange):
            md.change_tier(s, "C2", "C", principal=principal_of(s, "E2"), reason="no-op", clock=clock)
    with org.session() as s:
        assert md.get_customer(s, "C2").tier == "C"
        assert len(s.exec(select(TierChange).where(TierChange.customer_code == "C2")).all()) == 2
        refused = [e for e in audit.entries(s, action="tier_change") if not e.allowed]
    assert [(e.actor, e.entity_key) for e in refused] == [("E5", "C2"), ("E6", "C1")]


def test_handover_changes_owner_and_is_audited(org: Database, clock: FakeClock) -> None:
    with org.session() as s:
        handed = md.change_owner(s, "K1", owner="E7", backup="E6", principal=principal_of(s, "E5"), reason="轮岗", clock=clock)
        assert (handed.owner_emp_no, handed.backup_emp_no) == ("E7", "E6")
        with pytest.raises(NotPermitted):
            md.change_owner(s, "K3", owner="E6", principal=principal_of(s, "E7"), reason="grab", clock=clock)
        [event] = audit.entries(s, action="owner_change", key="K1")
    assert event.detail["changed"] == {"owner_emp_no": ["E6", "E7"], "backup_emp_no": ["E7", "E6"]}
    with org.session() as s:
        # the new owner now sees the sensitive fields, the old one (now B角) no longer does
        assert md.get_contact_card(s, "K1", principal=principal_of(s, "E7"), clock=clock).sensitive_visible
        assert not md.get_contact_card(s, "K1", principal=principal_of(s, "E6"), clock=clock).sensitive_visible


# ---------------------------------------------------------------------------------------------- birthdays


def test_birthdays_on_a_day_name_owner_and_sponsors(org: Database) -> None:
    with org.session() as s:
        [k1] = md.birthdays_on(s, date(2027, 5, 12))
    assert (k1.contact_code, k1.owner_emp_no, k1.owner_email, k1.backup_emp_no, k1.sponsors) == (
        "K1", "E6", "e6@corp.example", "E7", ["E3"])


def test_leap_day_birthday_is_greeted_on_28_february_in_common_years(org: Database) -> None:
    with org.session() as s:
        assert [b.contact_code for b in md.birthdays_on(s, date(2028, 2, 29))] == ["K2"]
        assert [b.contact_code for b in md.birthdays_on(s, date(2027, 2, 28))] == ["K2"]
        assert md.birthdays_on(s, date(2027, 3, 1)) == []
        march = MasterDataRules(leap_day_birthdays="mar1")
        assert [b.contact_code for b in md.birthdays_on(s, date(2027, 3, 1), rules=march)] == ["K2"]
        assert md.birthdays_on(s, date(2028, 2, 28)) == []


def test_upcoming_birthdays_default_to_tomorrow_and_cross_the_year(org: Database) -> None:
    with org.session() as s:
        assert [b.contact_code for b in md.upcoming_birthdays(s, date(2027, 5, 11))] == ["K1"]
        assert md.upcoming_birthdays(s, date(2027, 5, 12)) == []
        window = md.upcoming_birthdays(s, date(2026, 12, 30), days=62)
    assert [(b.contact_code, b.greet_on.isoformat()) for b in window] == [("K2", "2027-02-28")]


# ---------------------------------------------------------------------------------------------- sponsors, projects, activities


def test_sponsor_pairings_and_acceptance(org: Database, clock: FakeClock) -> None:
    with org.session() as s:
        assert [(p.sponsor_emp_no, p.cadence, p.accepted) for p in md.sponsors_of(s, "K1")] == [("E3", "monthly", True)]
        assert [p.contact_code for p in md.sponsorships_of(s, "E4")] == ["K3"]
        md.pair_sponsor(s, "E1", "K2", cadence="bimonthly", principal=principal_of(s, "E2"), clock=clock)
        with pytest.raises(NotPermitted, match="E1"):
            md.accept_sponsorship(s, "E1", "K2", principal=principal_of(s, "E2"), clock=clock)  # only E1 accepts
        accepted = md.accept_sponsorship(s, "E1", "K2", principal=principal_of(s, "E1"), clock=clock)
        assert accepted.accepted and accepted.cadence == "bimonthly"
        assert [(e.action, e.allowed) for e in audit.entries(s, entity="sponsor_pairing", key="E1/K2")] == [
            ("insert", True), ("sponsor_accept", False), ("update", True)]


def test_projects_by_customer_team_and_level(org: Database, clock: FakeClock) -> None:
    with org.session() as s:
        p1 = md.get_project(s, "P1")
        assert (p1.level, p1.decision_date, p1.is_big) == ("region", date(2027, 6, 30), True)
        assert [p.code for p in md.projects_of(s)] == ["P1", "P2"]  # P3 is closed
        assert [p.code for p in md.projects_of(s, open_only=False, levels=["company", "region"])] == ["P1", "P3"]
        assert [p.code for p in md.projects_of(s, team_code="T2")] == ["P2"]
        md.save_project(s, code="P2", name="深圳农商银行数据中心", customer_code="C2", level="office", phase="投标",
                        decision_date=date(2027, 3, 31), team_code="T2", principal=principal_of(s, "E9"), clock=clock)
        assert md.get_project(s, "P2").phase == "投标"
        [update] = audit.entries(s, entity="project", key="P2", action="update")
    assert update.detail["changed"] == {"phase": ["机会点", "投标"]}


def test_marketing_activity_must_precede_the_decision_and_carry_a_budget(org: Database, clock: FakeClock) -> None:
    with org.session() as s:
        activity = md.plan_activity(s, code="A1", type="showcase_visit", title="样板点参观", customer_code="C1",
                                    project_code="P1", activity_date=date(2027, 5, 1), budget=80_000,
                                    inviter_emp_no="E6", invitees=["K1", "K2"], principal=principal_of(s, "E6"), clock=clock)
        assert activity.invitees == ["K1", "K2"]
        with pytest.raises(md.InvalidChange, match="2027-06-30"):
            md.plan_activity(s, code="A2", type="summit", title="峰会", customer_code="C1", project_code="P1",
                             activity_date=date(2027, 7, 1), budget=1, inviter_emp_no="E6", principal=principal_of(s, "E6"), clock=clock)
        with pytest.raises(md.InvalidChange):
            md.plan_activity(s, code="A3", type="summit", title="峰会", customer_code="C1", project_code="P1",
                             activity_date=date(2027, 1, 1), budget=None, inviter_emp_no="E6", principal=principal_of(s, "E6"), clock=clock)
        with pytest.raises(md.InvalidChange):
            md.plan_activity(s, code="A4", type="summit", title="峰会", customer_code="C1", project_code="P2",
                             activity_date=date(2027, 1, 1), budget=5, inviter_emp_no="E6", principal=principal_of(s, "E6"), clock=clock)
        md.plan_activity(s, code="A1", type="showcase_visit", title="样板点参观", customer_code="C1",
                         project_code="P1", activity_date=date(2027, 5, 1), budget=80_000,
                         inviter_emp_no="E6", invitees=["K1"], principal=principal_of(s, "E6"), clock=clock)
        assert [a.invitees for a in md.activities_of(s, customer_code="C1")] == [["K1"]]


# ---------------------------------------------------------------------------------------------- assessments


def test_record_assessment_keeps_every_revision(org: Database, clock: FakeClock) -> None:
    with org.session() as s:
        first = md.record_assessment(s, "K4", 2026, scores={"acceptance": 1}, evidence={"acceptance": "参加交流"},
                                     principal=principal_of(s, "E12"), clock=clock)
        same = md.record_assessment(s, "K4", 2026, scores={"acceptance": 1}, evidence={"acceptance": "参加交流"},
                                    principal=principal_of(s, "E12"), clock=clock)
        second = md.record_assessment(s, "K4", 2026, scores={"acceptance": 2}, evidence={"acceptance": "推荐我司"},
                                      principal=principal_of(s, "E12"), clock=clock)
        assert (first.revision, same.revision, second.revision) == (1, 1, 2)
        assert [a.scores["acceptance"] for a in md.assessment_history(s, "K4", 2026)] == [1, 2]
        assert md.latest_assessment(s, "K4", 2026).evidence["acceptance"] == "推荐我司"  # type: ignore[union-attr]
        with pytest.raises(md.InvalidChange):
            md.record_assessment(s, "K4", 2026, scores={"guidance": 5}, evidence={"guidance": "x"}, principal=principal_of(s, "E12"),
                                 clock=clock)
        with pytest.raises(md.InvalidChange):
            md.record_assessment(s, "K4", 2026, scores={"guidance": 1}, principal=principal_of(s, "E12"), clock=clock)
        with pytest.raises(md.InvalidChange, match="爱立信"):
            md.record_assessment(s, "K4", 2026, scores={}, competitor_support={"爱立信": 1}, principal=principal_of(s, "E12"), clock=clock)
        # the assessment history follows the card's visibility
        assert len(md.assessments_for(s, "K4", principal=principal_of(s, "E11"), clock=clock)) == 2
        with pytest.raises(NotVisible):
            md.assessments_for(s, "K4", principal=principal_of(s, "E9"), clock=clock)


def test_imported_assessment_exposes_scores_evidence_and_competitor_support(org: Database) -> None:
    with org.session() as s:
        latest = md.latest_assessment(s, "K1", 2025)
    assert latest is not None
    assert latest.scores == {"acceptance": 2, "participation": 1, "information": 1, "guidance": 0,
                             "decision_support": 1, "competitor_stance": 0}
    assert latest.evidence["decision_support"] == "在评审会上为我司发言"
    assert (latest.support_us, latest.competitor_support) == (2, {"爱立信": 0, "诺基亚": -1})


def test_counts_of_master_data(org: Database) -> None:
    with org.session() as s:
        counts = md.master_data_counts(s)
        assert s.exec(select(Customer)).all()
    assert counts == {"units": 7, "employees": 12, "customers": 3, "contacts": 4, "assessments": 3, "sponsors": 2,
                      "projects": 3, "activities": 0}
