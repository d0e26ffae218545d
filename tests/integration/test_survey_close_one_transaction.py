"""Closing a project is one transaction (SQLite file and PostgreSQL): the sampling decision, the period's
counts, the callback's instance and its first `schedule` step commit together or not at all, so a
fault between the decision and the start leaves no decision without its callback."""

from __future__ import annotations

from typing import Any

import pytest

from engine.db import Database
from engine.runtime import Runtime
from flows.survey import service
from tests.integration.test_survey_callbacks import instance, rt, snapshot  # noqa: F401  (rt: fixture)
from tests.support.principals import principal_of


def _refuse_callback_starts(db: Database) -> None:
    """A real fault inside the closing transaction, after the decision is written: the database refuses
    the callback's instance row."""
    with db.tx() as tx:
        if db.is_pg:
            tx.execute("CREATE FUNCTION test_refuse_callback() RETURNS trigger AS $$ "
                       "BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql")
            tx.execute("CREATE TRIGGER test_refuse_callback BEFORE INSERT ON flow_instance FOR EACH ROW "
                       "WHEN (NEW.flow = 'project_callback') EXECUTE FUNCTION test_refuse_callback()")
        else:
            tx.execute("CREATE TRIGGER test_refuse_callback BEFORE INSERT ON flow_instance "
                       "WHEN NEW.flow = 'project_callback' BEGIN SELECT RAISE(ABORT, 'injected fault'); END")


def _allow_callback_starts(db: Database) -> None:
    with db.tx() as tx:
        tx.execute("DROP TRIGGER test_refuse_callback" + (" ON flow_instance" if db.is_pg else ""))
        if db.is_pg:
            tx.execute("DROP FUNCTION test_refuse_callback()")


def _period(db: Database) -> Any:
    with db.read() as tx:
        return tx.all("SELECT period, closed, selected FROM survey_sample_period ORDER BY period")


@pytest.mark.parametrize("project", ["P-REG", "P-OF01"])  # always called back; drawn by the period's quota
def test_a_fault_between_the_decision_and_the_start_leaves_no_decision_behind(rt: Runtime, db: Database,  # noqa: F811
                                                                              project: str) -> None:
    before, counts = snapshot(db), _period(db)
    _refuse_callback_starts(db)
    with pytest.raises(Exception, match="injected fault"):
        service.project_closed(rt, project, principal=principal_of(rt, "E6"))
    _allow_callback_starts(db)
    assert snapshot(db) == before  # no draw, no instance, the project not even marked closed
    assert _period(db) == counts   # the period's closed/selected counts did not move
    d = service.project_closed(rt, project, principal=principal_of(rt, "E6"))
    assert (d.selected, d.duplicate, d.state) == (True, False, "pending")
    with db.read() as tx:
        draw = tx.one("SELECT instance_id FROM survey_project_draw WHERE project_code = :p", {"p": project})
        history = tx.all("SELECT event FROM flow_history WHERE instance_id = :i ORDER BY id", {"i": d.instance})
    assert draw[0] == d.instance == instance(db, f"project:{project}")["id"]
    assert [h[0] for h in history] == ["start", "schedule"]


def test_a_second_close_of_the_same_project_writes_nothing(rt: Runtime, db: Database) -> None:  # noqa: F811
    first = service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    before = snapshot(db)
    again = service.project_closed(rt, "P-REG", principal=principal_of(rt, "E7"))
    assert snapshot(db) == before
    assert (again.duplicate, again.instance, again.state, again.reason) == (True, first.instance, "pending",
                                                                             "big_project")


def test_a_draw_logged_without_its_instance_gets_it_on_the_next_close(rt: Runtime, db: Database) -> None:  # noqa: F811
    """Before the decision and the start were one transaction a crash could leave a selected draw with no
    instance; closing the project again starts and schedules it, once."""
    with db.tx() as tx:
        tx.execute("INSERT INTO survey_project_draw (project_code, customer_code, level, selected, reason, seed, "
                   "rate, draw, at_us, actor) VALUES ('P-REG', 'C1', 'region', :t, 'big_project', 20260101, 0.1, "
                   "0.5, 0, 'E6')", {"t": True})
    d = service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6"))
    assert (d.duplicate, d.selected, d.state) == (True, True, "pending")
    with db.read() as tx:
        assert tx.one("SELECT instance_id FROM survey_project_draw WHERE project_code = 'P-REG'")[0] == d.instance
    assert service.project_closed(rt, "P-REG", principal=principal_of(rt, "E6")).instance == d.instance
