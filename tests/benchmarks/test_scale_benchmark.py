"""`mcr bench --suite scale` at tiny sizes (the figures themselves are taken at full size, see
docs/performance.md): timers are claimed AND fired with their history and mail, the care scan runs
in child processes with its memory reported, demo data is generated — and the JSON has the shape
the documentation quotes. Demo data for 2,000 customers on both backends."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select
from typer.testing import CliRunner

from engine.bench_scale import QUIET_DAY, care_child, demo_child
from engine.cli import app
from engine.clock import FakeClock
from engine.db import Database
from engine.masterdata.demo import generate_demo
from engine.masterdata.models import Customer, MarketingActivity


def test_the_scale_suite_prints_timers_claimed_and_fired_with_history_and_mail(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--suite", "scale", "--parts", "timers", "--timers", "3000",
                                      "--repeat", "2", "--workdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    timers = json.loads(result.output)["timers"]
    assert timers["due"] == 1000 and timers["fired"] == [1000, 1000] and timers["mails"] == [1000, 1000]
    assert timers["pending_after"] == 3000 + 2 * 1000  # the far ones untouched, each fired instance re-armed
    assert timers["total_ms"]["median"] >= timers["fire_ms"]["median"] > timers["claim_ms"]["median"] > 0
    assert timers["total_ms"]["runs"] == 2 and len(timers["total_ms"]["range"]) == 2


def test_the_care_part_seeds_in_bulk_scans_and_reports_time_and_memory(tmp_path: Path) -> None:
    """What each child process of the care part does, here in-process at 300 contacts."""
    url = f"sqlite:///{tmp_path / 'care.db'}"
    first = care_child(url, 300, chunk=40)
    assert first["seed"]["contacts"] == 300 and first["items"] == first["reminders"] > 0
    assert first["mails"] == first["people"] > 0
    assert first["peak_rss_mb"] > 0 and first["rss_after_mb"] > 0 and first["find_cpu_s"] > 0
    again = care_child(url, 300, chunk=40, scan_only=True)
    assert again["items"] == first["items"] and again["mails"] == 0  # nothing reminded twice
    quiet = care_child(url, 300, chunk=40, scan_only=True, find_only=True, day=QUIET_DAY)
    assert quiet["items"] < first["items"] and "scan_s" not in quiet


def test_the_demo_part_reports_time_cpu_and_peak_memory(tmp_path: Path) -> None:
    out = demo_child(f"sqlite:///{tmp_path / 'demo.db'}", 20)
    assert out["customers"] == 20 and out["contacts"] > 20 and out["s"] > 0 and out["peak_rss_mb"] > 0


def test_an_unknown_part_is_refused_on_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["bench", "--suite", "scale", "--parts", "timers,fast", "--workdir", str(tmp_path)])
    assert result.exit_code != 0 and "fast" in result.output


def test_demo_data_for_2000_customers_is_written_in_bulk(db: Database, clock: FakeClock) -> None:
    with db.session() as s:
        result = generate_demo(s, customers=2000, seed=1, clock=clock)
    assert (result.customers, result.updated, result.unchanged) == (2000, 0, 0)
    assert result.contacts > 2000 and result.inserted > 5 * 2000
    with db.session() as s:
        big = [c for c in s.exec(select(Customer)) if c.tier in ("S", "A")]
        activities = s.exec(select(MarketingActivity)).all()
    assert len(activities) == len(big)  # one activity per big customer, through the importer
