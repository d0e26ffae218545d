"""The survey family's two recurring launches (flows/survey/survey_batches.yaml) against real databases
(SQLite file and PostgreSQL), run the way the engine's rescan runs them (`run_due_launches`, DirectRunner):
the daily sweep decides closed projects that never got the project-closed event, once; the yearly
request opens the year's survey and asks each team in scope once. The same launches as `mcr-launch`
Prefect flow runs: tests/integration/test_planning_prefect.py (its shared harness)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from engine.app import build_runtime
from engine.clock import FakeClock
from engine.db import Database
from engine.definition import load_definitions
from engine.launches import run_due_launches
from engine.runtime import Runtime
from flows.survey import batches, service
from flows.survey.fixtures import insert_org, standard_org

from tests.conftest import ROOT
from tests.integration.test_survey_annual import C1_GOOD, rows
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))
SWEEP = "survey_batches:closed_project_sweep"
REQUEST = "survey_batches:annual_request"


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    runtime = build_runtime(db, clock=clock, migrate=False)
    insert_org(db, standard_org())
    return runtime


def close_in_master_data(db: Database, *codes: str) -> None:
    """What an import does: the project is closed, no project-closed event is sent."""
    with db.tx() as tx:
        for code in codes:
            tx.execute("UPDATE project SET closed = :t WHERE code = :c", {"t": True, "c": code})


def draws(db: Database) -> dict[str, tuple[int, str]]:
    with db.read() as tx:
        return {r[0]: (int(r[1]), r[2]) for r in tx.all(
            "SELECT project_code, at_us, actor FROM survey_project_draw ORDER BY project_code")}


def test_the_daily_sweep_decides_projects_closed_without_the_event_once(rt: Runtime, db: Database,
                                                                         clock: FakeClock) -> None:
    close_in_master_data(db, "P-OF30")  # closed before the sweep ever ran: history, never called back
    clock.set(datetime(2026, 11, 27, 6, 30, 5, tzinfo=SH))  # the first sweep, rules/survey.yaml: day 06:30
    assert [(o.status, o.started) for o in run_due_launches(rt, only={SWEEP})] == [("done", 0)]
    assert service.project_closed(rt, "P-OF30").reason == "history"

    by_event = service.project_closed(rt, "P-REG")  # the event's own path decided this one already
    close_in_master_data(db, "P-REG", "P-CO", "P-OF01", "P-OF02", "P-OF03")
    before = draws(db)
    clock.set(datetime(2026, 11, 28, 6, 30, 5, tzinfo=SH))  # the next sweep

    outcomes = run_due_launches(rt, only={SWEEP})

    assert [(o.launch, o.period_key, o.status, o.started) for o in outcomes] == [
        (SWEEP, "2026-11-28T06:30", "done", 4)]
    after = draws(db)
    assert sorted(after) == ["P-CO", "P-OF01", "P-OF02", "P-OF03", "P-OF30", "P-REG"]
    assert after["P-REG"] == before["P-REG"]  # not decided again
    assert service.project_closed(rt, "P-REG").instance == by_event.instance
    with db.read() as tx:  # each drawn project has its one callback; the company-level one is always drawn
        subjects = [r[0] for r in tx.all("SELECT subject FROM flow_instance WHERE flow = 'project_callback'")]
        drawn = [r[0] for r in tx.all("SELECT project_code FROM survey_project_draw WHERE selected = :t", {"t": True})]
    assert sorted(subjects) == sorted(f"project:{p}" for p in drawn) and "P-CO" in drawn
    # The same occurrence again does nothing; the next day has nothing left to decide.
    assert run_due_launches(rt, only={SWEEP}) == []
    # A project the event decides after the sweep listed it: the sweep's item finds that decision.
    close_in_master_data(db, "P-OF04")
    assert service.undecided_closed_projects(rt) == ["P-OF04"]
    first = service.project_closed(rt, "P-OF04")
    again = service.project_closed(rt, "P-OF04")
    assert again.duplicate and (again.selected, again.draw) == (first.selected, first.draw)
    after = draws(db)
    clock.set(datetime(2026, 11, 29, 6, 30, 5, tzinfo=SH))
    assert [(o.status, o.started) for o in run_due_launches(rt, only={SWEEP})] == [("done", 0)]
    assert draws(db) == after


def requests(db: Database) -> list[tuple[str, str]]:
    with db.read() as tx:
        return [tuple(r) for r in tx.all("SELECT recipient, locale FROM outbox WHERE template = 'sample_list_request' "
                                         "ORDER BY recipient")]


def test_the_yearly_launch_asks_each_team_in_scope_once_and_leaves_a_started_team_alone(
        rt: Runtime, db: Database, clock: FakeClock) -> None:
    clock.set(datetime(2027, 8, 20, 10, 0, tzinfo=SH))
    # Team T1 started the 2027 survey itself (C1's list); team T2 (C2) has not.
    service.submit_sample_list(rt, "C1", 2027, principal=principal_of(rt, "E6"), rows=rows("C1", C1_GOOD))
    clock.set(datetime(2027, 9, 1, 9, 0, 5, tzinfo=SH))  # rules/survey.yaml annual.launch: 1 Sep 09:00

    outcomes = run_due_launches(rt, only={REQUEST})

    assert [(o.launch, o.period_key, o.status, o.started) for o in outcomes] == [(REQUEST, "2027-09-01T09:00", "done", 1)]
    assert requests(db) == [("e9@corp.example", "en")]  # C2's owner; nobody of T1
    with db.read() as tx:
        rows_ = tx.all("SELECT id, data FROM flow_instance WHERE flow = 'annual_survey'")
    assert len(rows_) == 1  # the year's one instance, the one the first list opened
    assert '"T2"' in rows_[0][1] and '"T1"' not in rows_[0][1]
    # A second run of the period does nothing; asking T2 again (a retried item) is a no-op too.
    assert run_due_launches(rt, only={REQUEST}) == []
    assert batches.request_team(rt, rows_[0][0], 2027, "T2") == "already"
    assert batches.request_team(rt, rows_[0][0], 2027, "T1") == "started"
    assert requests(db) == [("e9@corp.example", "en")]


def test_the_yearly_launch_opens_the_year_with_its_reminders_when_no_team_started(
        rt: Runtime, db: Database, clock: FakeClock) -> None:
    clock.set(datetime(2027, 9, 1, 9, 0, 5, tzinfo=SH))
    outcomes = run_due_launches(rt, only={REQUEST})
    assert [(o.status, o.started) for o in outcomes] == [("done", 2)]
    assert requests(db) == [("e6@corp.example", "zh-CN"), ("e9@corp.example", "en")]
    with db.read() as tx:
        inst = tx.all("SELECT id, subject, state, flow_version FROM flow_instance WHERE flow = 'annual_survey'")
        timers = tx.all("SELECT name FROM timer WHERE instance_id = :i AND status = 'pending'", {"i": inst[0][0]})
    assert [tuple(r[1:]) for r in inst] == [("annual:2027", "collecting", 4)]
    assert [r[0] for r in timers] == ["remind"]  # the deadline reminders run from the launch on


def test_schedules_come_from_the_rules_and_a_wrong_one_is_refused_clearly() -> None:
    from pydantic import ValidationError

    from flows.survey.rules import AnnualSurveyRules, ProjectCallbackRules

    assert AnnualSurveyRules().launch == "1 Sep 09:00 Asia/Shanghai"
    with pytest.raises(ValidationError, match="runs daily, this launch runs yearly"):
        AnnualSurveyRules(launch="day 09:00 Asia/Shanghai")
    with pytest.raises(ValidationError, match="e.g. day 06:30 Asia/Shanghai"):
        ProjectCallbackRules(sweep="every morning")


def test_the_launch_schedule_is_read_from_the_rules_file() -> None:
    defn: Any = load_definitions(ROOT / "flows" / "survey").get("survey_batches")
    every = {ln.name: (ln.recurrence.kind, ln.recurrence.text) for ln in defn.launches}
    assert every == {"closed_project_sweep": ("daily", "day 06:30 Asia/Shanghai"),
                     "annual_request": ("yearly", "1 Sep 09:00 Asia/Shanghai")}


def test_a_launch_naming_a_missing_rules_value_is_refused_with_its_line(tmp_path: Any) -> None:
    from engine.errors import MCRError

    text = (ROOT / "flows" / "survey" / "survey_batches.yaml").read_text(encoding="utf-8")
    (tmp_path / "survey_batches.yaml").write_text(text.replace("rules.survey.annual.launch", "rules.survey.annual.start"),
                                                  encoding="utf-8")
    with pytest.raises(MCRError, match=r"survey_batches\.yaml:\d+: launch 'annual_request': unknown rules path"):
        load_definitions(tmp_path)
