"""Same-run benchmark timing (docs/performance.md): two sizes measured in turns on the same machine
at the same moment, compared by the ratio of their medians — never an absolute time — and a second
migrated database of the same backend for the larger size."""

from __future__ import annotations

import statistics
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from engine.clock import wall_time
from engine.db import Database


def interleaved(small: Callable[[], Any], large: Callable[[], Any], runs: int) -> tuple[list[float], list[float]]:
    """Milliseconds of `runs` calls of each, small and large in turns after one warm-up call each
    (caches, template compilation, a window's first counter row), so that a burst of load on a
    shared machine falls on both sizes alike instead of on whichever was being timed at that moment."""
    small(), large()
    out: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, into in ((small, out[0]), (large, out[1])):
            started = wall_time()
            fn()
            into.append((wall_time() - started) * 1000)
    return out


def figures(ms: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(ms), 2), "min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2)}


def ratio(large: list[float], small: list[float]) -> float:
    """The figure a benchmark asserts on: median of the large size over median of the small one."""
    return round(statistics.median(large) / statistics.median(small), 3)


def second_database(db: Database, tmp_path: Path, *, sqlite_template: Optional[Path] = None) -> Iterator[Database]:
    """A second migrated database on the same backend as `db`: a SQLite file (copied from the
    session's migrated template when given, else migrated), or a fresh PostgreSQL schema dropped after."""
    if not db.is_pg:
        path = tmp_path / "large.db"
        if sqlite_template is not None:
            import shutil

            shutil.copyfile(sqlite_template, path)
        other = Database(f"sqlite:///{path}")
        if sqlite_template is None:
            other.upgrade()
        yield other
        other.dispose()
        return
    from sqlalchemy import create_engine

    from tests.conftest import PG_URL, _pg_schema_url

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    other = Database(_pg_schema_url(schema))
    try:
        other.upgrade()
        yield other
    finally:
        other.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
