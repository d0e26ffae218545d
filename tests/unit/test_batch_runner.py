"""The batch runner every launcher hands its items to (engine/batch.py), and the cron line a
deployment gets from a launch's recurrence (engine/prefect_runs.py)."""

from __future__ import annotations

import pytest

from engine.batch import BatchFailed, DirectRunner, start_each
from engine.errors import MCRError
from engine.timespec import parse_recurrence


def test_a_failing_item_does_not_stop_the_others_and_the_batch_reports_it() -> None:
    lines: list[str] = []
    states: list[tuple[str, str]] = []

    def work(n: int) -> int:
        if n == 2:
            raise MCRError("no head of team")
        return n * 10

    runner = DirectRunner(progress=lines.append, on_state=lambda k, s, **_: states.append((k, s)))
    out = runner.each("demo", [1, 2, 3], work, describe=lambda r: f"got {r}")
    assert out.results == [10, 30] and out.failures == {"2": "no head of team"}
    assert lines[0].startswith("[1/3] 1") and "no head of team" in lines[1] and lines[2].startswith("[3/3] 3")
    assert states == [("1", "running"), ("1", "completed"), ("2", "running"), ("2", "failed"),
                      ("3", "running"), ("3", "completed")]
    with pytest.raises(BatchFailed, match="demo.*2: no head of team"):
        out.raise_failures()


def test_start_each_returns_only_the_new_instances_and_fails_after_trying_all() -> None:
    assert start_each(None, "x", ["a", "b"], lambda k: (1 if k == "a" else 2, k == "b")) == [2]
    tried: list[str] = []

    def start(k: str) -> tuple[int, bool]:
        tried.append(k)
        if k == "a":
            raise RuntimeError("boom")
        return 7, True

    with pytest.raises(BatchFailed, match="RuntimeError: boom"):
        start_each(None, "x", ["a", "b"], start)
    assert tried == ["a", "b"]


@pytest.mark.parametrize("every, cron", [
    ("1 Dec 09:00 Asia/Shanghai", "0 9 1 12 *"),
    ("day 07:00 Asia/Shanghai", "0 7 * * *"),
    ("monday 08:30 Asia/Shanghai", "30 8 * * 1"),
    ("sunday 08:00 UTC", "0 8 * * 0"),
    ("quarter 1 09:00 Asia/Shanghai", "0 9 1 1,4,7,10 *"),
    ("month 31 09:00 UTC", "0 9 28-31 * *"),
])
def test_a_launch_recurrence_becomes_the_cron_line_of_its_deployment(every: str, cron: str) -> None:
    from engine.prefect_runs import cron_of

    assert cron_of(parse_recurrence(every)) == cron
