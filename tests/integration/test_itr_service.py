"""The ITR service on real databases (a SQLite file and PostgreSQL): intake, dispatch, the escalation
ladder and its quota, SLA timers in business time, major incidents, closing with callbacks, QA, and
every refusal of bad input — with the message, nothing changed, and the refusal in the log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from engine.app import load_calendar_registry
from engine.clock import FakeClock, to_us
from engine.db import Database
from engine.definition import load_definitions
from engine.errors import TransitionRefused
from engine.runtime import Runtime
from flows.itr import service
from flows.itr.errors import (CallbackTooSoon, EscalationQuotaExceeded, EscalationReasonMissing, IssueStateRefused,
                              ItrUsageError, NotHandler, NotSubmitter, ScoreOutOfRange, UnknownCustomer, UnknownIssue)
from flows.itr.replay import insert_org
from tests.conftest import ROOT
from tests.support.principals import ENGINE, principal_of

ITR_FLOWS = ROOT / "flows" / "itr"
ORG_FILE = ROOT / "tests" / "scenarios" / "itr" / "data" / "org.yaml"
SHANGHAI = timezone(timedelta(hours=8))


def at(text: str) -> datetime:
    """A Shanghai wall-clock instant, e.g. at('2026-11-26 09:00')."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def make_runtime(db: Database, clock: FakeClock) -> Runtime:
    runtime = Runtime(db, load_definitions(ITR_FLOWS), clock=clock, calendars=load_calendar_registry(),
                      worker_id="test")
    runtime.register_definitions()
    insert_org(db, yaml.safe_load(ORG_FILE.read_text(encoding="utf-8")))
    return runtime


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    return make_runtime(db, clock)


