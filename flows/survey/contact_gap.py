"""The same-contact rule across flows (同一联系人10天内不重复回访, SPEC §5 and §9).

A customer contact must not be called back twice within the gap (10 days by default), whichever
process makes the call: the ITR callback before closing an issue, the post-project callback, the
callback after a marketing activity. `last_callback_at` is the one place that knows every table
holding such calls; the ITR flow and the survey flows both ask it.

Only calls that reached the contact count: an attempt nobody answered bothered nobody. A survey
callback assigned but not made yet can be counted too (`planned_callbacks`), so two flows do not
plan calls to the same person in the same days.
This module only reads. The ITR table is optional — in a build without ITR, only the survey
callbacks count.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from engine.clock import from_us
from engine.db import Tx

ITR_CALLBACK_TABLE = "itr_callback"


def _table_exists(tx: Tx, name: str) -> bool:
    # Checked before querying: on PostgreSQL a query on a missing table would abort the caller's
    # whole transaction. `to_regclass` follows the search_path, like the queries themselves.
    if tx.is_pg:
        row = tx.one("SELECT to_regclass(:n) IS NOT NULL", {"n": name})
    else:
        row = tx.one("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = :n", {"n": name})
    return bool(row and row[0])


def last_callback_at(tx: Tx, contact_code: str) -> datetime | None:
    """When `contact_code` was last reached by a callback of any flow (survey or ITR), or None."""
    latest = tx.one("SELECT MAX(at_us) FROM survey_callback WHERE contact_code = :c AND reached = :t",
                    {"c": contact_code, "t": True})
    best = latest[0] if latest and latest[0] is not None else None
    if _table_exists(tx, ITR_CALLBACK_TABLE):
        itr = tx.one(f"SELECT MAX(at_us) FROM {ITR_CALLBACK_TABLE} WHERE contact_code = :c AND reached = :t",
                     {"c": contact_code, "t": True})
        if itr and itr[0] is not None and (best is None or itr[0] > best):
            best = itr[0]
    return from_us(best) if best is not None else None


def planned_callbacks(tx: Tx, contact_code: str, *, exclude_instance: int | None = None) -> list[datetime]:
    """Due times of the survey callbacks already assigned to the contact and not made yet (a
    post-project callback pending or escalated, an activity callback still open for them).

    A planned call is as good as made for the gap: the contact is about to be called, so no
    other callback may be planned for them until the gap after that call has passed."""
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
            planned = data.get("contact") == contact_code
        else:
            planned = (data.get("contacts") or {}).get(contact_code, {}).get("status") not in (None, "done")
        if planned and data.get("due_at"):
            out.append(datetime.fromisoformat(data["due_at"]))
    return sorted(out)


def next_allowed_at(tx: Tx, contact_code: str, gap_days: int, *, include_planned: bool = False,
                    exclude_instance: int | None = None) -> datetime | None:
    """The first instant the contact may be called back again, or None if they may be called now
    (never called, or the gap is 0). With `include_planned`, a callback already assigned counts
    as made at its due time (the latest moment it will be made)."""
    if gap_days <= 0:
        return None
    last = last_callback_at(tx, contact_code)
    candidates = [last + timedelta(days=gap_days)] if last is not None else []
    if include_planned:
        candidates += [due + timedelta(days=gap_days)
                       for due in planned_callbacks(tx, contact_code, exclude_instance=exclude_instance)]
    return max(candidates) if candidates else None


def may_call(tx: Tx, contact_code: str, gap_days: int, now: datetime) -> bool:
    allowed = next_allowed_at(tx, contact_code, gap_days)
    return allowed is None or allowed <= now
