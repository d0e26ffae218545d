"""A refused escalation (past the quota) is kept as an itr_escalation row by the flow itself, so the
record is the same whichever path sent the event — the ITR service or the engine's `mcr event send`
(Runtime.send) — on a real SQLite file and PostgreSQL."""

from __future__ import annotations

import pytest

from engine.clock import FakeClock
from engine.db import Database
from flows.itr.errors import EscalationQuotaExceeded
from tests.integration.test_itr_service import _rules, make_runtime, to_handling  # noqa: F401 - autouse fixture


def refused_rows(db: Database) -> list[tuple]:
    with db.read() as tx:
        return [tuple(r) for r in tx.all("SELECT issue_id, actor, decision, counted, escalated_before, unit_issues "
                                         "FROM itr_escalation WHERE decision = 'refused' ORDER BY id")]


def test_an_escalation_refused_through_the_engine_is_recorded_like_one_through_the_service(
        db: Database, clock: FakeClock) -> None:
    rt = make_runtime(db, clock)
    issues = [to_handling(rt) for _ in range(5)]
    rt.send(issues[0].id, "escalate", actor=issues[0].handler, payload={"reason": "no_owner"})  # 1 of 5: allowed
    with pytest.raises(EscalationQuotaExceeded):  # 2 of 5 = 40 %: refused
        rt.send(issues[1].id, "escalate", actor=issues[1].handler, payload={"reason": "no_owner"})
    assert refused_rows(db) == [(issues[1].id, issues[1].handler, "refused", False, 1, 5)]
    with db.read() as tx:
        state = tx.one("SELECT state FROM flow_instance WHERE id = :i", {"i": issues[1].id})[0]
        logged = tx.one("SELECT code FROM flow_refusal WHERE instance_id = :i ORDER BY id DESC", {"i": issues[1].id})
    assert state == "handling" and logged[0] == "quota_exceeded"
