"""Bulk rows for inbox tests and the inbox benchmark: ITR issues written with plain SQL (one
statement per batch, a recursive series) — much faster than running each through its flow."""

from __future__ import annotations

from engine.db import Database

_SERIES = "WITH RECURSIVE n(i) AS (SELECT CAST(:first AS BIGINT) UNION ALL SELECT i + 1 FROM n WHERE i < :last) "


def seed_issues(db: Database, *, first: int, count: int, state: str, handler: str | None, submitter: str = "SZ-HL",
                at_us: int, due_step_us: int = 60_000_000, closed: bool = False) -> None:
    """`count` issues with ids first.. in `state`, handled by `handler`, due one minute apart."""
    if count <= 0:
        return
    last = first + count - 1
    ended = ":at" if closed else "NULL"
    params = {"first": first, "last": last, "state": state, "at": at_us, "handler": handler, "submitter": submitter,
              "step": due_step_us}
    with db.tx() as tx:
        tx.execute(_SERIES + "INSERT INTO flow_instance (id, flow, flow_version, state, version, subject, calendar, "
                   "locale, data, created_us, updated_us, ended_us) "
                   f"SELECT i, 'itr_issue', 1, :state, 3, NULL, 'CN', 'zh-CN', '{{}}', :at, :at, {ended} FROM n", params)
        tx.execute(_SERIES + "INSERT INTO itr_issue (id, title, source, type, severity, major_incident, customer_code, "
                   "contact_code, submitter_emp_no, office_code, sla_hours, calendar, level, handler_emp_no, valid, "
                   "opened_us, dispatched_us, resolved_us, closed_us, sla_due_us, sla_breaches) "
                   "SELECT i, 'issue ' || CAST(i AS TEXT), 'hotline', 'technical', 'normal', FALSE, 'C-BIG', 'K-BIG1', "
                   ":submitter, 'OFF-SZ', 16, 'CN', 'office', :handler, TRUE, :at, :at, "
                   f"{ended}, {ended}, :at + i * :step, 0 FROM n", params)
        if db.is_pg:
            tx.execute("SELECT setval(pg_get_serial_sequence('flow_instance', 'id'), "
                       "(SELECT MAX(id) FROM flow_instance))")
