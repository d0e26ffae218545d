"""`mcr bench --suite peers` in small: the shipped ITR life cycle on mcr and on the four peers
(python-statemachine + SQLModel, SpiffWorkflow, transitions + SQLAlchemy Core, raw sqlite3), each on its
own copy of one pre-filled SQLite database at WAL + synchronous=FULL (docs/performance.md); once from
one client, once from four client threads per system at once (`--clients 4`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bench_peers import MCR, MCR_NO_GROUP_COMMIT, TABLES, run_peers_bench
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


# ---------------------------------------------------------------------------------------------- several clients


CLIENTS, ISSUES, REPEAT = 4, 8, 2


@pytest.fixture(scope="module")
def concurrent(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`mcr bench --suite peers --clients 4` in small: four client threads per system at once."""
    return run_peers_bench(issues=ISSUES, repeat=REPEAT, clients=CLIENTS, workdir=tmp_path_factory.mktemp("peers4"))


def test_with_four_clients_every_system_processes_the_same_events_and_writes_the_same_rows_as_mcr(
        concurrent: dict) -> None:
    """Four threads each on their own issues, every system: mcr with and without group commit and the
    four peers applied every event (2 repetitions x 8 life cycles x 7) and left the same rows."""
    assert concurrent["clients"] == CLIENTS
    assert set(concurrent["systems"]) == {MCR, MCR_NO_GROUP_COMMIT, *PEERS}
    assert {f["events"] for f in concurrent["systems"].values()} == {REPEAT * ISSUES * 7}
    mcr_rows = concurrent["rows"][MCR]
    assert mcr_rows["timer.pending"] == 0 and mcr_rows["itr_escalation"] > 0 and mcr_rows["itr_callback"] > 0
    for name in (MCR_NO_GROUP_COMMIT, *PEERS):
        assert concurrent["rows"][name] == mcr_rows, name
    assert concurrent["same_rows"] is True


def test_with_four_clients_the_report_has_ratios_with_and_without_group_commit_per_peer(concurrent: dict) -> None:
    systems = concurrent["systems"]
    for key, side in (("ratios", MCR), ("ratios_no_group_commit", MCR_NO_GROUP_COMMIT)):
        assert set(concurrent[key]) == {f"vs_{p}" for p in PEERS}, key
        for peer in PEERS:
            expected = systems[side]["events_per_s"] / systems[peer]["events_per_s"]
            assert concurrent[key][f"vs_{peer}"] == pytest.approx(expected, rel=0.01), (key, peer)
    for name, figures in systems.items():
        assert figures["events_per_s"] > 0 and figures["p99_ms"] >= figures["p50_ms"] > 0, name


def test_with_four_clients_mcr_steps_really_share_commits(concurrent: dict) -> None:
    """Every measured mcr event went through the group committer (as under `mcr serve` on SQLite), and
    groups held more than one step on average: the comparison is with grouping really at work."""
    grouped = concurrent["group_commit"]
    assert grouped["on"] is True
    assert grouped["members"] == REPEAT * ISSUES * 7, grouped
    assert grouped["groups"] < grouped["members"] and grouped["mean_group_size"] > 1, grouped
