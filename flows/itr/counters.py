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
from typing import Any, Callable, Optional

from engine.clock import to_us
from flows.itr.rules import TYPES, rolling_days

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


# ---------------------------------------------------------------------------------------------- report counters
#
# The monitoring report's period figures (flows/itr/reports.py), one row per (figure, issue type) of a
# unit over a report window (an ISO week or a calendar month in the unit's zone): `r:<figure>:<type>`.
# Most figures are counted at the issue's office; `rvalid` at the issue's region and `qesc` at the unit
# whose quota the escalation used. A unit's rows for a window are made together on the first read
# (one grouped scan per figure, zeros included, then the `r:seeded` mark), in a write transaction so
# that they are kept, and kept exact afterwards by the writers below, each called in the step's own
# transaction with the instant it concerns.

REPORT_TYPES = tuple(TYPES)

# figure -> SQL giving (type, n) for unit :u over [:s, :e)
_REPORT_SCANS: dict[str, str] = {
    "valid": "SELECT type, COUNT(*) FROM itr_issue WHERE office_code = :u AND valid = :yes "
             "AND opened_us >= :s AND opened_us < :e GROUP BY type",
    "rejected": "SELECT type, COUNT(*) FROM itr_issue WHERE office_code = :u AND valid = :no "
                "AND opened_us >= :s AND opened_us < :e GROUP BY type",
    "rvalid": "SELECT type, COUNT(*) FROM itr_issue WHERE region_code = :u AND valid = :yes "
              "AND opened_us >= :s AND opened_us < :e GROUP BY type",
    "disp1": "SELECT i.type, COUNT(*) FROM itr_dispatch d JOIN itr_issue i ON i.id = d.issue_id "
             "WHERE i.office_code = :u AND d.seq = 1 AND d.at_us >= :s AND d.at_us < :e GROUP BY i.type",
    "disp_wrong": "SELECT i.type, COUNT(*) FROM itr_dispatch d JOIN itr_issue i ON i.id = d.issue_id "
                  "WHERE i.office_code = :u AND d.seq = 1 AND d.at_us >= :s AND d.at_us < :e AND EXISTS "
                  "(SELECT 1 FROM itr_dispatch d2 WHERE d2.issue_id = d.issue_id AND d2.seq > 1) GROUP BY i.type",
    "closed": "SELECT type, COUNT(*) FROM itr_issue WHERE office_code = :u AND closed_us >= :s AND closed_us < :e "
              "GROUP BY type",
    "closed_ontime": "SELECT type, COUNT(*) FROM itr_issue WHERE office_code = :u AND closed_us >= :s "
                     "AND closed_us < :e AND sla_breaches = 0 GROUP BY type",
    "closed_urgent": "SELECT type, COUNT(*) FROM itr_issue WHERE office_code = :u AND closed_us >= :s "
                     "AND closed_us < :e AND severity = 'urgent' GROUP BY type",
    "closed_cb": "SELECT i.type, COUNT(*) FROM itr_issue i WHERE i.office_code = :u AND i.closed_us >= :s "
                 "AND i.closed_us < :e AND EXISTS (SELECT 1 FROM itr_callback c WHERE c.issue_id = i.id "
                 "AND c.reached = :yes) GROUP BY i.type",
    "closed_urgent_cb": "SELECT i.type, COUNT(*) FROM itr_issue i WHERE i.office_code = :u AND i.closed_us >= :s "
                        "AND i.closed_us < :e AND i.severity = 'urgent' AND EXISTS (SELECT 1 FROM itr_callback c "
                        "WHERE c.issue_id = i.id AND c.reached = :yes) GROUP BY i.type",
    "score_n": "SELECT i.type, COUNT(c.score) FROM itr_callback c JOIN itr_issue i ON i.id = c.issue_id "
               "WHERE i.office_code = :u AND c.reached = :yes AND c.at_us >= :s AND c.at_us < :e GROUP BY i.type",
    "score_sum": "SELECT i.type, COALESCE(SUM(c.score), 0) FROM itr_callback c JOIN itr_issue i ON i.id = c.issue_id "
                 "WHERE i.office_code = :u AND c.reached = :yes AND c.at_us >= :s AND c.at_us < :e GROUP BY i.type",
    "qesc": "SELECT i.type, COUNT(*) FROM itr_escalation e JOIN itr_issue i ON i.id = e.issue_id "
            "WHERE e.unit_code = :u AND e.counted = :yes AND e.at_us >= :s AND e.at_us < :e GROUP BY i.type",
}
for _decision in ("granted", "refused", "overridden"):
    _REPORT_SCANS[f"esc_{_decision}"] = (
        "SELECT i.type, COUNT(*) FROM itr_escalation e JOIN itr_issue i ON i.id = e.issue_id WHERE i.office_code = :u "
        f"AND e.decision = '{_decision}' AND e.at_us >= :s AND e.at_us < :e GROUP BY i.type")
