"""Benchmarks as ratios against a baseline measured in the same run (see docs/performance.md):
the engine's hot path vs raw sqlite3 writing the same rows, the timer claim among a million
pending timers, and RSS growth over many events."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bench import run_bench


@pytest.mark.slow
def test_hot_path_keeps_at_least_half_of_raw_sqlite_throughput_and_timers_claim_fast(tmp_path: Path) -> None:
    result = run_bench(events=6000, instances=1000, timers=1_000_000, rss_events=20_000, workdir=tmp_path)
    print(result)
    assert result["ratio"] >= 0.5, result
    assert result["claimed"] == 1000 and result["empty_claimed"] == 0
    assert result["claim_ms"] <= 50, result
    assert result["rss_growth_mb"] < 50, result


@pytest.mark.slow
def test_the_flows_suite_drives_every_shipped_flow_through_its_services_and_reports_ratios(tmp_path: Path) -> None:
    """A small run of `mcr bench --suite flows`: every flow's life cycle completes at both sizes and the
    JSON has the promised shape (the targets themselves are checked at full size, docs/performance.md)."""
    from engine.bench_flows import FLOWS, run_flows_bench

    result = run_flows_bench(sizes=(200, 2000), per_flow={"itr_issue": 2, "planning_kit": 1, "project_callback": 2},
                             repeat=1, engine_events=300, workdir=tmp_path)
    assert result["suite"] == "flows" and result["engine_events_per_s"] > 0
    assert set(result["flows"]) == set(FLOWS)
    for flow, figures in result["flows"].items():
        assert set(figures["ms_per_event"]) == {"200", "2000"}, flow
        assert figures["ratio_vs_engine"] == pytest.approx(figures["events_per_s"] / result["engine_events_per_s"],
                                                           rel=0.01, abs=0.002), flow
        assert figures["growth"] > 0, flow
