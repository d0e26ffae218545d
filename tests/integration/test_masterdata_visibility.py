"""The visibility rule on a real database: 上级可以看下级，同级之间不能互相看.

The fixture tree (tests/data/masterdata/org.csv):

    E1 任总 (HQ)
    ├── E2 孙销管 (HQ, sales_management)
    └── E3 李地区 (R1)
        ├── E4 王代表 (O1)
        │   ├── E5 张部长 (T1) ── E6 刘经理 (owns C1, K1; backs up K2), E7 陈经理 (owns K2; backs up K1)
        │   └── E8 杨部长 (T2) ── E9 黄经理 (owns C2, K3)
        └── E10 赵代表 (O2) ── E11 吴部长 (T3) ── E12 周经理 (owns C3, K4)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.auth.principal import Principal, UnknownEmployee
from engine.clock import FakeClock
from engine.db import Database
from engine.errors import NotVisible
from engine.masterdata import audit
from engine.masterdata.service import (assessments_for, customer_aggregates, get_contact_card, get_customer_for,
                                       visible_contacts, visible_customers)
from engine.masterdata.settings import MasterDataRules
from tests.support.principals import principal_of
from tests.integration.test_masterdata_import import run_import, seed, write_csv


@pytest.fixture
def org(db: Database, clock: FakeClock) -> Database:
    seed(db, clock)
    return db


def codes(items: list) -> list[str]:
    return [i.code for i in items]


def test_owner_and_backup_owner_see_their_own_contacts(org: Database) -> None:
    with org.session() as s:
        assert codes(visible_contacts(s, principal=principal_of(s, "E6"))) == ["K1", "K2"]  # owner of K1, backup (B角) of K2
        assert codes(visible_contacts(s, principal=principal_of(s, "E9"))) == ["K3"]
        assert codes(visible_customers(s, principal=principal_of(s, "E6"))) == ["C1"]


def test_supervisors_see_everything_below_them_at_every_level(org: Database) -> None:
    with org.session() as s:
        assert codes(visible_contacts(s, principal=principal_of(s, "E5"))) == ["K1", "K2"]         # team head
        assert codes(visible_contacts(s, principal=principal_of(s, "E4"))) == ["K1", "K2", "K3"]   # office head, two levels up
        assert codes(visible_contacts(s, principal=principal_of(s, "E3"))) == ["K1", "K2", "K3", "K4"]  # region, three+ levels up
        assert codes(visible_customers(s, principal=principal_of(s, "E4"))) == ["C1", "C2"]


def test_supervisor_reads_a_subordinates_card_with_sensitive_fields(org: Database, clock: FakeClock) -> None:
    with org.session() as s:
        card = get_contact_card(s, "K1", principal=principal_of(s, "E3"), clock=clock)
    assert card.name == "马总" and card.sensitive_visible
    assert (card.family, card.pain_points_personal, card.pain_points_career) == ("已婚，一子", "睡眠不好", "希望晋升")


def test_peers_never_see_each_others_contacts(org: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_LOCALE", "en")
    with org.session() as s:
        assert codes(visible_contacts(s, principal=principal_of(s, "E8"))) == ["K3"]  # E5's peer: nothing of T1
        with pytest.raises(NotVisible) as info:
            get_contact_card(s, "K1", principal=principal_of(s, "E8"), clock=clock)
        assert str(info.value) == ("E8 may not see the personal card of contact K1: only its owner, backup owner and "
                                   "their supervisors may")
        with pytest.raises(NotVisible, match="E12 may not see customer C1"):
            get_customer_for(s, "C1", principal=principal_of(s, "E12"), clock=clock)
        with pytest.raises(NotVisible):
            assessments_for(s, "K1", principal=principal_of(s, "E9"), clock=clock)
        assert codes(visible_contacts(s, principal=principal_of(s, "E12"))) == ["K4"]


def test_subordinates_do_not_see_their_supervisors_contacts(org: Database, clock: FakeClock, tmp_path: Path) -> None:
    run_import(org, clock, "contacts", write_csv(tmp_path / "k.csv", "code,customer,name,owner\nK5,C1,某总,E5\n"))
    with org.session() as s:
        assert "K5" not in codes(visible_contacts(s, principal=principal_of(s, "E6")))
        assert "K5" in codes(visible_contacts(s, principal=principal_of(s, "E4")))
        with pytest.raises(NotVisible):
            get_contact_card(s, "K5", principal=principal_of(s, "E6"), clock=clock)


def test_backup_owner_sees_the_card_without_sensitive_fields(org: Database, clock: FakeClock) -> None:
    with org.session() as s:
        card = get_contact_card(s, "K1", principal=principal_of(s, "E7"), clock=clock)  # E7 is K1's B角
    assert card.name == "马总" and card.hobbies == "高尔夫"
    assert not card.sensitive_visible
    assert (card.family, card.pain_points_personal, card.pain_points_career) == (None, None, None)
    with org.session() as s:
        [read] = audit.entries(s, actor="E7", action="read_card")
    assert read.allowed and read.detail == {"sensitive": False}


def test_owner_sees_sensitive_fields_but_not_when_the_company_stores_none(org: Database, clock: FakeClock) -> None:
    with org.session() as s:
        assert get_contact_card(s, "K1", principal=principal_of(s, "E6"), clock=clock).family == "已婚，一子"
        card = get_contact_card(s, "K1", principal=principal_of(s, "E6"), clock=clock, rules=MasterDataRules(store_sensitive=False))
    assert not card.sensitive_visible and card.family is None


def test_a_user_moved_to_another_team_loses_the_old_view(org: Database, clock: FakeClock, tmp_path: Path) -> None:
    # E5 (head of T1) moves to lead T3 under E10; E6 and E7 now report to a new head, E13.
    # The e-mail column is left out: people keep their addresses.
    moves = ("kind,code,name,unit,supervisor\n"
             "employee,E5,张部长,T3,E10\n"
             "employee,E6,刘经理,T1,E13\n"
             "employee,E7,陈经理,T1,E13\n")
    run_import(org, clock, "org", write_csv(tmp_path / "new-head.csv",
                                            "kind,code,name,unit,supervisor,email\nemployee,E13,新部长,T1,E4,e13@corp.example\n"))
    with org.session() as s:
        assert codes(visible_contacts(s, principal=principal_of(s, "E5"))) == ["K1", "K2"]
    run_import(org, clock, "org", write_csv(tmp_path / "moves.csv", moves))
    with org.session() as s:
        assert codes(visible_contacts(s, principal=principal_of(s, "E5"))) == []  # the old team's contacts are gone from view
        assert codes(visible_contacts(s, principal=principal_of(s, "E13"))) == ["K1", "K2"]
        assert codes(visible_contacts(s, principal=principal_of(s, "E10"))) == ["K4"]
        with pytest.raises(NotVisible):
            get_contact_card(s, "K1", principal=principal_of(s, "E5"), clock=clock)
        assert get_contact_card(s, "K1", principal=principal_of(s, "E13"), clock=clock).sensitive_visible


def test_sales_management_sees_aggregates_but_not_cards(org: Database, clock: FakeClock) -> None:
    with org.session() as s:
        totals = customer_aggregates(s, principal=principal_of(s, "E2"), clock=clock)
        assert (totals.customers, totals.contacts) == (3, 4)
        assert totals.by_tier == {"S": 1, "A": 0, "B": 1, "C": 1}
        assert totals.by_office == {"O1": {"S": 1, "B": 1}, "O2": {"C": 1}}
        assert visible_contacts(s, principal=principal_of(s, "E2")) == []
        with pytest.raises(NotVisible):
            get_contact_card(s, "K1", principal=principal_of(s, "E2"), clock=clock)
        with pytest.raises(NotVisible, match="销售管理部"):
            customer_aggregates(s, principal=principal_of(s, "E6"), clock=clock)


def test_an_unknown_employee_gets_no_principal_and_the_operator_alone_sees_nothing(org: Database,
                                                                                   clock: FakeClock) -> None:
    with org.session() as s:
        with pytest.raises(UnknownEmployee, match="NOBODY"):
            principal_of(s, "NOBODY")
        operator = Principal.operator_only("root")
        assert visible_contacts(s, principal=operator) == [] and visible_customers(s, principal=operator) == []
        with pytest.raises(NotVisible, match="operator root"):
            get_contact_card(s, "K1", principal=operator, clock=clock)
        [refused] = audit.entries(s, actor="operator root", action="read_card")
    assert not refused.allowed


def test_every_card_read_and_every_refusal_is_audited(org: Database, clock: FakeClock) -> None:
    with org.session() as s:
        get_contact_card(s, "K1", principal=principal_of(s, "E5"), clock=clock)
        with pytest.raises(NotVisible):
            get_contact_card(s, "K1", principal=principal_of(s, "E9"), clock=clock)
        with pytest.raises(NotVisible):
            customer_aggregates(s, principal=principal_of(s, "E9"), clock=clock)
    with org.session() as s:
        reads = audit.entries(s, entity="contact", key="K1", action="read_card")
        refusals = [e for e in audit.entries(s, actor="E9") if not e.allowed]
    assert [(e.actor, e.allowed) for e in reads] == [("E5", True), ("E9", False)]
    assert reads[0].detail == {"sensitive": True}
    assert reads[0].at_us == int(clock.now().timestamp() * 1_000_000)
    assert [(e.action, e.entity_key) for e in refusals] == [("read_card", "K1"), ("read_aggregates", "*")]
