"""Who may do what in planning and care, enforced in the service and the flow step for every caller:
each refusal is a precise error, a `flow_refusal` or audit row, and nothing changed (SQLite and
PostgreSQL).

The sample organisation (flows/planning/sample.py): E002 sales management; E020 office head above
the team heads E100 (T-SZ-OP: E101, E102) and E200 (T-SZ-FI: E201). K001 belongs to E101 (backup
E102) and is sponsored by E010.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from engine.db import Database
from engine.errors import ActionNotPermitted, NotPermitted
from engine.masterdata import audit
from flows.planning.care import log_visit
from flows.planning.handover import employee_moved
from flows.planning.kit import issue_kit, kit_instance, review_kit, submit_kit
from tests.integration.test_planning_kit import full_kit, rt  # noqa: F401
from tests.support.principals import principal_of


def refusals(db: Database) -> list[tuple]:
    with db.read() as tx:
        return [tuple(r) for r in tx.all("SELECT instance_id, actor, event, code FROM flow_refusal ORDER BY id")]


def count(db: Database, table: str) -> int:
    with db.read() as tx:
        return int(tx.one(f"SELECT COUNT(*) FROM {table}")[0])


def test_a_kit_submitted_by_another_team_is_refused_logged_and_nothing_recorded(rt: Any, db: Database,
                                                                                tmp_path: Path) -> None:
    kit = issue_kit(rt, "T-SZ-OP", 2027)
    with pytest.raises(ActionNotPermitted, match="E201"):
        submit_kit(rt, "T-SZ-OP", full_kit(tmp_path), principal=principal_of(rt, "E201"))  # T-SZ-FI
    assert kit_instance(rt, "T-SZ-OP", 2027).state == "issued"
    assert count(db, "planning_submission") == 0
    assert refusals(db)[-1] == (kit.instance_id, "E201", "submit_assessment", "not_permitted")
    # the office head above the team may submit for it
    assert submit_kit(rt, "T-SZ-OP", full_kit(tmp_path, "b.xlsx"), principal=principal_of(rt, "E020")).state == \
        "supervisor_review"


def test_a_kit_is_reviewed_only_by_the_teams_supervisor_chain_or_sales_management(rt: Any, db: Database,
                                                                                   tmp_path: Path) -> None:
    kit = issue_kit(rt, "T-SZ-OP", 2027)
    submit_kit(rt, "T-SZ-OP", full_kit(tmp_path), principal=principal_of(rt, "E101"))
    for emp in ("E102", "E200"):  # a team member; the head of another team
        with pytest.raises(ActionNotPermitted, match=emp):
            review_kit(rt, "T-SZ-OP", 2027, principal=principal_of(rt, emp), approve=True)
        assert refusals(db)[-1] == (kit.instance_id, emp, "approve", "not_permitted")
    assert kit_instance(rt, "T-SZ-OP", 2027).state == "supervisor_review"
    assert review_kit(rt, "T-SZ-OP", 2027, principal=principal_of(rt, "E020"), approve=True).to_state == "done"


def test_a_visit_is_logged_only_by_the_contacts_people_or_their_chain(rt: Any, db: Database) -> None:
    with pytest.raises(NotPermitted, match="K001"):
        log_visit(db, rt.clock, "K001", principal=principal_of(rt, "E201"), on=date(2026, 11, 30))  # a stranger
    with pytest.raises(NotPermitted):  # the backup owner may not log a visit in the name of someone else
        log_visit(db, rt.clock, "K001", principal=principal_of(rt, "E102"), by="E201", on=date(2026, 11, 30))
    assert count(db, "care_visit") == 0
    with db.session() as s:
        refused = [(e.actor, e.entity_key, e.allowed) for e in audit.entries(s, action="visit_log")]
    assert refused == [("E201", "K001", False), ("E102", "K001", False)]
    for emp, kind in (("E101", "visit"), ("E102", "visit"), ("E010", "sponsor_meeting"), ("E100", "visit")):
        log_visit(db, rt.clock, "K001", principal=principal_of(rt, emp), on=date(2026, 11, 30), kind=kind)
    # (another day: the same visitor, contact and day is one visit, flows/planning/care.py)
    log_visit(db, rt.clock, "K001", principal=principal_of(rt, "E100"), by="E101", on=date(2026, 11, 29))
    with db.read() as tx:
        assert [tuple(r) for r in tx.all("SELECT emp_no, actor FROM care_visit ORDER BY id")][-1] == ("E101", "E100")


def test_a_handover_of_someone_elses_people_is_refused_and_audited(rt: Any, db: Database) -> None:
    with pytest.raises(NotPermitted, match="E101"):
        employee_moved(rt, "E101", reason="leave", principal=principal_of(rt, "E200"))  # head of another team
    assert count(db, "flow_instance") == 0
    with db.session() as s:
        [refused] = [e for e in audit.entries(s, action="owner_change") if not e.allowed]
    assert (refused.actor, refused.entity_key) == ("E200", "E101")