_REPORT_SCANS["esc_auto"] = ("SELECT i.type, COUNT(*) FROM itr_escalation e JOIN itr_issue i ON i.id = e.issue_id "
                             "WHERE i.office_code = :u AND e.automatic = :yes AND e.at_us >= :s AND e.at_us < :e "
                             "GROUP BY i.type")
REPORT_FIGURES = tuple(_REPORT_SCANS)
_SEEDED = "r:seeded"


def report_figures(tx: Any, units: list[str], start_us: int, end_us: int) -> dict[str, dict[str, dict[str, int]]]:
    """unit -> figure -> type -> n over [start_us, end_us), from the counter rows (made on first read)."""
    found = report_cells(tx, [(u, start_us, end_us) for u in units])
    return {u: found[(u, start_us, end_us)] for u in units}


Cell = tuple[str, int, int]  # (unit, start_us, end_us): one unit's report rows over one window


class WindowsMissing(Exception):
    """A window's report rows do not exist yet and the caller holds a read-only transaction: read
    again in a write transaction (`reports.read_report` does)."""

    def __init__(self, cells: list[Cell]) -> None:
        super().__init__(cells)
        self.cells = cells


# metric -> (figure, type) of a report row; `None` for any other counter
_PARSED: dict[str, Optional[tuple[str, str]]] = {}


def _parse(metric: str) -> Optional[tuple[str, str]]:
    try:
        return _PARSED[metric]
    except KeyError:
        parts = metric.split(":")
        got = (parts[1], parts[2]) if len(parts) == 3 and parts[0] == "r" and parts[1] in _REPORT_SCANS else None
        _PARSED[metric] = got
        return got


def _read_cells(tx: Any, cells: list[Cell], types: Optional[list[str]]
                ) -> tuple[set[Cell], dict[Cell, dict[str, dict[str, int]]]]:
    """The cells among `cells` whose rows exist (their `r:seeded` mark), and their figures of `types`
    (None: every type; []: the marks alone) — one indexed read, the rows of other types left in the table."""
    units = sorted({c[0] for c in cells})
    starts = sorted({c[1] for c in cells})
    metrics = [_SEEDED] + ([f"r:{f}:{ty}" for f in REPORT_FIGURES for ty in types] if types is not None else [])
    params: dict[str, Any] = {**{f"u{i}": u for i, u in enumerate(units)},
                              **{f"s{i}": s for i, s in enumerate(starts)}}
    where = (f"unit_code IN ({', '.join(f':u{i}' for i in range(len(units))) or 'NULL'}) "
             f"AND start_us IN ({', '.join(f':s{i}' for i in range(len(starts))) or 'NULL'})")
    if types is not None:
        params.update({f"m{i}": m for i, m in enumerate(metrics)})
        where += f" AND metric IN ({', '.join(f':m{i}' for i in range(len(metrics)))})"
    asked = set(cells)
    seeded: set[Cell] = set()
    out: dict[Cell, dict[str, dict[str, int]]] = {}
    for unit, s, e, metric, n in tx.all(f"SELECT unit_code, start_us, end_us, metric, n FROM itr_counter WHERE {where}",
                                        params):
        key = (str(unit), int(s), int(e))
        if key not in asked:  # e.g. a month that starts on the Monday of a trend week
            continue
        if metric == _SEEDED:
            seeded.add(key)
            continue
        got = _parse(str(metric))
        if got is not None:
            out.setdefault(key, {}).setdefault(got[0], {})[got[1]] = int(n)
    return seeded, out


def seed_cells(tx: Any, cells: list[Cell]) -> int:
    """In a write transaction: make the rows of each cell that has none yet (one scan per figure, then
    kept exact by the writers); the number of cells made."""
    wanted = list(dict.fromkeys(cells))
    seeded, _ = _read_cells(tx, wanted, [])
    missing = [c for c in wanted if c not in seeded]
    if missing and tx.is_pg:
        # A step counts into the rows that exist when it runs its UPDATE. On PostgreSQL, one that wrote
        # its row and ran that UPDATE before these rows existed, but commits after our scan, would be
        # missed for good: this lock waits for every such step to commit (our scans then see its row)
        # and makes steps that have not counted yet wait for our rows. SQLite writers are serial already.
        tx.execute("LOCK TABLE itr_counter IN SHARE ROW EXCLUSIVE MODE")
        seeded, _ = _read_cells(tx, missing, [])  # another launch may have made some meanwhile
        missing = [c for c in missing if c not in seeded]
    for unit, s, e in missing:
        _seed_report(tx, unit, s, e)
    return len(missing)


