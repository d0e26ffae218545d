"""`flows.itr.service.allowed_actions` is what the issue page offers: every action it offers to
someone, in every state of the main path, the service then accepts from them (the page never
offers what the service would refuse); and an open-issue form sent twice opens one issue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

import pytest

from engine.clock import FakeClock
from engine.runtime import Runtime
from flows.itr import service
from tests.integration.test_itr_service import ENGINE, make_runtime, principal_of

STAFF = ("SZ-AM1", "SZ-AM2", "SZ-H1", "SZ-H2", "SZ-SUP", "SZ-SM", "SZ-CC", "SZ-QA", "SZ-HL", "GZ-H1", "R-H1",
         "R-SUP", "HQ-QA", "HQ-SM")

# One valid way to take each action (the permission is what is under test, not the input).
DO: dict[str, Callable[[Runtime, int, Any], Any]] = {
    "dispatch": lambda rt, i, p: service.dispatch(rt, i, principal=p),
    "accept": lambda rt, i, p: service.accept(rt, i, principal=p),
    "resolve": lambda rt, i, p: service.resolve(rt, i, principal=p, solution="更换光模块"),
    "escalate": lambda rt, i, p: service.escalate(rt, i, principal=p, reason="arbitration_needed",
                                                  override_by="SZ-SM", override_why="客户高层投诉"),
    "declare_major": lambda rt, i, p: service.declare_major(rt, i, principal=p, care_rep="SZ-CC"),
    "note": lambda rt, i, p: service.note(rt, i, principal=p, text="进展"),
    "close": lambda rt, i, p: service.close(rt, i, principal=p),
    "callback": lambda rt, i, p: service.record_callback(rt, i, principal=p, score=5),
}


@pytest.fixture
def rt(db: Any, clock: FakeClock) -> Runtime:
    return make_runtime(db, clock)


def issue_at(rt: Runtime, state: str) -> int:
    """A fresh urgent issue of 李经理 (SZ-AM1), handled by 王工 (SZ-H1), brought to `state`."""
    am = principal_of(rt, "SZ-AM1")
    issue = service.open_issue(rt, principal=am, customer="C-BIG", contact="K-BIG1", type="technical",
                               severity="urgent", source="hotline", title="光模块告警")
    if state == "received":
        return issue.id
    service.dispatch(rt, issue.id, principal=am, handler="SZ-H1")  # always 王工, so probes and copies agree
    if state == "dispatched":
        return issue.id
    handler = principal_of(rt, service.get_issue(rt, issue.id, principal=ENGINE).handler)
    service.accept(rt, issue.id, principal=handler)
    if state == "handling":
        return issue.id
    service.resolve(rt, issue.id, principal=handler, solution="更换光模块")
    if state == "resolved":
        return issue.id
    service.close(rt, issue.id, principal=am)
    assert service.get_issue(rt, issue.id, principal=ENGINE).state == state == "callback_pending"
    return issue.id


@pytest.mark.parametrize("state", ["received", "dispatched", "handling", "resolved", "callback_pending"])
def test_every_action_offered_is_accepted_by_the_service(rt: Runtime, clock: FakeClock, state: str) -> None:
    probe = issue_at(rt, state)
    offers = {emp: service.allowed_actions(rt, probe, principal=principal_of(rt, emp)) for emp in STAFF}
    assert any(offers.values()), f"nobody may act on an issue in state {state}"
    for emp, events in offers.items():
        for event in events:
            clock.advance(timedelta(days=11))  # callbacks of one contact: at most one per 10 days
            fresh = issue_at(rt, state)
            DO[event](rt, fresh, principal_of(rt, emp))  # raises if the service refuses


def test_a_stranger_is_offered_nothing_and_the_handler_not_close_or_callback(rt: Runtime) -> None:
    issue = issue_at(rt, "dispatched")
    assert service.allowed_actions(rt, issue, principal=principal_of(rt, "GZ-H1")) == []
    mine = service.allowed_actions(rt, issue, principal=principal_of(rt, "SZ-H1"))
    assert {"accept", "escalate", "resolve"} <= set(mine) and "close" not in mine
    assert service.allowed_actions(rt, issue, principal=principal_of(rt, "SZ-AM1")) == ["note"]


def test_open_issue_form_sent_twice_opens_one_issue(rt: Runtime) -> None:
    am = principal_of(rt, "SZ-AM1")
    fields = dict(customer="C-BIG", contact="K-BIG1", type="technical", severity="normal", source="hotline",
                  title="重复提交")
    first = service.open_issue(rt, principal=am, client_event_id="form-1", **fields)
    again = service.open_issue(rt, principal=am, client_event_id="form-1", **fields)
    other = service.open_issue(rt, principal=am, client_event_id="form-2", **fields)
    assert first.id == again.id != other.id
    with rt.db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM itr_issue WHERE title = :t", {"t": "重复提交"})[0] == 2
