"""The marketing-activity life cycle against real databases: activities imported from a file with
the book's types (old names read as their new type), refused rows naming row and column with
nothing written, a big activity that closes only after its summary and every open item, a small
one that closes once held, reminders then escalation when a big activity's summary is late, the
weekly sales meeting's list per office, and who may act."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from engine.auth.principal import Principal
from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ActionFailed, GuardRejected, ImportRejected, MCRError, NotVisible
from flows.planning import activities
from flows.planning.sample import _table, planning_runtime
from engine.masterdata.importer import import_table
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))

ROWS = [
    {"code": "A1", "type": "高层峰会", "title": "2027 数字峰会", "customer_code": "C001", "project_code": "P001",
     "activity_date": "2027-05-20", "budget": "80000", "inviter_emp_no": "E101", "invitees": "K001;K002"},
    {"code": "A2", "type": "日常拜访", "title": "例行拜访", "customer_code": "C002", "project_code": "P003",
     "activity_date": "2027-05-18", "budget": "2000", "inviter_emp_no": "E102", "invitees": "K003"},
    {"code": "A3", "type": "技术交流", "title": "云化交流", "customer_code": "C002", "project_code": "P003",
     "activity_date": "2027-05-19", "budget": "150000", "inviter_emp_no": "E102", "invitees": "K003"},
]


def import_activities(db: Database, clock: FakeClock, rows: list[dict[str, Any]]) -> Any:
    with db.session() as session:
        result = import_table(session, "activities", _table("activities", rows), clock=clock,
                              principal=Principal.engine("import"))
        session.commit()
    return result


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Any:
    clock.set(datetime(2027, 5, 10, 10, 0, tzinfo=SH))  # a Monday
    runtime = planning_runtime(db, clock)
    import_activities(db, clock, ROWS)
    return runtime


def state(rt: Any, code: str) -> str:
    return activities.activity_view(rt, code, principal=Principal.engine())["state"]


def test_imported_activities_take_the_books_types_and_old_names_map_to_their_new_type(rt: Any, db: Database) -> None:
    with db.read() as tx:
        rows = tx.all("SELECT code, type, budget FROM marketing_activity ORDER BY code")
        invited = tx.all("SELECT activity_code, contact_code FROM marketing_activity_invitee ORDER BY 1, 2")
    assert [tuple(r) for r in rows] == [("A1", "summit", 80000), ("A2", "routine_visit", 2000), ("A3", "other", 150000)]
    assert [tuple(r) for r in invited] == [("A1", "K001"), ("A1", "K002"), ("A2", "K003"), ("A3", "K003")]


def test_a_bad_activity_row_is_refused_naming_row_and_column_and_nothing_is_written(rt: Any, db: Database,
                                                                                  clock: FakeClock) -> None:
    bad = [{**ROWS[0], "code": "B1", "type": "跳舞"},
           {**ROWS[0], "code": "B2", "customer_code": "C999"},
           {**ROWS[0], "code": "B3", "activity_date": "2027-10-30"}]  # after P001's decision (2027-09-30)
    with pytest.raises(ImportRejected) as info:
        import_activities(db, clock, bad)
    text = str(info.value)
    assert "sample:activities:2:" in text and "跳舞" in text
    assert "sample:activities:3:" in text and "C999" in text
    assert "sample:activities:4:" in text and "2027-09-30" in text
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM marketing_activity WHERE code LIKE 'B%'")[0] == 0


def test_the_daily_sync_starts_one_life_cycle_per_planned_activity_once(rt: Any, db: Database) -> None:
    with db.read() as tx:
        assert activities.untracked_activities(tx) == ["A2", "A3", "A1"]
    for code in ("A1", "A2", "A3"):
        activities.track_activity(rt, code, principal=Principal.engine())
    first = activities.track_activity(rt, "A1", principal=Principal.engine())
    assert first == activities.track_activity(rt, "A1", principal=Principal.engine())
    with db.read() as tx:
        assert activities.untracked_activities(tx) == []
        assert tx.one("SELECT COUNT(*) FROM flow_instance WHERE flow = 'marketing_activity'")[0] == 3
    assert state(rt, "A1") == "planned"


def test_a_big_activity_closes_only_after_its_summary_and_every_open_item(rt: Any, db: Database,
                                                                         clock: FakeClock) -> None:
    e101 = principal_of(rt, "E101")
    activities.track_activity(rt, "A1", principal=e101)
    assert activities.activity_view(rt, "A1", principal=e101)["big"] is True  # summit is a big type
    activities.act(rt, "A1", "invite", principal=e101, payload={"contacts": ["K001", "K002"]})
    clock.set(datetime(2027, 5, 20, 18, 0, tzinfo=SH))
    activities.act(rt, "A1", "hold", principal=e101)
    with db.read() as tx:
        assert tx.one("SELECT status FROM marketing_activity WHERE code = 'A1'")[0] == "done"
    with pytest.raises(ActionFailed, match="必须先提交活动总结"):
        activities.act(rt, "A1", "close", principal=e101)
    with pytest.raises(ActionFailed, match="总结"):
        activities.act(rt, "A1", "submit_summary", principal=e101, payload={"summary": " "})
    activities.act(rt, "A1", "submit_summary", principal=e101,
                   payload={"summary": "客户认可方案", "open_items": ["补充报价", "安排样板点参观"]})
    assert state(rt, "A1") == "summarised"
    with pytest.raises(ActionFailed, match="#1 补充报价；#2 安排样板点参观"):
        activities.act(rt, "A1", "close", principal=e101)
    activities.act(rt, "A1", "close_item", principal=e101, payload={"item": 1, "resolution": "已发报价"})
    assert state(rt, "A1") == "summarised"
    with pytest.raises(ActionFailed, match="已经闭环"):
        activities.act(rt, "A1", "close_item", principal=e101, payload={"item": 1, "resolution": "again"})
    activities.act(rt, "A1", "close_item", principal=e101, payload={"item": 2, "resolution": "6 月参观"})
    assert state(rt, "A1") == "items_closed"
    activities.act(rt, "A1", "close", principal=e101)
    view = activities.activity_view(rt, "A1", principal=e101)
    assert view["state"] == "closed" and [i["resolution"] for i in view["open_items"]] == ["已发报价", "6 月参观"]


def test_a_small_activity_closes_once_held_and_a_big_budget_makes_any_type_big(rt: Any, clock: FakeClock) -> None:
    e102 = principal_of(rt, "E102")
    for code in ("A2", "A3"):
        activities.track_activity(rt, code, principal=e102)
    clock.set(datetime(2027, 5, 19, 18, 0, tzinfo=SH))
    activities.act(rt, "A2", "hold", principal=e102, payload={"held_on": "2027-05-18"})
    activities.act(rt, "A2", "close", principal=e102)
    assert state(rt, "A2") == "closed"
    activities.act(rt, "A3", "hold", principal=e102)
    with pytest.raises(ActionFailed, match="大型活动"):  # type other, but 150,000 ≥ big_budget
        activities.act(rt, "A3", "close", principal=e102)
    activities.act(rt, "A3", "submit_summary", principal=e102, payload={"summary": "交流顺利"})
    assert state(rt, "A3") == "items_closed"


def test_a_late_summary_is_reminded_then_escalated_to_the_inviters_supervisor(rt: Any, db: Database,
                                                                             clock: FakeClock) -> None:
    e101 = principal_of(rt, "E101")
    activities.track_activity(rt, "A1", principal=e101)
    clock.set(datetime(2027, 5, 20, 18, 0, tzinfo=SH))  # Thursday
    activities.act(rt, "A1", "hold", principal=e101)
    clock.set(datetime(2027, 5, 26, 10, 0, tzinfo=SH))  # 3 business days later (and a bit)
    rt.sweep()
    with db.read() as tx:
        sent = [tuple(r) for r in tx.all("SELECT template, recipient FROM outbox ORDER BY id")]
    assert sent == [("activity_summary_due", "e101@example.com")]
    clock.set(datetime(2027, 6, 1, 10, 0, tzinfo=SH))
    rt.sweep()
    with db.read() as tx:
        sent = [tuple(r) for r in tx.all("SELECT template, recipient FROM outbox ORDER BY id")]
    assert ("activity_summary_overdue", "e100@example.com") in sent


def test_only_the_inviter_their_chain_or_sales_management_may_act(rt: Any) -> None:
    activities.track_activity(rt, "A2", principal=Principal.engine())
    with pytest.raises(ActionFailed):
        activities.act(rt, "A2", "hold", principal=principal_of(rt, "E201"))  # another team's manager
    activities.act(rt, "A2", "hold", principal=principal_of(rt, "E100"), payload={"held_on": "2027-05-10"})  # E102's head
    assert state(rt, "A2") == "held"
    with pytest.raises(NotVisible):
        activities.track_activity(rt, "A3", principal=principal_of(rt, "E201"))


def test_the_weekly_meeting_lists_the_offices_activities_under_way_with_their_open_items(rt: Any,
                                                                                       clock: FakeClock) -> None:
    e101, e102 = principal_of(rt, "E101"), principal_of(rt, "E102")
    for code, who in (("A1", e101), ("A2", e102), ("A3", e102)):
        activities.track_activity(rt, code, principal=who)
    clock.set(datetime(2027, 5, 20, 18, 0, tzinfo=SH))
    activities.act(rt, "A1", "hold", principal=e101)
    activities.act(rt, "A1", "submit_summary", principal=e101, payload={"summary": "ok", "open_items": "补充报价\n"})
    activities.act(rt, "A2", "hold", principal=e102)
    activities.act(rt, "A2", "close", principal=e102)
    lines = activities.meeting_list(rt, "O-SZ", principal=principal_of(rt, "E020"))
    assert [(l.activity, l.state) for l in lines] == [("A3", "planned"), ("A1", "summarised")]
    assert [i["text"] for i in lines[1].open_items] == ["补充报价"]
    with pytest.raises(NotVisible):
        activities.meeting_list(rt, "O-SZ", principal=principal_of(rt, "E201").__class__(
            emp_no="E999", name="nobody", roles=frozenset(), unit_code="HQ-OTHER"))
