"""The 10-day same-contact rule spans flows: a satisfaction-survey callback that reached a contact
counts for the ITR callback policy (engine/contacts.py asks every family's callback source)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert

from engine.clock import FakeClock, to_us
from engine.db import Database
from engine.definition import load_definitions
from engine.runtime import Runtime
from flows.itr.actions import _last_callback, _last_reached
from flows.survey.models import SurveyCallback
from tests.conftest import TEST_FLOWS


def _instance(db: Database, clock: FakeClock) -> int:
    rt = Runtime(db, load_definitions(TEST_FLOWS), clock=clock)
    rt.register_definitions()
    return rt.start("ticket", {}, actor="t").instance_id


def test_a_survey_callback_counts_for_the_itr_callback_gap(db: Database,
                                                                                     clock: FakeClock) -> None:
    iid = _instance(db, clock)
    day0 = clock.now()
    with db.tx() as tx:
        tx.run(insert(SurveyCallback.__table__).values(
            kind="project", instance_id=iid, project_code="P1", customer_code="C1", contact_code="K-1",
            at_us=to_us(day0), actor="E1", reached=True, low_items="[]"))
        tx.run(insert(SurveyCallback.__table__).values(
            kind="project", instance_id=iid, project_code="P2", customer_code="C1", contact_code="K-2",
            at_us=to_us(day0), actor="E1", reached=False, low_items="[]"))
    with db.read() as tx:
        assert _last_reached(tx, "K-1") == day0          # ITR sees the survey's call
        assert _last_reached(tx, "K-2") is None          # an unreached call does not count
        last, _pending = _last_callback(tx, "K-1", exclude_issue=-1, now=day0 + timedelta(days=9))
        assert last == day0
