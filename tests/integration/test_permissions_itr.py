"""Who may do what in ITR, enforced in the service for the CLI, the pages and the API alike: each
refusal is a precise error, a `flow_refusal` row, and nothing changed (SQLite and PostgreSQL).

The organisation is tests/scenarios/itr/data/org.yaml: 深圳代表处 with its supervisor SZ-SUP, sales
management SZ-SM, handlers SZ-H1/SZ-H2, care agent SZ-CC, QA SZ-QA and the hotline SZ-HL; 广州代表处
with its handler GZ-H1.
"""

from __future__ import annotations

import pytest

from engine.auth.principal import Principal
from engine.db import Database
from engine.errors import InternalEventRefused
from engine.runtime import Runtime
from flows.itr import service
from flows.itr.errors import CallbackByHandler, IssueNotVisible, OverrideNotAllowed
from tests.integration.test_itr_service import (_rules, refusals, resolved, rt, snapshot, to_handling,  # noqa: F401
                                                use_the_minimum_allowance)
from tests.support.principals import principal_of


def test_the_escalating_handler_cannot_approve_their_own_override(rt: Runtime, db: Database) -> None:
    issue = to_handling(rt)
    before = snapshot(db)
    with pytest.raises(OverrideNotAllowed, match="利益不相关"):
        service.escalate(rt, issue.id, principal=principal_of(rt, "SZ-H1"), reason="no_owner",
                         override_by="SZ-H1", override_why="我自己批准")
    assert snapshot(db) == before
    assert refusals(db)[-1][:4] == (issue.id, "SZ-H1", "escalate", "override_not_allowed")


def test_an_override_approver_must_be_allowed_by_the_itr_rules(rt: Runtime, db: Database) -> None:
    use_the_minimum_allowance(rt)
    issue = to_handling(rt)
    before = snapshot(db)
    with pytest.raises(OverrideNotAllowed, match="SZ-H2") as err:  # another handler: no supervisor, no sales management
        service.escalate(rt, issue.id, principal=principal_of(rt, "SZ-H1"), reason="no_owner",
                         override_by="SZ-H2", override_why="同事同意")
    assert "OFF-SZ" in str(err.value) and "sales_management" in str(err.value)
    assert snapshot(db) == before
    assert refusals(db)[-1][:4] == (issue.id, "SZ-H1", "escalate", "override_not_allowed")
    # the unit's supervisor or sales management may be named
    esc = service.escalate(rt, issue.id, principal=principal_of(rt, "SZ-H1"), reason="no_owner",
                           override_by="SZ-SM", override_why="客户高层要求")
    assert (esc.decision, esc.override_by, esc.qa_flag) == ("overridden", "SZ-SM", True)  # 2 of 2: past the quota


def test_a_handler_of_the_issue_cannot_record_its_callback_score(rt: Runtime, db: Database) -> None:
    issue = resolved(rt, severity="urgent")  # urgent: always called back
    assert service.close(rt, issue.id, principal=principal_of(rt, "SZ-HL")).state == "callback_pending"
    before = snapshot(db)
    with pytest.raises(CallbackByHandler, match="SZ-H1"):
        service.record_callback(rt, issue.id, principal=principal_of(rt, "SZ-H1"), score=5)
    assert snapshot(db) == before
    assert refusals(db)[-1][:4] == (issue.id, "SZ-H1", "callback", "callback_by_handler")
    assert service.record_callback(rt, issue.id, principal=principal_of(rt, "SZ-CC"), score=5).state == "closed"


def test_an_issue_is_read_only_by_those_who_may_see_it_and_a_refused_read_is_logged(rt: Runtime,
                                                                                     db: Database) -> None:
    issue = to_handling(rt)
    with pytest.raises(IssueNotVisible, match="GZ-H1"):
        service.get_issue(rt, issue.id, principal=principal_of(rt, "GZ-H1"))  # a handler of another office
    assert refusals(db)[-1][:4] == (issue.id, "GZ-H1", "read", "not_visible")
    assert service.list_issues(rt, principal=principal_of(rt, "GZ-H1")) == []
    for emp in ("SZ-HL", "SZ-H1", "SZ-H2", "SZ-SUP", "SZ-QA", "SZ-SM"):  # submitter, handler, queue, chain, QA, 销管
        assert service.get_issue(rt, issue.id, principal=principal_of(rt, emp)).id == issue.id, emp
        assert [v.id for v in service.list_issues(rt, principal=principal_of(rt, emp))] == [issue.id], emp
    assert [v.id for v in service.list_issues(rt, principal=Principal.operator_only("root"))] == [issue.id]
    assert service.escalations(rt, principal=principal_of(rt, "GZ-H1")) == []


def test_a_form_submitted_twice_is_applied_once(rt: Runtime, db: Database) -> None:
    issue = to_handling(rt)
    for _ in range(2):
        service.note(rt, issue.id, principal=principal_of(rt, "SZ-H1"), text="已到现场", client_event_id="form-7")
    view = service.get_issue(rt, issue.id, principal=principal_of(rt, "SZ-H1"))
    assert [n["text"] for n in view.notes].count("已到现场") == 1


def test_sla_breached_cannot_be_forged_to_escalate_past_the_quota(rt: Runtime, db: Database) -> None:
    issue = to_handling(rt)
    principal = principal_of(rt, "SZ-H1", operator="root")
    before = snapshot(db)
    with pytest.raises(InternalEventRefused, match="sla_breached"):
        rt.send(issue.id, "sla_breached", actor=principal.actor, principal=principal)
    assert snapshot(db) == before
    assert refusals(db)[-1][:4] == (issue.id, "operator root for SZ-H1", "sla_breached", "internal_event")


def test_the_list_filter_in_sql_agrees_with_the_read_rule_for_everyone(rt: Runtime, db: Database) -> None:
    handling = to_handling(rt)
    service.escalate(rt, handling.id, principal=principal_of(rt, handling.handler), reason="no_owner",
                     override_by="SZ-SM", override_why="客户高层要求")  # now with the region's handler
    sales = to_handling(rt, type="non_technical", contact="K-BIG2")
    resolved(rt, customer="C-GZ", contact="K-GZ1", actor="GZ-AM1")
    with db.read() as tx:
        people = [r[0] for r in tx.all("SELECT emp_no FROM employee ORDER BY emp_no")]
    every = {v.id: v for v in service.list_issues(rt, principal=Principal.engine())}
    assert handling.id in every and sales.id in every
    for emp in people:
        who = principal_of(rt, emp)
        listed = [v.id for v in service.list_issues(rt, principal=who, limit=1000)]
        readable = []
        for iid in every:
            try:
                service.get_issue(rt, iid, principal=who)
                readable.append(iid)
            except IssueNotVisible:
                pass
        assert listed == readable, emp
