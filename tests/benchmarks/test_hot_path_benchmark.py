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
