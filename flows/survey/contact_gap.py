"""The survey flows' callbacks, as a source of the same-contact rule (engine/contacts.py applies it).

`last_reached`: the latest post-project or activity callback that reached the contact
(`survey_callback`). `planned`: the survey callbacks assigned to the contact and not made yet.
"""

from __future__ import annotations

import json
from datetime import datetime

from engine.clock import from_us
from engine.db import Tx


def _table_exists(tx: Tx, name: str) -> bool:
    # Checked before querying: on PostgreSQL a query on a missing table would abort the caller's
    # whole transaction. `to_regclass` follows the search_path, like the queries themselves.
    if tx.is_pg:
        row = tx.one("SELECT to_regclass(:n) IS NOT NULL", {"n": name})
    else:
        row = tx.one("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = :n", {"n": name})
    return bool(row and row[0])


def last_reached(tx: Tx, contact_code: str) -> datetime | None:
    row = tx.one("SELECT MAX(at_us) FROM survey_callback WHERE contact_code = :c AND reached = :t",
                 {"c": contact_code, "t": True})
    return from_us(row[0]) if row and row[0] is not None else None


def planned(tx: Tx, contact_code: str, *, exclude_instance: int | None = None) -> list[datetime]:
    """Due times of the survey callbacks already assigned to the contact and not made yet (a
    post-project callback pending or escalated, an activity callback still open for them)."""
    out: list[datetime] = []
    # One (flow, state) pair per branch, so each is a seek on ix_flow_instance_flow_state (an IN list
    # on both columns made SQLite scan every instance of every flow).
    rows = tx.all(" UNION ALL ".join(
        f"SELECT id, flow, data FROM flow_instance WHERE flow = '{flow}' AND state = '{state}'"
        for flow in ("project_callback", "activity_callback") for state in ("pending", "escalated", "overdue")))
    for instance_id, flow, text in rows:
        if instance_id == exclude_instance:
            continue
        data = json.loads(text)
        if flow == "project_callback":
            assigned = data.get("contact") == contact_code
        else:
            assigned = (data.get("contacts") or {}).get(contact_code, {}).get("status") not in (None, "done")
        if assigned and data.get("due_at"):
            out.append(datetime.fromisoformat(data["due_at"]))
    return sorted(out)
