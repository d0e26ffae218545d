"""A flow marked `started_by: service` (an ITR issue) is opened only through its service: a bare
start is refused, logged, and leaves nothing behind; intake still opens issues."""

from __future__ import annotations

import pytest

from engine.app import build_runtime
from engine.clock import FakeClock
from engine.db import Database
from engine.errors import StartedByServiceOnly


def test_a_bare_start_of_an_itr_issue_is_refused_and_logged_with_nothing_started(db: Database,
                                                                                   clock: FakeClock) -> None:
    rt = build_runtime(db, clock=clock, migrate=False)
    with pytest.raises(StartedByServiceOnly, match="itr_issue"):
        rt.start("itr_issue", {"title": "x"}, actor="operator root")
    with db.read() as tx:
        assert tx.one("SELECT COUNT(*) FROM flow_instance WHERE flow = 'itr_issue'")[0] == 0
        assert tx.one("SELECT COUNT(*) FROM flow_refusal WHERE event = 'start'")[0] == 1
    # The engine's own callers (a launch, another family's step) may still start it deliberately.
    assert rt.definitions.get("itr_issue").started_by == "service"
    assert rt.definitions.get("planning_kit").started_by == "anyone"
