"""Shared set-up for the account, web and API tests: the ITR scenarios' organisation and accounts."""

from __future__ import annotations

from typing import Any

import yaml

from engine.auth import accounts
from engine.db import Database
from tests.conftest import ROOT

ORG_FILE = ROOT / "tests" / "scenarios" / "itr" / "data" / "org.yaml"
PASSWORD = "correct horse 9"


def load_org(db: Database, clock: Any) -> None:
    from flows.itr.replay import insert_org

    insert_org(db, yaml.safe_load(ORG_FILE.read_text(encoding="utf-8")), clock)


def itr_runtime(db: Database, clock: Any, *accounts_for: str, extra_flows: tuple[str, ...] = (),
                worker_id: str = "test") -> Any:
    """A runtime with the ITR flows (plus `extra_flows`, folders under the repository), the ITR
    scenarios' organisation, and an account (password PASSWORD) for each of `accounts_for`."""
    from engine.app import load_calendar_registry
    from engine.definition import load_definitions
    from engine.runtime import Runtime

    runtime = Runtime(db, load_definitions(ROOT / "flows" / "itr", *(ROOT / f for f in extra_flows)), clock=clock,
                      calendars=load_calendar_registry(), worker_id=worker_id)
    runtime.register_definitions()
    load_org(db, clock)
    add_accounts(db, clock, *accounts_for)
    return runtime


def add_accounts(db: Database, clock: Any, *emp_nos: str, operator: bool = False) -> None:
    for emp_no in emp_nos:
        accounts.add_account(db, emp_no, PASSWORD, clock=clock, operator=operator)
