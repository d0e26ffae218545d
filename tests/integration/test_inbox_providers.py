"""The planning, care and survey providers of the my-work inbox: every flow and state they name
exists in the shipped flows, and an open instance reaches the person its data names, due first."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from engine.app import load_calendar_registry
from engine.clock import FakeClock, to_us
from engine.db import Database
from engine.definition import load_definitions
from engine.inbox import inbox
from engine.runtime import Runtime
from flows.planning.inbox import ASSIGNMENTS as PLANNING
from flows.survey.inbox import ASSIGNMENTS as SURVEY
from tests.conftest import ROOT
from tests.support.accounts import load_org
from tests.support.principals import principal_of


@pytest.fixture(scope="module")
def definitions():  # type: ignore[no-untyped-def]
    return load_definitions(ROOT / "flows")


def test_every_assignment_names_a_shipped_flow_and_its_states(definitions) -> None:  # type: ignore[no-untyped-def]
    for a in PLANNING + SURVEY:
        states = {s.name for s in definitions.get(a.flow).states}
        assert set(a.states) <= states, (a.flow, set(a.states) - states)
        terminal = {s.name for s in definitions.get(a.flow).states if getattr(s, "terminal", False)}
        assert not set(a.states) & terminal, a.flow


def _instance(db: Database, iid: int, flow: str, state: str, data: dict, at_us: int) -> None:
    with db.tx() as tx:
        tx.execute("INSERT INTO flow_instance (id, flow, flow_version, state, version, subject, calendar, locale, data, "
                   "created_us, updated_us) VALUES (:id, :flow, 1, :state, 1, NULL, 'CN', 'zh-CN', :data, :t, :t)",
                   {"id": iid, "flow": flow, "state": state, "data": json.dumps(data), "t": at_us})


def test_open_instances_reach_the_people_their_data_names(db: Database, clock: FakeClock, definitions) -> None:  # type: ignore[no-untyped-def]
    rt = Runtime(db, definitions, clock=clock, calendars=load_calendar_registry(), worker_id="test")
    load_org(db, clock)
    now = clock.now()
    soon, later = (now + timedelta(days=1)).isoformat(), (now + timedelta(days=3)).isoformat()
    t = to_us(now)
    _instance(db, 101, "self_check", "open", {"emp": "SZ-AM1", "emp_name": "李经理", "due_at": later}, t)
    _instance(db, 102, "handover", "awaiting_introduction", {"from_owner": "SZ-AM1", "contact_name": "张总",
                                                               "to_name": "陈经理"}, t)
    _instance(db, 103, "project_callback", "pending", {"owner": "SZ-AM1", "project_name": "核心网扩容",
                                                        "due_at": soon}, t)
    _instance(db, 104, "self_check", "done", {"emp": "SZ-AM1", "due_at": soon}, t)           # ended: not shown
    _instance(db, 105, "card_review", "awaiting_supervisor", {"emp": "SZ-AM1", "supervisor": "SZ-SUP",
                                                                "emp_name": "李经理"}, t)
    _instance(db, 106, "planning_kit", "issued", {"team": "T-SZ1", "team_name": "深圳系统部一", "year": 2027,
                                                    "deadline_at": later}, t)
    box = inbox(rt, principal=principal_of(rt, "SZ-AM1"), now=now)
    assert [(i.kind, i.instance_id) for i in box.items] == [
        ("callback", 103), ("kit", 106), ("self_check", 101), ("handover", 102)]
    assert box.items[0].link == "/instances/103" and "核心网扩容" in box.items[0].title
    assert [(i.kind, i.instance_id) for i in inbox(rt, principal=principal_of(rt, "SZ-SUP"), now=now).items] == [
        ("card_review", 105)]
    assert inbox(rt, principal=principal_of(rt, "SZ-AM2"), now=now).items == []
    item = {"key": "birthday:K-BIG1:2026", "kind": "birthday", "contact": "K-BIG1", "contact_name": "张总",
            "customer_name": "鹏城电信", "day": "2026-11-27"}
    _instance(db, 107, "care_digest", "sent", {"emp": "SZ-AM1", "items": [item]}, t)
    with db.tx() as tx:
        tx.execute("INSERT INTO care_reminder (item_key, recipient_emp_no, kind, digest_day, digest_instance_id, at_us) "
                   "VALUES ('birthday:K-BIG1:2026', 'SZ-AM1', 'birthday', :d, 107, :t)", {"d": now.date(), "t": t})
    care = [i for i in inbox(rt, principal=principal_of(rt, "SZ-AM1")).items if i.kind == "care"]
    assert [(i.title, i.link, i.detail) for i in care] == [("生日问候 · 鹏城电信 张总", "/contacts/K-BIG1", "2026-11-27")]
