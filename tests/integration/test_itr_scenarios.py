"""Every ITR scenario (tests/scenarios/itr/) replayed on PostgreSQL as well as SQLite: the replay uses
the `db` fixture's fresh database instead of its own temporary SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.db import Database
from engine.replay import run_scenario
from tests.conftest import ROOT

SCENARIOS = sorted((ROOT / "tests" / "scenarios" / "itr").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_itr_scenario_meets_its_expectations_on_every_backend(path: Path, db: Database) -> None:
    outcome = run_scenario(path, database_url=db.url)
    assert outcome["expectations"]["checked"]
    assert outcome["expectations"]["failures"] == []
