"""`mcr bench --suite peers` in small: the shipped ITR life cycle on mcr and on the four peers
(python-statemachine + SQLModel, SpiffWorkflow, transitions + SQLAlchemy Core, raw sqlite3), each on its
own copy of one pre-filled SQLite database at WAL + synchronous=FULL (docs/performance.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bench_peers import MCR, TABLES, run_peers_bench
from engine.bench_peers.machines import PEERS


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_peers_bench(issues=4, repeat=3, workdir=tmp_path_factory.mktemp("peers"))


def test_the_peers_suite_reports_every_system_and_a_ratio_per_peer_in_the_promised_shape(result: dict) -> None:
    assert result["suite"] == "peers" and result["synchronous"] == "FULL"
    assert set(result["systems"]) == {MCR, *PEERS}
    assert set(result["ratios"]) == {f"vs_{p}" for p in PEERS}
    for name, figures in result["systems"].items():
        assert figures["events_per_s"] > 0 and figures["p99_ms"] >= figures["p50_ms"] > 0, name
        low, high = figures["events_per_s_range"]
        assert low <= figures["events_per_s"] <= high, name
    for peer in PEERS:
        expected = result["systems"][MCR]["events_per_s"] / result["systems"][peer]["events_per_s"]
        assert result["ratios"][f"vs_{peer}"] == pytest.approx(expected, rel=0.01), peer


def test_every_peer_processed_the_same_events_and_wrote_the_same_rows_as_mcr(result: dict) -> None:
    """Rows per table counted in each system's database after the run (the counters' total too): the
    peers wrote what mcr wrote, step for step — 3 repetitions x 4 life cycles x 7 events each."""
    assert {f["events"] for f in result["systems"].values()} == {3 * 4 * 7}
    mcr_rows = result["rows"][MCR]
    assert set(mcr_rows) >= set(TABLES)
    assert mcr_rows["timer.pending"] == 0 and mcr_rows["outbox"] > 0 and mcr_rows["itr_escalation"] > 0
    for peer in PEERS:
        assert result["rows"][peer] == mcr_rows, peer
    assert result["same_rows"] is True


def test_mcr_spends_less_cpu_per_event_than_the_library_peers_and_stays_near_transitions(result: dict) -> None:
    """CPU time per event (this process's), the figure that holds run after run on a shared 2-core machine;
    wall-clock ratios at this size move with the neighbours' load and fsyncs, so they are reported, not
    asserted (docs/performance.md gives the measured medians; the issue's 5 x target is not met).
    Measured medians: python-statemachine + SQLModel ~7 x mcr's CPU, SpiffWorkflow ~3 x, transitions +
    Core ~1.4 x; raw sqlite3 — the same rows with no engine — ~0.4 x, and is not asserted."""
    ratios = result["cpu_ratios"]
    assert ratios["vs_statemachine_sqlmodel"] > 2.0, ratios
    assert ratios["vs_spiffworkflow"] > 1.2, ratios
    assert ratios["vs_transitions_core"] > 0.8, ratios
