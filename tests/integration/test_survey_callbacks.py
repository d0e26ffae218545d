"""Post-project and activity callbacks against real databases (SQLite file and PostgreSQL): sampling
decisions stored once, the ITR improvement issue opened in the callback's own transaction, every
refusal with its message and nothing written, the same-contact gap across ITR and survey callbacks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from engine.app import build_runtime
from engine.clock import FakeClock, to_us
from engine.db import Database
from engine.errors import EventNotAllowed, MCRError
from engine.runtime import Runtime
from engine import contacts, plugins
from flows.survey import contact_gap, service
from flows.survey.errors import InvalidScore, NoCallbackNeeded, NotInvited, SurveyRefused, UnknownSurveyRecord
from flows.survey.fixtures import insert_org, standard_org
from tests.support.principals import principal_of

SURVEY_TABLES = ("survey_project_draw", "survey_callback", "survey_sample", "survey_sample_entry",
                 "survey_result_import", "survey_result")


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    runtime = build_runtime(db, clock=clock, migrate=False)
    insert_org(db, standard_org())
    return runtime


def snapshot(db: Database) -> dict[str, Any]:
    """Every row a survey step could write, to prove a refusal wrote nothing."""
    out: dict[str, Any] = {}
    with db.read() as tx:
        for table in (*SURVEY_TABLES, "flow_instance", "flow_history", "outbox", "timer", "itr_issue"):
            out[table] = tx.all(f"SELECT * FROM {table} ORDER BY 1")
        out["closed"] = tx.all("SELECT code, closed FROM project ORDER BY code")
    return out


def instance(db: Database, subject: str) -> dict[str, Any]:
    with db.read() as tx:
        row = tx.one("SELECT id, state, data FROM flow_instance WHERE subject = :s", {"s": subject})
    return {"id": row[0], "state": row[1], "data": json.loads(row[2])}


def scores(**kw: Any) -> dict[str, Any]:
    base = {"product": 4, "solution": 4, "delivery": 4, "service_attitude": 4}
    base.update(kw)
    return base


# ---------------------------------------------------------------------------------------------- sampling


def test_a_region_project_is_always_called_back_and_marked_closed(rt: Runtime, db: Database) -> None:
    d = service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    assert (d.selected, d.reason, d.state, d.duplicate) == (True, "big_project", "pending", False)
    cb = instance(db, "project:P-REG")
    assert cb["state"] == "pending"
    assert cb["data"]["contact"] == "C1-K01" and cb["data"]["owner"] == "E6" and cb["data"]["supervisor"] == "E5"
    assert cb["data"]["due_at"] == "2026-12-03T09:00+08:00"
    with db.read() as tx:
        assert tx.one("SELECT closed FROM project WHERE code = 'P-REG'")[0] in (True, 1)
        mail = tx.all("SELECT recipient, subject FROM outbox")
    log = service.sample_log(db, principal=principal_of(rt, "E2"))
    assert [(r["project"], r["selected"], r["reason"], r["instance"]) for r in log] == [("P-REG", True, "big_project",
                                                                                       cb["id"])]
    assert mail == [("e6@corp.example", "请完成项目结束满意度回访：P-REG 核心网扩容")]


def test_office_projects_are_sampled_reproducibly_and_each_decision_is_logged_once(rt: Runtime, db: Database) -> None:
    decisions = [service.project_closed(rt, f"P-OF{i:02d}", principal=principal_of(rt, "E6")) for i in range(1, 31)]
    # P-OF01, first of the month, keeps the month's share at 10 %; the draw picks the other three.
    assert [(d.project, d.reason) for d in decisions if d.selected] == [
        ("P-OF01", "quota_kept"), ("P-OF04", "sampled"), ("P-OF05", "sampled"), ("P-OF18", "sampled")]
    again = service.project_closed(rt, "P-OF04", principal=principal_of(rt, "E7"))
    assert again.duplicate and again.selected and again.instance == decisions[3].instance
    log = service.sample_log(db, principal=principal_of(rt, "E2"))
    assert len(log) == 30
    entry = next(r for r in log if r["project"] == "P-OF07")
    assert entry == {**entry, "selected": False, "reason": "not_sampled", "seed": 20260101, "rate": 0.1,
                     "actor": "E6", "instance": None, "period": "2026-11", "coverage_done": 3, "coverage_base": 7}
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM flow_instance WHERE flow = 'project_callback'")[0] == 4
        assert tx.one("SELECT closed, selected FROM survey_sample_period WHERE period = '2026-11'") == (30, 4)


def test_closing_an_unknown_project_or_naming_a_foreign_contact_writes_nothing(rt: Runtime, db: Database) -> None:
    before = snapshot(db)
    with pytest.raises(UnknownSurveyRecord, match="未知项目「P-NONE」"):
        service.project_closed(rt, "P-NONE", principal=principal_of(rt, "E6"))
    with pytest.raises(MCRError, match="联系人 C2-K01 不属于项目的客户 C1"):
        service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"), contact="C2-K01")
    assert snapshot(db) == before


# ---------------------------------------------------------------------------------------------- recording


def test_a_low_score_opens_an_itr_improvement_issue_in_the_same_step(rt: Runtime, db: Database) -> None:
    service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"), contact="C1-K01")
    view = service.record_callback(rt, principal=principal_of(rt, "E6"), project="P-REG", scores=scores(delivery=2, solution=1),
                                   comment="交付延期")
    assert view["state"] == "done" and view["low_items"] == ["delivery", "solution"]
    issue = view["improvement_issue"]
    with db.read() as tx:
        row = tx.one("SELECT source, type, customer_code, contact_code, submitter_emp_no, title FROM itr_issue "
                     "WHERE id = :i", {"i": issue})
        cb = tx.one("SELECT reached, product, solution, delivery, service_attitude, low_items, improvement_issue_id, "
                    "comment FROM survey_callback")
        flow = tx.one("SELECT flow, state FROM flow_instance WHERE id = :i", {"i": issue})
    assert row == ("survey", "non_technical", "C1", "C1-K01", "E6", "满意度回访低分：项目 P-REG（解决方案 1 分、交付 2 分）")
    assert flow == ("itr_issue", "received")
    assert (bool(cb[0]), *cb[1:5]) == (True, 4, 1, 2, 4)
    assert json.loads(cb[5]) == ["delivery", "solution"] and cb[6] == issue and cb[7] == "交付延期"


def test_without_the_itr_family_a_low_score_is_recorded_and_opens_nothing(db: Database, clock: FakeClock) -> None:
    itr = plugins.get("itr")
    assert itr is not None
    plugins.unregister("itr")  # a build without ITR: the survey never names ITR's modules or tables
    try:
        runtime = build_runtime(db, clock=clock, migrate=False)
        insert_org(db, standard_org())
        service.project_closed(runtime, "P-REG", principal=principal_of(runtime, "E6"), contact="C1-K01")
        view = service.record_callback(runtime, principal=principal_of(runtime, "E6"), project="P-REG",
                                       scores=scores(delivery=2))
    finally:
        plugins.register(itr)
    assert "itr_issue" not in {d.name for d in runtime.definitions.by_key.values()}
    assert view["state"] == "done" and view["low_items"] == ["delivery"] and view["improvement_issue"] is None
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM itr_issue")[0] == 0


def test_scores_at_or_above_the_threshold_open_nothing(rt: Runtime, db: Database) -> None:
    service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    view = service.record_callback(rt, principal=principal_of(rt, "E6"), project="P-REG", scores=scores(delivery=3))
    assert view["low_items"] == [] and view["improvement_issue"] is None
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM itr_issue")[0] == 0


@pytest.mark.parametrize("bad, message", [
    ({"product": 6}, "「产品」的得分「6」无效：须为 1–5 的整数"),
    ({"delivery": 0}, "「交付」的得分「0」无效：须为 1–5 的整数"),
    ({"solution": "4.5"}, "「解决方案」的得分「4.5」无效：须为 1–5 的整数"),
    ({"service_attitude": None}, "请为「服务态度」打分（1–5）"),
])
def test_a_score_outside_1_to_5_is_refused_and_nothing_is_written(rt: Runtime, db: Database, bad: dict[str, Any],
                                                                  message: str) -> None:
    service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    before = snapshot(db)
    with pytest.raises(InvalidScore) as err:
        service.record_callback(rt, principal=principal_of(rt, "E6"), project="P-REG", scores={**scores(), **bad})
    assert str(err.value) == message
    assert snapshot(db) == before
    with db.read() as tx:
        assert tx.one("SELECT code, message FROM flow_refusal")[0] == "invalid_score"


def test_an_unreached_attempt_is_recorded_and_the_callback_stays_open(rt: Runtime, db: Database) -> None:
    service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    view = service.record_callback(rt, principal=principal_of(rt, "E6"), project="P-REG", reached=False, comment="无人接听")
    assert view["state"] == "pending"
    with db.read() as tx:
        assert tx.all("SELECT reached, comment FROM survey_callback") in ([(False, "无人接听")], [(0, "无人接听")])
        assert contacts.last_callback_at(tx, "C1-K01") is None  # an attempt is not a callback for the gap


def test_a_project_not_drawn_has_no_callback_to_record(rt: Runtime, db: Database) -> None:
    assert service.project_closed(rt, "P-OF01", principal=principal_of(rt, "E6")).reason == "quota_kept"
    assert not service.project_closed(rt, "P-OF02", principal=principal_of(rt, "E6")).selected
    with pytest.raises(NoCallbackNeeded, match="项目 P-OF02 未被抽中回访"):
        service.record_callback(rt, principal=principal_of(rt, "E6"), project="P-OF02", scores=scores())
    with pytest.raises(UnknownSurveyRecord, match="项目 P-OF03 没有回访流程"):
        service.record_callback(rt, principal=principal_of(rt, "E6"), project="P-OF03", scores=scores())


def test_cancelling_needs_a_reason(rt: Runtime, db: Database) -> None:
    d = service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    with pytest.raises(SurveyRefused, match="取消回访须说明原因"):
        service.cancel_callback(rt, d.instance, principal=principal_of(rt, "E5"), reason="  ")
    assert service.cancel_callback(rt, d.instance, principal=principal_of(rt, "E5"), reason="客户拒绝回访")["state"] == "cancelled"


# ---------------------------------------------------------------------------------------------- same-contact gap


def _itr_callback(rt: Runtime, db: Database, contact: str, at: datetime, *, reached: bool = True) -> None:
    """An ITR callback (回访) of an issue, as the ITR flow records it."""
    from flows.itr import service as itr

    issue = itr.open_issue(rt, principal=principal_of(rt, "E6"), customer="C1", contact=contact, type="technical", severity="normal",
                           source="hotline", title="网络抖动")
    with db.tx() as tx:
        tx.execute("INSERT INTO itr_callback (issue_id, contact_code, at_us, actor, reached, score) "
                   "VALUES (:i, :c, :at, 'E6', :r, 4)", {"i": issue.id, "c": contact, "at": to_us(at), "r": reached})


def test_last_callback_looks_at_survey_and_itr_callbacks(rt: Runtime, db: Database, clock: FakeClock) -> None:
    now = clock.now()
    with db.read() as tx:
        assert contacts.last_callback_at(tx, "C1-K01") is None
        assert not contact_gap._table_exists(tx, "no_such_table")
    _itr_callback(rt, db, "C1-K01", now - timedelta(days=3))
    _itr_callback(rt, db, "C1-K01", now - timedelta(days=1), reached=False)  # not reached: does not count
    with db.read() as tx:
        assert contacts.last_callback_at(tx, "C1-K01") == now - timedelta(days=3)
    service.project_closed(rt, "P-SH", principal=principal_of(rt, "E9"))
    service.record_callback(rt, principal=principal_of(rt, "E9"), project="P-SH", scores=scores())
    with db.read() as tx:
        assert contacts.last_callback_at(tx, "C2-K01") == now
        assert contacts.last_callback_at(tx, "C1-K01") == now - timedelta(days=3)


def test_a_contact_called_back_by_itr_within_10_days_defers_the_project_callback(rt: Runtime, db: Database,
                                                                                 clock: FakeClock) -> None:
    called = clock.now() - timedelta(days=4)
    _itr_callback(rt, db, "C1-K01", called)
    d = service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"), contact="C1-K01")
    assert d.state == "deferred"
    cb = instance(db, "project:P-REG")
    until = (called + timedelta(days=10)).astimezone(timezone(timedelta(hours=8))).isoformat(timespec="minutes")
    assert cb["data"]["not_before"] == until and cb["data"]["deferred_contact"] == "C1-K01"
    with pytest.raises(EventNotAllowed):
        service.record_callback(rt, principal=principal_of(rt, "E6"), project="P-REG", scores=scores())
    clock.set(called + timedelta(days=10))
    rt.sweep()
    assert instance(db, "project:P-REG")["state"] == "pending"


def test_without_a_named_contact_the_callback_goes_to_the_next_free_contact(rt: Runtime, db: Database,
                                                                            clock: FakeClock) -> None:
    _itr_callback(rt, db, "C1-K01", clock.now() - timedelta(days=2))
    service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    assert instance(db, "project:P-REG")["data"]["contact"] == "C1-K02"
    # a contact with a callback already planned is not planned twice
    service.project_closed(rt, "P-CO", principal=principal_of(rt, "E6"))
    assert instance(db, "project:P-CO")["data"]["contact"] == "C1-K03"


# ---------------------------------------------------------------------------------------------- activities


def test_an_activity_callback_runs_until_every_invited_contact_is_called(rt: Runtime, db: Database) -> None:
    out = service.activity_ended(rt, "A1", principal=principal_of(rt, "E6"))
    assert out["contacts"] == ["C1-K01", "C1-K09", "C1-K21"] and out["due_at"] == "2026-11-23T18:00+08:00"
    assert service.activity_ended(rt, "A1", principal=principal_of(rt, "E6"))["duplicate"] is True
    for contact in ("C1-K01", "C1-K09"):
        assert service.record_callback(rt, principal=principal_of(rt, "E6"), activity="A1", contact=contact)["state"] != "done"
    with pytest.raises(NotInvited, match="联系人 C1-K01 已于 .* 回访过"):
        service.record_callback(rt, principal=principal_of(rt, "E6"), activity="A1", contact="C1-K01")
    with pytest.raises(NotInvited, match="联系人 C1-K02 没有被邀请参加活动 A1"):
        service.record_callback(rt, principal=principal_of(rt, "E6"), activity="A1", contact="C1-K02")
    view = service.record_callback(rt, principal=principal_of(rt, "E6"), activity="A1", contact="C1-K21", score=4, comment="满意")
    assert view["state"] == "done"
    with db.read() as tx:
        rows = tx.all("SELECT kind, activity_code, contact_code, score FROM survey_callback ORDER BY id")
    assert rows == [("activity", "A1", "C1-K01", None), ("activity", "A1", "C1-K09", None),
                    ("activity", "A1", "C1-K21", 4)]


def test_an_activity_type_without_callbacks_starts_nothing(rt: Runtime, db: Database) -> None:
    before = snapshot(db)
    with pytest.raises(NoCallbackNeeded) as err:
        service.activity_ended(rt, "A2", principal=principal_of(rt, "E6"))
    assert str(err.value) == ("活动 A2 的类型「company_visit」不需要回访（rules/survey.yaml activity_callback.types："
                              "exhibition_forum）")
    with pytest.raises(UnknownSurveyRecord, match="未知营销活动「A9」"):
        service.activity_ended(rt, "A9", principal=principal_of(rt, "E6"))
    assert snapshot(db) == before


def test_missed_activity_callbacks_are_reminded_then_escalated(rt: Runtime, db: Database, clock: FakeClock) -> None:
    clock.set(datetime(2026, 11, 19, 10, 30, tzinfo=timezone.utc))  # Thu 18:30 Shanghai
    service.activity_ended(rt, "A1", principal=principal_of(rt, "E6"))
    clock.set(datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc))  # Mon 18:00
    rt.sweep()
    assert instance(db, "activity:A1")["state"] == "overdue"
    clock.set(datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc))  # Tue 18:00
    rt.sweep()
    assert instance(db, "activity:A1")["state"] == "escalated"
    with db.read() as tx:
        mails = tx.all("SELECT template, recipient FROM outbox ORDER BY id")
    assert mails == [("activity_callback_reminder", "e6@corp.example"), ("activity_callback_missed", "e6@corp.example"),
                     ("activity_callback_escalated", "e5@corp.example"),
                     ("activity_callback_escalated", "e6@corp.example")]


def test_projects_closed_by_a_master_data_import_are_drawn_by_all_closed(rt: Runtime, db: Database) -> None:
    with db.tx() as tx:
        tx.execute("UPDATE project SET closed = :t WHERE code IN ('P-REG', 'P-OF01', 'P-OF02')", {"t": True})
    out = service.sync_closed_projects(rt, principal=principal_of(rt, "E2"))
    assert [(d.project, d.selected) for d in out] == [("P-OF01", True), ("P-OF02", False), ("P-REG", True)]
    assert service.sync_closed_projects(rt, principal=principal_of(rt, "E2")) == []
