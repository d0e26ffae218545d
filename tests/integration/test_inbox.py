"""我的待办 / My work on real databases: what each person finds there across the ITR flow — issues
dispatched or escalated to them, resolved issues awaiting their close, callbacks for customer care,
QA cases — due first and overdue marked; the page and /api/inbox show the same."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from engine.auth import accounts
from engine.clock import FakeClock, to_us
from engine.db import Database
from engine.inbox import inbox
from engine.runtime import Runtime
from engine.web import WebSettings, create_app
from flows.itr import service
from tests.support.accounts import add_accounts, itr_runtime
from tests.support.inbox_seed import seed_issues
from tests.support.principals import ENGINE, principal_of
from tests.support.web import with_shipped_rules  # noqa: F401  (autouse: the shipped rules)


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    return itr_runtime(db, clock)


def kinds(rt: Runtime, emp: str) -> list[tuple[str, int | None]]:
    return [(i.kind, i.instance_id) for i in inbox(rt, principal=principal_of(rt, emp)).items]


def test_dispatched_issue_is_in_the_handlers_inbox_then_the_regions_after_escalation(rt: Runtime) -> None:
    hl = principal_of(rt, "SZ-HL")
    issue = service.open_issue(rt, principal=hl, customer="C-BIG", contact="K-BIG1", type="technical",
                               severity="normal", source="hotline", title="基站光模块告警").id
    assert kinds(rt, "SZ-H1") == [] and kinds(rt, "SZ-H2") == []
    service.dispatch(rt, issue, principal=hl)
    handler = service.get_issue(rt, issue, principal=ENGINE).handler
    mine = inbox(rt, principal=principal_of(rt, handler))
    assert [(i.kind, i.instance_id, i.link) for i in mine.items] == [("issue", issue, f"/issues/{issue}")]
    assert mine.items[0].due is not None and not mine.items[0].overdue and mine.counts == {"issue": 1}
    service.accept(rt, issue, principal=principal_of(rt, handler))
    service.escalate(rt, issue, principal=principal_of(rt, handler), reason="no_owner", note="无法确定责任人",
                     override_by="SZ-SUP", override_why="客户高层关注")
    assert kinds(rt, handler) == []
    assert kinds(rt, "R-H1") == [("issue", issue)]
    service.resolve(rt, issue, principal=principal_of(rt, "R-H1"), solution="更换光模块")
    assert kinds(rt, "R-H1") == []
    assert kinds(rt, "SZ-HL") == [("close", issue)]  # only the submitter may close


def test_items_are_due_first_and_overdue_marked(rt: Runtime, clock: FakeClock) -> None:
    now = to_us(clock.now())
    seed_issues(rt.db, first=1, count=3, state="handling", handler="SZ-H1", at_us=now - 3 * 60_000_000,
                due_step_us=60_000_000)  # due now-2min, now-1min, now
    seed_issues(rt.db, first=10, count=2, state="closed", handler="SZ-H1", at_us=now, closed=True)
    box = inbox(rt, principal=principal_of(rt, "SZ-H1"), now=clock.now() - timedelta(seconds=30))
    assert [i.instance_id for i in box.items] == [1, 2, 3]
    assert [i.overdue for i in box.items] == [True, True, False]
    assert box.counts == {"issue": 3}


def test_qa_cases_and_callbacks_reach_qa_and_customer_care(rt: Runtime, db: Database, clock: FakeClock) -> None:
    now = to_us(clock.now())
    seed_issues(db, first=1, count=1, state="callback_pending", handler="SZ-H1", at_us=now)
    with db.tx() as tx:
        tx.execute("UPDATE flow_instance SET data = :d WHERE id = 1", {"d": '{"office": "OFF-SZ", "title": "告警"}'})
        tx.execute("INSERT INTO itr_qa_case (issue_id, office_code, kind, opened_us, opened_by, reason, status) "
                   "VALUES (1, 'OFF-SZ', 'low_score', :t, 'engine', '评分 2', 'open')", {"t": now})
    assert kinds(rt, "SZ-CC") == [("callback", 1)]
    assert kinds(rt, "SZ-QA") == [("qa", 1)]
    assert kinds(rt, "HQ-QA") == [("qa", 1)]  # HQ's QA covers every office
    assert kinds(rt, "SZ-AM1") == []


def test_inbox_page_and_api_show_the_same_items(rt: Runtime, clock: FakeClock) -> None:
    now = to_us(clock.now())
    seed_issues(rt.db, first=1, count=2, state="dispatched", handler="SZ-H1", at_us=now)
    add_accounts(rt.db, clock, "SZ-H1")
    token = accounts.issue_token(rt.db, "SZ-H1", clock=clock)
    with TestClient(create_app(rt, WebSettings())) as client:
        api = client.get("/api/inbox", headers={"Authorization": f"Bearer {token}"}).json()
        assert [i["link"] for i in api["items"]] == ["/issues/1", "/issues/2"] and api["counts"] == {"issue": 2}


def test_an_issue_without_a_handler_waits_in_the_queue_of_its_level(rt: Runtime, clock: FakeClock) -> None:
    now = to_us(clock.now())
    seed_issues(rt.db, first=1, count=1, state="dispatched", handler=None, at_us=now)
    seed_issues(rt.db, first=2, count=1, state="escalated_region", handler=None, at_us=now)
    with rt.db.tx() as tx:
        tx.execute("UPDATE itr_issue SET region_code = 'R-SOUTH'")
        tx.execute("UPDATE itr_issue SET level = 'region' WHERE id = 2")
    assert kinds(rt, "SZ-H2") == [("queue", 1)]
    assert kinds(rt, "R-H1") == [("queue", 2)]
    assert kinds(rt, "GZ-H1") == [] and kinds(rt, "SZ-AM1") == []


def test_every_kind_a_provider_gives_has_a_label_in_both_languages() -> None:
    from engine import i18n
    from engine.inbox import KINDS
    from flows.planning.inbox import ASSIGNMENTS as PLANNING
    from flows.survey.inbox import ASSIGNMENTS as SURVEY

    assert {a.kind for a in PLANNING + SURVEY} | {"issue", "queue", "close", "callback", "qa", "major_incident",
                                                  "care"} <= set(KINDS)
    for kind in KINDS:
        assert i18n.has(f"web.kind.{kind}", "zh-CN") and i18n.has(f"web.kind.{kind}", "en"), kind