@pytest.fixture(autouse=True)
def _rules(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("MCR_RULES_DIR", str(ROOT / "rules"))
    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    yield


def open_issue(rt: Runtime, **overrides: Any) -> service.IssueView:
    fields = {"customer": "C-BIG", "contact": "K-BIG1", "type": "technical", "severity": "normal", "source": "hotline",
              "title": "基站光模块告警", "description": "多个站点光模块温度告警"}
    fields.update(overrides)
    actor = fields.pop("actor", "SZ-HL")
    return service.open_issue(rt, principal=principal_of(rt, actor), **fields)


def to_handling(rt: Runtime, **overrides: Any) -> service.IssueView:
    issue = open_issue(rt, **overrides)
    service.dispatch(rt, issue.id, principal=principal_of(rt, "SZ-HL"))
    handler = service.get_issue(rt, issue.id, principal=ENGINE).handler
    return service.accept(rt, issue.id, principal=principal_of(rt, handler))


def snapshot(db: Database) -> dict[str, Any]:
    """Everything a refused step could have changed."""
    with db.read() as tx:
        return {t: tx.all(f"SELECT * FROM {t} ORDER BY 1") for t in (
            "flow_instance", "flow_history", "timer", "outbox", "itr_issue", "itr_dispatch", "itr_escalation",
            "itr_callback_decision", "itr_callback", "itr_qa_case", "itr_weekly_score")}


def refusals(db: Database) -> list[tuple]:
    with db.read() as tx:
        return [tuple(r) for r in tx.all("SELECT instance_id, actor, event, code, message FROM flow_refusal ORDER BY id")]


def mails(db: Database, template: str | None = None) -> list[tuple]:
    with db.read() as tx:
        rows = tx.all("SELECT template, recipient, subject, body FROM outbox ORDER BY id")
    return [tuple(r) for r in rows if template is None or r[0] == template]


def sweep_until(rt: Runtime, clock: FakeClock, when: datetime) -> None:
    """Move the fake clock to `when`, firing every timer on the way in due order."""
    while True:
        due = rt.next_due()
        if due is None or due > when:
            break
        clock.set(max(due, clock.now()))
        rt.sweep()
    clock.set(when)
    rt.sweep()


# ---------------------------------------------------------------------------------------------- intake


def test_open_issue_records_the_row_and_the_sla_deadline_on_the_office_calendar(rt: Runtime, db: Database) -> None:
    issue = open_issue(rt, severity="urgent")
    assert issue.state == "received" and issue.office == "OFF-SZ" and issue.region == "R-SOUTH"
    assert issue.sla_hours == 4 and issue.calendar == "CN"
    # Thu 09:00 + 4 business hours: 09:00-12:00 (3 h) + 13:30-14:30 (1 h, after the lunch break)
    assert issue.sla_due == "2026-11-26T14:30+08:00"


def test_a_contract_overrides_the_severity_time_limit(rt: Runtime) -> None:
    assert open_issue(rt, severity="urgent", contract="GOLD-SLA").sla_hours == 2
    # not in the contract: the customer's tier (C-BIG is S: 24 h, rules/itr.yaml sla.tiers), else the default
    assert open_issue(rt, severity="normal", contract="GOLD-SLA").sla_hours == 24
    assert open_issue(rt, customer="C-MID", contact="K-MID1", severity="normal", contract="GOLD-SLA").sla_hours == 40


def test_unknown_customer_is_refused_with_its_code_nothing_written_and_logged(rt: Runtime, db: Database) -> None:
    before = snapshot(db)
    with pytest.raises(UnknownCustomer) as err:
        open_issue(rt, customer="C-NOPE")
    assert "C-NOPE" in str(err.value) and "不存在" in str(err.value)
    assert snapshot(db) == before
    assert refusals(db)[-1][:4] == (None, "SZ-HL", "open", "unknown_customer")


def test_bad_type_severity_or_contact_of_another_customer_is_refused(rt: Runtime, db: Database) -> None:
    before = snapshot(db)
    with pytest.raises(TransitionRefused, match="severity"):
        open_issue(rt, severity="super-urgent")
    with pytest.raises(TransitionRefused, match="K-GZ1"):
        open_issue(rt, contact="K-GZ1")
    assert snapshot(db) == before
    assert [r[3] for r in refusals(db)] == ["invalid_input", "invalid_input"]


def test_refusal_messages_are_english_with_mcr_locale_en(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_LOCALE", "en")
    with pytest.raises(UnknownCustomer, match="unknown customer 'C-NOPE': the issue was not recorded"):
        open_issue(rt, customer="C-NOPE")


# ---------------------------------------------------------------------------------------------- dispatch


def test_dispatch_by_type_and_non_technical_goes_to_the_sales_organisation(rt: Runtime, db: Database) -> None:
    tech = open_issue(rt)
    assert service.dispatch(rt, tech.id, principal=principal_of(rt, "SZ-HL")).handler == "SZ-H1"
    sales = open_issue(rt, type="non_technical", title="合同付款条款争议")
    view = service.dispatch(rt, sales.id, principal=principal_of(rt, "SZ-HL"))
    assert (view.queue, view.handler) == ("sales", "SZ-AM1")  # the customer's account manager
    sent = mails(db, "dispatched")
    assert [m[1] for m in sent] == ["sz-h1@example.com", "sz-am1@example.com"]
    assert sent[1][2] == f"【问题分派】#{sales.id} 合同付款条款争议"


def test_redispatch_is_recorded_and_lowers_first_time_accuracy(rt: Runtime) -> None:
    a, b = open_issue(rt), open_issue(rt)
    service.dispatch(rt, a.id, principal=principal_of(rt, "SZ-HL"))
    service.dispatch(rt, b.id, principal=principal_of(rt, "SZ-HL"))
    view = service.redispatch(rt, b.id, principal=principal_of(rt, "SZ-H1"), queue="sales", reason="实为商务问题")
    assert [(d.seq, d.queue, d.redispatch) for d in view.dispatches] == [(1, "technical", False), (2, "sales", True)]
    rep = service.report(rt, principal=ENGINE, week="2026-W48", office="OFF-SZ")
    assert (rep.dispatch.dispatched, rep.dispatch.first_time_right, rep.dispatch.accuracy) == (2, 1, 0.5)


def test_only_the_handler_accepts(rt: Runtime, db: Database) -> None:
    issue = open_issue(rt)
    service.dispatch(rt, issue.id, principal=principal_of(rt, "SZ-HL"))
    before = snapshot(db)
    with pytest.raises(NotHandler, match="SZ-H1"):
        service.accept(rt, issue.id, principal=principal_of(rt, "SZ-H2"))
    assert snapshot(db) == before


def test_an_action_without_an_answer_applies_the_same_step_and_returns_nothing(rt: Runtime, db: Database) -> None:
    """`answer=False` (the web page, which redirects and reads the issue there) skips only the view read."""
    issue = open_issue(rt)
    assert service.dispatch(rt, issue.id, principal=principal_of(rt, "SZ-HL"), answer=False) is None
    handler = service.get_issue(rt, issue.id, principal=ENGINE).handler
    assert service.accept(rt, issue.id, principal=principal_of(rt, handler), answer=False) is None
    view = service.get_issue(rt, issue.id, principal=ENGINE)
    assert view.state == "handling" and view.handler == handler
    with pytest.raises(NotHandler):  # refusals still raise, answer or not
        service.resolve(rt, issue.id, principal=principal_of(rt, "SZ-HL"), solution="x", answer=False)


# ---------------------------------------------------------------------------------------------- escalation


def test_escalation_without_reason_is_refused_nothing_changed_and_logged(rt: Runtime, db: Database) -> None:
    issue = to_handling(rt)
    before = snapshot(db)
    with pytest.raises(EscalationReasonMissing) as err:
        service.escalate(rt, issue.id, principal=principal_of(rt, "SZ-H1"), reason=None)
    assert "升级必须给出原因" in str(err.value) and "no_owner" in str(err.value)
    with pytest.raises(EscalationReasonMissing, match="不被允许"):
        service.escalate(rt, issue.id, principal=principal_of(rt, "SZ-H1"), reason="customer_is_angry")
    assert snapshot(db) == before
    assert [r[2:4] for r in refusals(db)] == [("escalate", "reason_missing")] * 2


def test_escalation_exactly_at_the_office_quota_is_allowed_above_it_refused_then_overridden(
        rt: Runtime, db: Database) -> None:
    issues = [to_handling(rt) for _ in range(10)]
    first = service.escalate(rt, issues[0].id, principal=principal_of(rt, "SZ-H1"), reason="no_owner")
    second_handler = service.get_issue(rt, issues[1].id, principal=ENGINE).handler
    second = service.escalate(rt, issues[1].id, principal=principal_of(rt, second_handler),
                              reason="arbitration_needed")
    assert (first.decision, second.decision) == ("granted", "granted")
    assert (second.escalated_before, second.unit_issues) == (1, 10)  # 2 of 10 = exactly 20 %: allowed
    third = issues[2]
    handler = service.get_issue(rt, third.id, principal=ENGINE).handler
    before = snapshot(db)
    with pytest.raises(EscalationQuotaExceeded) as err:
        service.escalate(rt, third.id, principal=principal_of(rt, handler), reason="no_owner")
    assert "3/10 = 30.0%" in str(err.value) and "OFF-SZ" in str(err.value)
    after = snapshot(db)
    assert {k: v for k, v in after.items() if k != "itr_escalation"} == \
        {k: v for k, v in before.items() if k != "itr_escalation"}
    assert service.get_issue(rt, third.id, principal=ENGINE).state == "handling"
    refused = service.escalations(rt, issue_id=third.id, principal=ENGINE)
    assert [(e.decision, e.counted, e.qa_flag) for e in refused] == [("refused", False, False)]
    assert refusals(db)[-1][3] == "quota_exceeded"
    over = service.escalate(rt, third.id, principal=principal_of(rt, handler), reason="no_owner", override_by="SZ-SUP",
                            override_why="客户高层投诉，须地区部协调")
    assert (over.decision, over.counted, over.qa_flag, over.override_by) == ("overridden", True, True, "SZ-SUP")
    view = service.get_issue(rt, third.id, principal=ENGINE)
    assert view.state == "escalated_region" and view.handler == "R-H1"
    assert [(q.kind, q.status) for q in view.qa_cases] == [("escalation_override", "open")]
    assert mails(db, "qa_case_opened")[-1][1] == "sz-qa@example.com"
    assert mails(db, "escalated")[-1][1] == "r-h1@example.com"


def test_an_override_needs_both_who_and_why(rt: Runtime) -> None:
    issue = to_handling(rt)
    with pytest.raises(TransitionRefused, match="override_why"):
        service.escalate(rt, issue.id, principal=principal_of(rt, "SZ-H1"), reason="no_owner", override_by="SZ-SUP")


def use_the_minimum_allowance(rt: Runtime) -> service.EscalationView:
    """Escalate one issue of 深圳代表处 within the escalation always allowed per quarter
    (quota.min_allowed.office: 1), so that the next escalation is past the quota."""
    issue = to_handling(rt, title="本季度第一次升级")
    esc = service.escalate(rt, issue.id, principal=principal_of(rt, issue.handler), reason="no_owner")
    assert (esc.decision, esc.qa_flag) == ("granted", False)
    return esc


def test_sla_breach_escalates_automatically_and_counts_against_the_quota(rt: Runtime, db: Database,
                                                                          clock: FakeClock) -> None:
    use_the_minimum_allowance(rt)
    issue = to_handling(rt, severity="urgent")  # due Thu 14:30
    sweep_until(rt, clock, at("2026-11-26 14:29"))
    assert service.get_issue(rt, issue.id, principal=ENGINE).state == "handling"
    sweep_until(rt, clock, at("2026-11-26 14:30"))
    view = service.get_issue(rt, issue.id, principal=ENGINE)
    assert (view.state, view.level, view.handler, view.sla_breaches) == ("escalated_region", "region", "R-H1", 1)
    esc = view.escalations[0]
    assert (esc.reason, esc.automatic, esc.counted, esc.actor) == ("time_limit_exceeded", True, True, "timer:sla")
    # 2 of 2 issues escalated is above 20 % and past the one always allowed: the timer cannot wait,
    # so it is an override by the system, for QA.
    assert (esc.decision, esc.override_by, esc.qa_flag) == ("overridden", "system", True)
    # The region gets the time limit afresh: Thu 14:30 + 4 business hours = Fri 09:30.
    assert view.sla_due == "2026-11-27T09:30+08:00"
    sweep_until(rt, clock, at("2026-11-27 09:30"))
    assert service.get_issue(rt, issue.id, principal=ENGINE).state == "escalated_hq"


# ---------------------------------------------------------------------------------------------- major incident


def test_major_incident_mails_the_contact_every_hour_until_resolved(rt: Runtime, db: Database,
                                                                     clock: FakeClock) -> None:
    issue = to_handling(rt, severity="urgent")
    service.declare_major(rt, issue.id, principal=principal_of(rt, "SZ-H1"), care_rep="SZ-CC")
    service.note(rt, issue.id, principal=principal_of(rt, "SZ-H1"), text="已定位到光模块批次问题")
    sweep_until(rt, clock, at("2026-11-26 12:30"))  # wall time: lunch does not pause the reports
    reports = mails(db, "progress_report")
    assert len(reports) == 1 + 3 and {m[1] for m in reports} == {"zhang@pengcheng.example"}
    assert "已定位到光模块批次问题" in reports[-1][3] and "关怀代表" in reports[-1][3]
    service.resolve(rt, issue.id, principal=principal_of(rt, "SZ-H1"), solution="更换批次")
    sweep_until(rt, clock, at("2026-11-26 16:00"))
    assert len(mails(db, "progress_report")) == 4


def test_an_ordinary_issue_arms_no_progress_timer_and_declaring_major_arms_it_in_place(
        rt: Runtime, db: Database, clock: FakeClock) -> None:
    issue = to_handling(rt, severity="urgent")

    def timer_rows() -> list[tuple[str, str]]:
        with db.read() as tx:
            return [(r[0], r[1]) for r in tx.all("SELECT name, status FROM timer WHERE instance_id = :i ORDER BY id",
                                                 {"i": issue.id})]

    assert "progress" not in {name for name, _ in timer_rows()}  # when: data.major_incident is false: no row
    before = timer_rows()
    view = service.declare_major(rt, issue.id, principal=principal_of(rt, "SZ-H1"), care_rep="SZ-CC")
    assert view.state == "handling"
    # no self-transition: the state's SLA timer is not cancelled and re-armed, the progress timer is added
    assert timer_rows() == before + [("progress", "pending")]
    with db.read() as tx:
        due = tx.one("SELECT due_us FROM timer WHERE instance_id = :i AND name = 'progress'", {"i": issue.id})[0]
    assert due == to_us(clock.now() + timedelta(hours=1))


def test_major_incident_needs_a_customer_care_representative(rt: Runtime) -> None:
    issue = to_handling(rt)
    with pytest.raises(TransitionRefused, match="SZ-H2"):
        service.declare_major(rt, issue.id, principal=principal_of(rt, "SZ-H1"), care_rep="SZ-H2")


# ---------------------------------------------------------------------------------------------- close, callback, QA


def resolved(rt: Runtime, **overrides: Any) -> service.IssueView:
    issue = to_handling(rt, **overrides)
    return service.resolve(rt, issue.id, principal=principal_of(rt, issue.handler), solution="更换光模块")


def test_close_by_someone_other_than_the_submitter_is_refused(rt: Runtime, db: Database) -> None:
    issue = resolved(rt)
    before = snapshot(db)
    with pytest.raises(NotSubmitter) as err:
        service.close(rt, issue.id, principal=principal_of(rt, "SZ-H1"))
    assert "SZ-HL" in str(err.value) and "只有问题提交人" in str(err.value)
    assert snapshot(db) == before
    assert refusals(db)[-1][:4] == (issue.id, "SZ-H1", "close", "not_submitter")


def test_callback_score_three_closes_two_opens_qa_that_keeps_the_issue_open(rt: Runtime, db: Database) -> None:
    a = resolved(rt, severity="urgent")
    b = resolved(rt, severity="urgent", contact="K-BIG2")
    assert service.close(rt, a.id, principal=principal_of(rt, "SZ-HL")).state == "callback_pending"
    assert service.close(rt, b.id, principal=principal_of(rt, "SZ-HL")).state == "callback_pending"
    assert service.record_callback(rt, a.id, principal=principal_of(rt, "SZ-CC"), score=3).state == "closed"
    low = service.record_callback(rt, b.id, principal=principal_of(rt, "SZ-CC"), score=2)
    assert low.state == "qa_review" and low.closed is None
    case = low.qa_cases[0]
    assert (case.kind, case.score, case.status) == ("low_score", 2, "open")
    with pytest.raises(TransitionRefused, match="流程QA"):
        service.qa_decide(rt, case.id, principal=principal_of(rt, "SZ-H1"), decision="close")
    decided = service.qa_decide(rt, case.id, principal=principal_of(rt, "SZ-QA"), decision="close", accountable="SZ-H1", note="处理不及时")
    assert (decided.status, decided.decision, decided.accountable) == ("decided", "close", "SZ-H1")
    assert service.get_issue(rt, b.id, principal=ENGINE).state == "closed"


def test_qa_can_send_a_low_score_issue_back_to_its_level(rt: Runtime) -> None:
    issue = resolved(rt, severity="urgent")
    service.close(rt, issue.id, principal=principal_of(rt, "SZ-HL"))
    low = service.record_callback(rt, issue.id, principal=principal_of(rt, "SZ-CC"), score=1)
    service.qa_decide(rt, low.qa_cases[0].id, principal=principal_of(rt, "SZ-QA"), decision="reopen")
    assert service.get_issue(rt, issue.id, principal=ENGINE).state == "handling"


@pytest.mark.parametrize("score", [0, 6, "x", None, 2.5])
def test_a_score_outside_one_to_five_is_refused(rt: Runtime, db: Database, score: Any) -> None:
    issue = resolved(rt, severity="urgent")
    service.close(rt, issue.id, principal=principal_of(rt, "SZ-HL"))
    before = snapshot(db)
    with pytest.raises(ScoreOutOfRange, match="1 到 5"):
        service.record_callback(rt, issue.id, principal=principal_of(rt, "SZ-CC"), score=score)
    assert snapshot(db) == before
    assert refusals(db)[-1][3] == "score_out_of_range"


def test_an_event_for_a_closed_issue_is_refused(rt: Runtime, db: Database) -> None:
    issue = resolved(rt, severity="urgent")
    service.close(rt, issue.id, principal=principal_of(rt, "SZ-HL"))
    service.record_callback(rt, issue.id, principal=principal_of(rt, "SZ-CC"), score=5)
    before = snapshot(db)
    for attempt in (lambda: service.close(rt, issue.id, principal=principal_of(rt, "SZ-HL")),
                    lambda: service.escalate(rt, issue.id, principal=principal_of(rt, "SZ-H1"), reason="no_owner"),
                    lambda: service.note(rt, issue.id, principal=principal_of(rt, "SZ-H1"), text="again")):
        with pytest.raises(IssueStateRefused, match="已关闭"):
            attempt()
    assert snapshot(db) == before
    assert [r[3] for r in refusals(db)[-3:]] == ["not_allowed"] * 3


def test_an_unknown_issue_number_is_refused_and_logged(rt: Runtime, db: Database) -> None:
    with pytest.raises(UnknownIssue, match="#999"):
        service.close(rt, 999, principal=principal_of(rt, "SZ-HL"))
    assert refusals(db)[-1][2:4] == ("close", "unknown_instance")


def test_urgent_issues_are_always_called_back(rt: Runtime) -> None:
    views = [resolved(rt, severity="urgent", customer=cu, contact=c)
             for cu, c in (("C-BIG", "K-BIG1"), ("C-BIG", "K-BIG2"), ("C-MID", "K-MID1"))]
    for v in views:
        closing = service.close(rt, v.id, principal=principal_of(rt, "SZ-HL"))
        assert closing.state == "callback_pending"
        assert closing.callback_decisions[-1].reason == "urgent"


def test_the_same_contact_is_not_called_back_within_ten_days(rt: Runtime, clock: FakeClock) -> None:
    first = resolved(rt, severity="urgent")
    service.close(rt, first.id, principal=principal_of(rt, "SZ-HL"))
    service.record_callback(rt, first.id, principal=principal_of(rt, "SZ-CC"), score=5)
    clock.set(clock.now() + timedelta(days=9))
    second = resolved(rt, severity="urgent")
    closing = service.close(rt, second.id, principal=principal_of(rt, "SZ-HL"))
    decision = closing.callback_decisions[-1]
    assert (decision.required, decision.reason) == (True, "urgent_after_gap")
    assert decision.not_before == "2026-12-06T09:00+08:00"
    with pytest.raises(CallbackTooSoon, match="10 天内不得再次回访"):
        service.record_callback(rt, second.id, principal=principal_of(rt, "SZ-CC"), score=4)
    clock.set(at("2026-12-06 09:00"))
    assert service.record_callback(rt, second.id, principal=principal_of(rt, "SZ-CC"), score=4).state == "closed"


# ---------------------------------------------------------------------------------------------- library, weekly


def test_case_library_search_finds_chinese_text(rt: Runtime) -> None:
    service.add_case(rt, principal=principal_of(rt, "SZ-H1"), code="G-1", kind="guide", title="光模块温度告警处理指导书",
                     body="检查风扇与光模块批次；必要时更换光模块。")
    service.add_case(rt, principal=principal_of(rt, "SZ-H1"), code="G-2", kind="guide", title="合同付款争议处理",
                     body="与客户财务确认付款条款，升级到销售管理部。")
    service.add_case(rt, principal=principal_of(rt, "SZ-H1"), code="G-3", kind="case", title="传输链路中断", body="光缆被挖断，抢修后恢复；告警消失。")
    hits = service.search_cases(rt, principal=ENGINE, query="光模块告警")
    assert [h.code for h in hits][:2] == ["G-1", "G-3"]
    assert service.search_cases(rt, principal=ENGINE, query="付款")[0].code == "G-2"
    assert service.search_cases(rt, principal=ENGINE, query="量子计算") == []


def test_resolving_can_add_the_solution_to_the_case_library(rt: Runtime) -> None:
    issue = to_handling(rt, title="OLT 单板反复重启")
    service.resolve(rt, issue.id, principal=principal_of(rt, "SZ-H1"), solution="升级单板固件到 V3", add_to_library=True)
    assert service.search_cases(rt, principal=ENGINE, query="单板重启")[0].code == f"ISSUE-{issue.id}"


def test_weekly_check_lists_big_customers_teams_below_two_valid_issues(rt: Runtime, clock: FakeClock) -> None:
    open_issue(rt)  # C-BIG: one valid issue in 2026-W48, fewer than 2
    rejected = open_issue(rt, customer="C-GZ", contact="K-GZ1")
    service.reject(rt, rejected.id, principal=principal_of(rt, "GZ-H1"), reason="重复提交")
    check = service.weekly_check(rt, "2026-W48", principal=ENGINE)
    assert (check.customers_checked, check.required) == (2, 2)  # C-BIG 80 M and C-GZ exactly 50 M; not C-MID
    assert [(s.customer, s.team, s.valid_issues) for s in check.shortfalls] == [("C-GZ", "T-GZ1", 0),
                                                                                 ("C-BIG", "T-SZ1", 1)]
    assert check.teams_short == ["T-GZ1", "T-SZ1"]
    again = service.weekly_check(rt, "2026-W48", principal=ENGINE)
    assert again.shortfalls == check.shortfalls  # written once


def test_a_complaint_with_no_prior_record_gives_the_team_a_negative_score(rt: Runtime) -> None:
    open_issue(rt, type="complaint", customer="C-MID", contact="K-MID1")   # no record: negative
    open_issue(rt, type="complaint", customer="C-MID", contact="K-MID1")   # now there is one
    open_issue(rt, severity="normal")                                       # not major: no entry
    scores = service.weekly_scores(rt)
    assert [(s["kind"], s["team"], s["customer"], s["points"]) for s in scores] == [
        ("negative", "T-SZ2", "C-MID", -1)]


def test_weekly_review_launcher_mails_the_report_to_office_heads(rt: Runtime, db: Database,
                                                                 clock: FakeClock) -> None:
    from engine.launches import run_due_launches

    to_handling(rt)                              # technical: not in the weekly review of non-technical issues
    to_handling(rt, type="non_technical", title="合同付款争议")
    clock.set(at("2026-11-30 09:00"))
    run_due_launches(rt)
    sent = mails(db, "review_report")
    assert sorted(m[1] for m in sent) == ["sz-sm@example.com", "sz-sup@example.com"]
    assert sent[0][2] == "【代表处问题周例会】深圳代表处 2026-W48"
    assert "“非技术问题”的问题处理情况" in sent[0][3]
    assert "新增有效问题：1（non_technical 1；无效 0）" in sent[0][3] and "问题自行解决率" in sent[0][3]
    with db.read() as tx:
        assert tx.one("SELECT state, subject FROM flow_instance WHERE flow = 'itr_review'") == \
            ("sent", "weekly:2026-W48:OFF-SZ")
    run_due_launches(rt)
    assert len(mails(db, "review_report")) == 2  # once per period


def test_monthly_review_mails_region_heads_and_hq_sales_management(rt: Runtime, db: Database,
                                                                   clock: FakeClock) -> None:
    from engine.launches import run_due_launches

    to_handling(rt)
    clock.set(at("2026-12-01 09:00"))
    run_due_launches(rt)
    sent = {(m[1], m[2]) for m in mails(db, "review_report")}
    assert ("r-sup@example.com", "【问题质量月度分析】华南地区部 2026-11") in sent
    assert ("r-sm@example.com", "【问题质量月度分析】华南地区部 2026-11") in sent
    assert ("hq-sm@example.com", "【问题质量月度分析】公司 2026-11") in sent


def test_report_counts_callbacks_escalations_and_open_qa_cases(rt: Runtime) -> None:
    a = resolved(rt, severity="urgent")
    service.close(rt, a.id, principal=principal_of(rt, "SZ-HL"))
    service.record_callback(rt, a.id, principal=principal_of(rt, "SZ-CC"), score=2)
    rep = service.report(rt, principal=ENGINE, week="2026-W48", office="OFF-SZ")
    assert rep.qa_cases_open == 1 and rep.callbacks.scores == 1 and rep.callbacks.average_score == 2.0
    assert rep.new_valid_issues == 1 and rep.new_issues_by_type == {"technical": 1}
    region = service.report(rt, principal=ENGINE, month="2026-11", region="R-SOUTH")
    assert [r.unit for r in region.self_resolution] == ["OFF-GZ", "OFF-SZ", "R-SOUTH"]


def test_report_can_look_at_some_issue_types_only(rt: Runtime) -> None:
    open_issue(rt)
    open_issue(rt, type="non_technical", title="付款争议")
    open_issue(rt, type="non_technical", title="报价疑问")
    full = service.report(rt, principal=ENGINE, week="2026-W48", office="OFF-SZ")
    sales = service.report(rt, principal=ENGINE, week="2026-W48", office="OFF-SZ", types=["non_technical"])
    assert (full.new_valid_issues, full.types) == (3, [])
    assert (sales.new_valid_issues, sales.types, sales.new_issues_by_type) == (2, ["non_technical"], {"non_technical": 2})
    assert sales.self_resolution[0].issues == 2
    with pytest.raises(ItrUsageError, match="hardware"):
        service.report(rt, principal=ENGINE, week="2026-W48", office="OFF-SZ", types=["hardware"])


def test_open_issue_in_opens_an_issue_inside_another_flows_step(rt: Runtime, db: Database, clock: FakeClock,
                                                                tmp_path: Path) -> None:
    (tmp_path / "survey_stub.yaml").write_text(
        "flow: itr_test_survey\nversion: 1\nmodule: stub_actions.py\nevents: [low_score]\n"
        "states:\n  - {name: open, initial: true}\n  - {name: done, terminal: true}\n"
        "transitions:\n  - {from: open, event: low_score, to: done, actions: [itr_test_open_in]}\n", encoding="utf-8")
    (tmp_path / "stub_actions.py").write_text(
        "from engine.registry import action\nfrom flows.itr.service import open_issue_in\n\n"
        "@action('itr_test_open_in')\ndef open_in(ctx):\n"
        "    ctx.data['issue'] = open_issue_in(ctx, customer=ctx.payload['customer'], contact='K-BIG1',\n"
        "        type='non_technical', severity='normal', source='survey', title='满意度低分改进', submitter='SZ-AM1')\n",
        encoding="utf-8")
    runtime = Runtime(db, load_definitions(ITR_FLOWS, tmp_path), clock=clock, calendars=load_calendar_registry())
    runtime.register_definitions()
    sid = runtime.start("itr_test_survey", {}, actor="SZ-AM1").instance_id
    before = snapshot(db)
    with pytest.raises(UnknownCustomer):
        runtime.send(sid, "low_score", actor="SZ-AM1", payload={"customer": "C-NOPE"})
    assert snapshot(db) == before  # the survey step and the issue roll back together
    runtime.send(sid, "low_score", actor="SZ-AM1", payload={"customer": "C-BIG"})
    with db.read() as tx:
        issue_id = tx.one("SELECT id FROM itr_issue")[0]
    view = service.get_issue(runtime, issue_id, principal=ENGINE)
    assert (view.source, view.submitter, view.state) == ("survey", "SZ-AM1", "received")


def test_views_show_local_times_and_sla_state(rt: Runtime, clock: FakeClock) -> None:
    issue = open_issue(rt)
    assert issue.opened == "2026-11-26T09:00+08:00"
    assert to_us(clock.now()) > 0
