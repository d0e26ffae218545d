"""`mcr simulate`: a short synthetic stretch of the company year (engine/simulate.py), through every
family's services, on SQLite and PostgreSQL; the same seed gives the same year; the command's output
and its one-line errors."""

from __future__ import annotations

import json
from datetime import date

import pytest

from engine.db import Database
from engine.errors import MCRError
from engine.simulate import run_simulation
from tests.integration.test_cli import mcr

# 20 Nov → 5 Dec: working days and a weekend, the 1 Dec planning launch (kits, profiles) and the
# teams filling their kits, the Monday reviews, the daily care scan, project closes and callbacks.
START = date(2026, 11, 20)
DAYS = 16
CUSTOMERS = 30
FAMILIES = ("itr", "planning", "profiles", "survey")


def _outcome(out: dict) -> dict:
    """What a run did, without its timings."""
    return {"months": out["months"], "total": out["total"], "states": out["instances_by_state"],
            "families": out["events_by_family"]}


def test_a_short_simulation_acts_in_every_family(db: Database) -> None:
    out = run_simulation(days=DAYS, customers=CUSTOMERS, seed=1, start=START, database=db.url, hot_path_events=0)
    for family in FAMILIES:
        assert out["events_by_family"].get(family, 0) > 0, (family, out["events_by_family"])
    total = out["total"]
    assert total["actions"]["itr"] > 20 and total["actions"]["planning"] > 5, total["actions"]
    assert total["refused"] == {}, total["refused"]  # the simulated users act as the rules allow
    assert total["mails_delivered"] == total["mails_queued"] > 0
    assert total["launches"] > DAYS  # the daily scans at least
    assert [m["period"] for m in out["months"]] == ["2026-11", "2026-12"]
    assert sum(m["total_events"] for m in out["months"]) == total["total_events"]
    # the 1 Dec launch issued kits and the teams took them through their sections
    kits = out["instances_by_state"]["planning_kit"]
    assert set(kits) - {"issued", "preparing"}, kits
    issues = out["instances_by_state"]["itr_issue"]
    assert issues.get("closed", 0) > 0, issues
    with db.read() as tx:  # the outcome is what the database holds
        events = tx.one("SELECT COUNT(*) FROM flow_history")[0] + tx.one("SELECT COUNT(*) FROM flow_instance")[0]
        pending = tx.one("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'")[0]
    assert events == total["total_events"]
    assert pending == 0


def test_the_same_seed_gives_the_same_year_and_another_seed_another() -> None:
    # The first run also measures the engine's hot path E beside the simulation (not part of the outcome).
    first = run_simulation(days=10, customers=20, seed=7, start=START, hot_path_events=100)
    again = run_simulation(days=10, customers=20, seed=7, start=START, hot_path_events=0)
    other = run_simulation(days=10, customers=20, seed=8, start=START, hot_path_events=0)
    assert _outcome(first) == _outcome(again)
    assert _outcome(first) != _outcome(other)
    hot = first["engine_hot_path"]
    assert hot["rounds"] == 3 and hot["events_per_round"] == 100  # before, half-way and after the simulation
    assert hot["range"][0] <= hot["events_per_s"] <= hot["range"][1]
    assert hot["ratio"] == pytest.approx(first["events_per_s"] / hot["events_per_s"], rel=0.01)
    assert again["engine_hot_path"] is None


@pytest.mark.parametrize("kwargs", [{"days": 0}, {"customers": 0}, {"hot_path_events": -1}])
def test_a_non_positive_size_is_refused_before_anything_is_built(kwargs: dict) -> None:
    args = {"days": 1, "customers": 1, "seed": 1, "start": START, "hot_path_events": 0, **kwargs}
    with pytest.raises(MCRError, match="--"):
        run_simulation(**args)


def test_cli_prints_months_flows_and_rates_and_keeps_the_database(tmp_path) -> None:
    target = tmp_path / "demo.db"
    res = mcr("simulate", "--days", "2", "--customers", "5", "--start", "2026-11-30", "--database", str(target),
              "--hot-path-events", "0", env={"MCR_LOCALE": "en"})
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "2026-11" in out and "2026-12" in out and "Total" in out
    assert "Event rate:" in out and "Engine hot path not measured" in out  # E itself: the test above
    assert f"MCR_DATABASE_URL=sqlite:///{target}" in out
    assert "simulated 2026-11" in res.stderr  # progress, month by month
    listed = mcr("instances", "list", "--json", "--limit", "500", env={"MCR_DATABASE_URL": f"sqlite:///{target}"})
    assert listed.returncode == 0, listed.stderr
    assert {"itr_issue", "planning_kit"} <= {i["flow"] for i in json.loads(listed.stdout)}


def test_cli_bad_argument_is_one_line_and_exit_1() -> None:
    res = mcr("simulate", "--customers", "0")
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "--customers" in res.stderr, res.stderr
    bad = mcr("simulate", "--start", "1-Nov", env={"MCR_LOCALE": "en"})
    assert bad.returncode == 1 and bad.stderr.strip() == "error: --start 1-Nov: write it as YYYY-MM-DD, e.g. 2026-11-01"
