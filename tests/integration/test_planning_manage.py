"""Sales management's services (flows/planning/progress.py) on SQLite and PostgreSQL: the launch
preview and its refusals, completion per region/office/team with overdue first and only the units a
principal covers, reminders once per click through the outbox, the rhythm rounds and the half-year
revision from the page. The launch through Prefect itself is the one slow test at the end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.db import Database
from engine.errors import ActionFailed, NotPermitted, NotVisible
from flows.planning import progress
from flows.planning.kit import issue_kit, review_kit, submit_kit
from flows.planning.rhythm import start_self_checks, start_team_reviews
from flows.planning.sample import planning_runtime
from flows.planning.workbook import workbook_from_rows
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))
AFTER_DEADLINE = datetime(2027, 4, 2, 10, 0, tzinfo=SH)


@pytest.fixture
def rt(db: Database, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
    return planning_runtime(db, clock)


def complete_kit(rt: Any, tmp_path: Path, team: str = "T-SZ-OP") -> None:
    wb = workbook_from_rows(tmp_path / f"{team}.xlsx", team=team, year=2027,
                            assessments=[{"customer_code": "C001", "contact_code": "K001", "acceptance": 1,
                                          "acceptance_evidence": "参加公司参观"}],
                            objectives=[{"customer_code": "C001", "relationship_target": "CXO 支持"}],
                            plan=[{"customer_code": "C001", "activity_type": "公司参观", "title": "参观",
                                   "project_code": "P001", "planned_date": "2027-08-01", "budget": 20000}])
    submit_kit(rt, team, wb, principal=principal_of(rt, "E101"))
    review_kit(rt, team, 2027, principal=principal_of(rt, "E100"), approve=True)


def outbox(db: Database, template: str) -> list[str]:
    with db.read() as tx:
        return [r[0] for r in tx.all("SELECT recipient FROM outbox WHERE template = :t ORDER BY id", {"t": template})]


# ============================================================================================ launch


def test_the_preview_names_each_team_due_a_kit_with_the_customers_that_earn_it(rt: Any) -> None:
    preview = progress.launch_preview(rt, 2027, principal=principal_of(rt, "E002"))
    assert preview.refusal is None and preview.tiers == ["S", "A"]
    why = {t.code: [(c["code"], c["tier"]) for c in t.customers] for t in preview.teams}
    assert why == {"T-SZ-FI": [("C003", "A")], "T-SZ-OP": [("C001", "S"), ("C002", "A")]}  # T-SZ-EG: B/C only
    assert {t.office_name for t in preview.teams} == {"深圳代表处"} and preview.to_issue == 2


def test_only_sales_management_or_an_operator_may_launch(rt: Any, db: Database) -> None:
    from engine.auth.principal import Principal

    for emp in ("E100", "E020"):
        with pytest.raises(NotPermitted):
            progress.start_launch(rt, 2027, principal=principal_of(rt, emp))
    with pytest.raises(NotPermitted):
        progress.launch_preview(rt, 2027, principal=principal_of(rt, "E101"))
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM planning_launch")[0] == 0
        assert tx.one("SELECT COUNT(*) FROM flow_refusal WHERE event = 'planning_launch'")[0] == 2
    assert progress.launch_preview(rt, 2027, principal=Principal.operator_only("root")).refusal is None


def test_a_year_already_launched_is_refused_with_the_reason(rt: Any, db: Database) -> None:
    issue_kit(rt, "T-SZ-OP", 2027)  # the 1 Dec schedule or the CLI got there first
    sm = principal_of(rt, "E002")
    preview = progress.launch_preview(rt, 2027, principal=sm)
    assert preview.refusal is not None and "已发放" in preview.refusal and "1 份" in preview.refusal
    with pytest.raises(progress.LaunchRefused, match="不能重复发放"):
        progress.start_launch(rt, 2027, principal=sm)
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM planning_launch")[0] == 0
    assert progress.launch_preview(rt, 2028, principal=sm).refusal is None  # another year is free


def test_a_running_or_finished_launch_of_the_year_refuses_another(rt: Any, db: Database) -> None:
    with db.tx() as tx:
        tx.execute("INSERT INTO planning_launch (year, attempt, status, teams, actor, started_us) "
                   "VALUES (2027, 1, 'running', 2, 'E002', 1)")
    with pytest.raises(progress.LaunchRefused, match="正在发放"):
        progress.start_launch(rt, 2027, principal=principal_of(rt, "E002"))
    with db.tx() as tx:
        tx.execute("UPDATE planning_launch SET status = 'done'")
    with pytest.raises(progress.LaunchRefused, match="不能重复发放"):
        progress.start_launch(rt, 2027, principal=principal_of(rt, "E002"))


def test_a_launch_cut_off_by_a_server_stop_does_not_block_the_year(rt: Any, db: Database) -> None:
    import socket
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()
    with db.tx() as tx:
        tx.execute("INSERT INTO planning_launch (year, attempt, status, teams, actor, worker, started_us) "
                   "VALUES (2027, 1, 'running', 2, 'E002', :w, 1)", {"w": f"{socket.gethostname()}:{gone.pid}"})
    preview = progress.launch_preview(rt, 2027, principal=principal_of(rt, "E002"))
    assert preview.refusal is None and [launch.status for launch in preview.launches] == ["failed"]


# ============================================================================================ completion


def test_completion_counts_per_region_office_and_team_with_overdue_first(rt: Any, clock: FakeClock,
                                                                          tmp_path: Path) -> None:
    for team in ("T-SZ-OP", "T-SZ-FI"):
        issue_kit(rt, team, 2027)
    complete_kit(rt, tmp_path)
    clock.set(AFTER_DEADLINE)
    sm = principal_of(rt, "E002")
    top = progress.completion(rt, 2027, principal=sm)
    assert (top.total.kits, top.total.done, top.total.overdue, top.total.completion_pct) == (2, 1, 1, 50.0)
    assert [(u.code, u.kits, u.done, u.overdue) for u in top.units] == [("R-S", 2, 1, 1)]
    assert [(t.team, t.overdue) for t in top.teams] == [("T-SZ-FI", True)]  # only the overdue ones up top
    office = progress.completion(rt, 2027, principal=sm, office="O-SZ")
    assert office.level == "office" and office.region == "R-S"
    assert [(t.team, t.state, t.overdue) for t in office.teams] == [("T-SZ-FI", "issued", True),
                                                                     ("T-SZ-OP", "done", False)]
    assert progress.completion(rt, 2027, principal=sm, region="R-S").units[0].code == "O-SZ"


def test_a_team_head_watches_only_their_team_and_sales_management_all(rt: Any) -> None:
    for team in ("T-SZ-OP", "T-SZ-FI"):
        issue_kit(rt, team, 2027)
    head = progress.completion(rt, 2027, principal=principal_of(rt, "E100"), office="O-SZ")
    assert [t.team for t in head.teams] == ["T-SZ-OP"] and head.total.kits == 1
    office_head = progress.completion(rt, 2027, principal=principal_of(rt, "E020"), office="O-SZ")
    assert [t.team for t in office_head.teams] == ["T-SZ-FI", "T-SZ-OP"]
    eg_head = progress.completion(rt, 2027, principal=principal_of(rt, "E300"))
    assert eg_head.total.kits == 0 and eg_head.units == []


# ============================================================================================ reminders


def test_a_reminder_goes_through_the_outbox_once_per_click(rt: Any, db: Database, clock: FakeClock) -> None:
    for team in ("T-SZ-OP", "T-SZ-FI"):
        issue_kit(rt, team, 2027)
    clock.set(AFTER_DEADLINE)
    sm = principal_of(rt, "E002")
    assert progress.send_reminders(rt, 2027, principal=sm, unit="O-SZ", client_event_id="click-1") == 2
    assert progress.send_reminders(rt, 2027, principal=sm, unit="O-SZ", client_event_id="click-1") == 2
    first = outbox(db, "kit_reminder")
    assert sorted(first) == ["e100@example.com", "e101@example.com", "e102@example.com", "e200@example.com",
                             "e201@example.com"]  # once each, though the form came twice
    assert progress.send_reminders(rt, 2027, principal=sm, team="T-SZ-FI", client_event_id="click-2") == 1
    assert len(outbox(db, "kit_reminder")) == len(first) + 2
    with db.read() as tx:
        subject = tx.one("SELECT subject FROM outbox WHERE template = 'kit_reminder' ORDER BY id DESC")[0]
        actors = {r[0] for r in tx.all("SELECT actor FROM flow_history WHERE event = 'remind'")}
    assert "催办" in subject and "None" not in subject and actors == {"E002"}


def test_an_account_manager_may_not_remind_and_a_head_only_their_team(rt: Any, db: Database, clock: FakeClock) -> None:
    for team in ("T-SZ-OP", "T-SZ-FI"):
        issue_kit(rt, team, 2027)
    clock.set(AFTER_DEADLINE)
    with pytest.raises(NotPermitted):
        progress.send_reminders(rt, 2027, principal=principal_of(rt, "E101"), team="T-SZ-OP")
    with pytest.raises(progress.LaunchRefused):
        progress.send_reminders(rt, 2027, principal=principal_of(rt, "E100"), team="T-SZ-FI")
    assert progress.send_reminders(rt, 2027, principal=principal_of(rt, "E100"), unit="O-SZ") == 1
    assert sorted(outbox(db, "kit_reminder")) == ["e100@example.com", "e101@example.com", "e102@example.com"]


# ============================================================================================ rhythm


def test_the_self_check_round_shows_completion_and_who_still_owes_it(rt: Any, clock: FakeClock) -> None:
    april = datetime(2027, 4, 1, 9, 0, tzinfo=SH)
    clock.set(april)
    started = start_self_checks(rt, april, weekly=False)
    view = progress.rhythm_overview(rt, "self_check", principal=principal_of(rt, "E002"))
    assert view.period == "2027-Q2" and view.total == len(started) and view.done == 0
    owed_by = {o.who for o in view.owed}
    assert {"E101", "E102", "E201", "E301"} <= owed_by
    from flows.planning.common import find_instance

    check = find_instance(rt.db, "self_check", "selfcheck:E101:2027-Q2")
    rt.send(check.id, "submit", actor="E101", principal=principal_of(rt, "E101"), payload={"progress": 40})  # type: ignore[union-attr]
    after = progress.rhythm_overview(rt, "self_check", principal=principal_of(rt, "E002"))
    assert after.done == 1 and "E101" not in {o.who for o in after.owed}
    mine = progress.rhythm_overview(rt, "self_check", principal=principal_of(rt, "E100"))
    assert {o.who for o in mine.owed} <= {"E100", "E101", "E102"} and mine.total < view.total
    with pytest.raises(progress.UnknownRhythm):
        progress.rhythm_overview(rt, "nope", principal=principal_of(rt, "E002"))


def test_the_half_year_revision_goes_through_the_page_service_once(rt: Any, db: Database, clock: FakeClock,
                                                                   tmp_path: Path) -> None:
    issue_kit(rt, "T-SZ-OP", 2027)
    complete_kit(rt, tmp_path)
    july = datetime(2027, 7, 1, 9, 0, tzinfo=SH)
    clock.set(july)
    start_team_reviews(rt, "half_year_review", july)
    view = progress.rhythm_overview(rt, "half_year_review", principal=principal_of(rt, "E002"))
    (target,) = view.revisable
    revised = workbook_from_rows(tmp_path / "rev.xlsx", team="T-SZ-OP", year=2027,
                                 objectives=[{"customer_code": "C001", "relationship_target": "3 名 CXO 支持排他"}],
                                 plan=[{"customer_code": "C001", "activity_type": "高层拜访", "title": "高层拜访",
                                        "project_code": "P001", "planned_date": "2027-09-01", "budget": 35000}])
    with pytest.raises(NotVisible):
        progress.revise_half_year(rt, target["instance_id"], revised, principal=principal_of(rt, "E201"), reason="x")
    out = progress.revise_half_year(rt, target["instance_id"], revised, principal=principal_of(rt, "E100"),
                                    reason="市场变化", client_event_id="form-1")
    again = progress.revise_half_year(rt, target["instance_id"], revised, principal=principal_of(rt, "E100"),
                                      reason="市场变化", client_event_id="form-1")  # the same form posted twice
    assert out["seq"] == again["seq"] == 1 and out["budget_after"] == 35000
    with pytest.raises(ActionFailed, match="只允许修订 1 次"):
        progress.revise_half_year(rt, target["instance_id"], revised, principal=principal_of(rt, "E100"),
                                  reason="再改一次", client_event_id="form-2")
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM planning_revision")[0] == 1


# ============================================================================================ the Prefect launch


@pytest.mark.slow
def test_the_launch_runs_the_prefect_flow_in_the_background_and_records_each_task(
        sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    from prefect.testing.utilities import prefect_test_harness

    rt = planning_runtime(sqlite_db, FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=SH)))
    sm = principal_of(rt, "E002")
    with prefect_test_harness(server_startup_timeout=120):
        launch_id = progress.start_launch(rt, 2027, principal=sm, client_event_id="launch-form", wait=True)
    assert progress.start_launch(rt, 2027, principal=sm, client_event_id="launch-form") == launch_id
    view = progress.launch_view(rt, launch_id, principal=sm)
    assert view.status == "done" and view.counts == {"pending": 0, "running": 0, "completed": 2, "failed": 0}
    assert [(t.team, t.state, t.outcome, t.runs) for t in view.tasks] == [
        ("T-SZ-FI", "completed", "issued", 1), ("T-SZ-OP", "completed", "issued", 1)]
    assert all(t.instance_id for t in view.tasks)
    with pytest.raises(progress.LaunchRefused, match="不能重复发放"):
        progress.start_launch(rt, 2027, principal=sm)
