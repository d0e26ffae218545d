"""Relationship handovers against real databases: a contact who changes company goes to the team
covering the new customer with card and history; an employee's leave hands over every contact;
a handover to someone outside the organisation is refused with nothing changed; the previous owner
must log the introduction; unfinished handovers are reminded, then escalated."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ActionFailed, MCRError
from flows.planning.care import log_visit
from flows.planning.common import get_instance
from flows.planning.handover import HandoverRefused, contact_moved, employee_moved, introduce, new_owner_for
from flows.planning.rules import CareRules, HandoverRules
from flows.planning.sample import planning_runtime
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Any:
    clock.set(datetime(2027, 5, 10, 10, 0, tzinfo=SH))  # a Monday
    return planning_runtime(db, clock)


def contact(db: Database, code: str) -> tuple[Any, ...]:
    with db.read() as tx:
        return tuple(tx.one("SELECT customer_code, owner_emp_no, backup_emp_no, title FROM contact WHERE code = :c",
                            {"c": code}))


def mails(db: Database, template: str) -> list[str]:
    with db.read() as tx:
        return [r[0] for r in tx.all("SELECT recipient FROM outbox WHERE template = :t ORDER BY id", {"t": template})]


def test_a_contact_who_changes_company_goes_to_the_new_customers_owner_with_card_and_history(
        rt: Any, db: Database, clock: FakeClock) -> None:
    log_visit(db, clock, "K002", principal=principal_of(db, "E102"), on=date(2027, 5, 6))
    with db.read() as tx:
        assessments = tx.one("SELECT COUNT(*) FROM contact_assessment WHERE contact_code = 'K002'")[0]
    res = contact_moved(rt, "K002", reason="company", principal=principal_of(rt, "E102"), new_customer="C003", new_title="副行长")
    assert (res.started, res.from_owner, res.to_owner) == (True, "E102", "E201")
    assert contact(db, "K002") == ("C003", "E201", None, "副行长")
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM contact_assessment WHERE contact_code = 'K002'")[0] == assessments > 0
        assert tx.one("SELECT COUNT(*) FROM care_visit WHERE contact_code = 'K002'")[0] == 1
        audit = tx.one("SELECT actor, detail FROM masterdata_audit WHERE entity = 'contact' AND entity_key = 'K002' "
                       "AND action = 'owner_change'")
    assert audit[0] == "E102" and '"owner_emp_no": ["E102", "E201"]' in audit[1]
    assert mails(db, "handover_new_owner") == ["e201@example.com"]
    assert mails(db, "handover_introduce") == ["e102@example.com"]
    inst = get_instance(db, res.instance_id)  # type: ignore[arg-type]
    assert inst.state == "awaiting_introduction"  # type: ignore[union-attr]


def test_a_promotion_within_the_same_coverage_changes_the_card_but_needs_no_handover(rt: Any, db: Database) -> None:
    res = contact_moved(rt, "K003", reason="promotion", principal=principal_of(rt, "E102"), new_title="总经理")
    assert (res.started, res.instance_id) == (False, None)
    assert contact(db, "K003")[1:] == ("E102", "E101", "总经理")


def test_senior_contacts_can_be_covered_by_the_team_head(rt: Any, db: Database) -> None:
    rules = CareRules(handover=HandoverRules(senior_by_team_head=True))
    res = contact_moved(rt, "K003", reason="promotion", principal=principal_of(rt, "E102"), new_level="senior", rules=rules)
    assert res.to_owner == "E100"


def test_a_handover_to_someone_outside_the_organisation_is_refused_and_nothing_changes(rt: Any, db: Database) -> None:
    before = contact(db, "K001")
    with db.read() as tx:
        instances_before = tx.one("SELECT COUNT(*) FROM flow_instance")[0]
    with pytest.raises(HandoverRefused, match="X999"):
        contact_moved(rt, "K001", reason="department", principal=principal_of(rt, "E100"), to="X999")
    with pytest.raises(HandoverRefused, match="outsider@rival.example.com"):
        employee_moved(rt, "E101", reason="leave", principal=principal_of(rt, "E100"), to="outsider@rival.example.com")
    assert contact(db, "K001") == before
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM flow_instance")[0] == instances_before


def test_an_employee_who_leaves_hands_over_every_contact_by_the_coverage_rules(rt: Any, db: Database) -> None:
    results = employee_moved(rt, "E102", reason="leave", principal=principal_of(rt, "E100"))
    assert [(r.contact, r.to_owner) for r in results] == [("K002", "E101"), ("K003", "E101")]
    # K002: C001's owner E101; K003: C002's owner is E102 itself (leaving), so its backup E101
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM contact WHERE owner_emp_no = 'E102'")[0] == 0
    assert contact(db, "K003")[1:3] == ("E101", None)  # the backup became the owner
    with pytest.raises(MCRError):
        employee_moved(rt, "E102", reason="leave", principal=principal_of(rt, "E100"))  # owns nothing any more


def test_coverage_rule_order_skips_the_leaver(rt: Any) -> None:
    with rt.db.session() as session:
        assert new_owner_for(session, "C002", None, previous="E102", leaving=True, rules=CareRules()) == "E101"
        only_head = CareRules(handover=HandoverRules(new_owner=["team_head"]))
        assert new_owner_for(session, "C002", None, previous="E102", leaving=True, rules=only_head) == "E100"
        assert new_owner_for(session, "C002", None, previous="E100", leaving=True, rules=only_head) is None


def test_only_the_previous_owner_or_their_supervisor_logs_the_introduction(rt: Any, db: Database) -> None:
    res = contact_moved(rt, "K002", reason="company", principal=principal_of(rt, "E102"), new_customer="C003")
    with pytest.raises(ActionFailed, match="E201"):
        introduce(rt, res.instance_id, principal=principal_of(rt, "E201"))  # type: ignore[arg-type]
    out = introduce(rt, res.instance_id, principal=principal_of(rt, "E100"), note="饭局引荐")  # type: ignore[arg-type]
    assert out.to_state == "done"
    assert mails(db, "handover_done") == ["e201@example.com"]


def test_an_unfinished_handover_is_reminded_then_escalated(rt: Any, db: Database, clock: FakeClock) -> None:
    res = contact_moved(rt, "K002", reason="company", principal=principal_of(rt, "E102"), new_customer="C003")
    clock.set(datetime(2027, 5, 13, 9, 59, tzinfo=SH))
    rt.sweep()
    assert mails(db, "handover_reminder") == []
    clock.set(datetime(2027, 5, 13, 10, 0, tzinfo=SH))  # 3 business days later
    rt.sweep()
    assert mails(db, "handover_reminder") == ["e102@example.com"]
    clock.set(datetime(2027, 5, 24, 10, 0, tzinfo=SH))  # 10 business days
    rt.sweep()
    assert mails(db, "handover_escalated") == ["e100@example.com"]
    assert get_instance(db, res.instance_id).data["escalated_at"]  # type: ignore[arg-type, union-attr]
    introduce(rt, res.instance_id, principal=principal_of(rt, "E102"))  # type: ignore[arg-type]
    clock.set(datetime(2027, 6, 30, 10, 0, tzinfo=SH))
    assert rt.sweep() == 0


def test_the_same_move_reported_twice_starts_one_handover(rt: Any, db: Database) -> None:
    first = contact_moved(rt, "K002", reason="company", principal=principal_of(rt, "E102"), new_customer="C003")
    # reported again, by sales management (E102 no longer owns K002: the first report handed it over)
    second = contact_moved(rt, "K002", reason="company", principal=principal_of(rt, "E002"), new_customer="C003")
    assert (first.started, second.started, second.to_owner) == (True, False, "E201")
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM flow_instance WHERE flow = 'handover'")[0] == 1
    rotated = employee_moved(rt, "E201", reason="rotation", principal=principal_of(rt, "E200"))
    assert [(r.contact, r.to_owner) for r in rotated] == [("K002", "E200"), ("K004", "E200")]  # C003's backup
