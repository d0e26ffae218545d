"""Window counters: the self-resolution quota and the callback coverage without scanning a period.

A counter row holds one figure of one unit over one window `[start_us, end_us)` (a calendar
month/quarter/half-year/year in the unit's zone, as `policy.window_bounds` computes it):

    esc       counted escalations of the unit (quota numerator)
    issues    valid issues opened at the unit — its office or its region (quota denominator)
    cb_base   distinct issues of the office with a callback decision (coverage base)
    cb_done   distinct issues of the office with a *required* callback decision (coverage done)

Rows are created the first time a window is read (one scan, then never again) and kept exact by
the writers in the step's own transaction: every change adds to *every* existing row whose window
contains the instant it concerns, so a window seen in another zone, or under a window rule changed
since, stays right too. A rolling window ("90 days") has a new start every instant, so it has no
rows: it is counted from the indexed rows directly.

Reads and writes are index lookups on (metric, unit_code, start_us): their cost does not grow with
the number of issues behind them. The counters are ITR's own rows; reports read them as well.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from engine.clock import to_us
from flows.itr.rules import rolling_days

_SCANS: dict[str, str] = {
    "esc": "SELECT COUNT(*) FROM itr_escalation WHERE unit_code = :u AND counted = :yes AND at_us >= :s AND at_us < :e",
    "issues:office": "SELECT COUNT(*) FROM itr_issue WHERE office_code = :u AND valid = :yes "
                     "AND opened_us >= :s AND opened_us < :e",
    "issues:region": "SELECT COUNT(*) FROM itr_issue WHERE region_code = :u AND valid = :yes "
                     "AND opened_us >= :s AND opened_us < :e",
    "cb_base": "SELECT COUNT(DISTINCT issue_id) FROM itr_callback_decision WHERE office_code = :u "
               "AND at_us >= :s AND at_us < :e",
    "cb_done": "SELECT COUNT(DISTINCT issue_id) FROM itr_callback_decision WHERE office_code = :u "
               "AND at_us >= :s AND at_us < :e AND required = :yes",
}

_INIT = ("INSERT INTO itr_counter (metric, unit_code, start_us, end_us, n) VALUES (:m, :u, :s, :e, :n) "
         "ON CONFLICT (metric, unit_code, start_us, end_us) DO NOTHING")
_ADD = ("UPDATE itr_counter SET n = n + :d WHERE metric = :m AND unit_code = :u AND start_us <= :t AND end_us > :t")


def _scan_key(metric: str, level: str | None) -> str:
    return f"{metric}:{level}" if metric == "issues" else metric


def count(tx: Any, metric: str, unit: str, start: datetime, end: datetime, *, window: str,
          level: str | None = None) -> int:
    """The figure of `unit` over [start, end): from its counter row (made on first use), or for a rolling
    window straight from the rows. `level` (office/region) says which column `issues` counts by."""
    params = {"m": _metric(metric, level), "u": unit, "s": to_us(start), "e": to_us(end), "yes": True}
    scan = _SCANS[_scan_key(metric, level)]
    if rolling_days(window) is not None:
        return int(tx.one(scan, params)[0])
    row = tx.one("SELECT n FROM itr_counter WHERE metric = :m AND unit_code = :u AND start_us = :s AND end_us = :e",
                 params)
    if row is not None:
        return int(row[0])
    n = int(tx.one(scan, params)[0])
    tx.execute(_INIT, {**params, "n": n})
    # A concurrent first reader may have won the insert; its row is as exact as ours.
    return int(tx.one("SELECT n FROM itr_counter WHERE metric = :m AND unit_code = :u AND start_us = :s "
                      "AND end_us = :e", params)[0])


def _metric(metric: str, level: str | None) -> str:
    return f"issues:{level}" if metric == "issues" else metric


def add(tx: Any, metric: str, unit: str | None, at_us: int, delta: int = 1, *, level: str | None = None) -> None:
    """A change at instant `at_us`: every counter row of the unit whose window holds it moves by `delta`."""
    if unit and delta:
        tx.execute(_ADD, {"d": delta, "m": _metric(metric, level), "u": unit, "t": at_us})


def issue_opened(tx: Any, office: str, region: str | None, opened_us: int, delta: int = 1) -> None:
    """A valid issue counted (intake) or no longer counted (rejected as invalid)."""
    add(tx, "issues", office, opened_us, delta, level="office")
    add(tx, "issues", region, opened_us, delta, level="region")


def decision_recorded(tx: Any, issue_id: int, office: str, at_us: int, required: bool,
                      earlier: Callable[[int, int, bool], bool]) -> None:
    """A callback decision of `issue_id` at `at_us`, written just before this call: each window that
    holds it counts the issue once (`earlier(start_us, end_us, required_only)` says whether the issue
    already had such a decision in that window)."""
    rows = tx.all("SELECT metric, start_us, end_us FROM itr_counter WHERE metric IN ('cb_base', 'cb_done') "
                  "AND unit_code = :u AND start_us <= :t AND end_us > :t", {"u": office, "t": at_us})
    for metric, start_us, end_us in rows:
        if metric == "cb_done" and not required:
            continue
        if not earlier(start_us, end_us, metric == "cb_done"):
            tx.execute("UPDATE itr_counter SET n = n + 1 WHERE metric = :m AND unit_code = :u AND start_us = :s "
                       "AND end_us = :e", {"m": metric, "u": office, "s": start_us, "e": end_us})
