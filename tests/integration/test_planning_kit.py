"""The planning kit against real databases (SQLite and PostgreSQL): issuing once per team and year,
the pre-filled workbook, submitting (all-or-nothing), review with send-back to the right step,
deadline reminders and escalation, the recurring 1 Dec launch, status and the budget roll-up."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ActionFailed, ImportRejected, MCRError
from engine.launches import run_due_launches
from flows.planning.kit import (budget_rollup, issue_kit, kit_file, kit_instance, kit_status, launch_kits_direct,
                                review_kit, submit_kit, teams_due_a_kit)
from flows.planning.sample import planning_runtime
from flows.planning.workbook import workbook_from_rows
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))


@pytest.fixture
def rt(db: Database, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
    return planning_runtime(db, clock)


def mails(db: Database, template: str | None = None) -> list[tuple[str, str]]:
    with db.read() as tx:
        rows = tx.all("SELECT template, recipient FROM outbox ORDER BY id")
    return [(t, r) for t, r in rows if template is None or t == template]


def count(db: Database, table: str) -> int:
    with db.read() as tx:
        return int(tx.one(f"SELECT COUNT(*) FROM {table}")[0])


PLAN = [{"customer_code": "C001", "activity_type": "公司参观", "title": "总部参观", "project_code": "P001",
         "planned_date": "2027-05-10", "budget": 30000, "contacts": "K001", "owner": "E101"},
        {"customer_code": "C002", "activity_type": "技术交流", "title": "云化交流", "project_code": "P003",
         "planned_date": "2027-04-20", "budget": 12000}]
ASSESS = [{"customer_code": "C001", "contact_code": "K001", "acceptance": 2, "acceptance_evidence": "参加公司参观",
           "support_us": 1}]
OBJ = [{"customer_code": "C001", "relationship_target": "2–3 名 CXO 支持排他", "target_count": 3, "owner": "E101"}]


def full_kit(tmp_path: Path, name: str = "kit.xlsx", **over: Any) -> Path:
    rows = {"assessments": ASSESS, "objectives": OBJ, "plan": PLAN} | over
    return workbook_from_rows(tmp_path / name, team="T-SZ-OP", year=2027, **rows)


def test_only_teams_owning_an_s_or_a_customer_are_due_a_kit(rt: Any) -> None:
    with rt.db.session() as session:
        assert teams_due_a_kit(session, 2027, ["S", "A"]) == ["T-SZ-FI", "T-SZ-OP"]
        assert teams_due_a_kit(session, 2027, ["S"]) == ["T-SZ-OP"]


def test_a_team_never_gets_two_kits_for_one_year(rt: Any, db: Database) -> None:
    first = issue_kit(rt, "T-SZ-OP", 2027)
    again = issue_kit(rt, "T-SZ-OP", 2027)
    report = launch_kits_direct(rt, 2027)
    assert (first.status, again.status) == ("issued", "already") and again.instance_id == first.instance_id
    assert (report.issued, report.already) == (1, 1)
    with db.read() as tx:
        subjects = [r[0] for r in tx.all("SELECT subject FROM flow_instance WHERE flow = 'planning_kit' ORDER BY id")]
    assert subjects == ["kit:T-SZ-OP:2027", "kit:T-SZ-FI:2027"]
    issued = mails(db, "kit_issued")
    assert sorted(r for _, r in issued) == ["e100@example.com", "e101@example.com", "e102@example.com",
                                            "e200@example.com", "e201@example.com"]


def test_issue_finishes_a_kit_whose_mail_step_was_cut_off(rt: Any, db: Database,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the first step failed after the start")

    with monkeypatch.context() as m:
        # The start and the kick share one transaction; a kick that fails is undone alone (a savepoint), so
        # the kit waits in `preparing` as if the process had died between two transactions.
        m.setattr(rt, "send_in", crash)
        with pytest.raises(ConnectionError):
            issue_kit(rt, "T-SZ-OP", 2027)
    assert kit_instance(rt, "T-SZ-OP", 2027).state == "preparing" and mails(db, "kit_issued") == []
    out = issue_kit(rt, "T-SZ-OP", 2027)
    assert out.status == "issued" and kit_instance(rt, "T-SZ-OP", 2027).state == "issued"
    assert len(mails(db, "kit_issued")) == 3


def test_the_kit_workbook_is_written_on_first_download_prefilled_and_mailed_as_a_link_to_its_page(
        rt: Any, db: Database) -> None:
    from openpyxl import load_workbook

    out = issue_kit(rt, "T-SZ-OP", 2027)
    assert out.path and not Path(out.path).exists()  # issuing records the kit; the file waits for its reader
    first = kit_file(rt, kit_instance(rt, "T-SZ-OP", 2027).data, Path(out.path))
    assert str(first) == out.path and first.is_file()
    written = first.stat().st_mtime_ns
    assert kit_file(rt, kit_instance(rt, "T-SZ-OP", 2027).data, Path(out.path)).stat().st_mtime_ns == written
    wb = load_workbook(out.path)
    ws = wb["客户关系现状评估表"]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, [c.value for c in r])) for r in ws.iter_rows(min_row=2)]
    assert [r["联系人编码"] for r in rows] == ["K001", "K002", "K003"]
    assert (rows[0]["上年接受认可度"], rows[0]["上年决策支持度"], rows[0]["锁定竞争对手"]) == (1, 0, "爱立信；诺基亚")
    projects = [r[0].value for r in wb["项目参考"].iter_rows(min_row=2)]
    assert projects == ["P001", "P002", "P003"]  # open projects of the kit customers; closed P009 left out
    with db.read() as tx:
        body = tx.one("SELECT body FROM outbox WHERE template = 'kit_issued' AND recipient = 'e101@example.com'")[0]
    assert f"http://127.0.0.1:8080/instances/{out.instance_id}" in body and "2027-03-31" in body
    assert out.path not in body  # a path on the server means nothing to the team (mail links, not paths)


def test_submit_records_every_sheet_and_asks_the_supervisor(rt: Any, db: Database, tmp_path: Path) -> None:
    issue_kit(rt, "T-SZ-OP", 2027)
    res = submit_kit(rt, "T-SZ-OP", full_kit(tmp_path), principal=principal_of(rt, "E101"))
    assert (res.sections, res.state, res.budget) == (["assessment", "objectives", "plan"], "supervisor_review", 42000)
    assert (count(db, "planning_activity"), count(db, "planning_objective")) == (2, 1)
    with db.read() as tx:
        revs = tx.all("SELECT year, revision, acceptance, source FROM contact_assessment WHERE contact_code = 'K001' "
                      "ORDER BY year, revision")
        audit = tx.one("SELECT COUNT(*) FROM masterdata_audit WHERE entity = 'assessment' AND entity_key = 'K001/2027'")
    assert [tuple(r) for r in revs][-1][:3] == (2027, 1, 2) and revs[-1][3].startswith("planning-kit")
    assert audit[0] == 1
    assert mails(db, "kit_review") == [("kit_review", "e100@example.com")]


def test_a_bad_workbook_records_nothing_and_leaves_the_kit_where_it_was(rt: Any, db: Database,
                                                                        tmp_path: Path) -> None:
    issue_kit(rt, "T-SZ-OP", 2027)
    bad = full_kit(tmp_path, plan=[{**PLAN[0], "planned_date": "2027-10-01"}, {**PLAN[1], "budget": None}],
                   assessments=[{**ASSESS[0], "acceptance": 4}])
    before = (count(db, "planning_submission"), count(db, "contact_assessment"), count(db, "flow_history"))
    with pytest.raises(ImportRejected) as err:
        submit_kit(rt, "T-SZ-OP", bad, principal=principal_of(rt, "E101"))
    assert len(err.value.problems) == 3
    assert (count(db, "planning_submission"), count(db, "contact_assessment"), count(db, "flow_history")) == before
    assert kit_instance(rt, "T-SZ-OP", 2027).state == "issued"


def test_sections_are_submitted_step_by_step(rt: Any, tmp_path: Path) -> None:
    issue_kit(rt, "T-SZ-OP", 2027)
    assert submit_kit(rt, "T-SZ-OP", full_kit(tmp_path, "a.xlsx", objectives=[], plan=[]), principal=principal_of(rt, "E101")).state == \
        "assessment_submitted"
    with pytest.raises(MCRError, match="客户关系目标任务书"):  # the next step needs objectives
        submit_kit(rt, "T-SZ-OP", full_kit(tmp_path, "b.xlsx", objectives=[]), principal=principal_of(rt, "E101"))
    assert submit_kit(rt, "T-SZ-OP", full_kit(tmp_path, "c.xlsx"), principal=principal_of(rt, "E101")).sections == ["objectives", "plan"]


def test_send_back_returns_to_the_named_step_and_resubmission_supersedes_the_plan(rt: Any, db: Database,
                                                                                  tmp_path: Path) -> None:
    issue_kit(rt, "T-SZ-OP", 2027)
    submit_kit(rt, "T-SZ-OP", full_kit(tmp_path), principal=principal_of(rt, "E101"))
    with pytest.raises(MCRError, match="审核中|under supervisor review"):
        submit_kit(rt, "T-SZ-OP", full_kit(tmp_path, "again.xlsx"), principal=principal_of(rt, "E101"))  # under review
    with pytest.raises(ActionFailed, match="comment|意见"):
        review_kit(rt, "T-SZ-OP", 2027, principal=principal_of(rt, "E100"), approve=False, step="plan", comment="")
    with pytest.raises(ActionFailed, match="E101"):
        review_kit(rt, "T-SZ-OP", 2027, principal=principal_of(rt, "E101"), approve=False, step="plan", comment="预算过高")
    with pytest.raises(ActionFailed, match="step|步骤"):
        review_kit(rt, "T-SZ-OP", 2027, principal=principal_of(rt, "E100"), approve=False, step="everything", comment="x")
    res = review_kit(rt, "T-SZ-OP", 2027, principal=principal_of(rt, "E100"), approve=False, step="plan", comment="预算过高")
    assert res.to_state == "objectives_submitted"
    assert mails(db, "kit_sent_back")
    cheaper = full_kit(tmp_path, "cheaper.xlsx", plan=[{**PLAN[0], "budget": 10000}])
    assert submit_kit(rt, "T-SZ-OP", cheaper, principal=principal_of(rt, "E101")).sections == ["plan"]
    with rt.db.session() as session:
        assert budget_rollup(session, 2027)["total"] == 10000  # the first plan is superseded, not deleted
    assert count(db, "planning_activity") == 3
    res = review_kit(rt, "T-SZ-OP", 2027, principal=principal_of(rt, "E100"), approve=False, step="assessment", comment="重新评估")
    assert res.to_state == "issued"
    submit_kit(rt, "T-SZ-OP", full_kit(tmp_path, "all.xlsx"), principal=principal_of(rt, "E101"))
    assert review_kit(rt, "T-SZ-OP", 2027, principal=principal_of(rt, "E100"), approve=True).to_state == "done"
    with pytest.raises(MCRError, match="半年度|half-year"):
        submit_kit(rt, "T-SZ-OP", full_kit(tmp_path, "late.xlsx"), principal=principal_of(rt, "E101"))


def test_sales_management_may_approve_for_an_absent_supervisor(rt: Any, tmp_path: Path) -> None:
    issue_kit(rt, "T-SZ-FI", 2027)
    wb = workbook_from_rows(tmp_path / "fi.xlsx", team="T-SZ-FI", year=2027,
                            assessments=[{"customer_code": "C003", "contact_code": "K004", "acceptance": 1,
                                          "acceptance_evidence": "x"}],
                            objectives=[{"customer_code": "C003", "relationship_target": "行长支持"}],
                            plan=[{"customer_code": "C003", "activity_type": "高层拜访", "title": "拜访",
                                   "project_code": "P004", "planned_date": "2027-08-30", "budget": 5000}])
    submit_kit(rt, "T-SZ-FI", wb, principal=principal_of(rt, "E201"))
    assert review_kit(rt, "T-SZ-FI", 2027, principal=principal_of(rt, "E002"), approve=True).to_state == "done"


def test_reminders_then_overdue_to_supervisor_then_sales_management(rt: Any, db: Database, clock: FakeClock) -> None:
    issue_kit(rt, "T-SZ-OP", 2027)

    def at(y: int, m: int, d: int, h: int) -> None:
        clock.set(datetime(y, m, d, h, 0, tzinfo=SH))
        rt.sweep()

    at(2027, 3, 17, 8)
    assert mails(db, "kit_reminder") == []
    at(2027, 3, 17, 9)
    at(2027, 3, 24, 9)
    at(2027, 3, 30, 9)
    assert len(mails(db, "kit_reminder")) == 9  # 3 reminders × 3 team members, once each
    at(2027, 3, 31, 17)
    assert mails(db, "kit_overdue") == []
    at(2027, 3, 31, 18)
    assert mails(db, "kit_overdue") == [("kit_overdue", "e100@example.com")]
    assert kit_status(rt, 2027)["total"]["overdue"] == 1
    at(2027, 4, 7, 18)
    assert mails(db, "kit_escalated") == [("kit_escalated", "e002@example.com")]
    at(2027, 5, 1, 9)
    assert len(mails(db, "kit_reminder")) == 9 and len(mails(db, "kit_overdue")) == 1


def test_a_kit_sent_back_after_the_deadline_does_not_repeat_reminders(rt: Any, db: Database, clock: FakeClock,
                                                                     tmp_path: Path) -> None:
    issue_kit(rt, "T-SZ-OP", 2027)
    clock.set(datetime(2027, 4, 1, 10, 0, tzinfo=SH))
    rt.sweep()
    submit_kit(rt, "T-SZ-OP", full_kit(tmp_path), principal=principal_of(rt, "E101"))
    review_kit(rt, "T-SZ-OP", 2027, principal=principal_of(rt, "E100"), approve=False, step="assessment", comment="重做")
    fired = rt.sweep()
    assert fired == 0  # reminders and the overdue notice already went out: not armed again
    assert len(mails(db, "kit_overdue")) == 1 and len(mails(db, "kit_reminder")) == 9


def test_the_recurring_launch_on_1_december_issues_next_years_kits(db: Database, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path))
    clock = FakeClock(datetime(2026, 11, 30, 9, 0, tzinfo=SH))
    runtime = planning_runtime(db, clock)
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
    outcomes = {o.launch: o for o in run_due_launches(runtime)}
    assert outcomes["planning_kit:yearly"].status == "done" and outcomes["planning_kit:yearly"].started == 2
    assert run_due_launches(runtime) == []
    assert {i["team"] for i in kit_status(runtime, 2027)["teams"]} == {"T-SZ-OP", "T-SZ-FI"}


def test_status_and_budget_roll_up_per_region_office_and_team(rt: Any, tmp_path: Path) -> None:
    launch_kits_direct(rt, 2027)
    submit_kit(rt, "T-SZ-OP", full_kit(tmp_path), principal=principal_of(rt, "E101"))
    review_kit(rt, "T-SZ-OP", 2027, principal=principal_of(rt, "E100"), approve=True)
    st = kit_status(rt, 2027)
    assert st["total"] == {"kits": 2, "done": 1, "in_review": 0, "in_progress": 1, "overdue": 0,
                           "completion_pct": 50.0}
    assert st["regions"]["R-S"]["kits"] == 2 and st["offices"]["O-SZ"]["done"] == 1
    with rt.db.session() as session:
        roll = budget_rollup(session, 2027)
    assert roll["total"] == 42000 and roll["regions"] == {"R-S": 42000} and roll["offices"] == {"O-SZ": 42000}
    assert [(t["team"], t["activities"], t["budget"]) for t in roll["teams"]] == [("T-SZ-OP", 2, 42000)]
    assert json.dumps(st)  # JSON-able for `mcr planning status --json`
