"""The one test that runs the planning launch through Prefect itself (its test harness: a local
API server on a temporary database, ~10 s to start). Every step it calls is tested directly in
test_planning_kit.py; this proves the orchestration: fan-out over teams, progress, re-run safety."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.clock import FakeClock
from engine.db import Database
from flows.planning.kit import kit_instance, kit_status
from flows.planning.sample import planning_runtime

SH = timezone(timedelta(hours=8))


@pytest.mark.slow
def test_the_prefect_launch_fans_out_over_teams_and_is_safe_to_rerun(sqlite_db: Database, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    from prefect.testing.utilities import prefect_test_harness

    from flows.planning.launch import run_launch

    runtime = planning_runtime(sqlite_db, FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=SH)))
    progress: list[str] = []
    with prefect_test_harness(server_startup_timeout=120):
        first = run_launch(runtime, 2027, progress=progress.append)
        second = run_launch(runtime, 2027, progress=progress.append)
    assert (first.issued, first.already, first.failures) == (2, 0, {})
    assert (second.issued, second.already, second.failures) == (0, 2, {})
    assert progress[0].startswith("[1/2] T-SZ-FI") and progress[-1].startswith("[2/2] T-SZ-OP")
    assert {t["team"]: t["state"] for t in kit_status(runtime, 2027)["teams"]} == {"T-SZ-FI": "issued",
                                                                                  "T-SZ-OP": "issued"}
    # Each kit records where its workbook goes; the file is written on its first download.
    assert sorted(Path(kit_instance(runtime, t, 2027).data["kit_path"]).relative_to(tmp_path / "kits").as_posix()
                  for t in ("T-SZ-FI", "T-SZ-OP")) == [
        "2027/T-SZ-FI-2027-客户关系规划三件套.xlsx", "2027/T-SZ-OP-2027-客户关系规划三件套.xlsx"]
