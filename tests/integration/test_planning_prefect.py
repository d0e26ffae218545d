"""The planning launch through Prefect itself, in this process (its test harness: a local API server
on a temporary database, ~10 s to start, shared by the tests of this module). Every step it calls is
tested directly in test_planning_kit.py; these prove the orchestration: fan-out over teams as tasks,
progress printed once, re-run safety, and the recurring launch as an `mcr-launch` flow run the way
`mcr serve` runs it (engine/prefect_local.py). The deployed path (a Prefect server on PostgreSQL,
process workers) is tests/integration/test_prefect_server_launch.py."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest

from engine.clock import FakeClock
from engine.db import Database
from engine.launches import run_due_launches
from flows.planning.kit import kit_instance, kit_status
from flows.planning.sample import planning_runtime

SH = timezone(timedelta(hours=8))


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect")))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
    mp.undo()


@pytest.mark.slow
def test_the_prefect_launch_fans_out_over_teams_prints_progress_once_and_is_safe_to_rerun(
        harness: None, sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    from flows.planning.launch import run_launch

    runtime = planning_runtime(sqlite_db, FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=SH)))
    progress: list[str] = []

    def say(line: str) -> None:
        progress.append(line)
        print(line)

    capfd.readouterr()
    first = run_launch(runtime, 2027, progress=say)
    printed = capfd.readouterr()
    second = run_launch(runtime, 2027, progress=progress.append)
    assert (first.issued, first.already, first.failures) == (2, 0, {})
    assert (second.issued, second.already, second.failures) == (0, 2, {})
    assert progress[0].startswith("[1/2] T-SZ-FI") and progress[-1].startswith("[2/2] T-SZ-OP")
    # Once on the console: the caller's own line; Prefect's log takes it to its API, not to the terminal.
    console = printed.out + printed.err
    assert console.count("[1/2] T-SZ-FI") == 1 and console.count("[2/2] T-SZ-OP") == 1, console
    assert {t["team"]: t["state"] for t in kit_status(runtime, 2027)["teams"]} == {"T-SZ-FI": "issued",
                                                                                  "T-SZ-OP": "issued"}
    # Each kit records where its workbook goes; the file is written on its first download.
    assert sorted(Path(kit_instance(runtime, t, 2027).data["kit_path"]).relative_to(tmp_path / "kits").as_posix()
                  for t in ("T-SZ-FI", "T-SZ-OP")) == [
        "2027/T-SZ-FI-2027-客户关系规划三件套.xlsx", "2027/T-SZ-OP-2027-客户关系规划三件套.xlsx"]


@pytest.mark.slow
def test_the_recurring_launch_runs_as_an_mcr_launch_flow_once_per_period(
        harness: None, sqlite_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `mcr serve` does at 1 Dec 09:00: the scheduler's rescan, each due occurrence a flow run."""
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    from engine.prefect_local import LocalPrefect
    from prefect.client.orchestration import get_client

    clock = FakeClock(datetime(2026, 11, 30, 9, 0, tzinfo=SH))
    runtime = planning_runtime(sqlite_db, clock)
    clock.set(datetime(2026, 12, 1, 9, 0, 5, tzinfo=SH))
    local = LocalPrefect(runtime)
    local._warm_up()  # in this thread: the harness's API setting is a context variable
    assert local.failed is None

    def launch_runs() -> int:
        with get_client(sync_client=True) as client:
            return sum(1 for r in client.read_flow_runs() if r.name == "planning_kit:yearly")

    outcomes = run_due_launches(runtime, only={"planning_kit:yearly"}, run=local.run)
    assert [(o.launch, o.period_key, o.status, o.started) for o in outcomes] == [
        ("planning_kit:yearly", "2026-12-01T09:00", "done", 2)]
    assert launch_runs() == 1
    with runtime.db.read() as tx:
        tasks = tx.all("SELECT COUNT(*) FROM flow_instance WHERE flow = 'planning_kit'")
    assert tasks == [(2,)]
    # The next rescan finds the claim: no second flow run, nothing issued again.
    assert run_due_launches(runtime, only={"planning_kit:yearly"}, run=local.run) == []
    assert launch_runs() == 1


@pytest.mark.slow
def test_a_prefect_task_is_retried_and_a_failing_item_fails_alone(harness: None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_PREFECT_RETRIES", "1")
    from engine.prefect_runs import run_batch

    tries: dict[int, int] = {}
    states: list[tuple[str, str, int | None]] = []

    def work(n: int) -> int:
        tries[n] = tries.get(n, 0) + 1
        if n == 2 and tries[n] == 1:
            raise RuntimeError("flaky once")
        if n == 3:
            raise RuntimeError("always broken")
        return n * 10

    def on_state(key: str, state: str, *, runs: int | None = None, **_: object) -> None:
        states.append((key, state, runs))

    out = run_batch(object(), "demo", lambda runner: runner.each("demo", [1, 2, 3], work), on_state=on_state)
    assert out.results == [10, 20] and out.failures == {"3": "RuntimeError: always broken"}
    assert tries == {1: 1, 2: 2, 3: 2}
    assert ("2", "running", 2) in states and ("2", "completed", None) in states and ("3", "failed", None) in states


@pytest.mark.slow
def test_the_survey_batches_run_as_mcr_launch_flows_with_a_task_per_team(harness: None, sqlite_db: Database) -> None:
    """The yearly survey request (flows/survey/survey_batches.yaml) the way `mcr serve` runs it on 1 Sep:
    one `mcr-launch` flow run, one task per team, once per year (the steps: test_survey_batches.py)."""
    from engine.app import build_runtime
    from engine.prefect_local import LocalPrefect
    from flows.survey.fixtures import insert_org, standard_org
    from prefect.client.orchestration import get_client

    name = "survey_batches:annual_request"
    clock = FakeClock(datetime(2027, 8, 31, 9, 0, tzinfo=SH))
    runtime = build_runtime(sqlite_db, clock=clock, migrate=False)
    insert_org(sqlite_db, standard_org())
    clock.set(datetime(2027, 9, 1, 9, 0, 5, tzinfo=SH))
    local = LocalPrefect(runtime)
    local._warm_up()
    assert local.failed is None

    def flow_runs() -> int:
        with get_client(sync_client=True) as client:
            return sum(1 for r in client.read_flow_runs() if r.name == name)

    outcomes = run_due_launches(runtime, only={name}, run=local.run)
    assert [(o.launch, o.status, o.started) for o in outcomes] == [(name, "done", 2)]  # teams T1 and T2
    assert flow_runs() == 1
    assert run_due_launches(runtime, only={name}, run=local.run) == []
    assert flow_runs() == 1
    with runtime.db.read() as tx:
        assert tx.all("SELECT COUNT(*) FROM outbox WHERE template = 'sample_list_request'") == [(2,)]
