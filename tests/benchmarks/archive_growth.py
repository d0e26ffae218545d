"""Database growth per ITR issue, before and after `mcr archive` (docs/performance.md, "Archiving").

Real life cycles, not seeded rows: each issue is opened, dispatched, accepted, resolved and closed
through the ITR service (callbacks recorded when sampled), its mail delivered to a folder; then every
closed issue is archived. Bytes are per table (SQLite: the `dbstat` table, pages in use; PostgreSQL:
pg_total_relation_size, indexes and TOAST included), measured after maintenance (SQLite VACUUM,
PostgreSQL VACUUM FULL) so freed space is not counted; and the whole database (SQLite file, all
relations of the PostgreSQL schema). Extrapolated linearly to 100,000 issues (the per-issue rows do not depend on N).

    MCR_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \
    .venv/bin/python -m tests.benchmarks.archive_growth --issues 200 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HOT = ("flow_instance", "flow_history", "timer", "outbox")
ARCHIVE = ("flow_history_archive", "timer_archive", "outbox_archive", "instance_archive")


def _bytes(db: Any, tables: tuple[str, ...]) -> dict[str, int]:
    with db.read() as tx:
        if db.is_pg:
            return {t: int(tx.one("SELECT pg_total_relation_size(:t)", {"t": t})[0]) for t in tables}
        # Every b-tree of the table (its indexes too), pages actually used.
        return {t: int(tx.one("SELECT COALESCE(SUM(pgsize - unused), 0) FROM dbstat "
                              "WHERE name = :t OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' "
                              "AND tbl_name = :t)", {"t": t})[0]) for t in tables}


def _file_size(db: Any) -> int:
    """The whole database after maintenance: SQLite's file after VACUUM, PostgreSQL's relations
    (tables, indexes, TOAST) of this schema after VACUUM FULL (plain VACUUM only makes space reusable)."""
    if db.is_pg:
        raw = db.engine.raw_connection()
        try:
            raw.driver_connection.autocommit = True
            with raw.driver_connection.cursor() as cur:
                # This schema's tables only: a database-wide VACUUM FULL would lock everyone's tables.
                cur.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = current_schema() AND c.relkind = 'r'")
                for (name,) in cur.fetchall():
                    cur.execute(f'VACUUM FULL "{name}"')
                cur.execute("SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                            "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'")
                return int(cur.fetchone()[0])
        finally:
            raw.close()
    db.dispose()  # its connections hold the WAL open
    conn = sqlite3.connect(db.sqlite_path, isolation_level=None)
    try:
        conn.execute("VACUUM")  # the file as it would be after a maintenance VACUUM: freed pages returned
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return db.sqlite_path.stat().st_size


def one_run(url: str, issues: int, workdir: Path) -> dict[str, Any]:
    from engine.archive import archive_closed, midnight
    from engine.clock import FakeClock
    from engine.db import Database
    from engine.mailers import FolderMailer
    from engine.notify import OutboxSender
    from flows.itr import service
    from tests.integration.test_itr_service import make_runtime, resolved
    from tests.support.principals import ENGINE, principal_of

    db = Database(url)
    db.upgrade()
    clock = FakeClock(datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc))
    rt = make_runtime(db, clock)
    base = {"file": _file_size(db), "hot": _bytes(db, HOT)}
    for n in range(issues):
        issue = resolved(rt, title=f"问题 {n}")
        service.close(rt, issue.id, principal=principal_of(rt, "SZ-HL"))
        if service.get_issue(rt, issue.id, principal=ENGINE).state == "callback_pending":
            service.record_callback(rt, issue.id, principal=principal_of(rt, "SZ-CC"), score=4)
        clock.advance(timedelta(minutes=7))
    resolved(rt, title="仍在处理")  # the newest rows belong to an open issue, as in a live system
    OutboxSender(db, FolderMailer(workdir / "mail"), clock, worker_id="growth").deliver_due_sync(100_000)
    with db.read() as tx:
        closed = int(tx.one("SELECT COUNT(*) FROM flow_instance WHERE flow = 'itr_issue' AND ended_us IS NOT NULL")[0])
        rows = {t: int(tx.one(f"SELECT COUNT(*) FROM {t}")[0]) for t in HOT}
    before = {"file": _file_size(db), "hot": _bytes(db, HOT)}
    cutoff = midnight(clock.now().date() + timedelta(days=1), rt.calendars.get(None).tz)
    moved = archive_closed(db, clock, cutoff)
    after = {"file": _file_size(db), "hot": _bytes(db, HOT), "archive": _bytes(db, ARCHIVE)}
    db.dispose()

    def per_issue(value: int, zero: int = 0) -> float:
        return (value - zero) / issues

    return {"issues": issues, "closed": closed, "rows_per_issue": {t: rows[t] / issues for t in HOT},
            "moved": moved.as_dict(),
            "table_bytes_per_issue": {"before": {t: per_issue(before["hot"][t], base["hot"][t]) for t in HOT},
                                      "after": {t: per_issue(after["hot"][t], base["hot"][t]) for t in HOT},
                                      "archive": {t: per_issue(after["archive"][t]) for t in ARCHIVE}},
            "hot_bytes_per_issue_before": per_issue(sum(before["hot"].values()), sum(base["hot"].values())),
            "hot_bytes_per_issue_after": per_issue(sum(after["hot"].values()), sum(base["hot"].values())),
            "archive_bytes_per_issue": per_issue(sum(after["archive"].values())),
            "db_bytes_per_issue_before": per_issue(before["file"], base["file"]),
            "db_bytes_per_issue_after": per_issue(after["file"], base["file"])}


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issues", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    args = parser.parse_args()
    from tests.conftest import ROOT

    os.environ.setdefault("MCR_RULES_DIR", str(ROOT / "rules"))
    os.environ.setdefault("MCR_LOCALE", "zh-CN")
    out: dict[str, Any] = {}
    for backend in (("sqlite", "postgres") if args.backend == "both" else (args.backend,)):
        runs = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                if backend == "sqlite":
                    runs.append(one_run(f"sqlite:///{tmp}/growth.db", args.issues, Path(tmp)))
                else:
                    runs.append(_pg_run(args.issues, Path(tmp)))
        keys = ("hot_bytes_per_issue_before", "hot_bytes_per_issue_after", "archive_bytes_per_issue",
                "db_bytes_per_issue_before", "db_bytes_per_issue_after")
        out[backend] = {"runs": len(runs), "issues": args.issues, "rows_per_issue": runs[0]["rows_per_issue"],
                        "moved_last_run": runs[-1]["moved"],
                        "table_bytes_per_issue_last_run": runs[-1]["table_bytes_per_issue"],
                        **{k: _stats([r[k] for r in runs]) for k in keys},
                        "per_100k_issues_mb": {k: round(statistics.median([r[k] for r in runs]) * 100_000 / 2**20, 1)
                                               for k in keys}}
    print(json.dumps(out, indent=2))


def _pg_run(issues: int, workdir: Path) -> dict[str, Any]:
    from urllib.parse import quote

    from engine.db import Database

    base = os.environ.get("MCR_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/test"
    schema = f"growth_{uuid.uuid4().hex[:10]}"
    admin = Database(base)
    with admin.engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in base else "?"
        return one_run(f"{base}{sep}options={quote(f'-csearch_path={schema}')}", issues, workdir)
    finally:
        with admin.engine.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
