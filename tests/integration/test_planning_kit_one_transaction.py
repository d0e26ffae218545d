"""One transaction per user action on the kit page (engine/steps.py `one_transaction`), on SQLite
and PostgreSQL: submitting the action plan keeps the typed rows as the draft, records the section and asks
for review in one commit, idempotent by the form's id; a review request the database refuses is undone
alone — the plan stays submitted, as when the two steps were two transactions."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine.clock import FakeClock
from engine.db import Database
from flows.planning import kit_service as ks
from flows.planning.kit import issue_kit
from flows.planning.sample import planning_runtime
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))
OBJ = [{"customer_code": "C001", "relationship_target": "2–3 名 CXO 支持排他", "target_count": "3", "owner": "E101"}]
PLAN = [{"customer_code": "C001", "activity_type": "company_visit", "title": "总部参观", "project_code": "P001",
         "planned_date": "2027-05-10", "budget": "30000", "contacts": "K001", "owner": "E101"}]


@pytest.fixture
def rt(db: Database, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    monkeypatch.setenv("MCR_LOCALE", "zh-CN")
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
    return planning_runtime(db, clock)


def up_to_plan(rt: Any) -> int:
    kit = issue_kit(rt, "T-SZ-OP", 2027).instance_id
    team = principal_of(rt, "E101")
    ks.submit_section(rt, kit, "assessment", principal=team,
                      rows=[{"customer_code": "C001", "contact_code": "K001", "acceptance": "2",
                             "acceptance_evidence": "参观"}])
    ks.submit_section(rt, kit, "objectives", principal=team, rows=OBJ)
    return kit


def one(db: Database, sql: str, params: dict[str, Any] | None = None) -> Any:
    with db.read() as tx:
        return tx.one(sql, params or {})


def test_submitting_the_plan_keeps_the_draft_records_it_and_asks_for_review_in_one_commit(rt: Any,
                                                                                          db: Database) -> None:
    kit = up_to_plan(rt)
    commits: list[str] = []
    if not db.is_pg:  # the statements SQLite runs on this thread's connection
        db._thread_conn().set_trace_callback(lambda s: commits.append(s) if s.startswith("COMMIT") else None)
    try:
        done = ks.submit_section(rt, kit, "plan", principal=principal_of(rt, "E101"), rows=PLAN,
                                 client_event_id="form-7")
    finally:
        if not db.is_pg:
            db._thread_conn().set_trace_callback(None)
    assert (done.state, done.budget) == ("supervisor_review", 30000)
    if not db.is_pg:
        assert len(commits) == 1
    # the form's id marks both steps' history rows (a second click is answered, not applied again)
    assert one(db, "SELECT event FROM flow_history WHERE client_event_id = 'form-7:submit_plan'")[0] == "submit_plan"
    assert one(db, "SELECT event FROM flow_history WHERE client_event_id = 'form-7:request_review'")[0] \
        == "request_review"
    assert one(db, "SELECT COUNT(*) FROM planning_kit_draft WHERE instance_id = :i AND section = 'plan'",
               {"i": kit})[0] == 1
    again = ks.submit_section(rt, kit, "plan", principal=principal_of(rt, "E101"), rows=PLAN, client_event_id="form-7")
    assert again.state == "supervisor_review"
    assert one(db, "SELECT COUNT(*) FROM flow_history WHERE instance_id = :i", {"i": kit})[0] == 6


@contextmanager
def _refuse_review_mail(db: Database) -> Iterator[None]:
    """A database fault on the review mail's outbox row, removed afterwards (on PostgreSQL the schema,
    with its triggers, is shared by the session's later tests)."""
    with db.tx() as tx:
        if db.is_pg:
            tx.execute("CREATE FUNCTION test_refuse_review() RETURNS trigger AS $$ "
                       "BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql")
            tx.execute("CREATE TRIGGER test_refuse_review BEFORE INSERT ON outbox FOR EACH ROW "
                       "WHEN (NEW.template = 'kit_review') EXECUTE FUNCTION test_refuse_review()")
        else:
            tx.execute("CREATE TRIGGER test_refuse_review BEFORE INSERT ON outbox "
                       "WHEN NEW.template = 'kit_review' BEGIN SELECT RAISE(ABORT, 'injected fault'); END")
    try:
        yield
    finally:
        with db.tx() as tx:
            if db.is_pg:
                tx.execute("DROP TRIGGER test_refuse_review ON outbox")
                tx.execute("DROP FUNCTION test_refuse_review()")
            else:
                tx.execute("DROP TRIGGER test_refuse_review")


def test_a_review_request_the_database_refuses_is_undone_alone_and_the_plan_stays_submitted(rt: Any,
                                                                                           db: Database) -> None:
    kit = up_to_plan(rt)
    with _refuse_review_mail(db), pytest.raises(Exception, match="injected fault"):
        ks.submit_section(rt, kit, "plan", principal=principal_of(rt, "E101"), rows=PLAN)
    assert one(db, "SELECT state FROM flow_instance WHERE id = :i", {"i": kit})[0] == "plan_submitted"
    assert one(db, "SELECT COUNT(*) FROM planning_activity WHERE superseded_by IS NULL")[0] == 1
    assert one(db, "SELECT COUNT(*) FROM flow_history WHERE instance_id = :i AND event = 'request_review'",
               {"i": kit})[0] == 0
    assert one(db, "SELECT COUNT(*) FROM outbox WHERE template = 'kit_review'")[0] == 0
    assert one(db, "SELECT COUNT(*) FROM planning_kit_draft WHERE instance_id = :i AND section = 'plan'",
               {"i": kit})[0] == 1
