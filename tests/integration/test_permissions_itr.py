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
from engine.runtime import Runtime
from flows.itr import service
from flows.itr.errors import CallbackByHandler, IssueNotVisible, OverrideNotAllowed
from tests.integration.test_itr_service import _rules, refusals, resolved, rt, snapshot, to_handling  # noqa: F401
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
    assert (esc.decision, esc.override_by, esc.qa_flag) == ("overridden", "SZ-SM", True)  # 1 of 1: past the quota


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
