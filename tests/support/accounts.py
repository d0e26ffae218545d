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


def add_accounts(db: Database, clock: Any, *emp_nos: str, operator: bool = False) -> None:
    for emp_no in emp_nos:
        accounts.add_account(db, emp_no, PASSWORD, clock=clock, operator=operator)
