"""What a launch costs as a Prefect flow run in this process (docs/performance.md, "Launches as
Prefect flow runs"): the local API's start in the background (once per engine process), then the
annual kit launch of the sample organisation run N times directly and N times as an `mcr-launch` flow
run, each on a fresh SQLite file. Not a CI test: `.venv/bin/python -m tests.support.prefect_bench [N]`."""

from __future__ import annotations

import logging
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

SH = timezone(timedelta(hours=8))
OCCURRENCE = datetime(2026, 12, 1, 9, tzinfo=SH)


def main(n: int = 5) -> None:
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="mcr-prefect-"))
    os.environ.setdefault("MCR_KIT_DIR", tempfile.mkdtemp(prefix="mcr-kits-"))
    logging.basicConfig(level="WARNING")
    from engine.clock import FakeClock
    from engine.db import Database
    from engine.launches import run_launch
    from engine.prefect_local import LocalPrefect
    from flows.planning.sample import planning_runtime

    def fresh() -> tuple[object, FakeClock]:
        db = Database(f"sqlite:///{tempfile.mkdtemp(prefix='mcr-bench-')}/mcr.db")
        db.upgrade()
        clock = FakeClock(OCCURRENCE - timedelta(days=1))
        return planning_runtime(db, clock), clock

    rt, _ = fresh()
    started = time.monotonic()
    local = LocalPrefect(rt).start()
    local.ready.wait()
    print(f"Prefect local API ready after {time.monotonic() - started:.1f} s ({local.failed or local.api_url})")
    from engine.prefect_runs import find_launch

    times: dict[str, list[float]] = {"direct": [], "mcr-launch flow": []}
    for _ in range(n):
        for kind, out in times.items():
            runtime, clock = fresh()
            clock.set(OCCURRENCE)
            defn, spec = find_launch(runtime, "planning_kit:yearly")
            t0 = time.monotonic()
            if kind == "direct":
                result = run_launch(runtime, defn, spec, OCCURRENCE)
            else:
                result = local.run(runtime, defn, spec, OCCURRENCE)
            out.append(time.monotonic() - t0)
            assert result.status == "done" and result.started == 2, result
    for kind, out in times.items():
        print(f"{kind}: median {statistics.median(out):.2f} s, range {min(out):.2f}–{max(out):.2f} s, {n} runs")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