def report_cells(tx: Any, cells: list[Cell], *, create: bool = True, types: Optional[list[str]] = None
                 ) -> dict[Cell, dict[str, dict[str, int]]]:
    """(unit, start_us, end_us) -> figure -> type -> n for every cell asked, in one read of the counter
    rows (of `types` alone when given: the others read as 0). A cell never read before has its rows
    made first and kept: later reads (next week's review, the report page) find them. With
    `create=False` (a read-only transaction, whose writes would be thrown away) a missing cell
    raises `WindowsMissing` instead."""
    wanted = list(dict.fromkeys(cells))  # a weekly report's period is also its last trend week
    seeded, found = _read_cells(tx, wanted, types)
    missing = [c for c in wanted if c not in seeded]
    if missing and not create:
        raise WindowsMissing(missing)
    if missing:
        seed_cells(tx, missing)
        seeded, found = _read_cells(tx, wanted, types)
    return {key: {f: {ty: figs.get(f, {}).get(ty, 0) for ty in REPORT_TYPES} for f in REPORT_FIGURES}
            for key, figs in ((k, found.get(k, {})) for k in wanted)}


def _seed_report(tx: Any, unit: str, start_us: int, end_us: int) -> None:
    p = {"u": unit, "s": start_us, "e": end_us, "yes": True, "no": False}
    rows = []  # one executemany: a window's ~20 figures of ~5 types each
    for figure, scan in _REPORT_SCANS.items():
        found = {str(r[0]): int(r[1] or 0) for r in tx.all(scan, p)}
        rows.extend({"m": f"r:{figure}:{ty}", "u": unit, "s": start_us, "e": end_us, "n": found.get(ty, 0)}
                    for ty in sorted(set(REPORT_TYPES) | set(found)))
    rows.append({"m": _SEEDED, "u": unit, "s": start_us, "e": end_us, "n": 0})
    tx.many(_INIT, rows)


def _report_add(tx: Any, figure: str, unit: Optional[str], type_: str, at_us: Optional[int], delta: int = 1) -> None:
    if at_us is not None:
        add(tx, f"r:{figure}:{type_}", unit, int(at_us), delta)


_ISSUE = ("SELECT office_code, region_code, type, severity, opened_us, dispatched_us, sla_breaches FROM itr_issue "
          "WHERE id = :i")


def report_opened(tx: Any, issue_id: int) -> None:
    """Intake: a new valid issue (written just before)."""
    office, region, type_, _sev, opened, _d, _b = tx.one(_ISSUE, {"i": issue_id})
    _report_add(tx, "valid", office, type_, opened)
    _report_add(tx, "rvalid", region, type_, opened)


def report_rejected(tx: Any, issue_id: int) -> None:
    """A valid issue judged invalid: it moves from `valid` to `rejected` in the windows of its opening."""
    office, region, type_, _sev, opened, _d, _b = tx.one(_ISSUE, {"i": issue_id})
    _report_add(tx, "valid", office, type_, opened, -1)
    _report_add(tx, "rvalid", region, type_, opened, -1)
    _report_add(tx, "rejected", office, type_, opened)


def report_dispatched(tx: Any, issue_id: int, seq: int, at_us: int) -> None:
    """Dispatch number `seq` at `at_us`: the first one counts; the second marks the first as not right
    (in the windows of the first dispatch, where the accuracy counts it)."""
    office, _r, type_, _sev, _o, first_us, _b = tx.one(_ISSUE, {"i": issue_id})
    if seq == 1:
        _report_add(tx, "disp1", office, type_, at_us)
    elif seq == 2:
        _report_add(tx, "disp_wrong", office, type_, first_us)


def report_escalation(tx: Any, issue_id: int, *, decision: str, automatic: bool, counted: bool, unit: str,
                      at_us: int) -> None:
    """An escalation decision row (granted / refused / overridden) written at `at_us`."""
    office, _r, type_, _sev, _o, _d, _b = tx.one(_ISSUE, {"i": issue_id})
    _report_add(tx, f"esc_{decision}", office, type_, at_us)
    if automatic:
        _report_add(tx, "esc_auto", office, type_, at_us)
    if counted:
        _report_add(tx, "qesc", unit, type_, at_us)


def report_closed(tx: Any, issue_id: int, at_us: int) -> None:
    """The issue closed at `at_us` (closing is final: `closed` is a terminal state)."""
    office, _r, type_, severity, _o, _d, breaches = tx.one(_ISSUE, {"i": issue_id})
    called = tx.one("SELECT 1 FROM itr_callback WHERE issue_id = :i AND reached = :yes",
                    {"i": issue_id, "yes": True}) is not None
    _report_add(tx, "closed", office, type_, at_us)
    if not int(breaches or 0):
        _report_add(tx, "closed_ontime", office, type_, at_us)
    if called:
        _report_add(tx, "closed_cb", office, type_, at_us)
    if severity == "urgent":
        _report_add(tx, "closed_urgent", office, type_, at_us)
        if called:
            _report_add(tx, "closed_urgent_cb", office, type_, at_us)


def report_scored(tx: Any, issue_id: int, score: int, at_us: int) -> None:
    """A reached callback with its 1–5 score."""
    office, _r, type_, _sev, _o, _d, _b = tx.one(_ISSUE, {"i": issue_id})
    _report_add(tx, "score_n", office, type_, at_us)
    _report_add(tx, "score_sum", office, type_, at_us, int(score))
