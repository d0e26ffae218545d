"""The ITR monitoring report and the weekly valid-issue check, as pydantic models built by
read-only queries (except the check's score entries, written once per key).

`build_report` covers one period (an ISO week or a month) and one unit: an office (weekly office
review), a region or HQ (monthly quality analysis) — a unit's figures are those of the offices
below it. Period figures count what happened inside [start, end) of the unit's local calendar;
"open" figures (QA cases, unowned and overdue issues) are as of `now`. All SQL is here, named by
what it measures.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Optional, TypeVar

from pydantic import BaseModel

from engine.clock import to_us
from engine.masterdata.read import MasterData, Unit
from flows.itr.errors import ItrUsageError
from engine.i18n import t
from flows.itr.policy import (allowed_escalations, month_bounds, parse_week, ratio, self_resolution_rate, week_bounds,
                              week_of, within_quota)
from flows.itr import counters
from flows.itr.rules import TYPES, ItrRules

OPEN_STATES = ("received", "dispatched", "handling", "escalated_region", "escalated_hq")


class UnitRate(BaseModel):
    """问题自行解决率 of one office or region over the period."""

    unit: str
    kind: str
    name: str
    issues: int
    escalated: int
    self_resolution_rate: Optional[float]
    quota: float
    # The escalations the unit could make over the period: the share or the minimum allowance
    # (rules/itr.yaml quota.min_allowed), whichever is larger — the escalate step's rule.
    min_allowed: int = 0
    allowed: int = 0
    within_quota: bool


class DispatchFigures(BaseModel):
    dispatched: int
    first_time_right: int
    accuracy: Optional[float]


class ClosureFigures(BaseModel):
    closed: int
    on_time: int
    timely_rate: Optional[float]


class EscalationFigures(BaseModel):
    granted: int
    refused: int
    overridden: int
    automatic: int


class CallbackFigures(BaseModel):
    closed: int
    called_back: int
    coverage: Optional[float]
    urgent_closed: int
    urgent_called_back: int
    urgent_coverage: Optional[float]
    scores: int
    average_score: Optional[float]


class ShortfallEntry(BaseModel):
    week: str
    office: str
    team: Optional[str]
    customer: str
    valid_issues: int
    required: int


class NegativeEntry(BaseModel):
    week: str
    office: str
    team: Optional[str]
    customer: str
    issue: Optional[int]
    points: int
    reason: str


class TrendPoint(BaseModel):
    """One ISO week of the trend drawn under the report (the unit's offices, the report's types)."""

    week: str
    new_valid_issues: int
    dispatch_accuracy: Optional[float]
    timely_rate: Optional[float]
    self_resolution_rate: Optional[float]
    escalations_granted: int
    escalations_refused: int
    escalations_overridden: int
    shortfalls: int


class ItrReport(BaseModel):
    """Figures of the weekly office review / monthly region and HQ review."""

    period: str
    period_start: str
    period_end: str
    unit: str
    unit_kind: str
    unit_name: str
    types: list[str]
    generated_at: str
    new_valid_issues: int
    new_issues_by_type: dict[str, int]
    rejected: int
    dispatch: DispatchFigures
    closure: ClosureFigures
    self_resolution: list[UnitRate]
    escalations: EscalationFigures
    callbacks: CallbackFigures
    qa_cases_open: int
    open_issues: int
    unowned_open: int
    overdue_open: int
    weekly_shortfalls: list[ShortfallEntry]
    negative_scores: list[NegativeEntry]
    trend: list[TrendPoint] = []


class WeeklyCheck(BaseModel):
    """每周有效问题检查: big customers' teams that recorded too few valid issues, and negative scores."""

    week: str
    revenue_line_usd: int
    required: int
    customers_checked: int
    shortfalls: list[ShortfallEntry]
    teams_short: list[str]
    negative_scores: list[NegativeEntry]


def _in(prefix: str, values: list[str]) -> tuple[str, dict[str, Any]]:
    params = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{k}" for k in params) or "NULL", params


def period_bounds(period: str, tz: Any, kind: Optional[str] = None) -> tuple[datetime, datetime, str]:
    """'2026-W48' (a week) or '2026-11' (a month) → [start, end) and the kind."""
    if (kind or ("week" if "W" in period else "month")) == "week":
        try:
            start, end = week_bounds(period, tz)
        except ValueError:
            raise ItrUsageError(t("itr.bad_week", week=period)) from None
        return start, end, "week"
    try:
        start, end = month_bounds(period, tz)
    except ValueError:
        raise ItrUsageError(t("itr.bad_month", month=period)) from None
    return start, end, "month"


def _weeks_of(period: str, kind: str, start: datetime, end: datetime, tz: Any) -> list[str]:
    if kind == "week":
        return [period]
    weeks, day = [], start.astimezone(tz).date()
    last = (end.astimezone(tz) - timedelta(microseconds=1)).date()
    while day <= last:
        if day.weekday() == 0:
            weeks.append(week_of(datetime.combine(day, datetime.min.time(), tz), tz))
        day += timedelta(days=1)
    return weeks


def unit_tz(tx: Any, runtime: Any, code: str) -> Any:
    name = MasterData(tx).calendar_of(code) or runtime.calendars.default_name
    return runtime.calendars.get(name if name in runtime.calendars else None).tz


TREND_WEEKS = 8


def _sum(figs: dict[str, dict[str, dict[str, int]]], units: list[str], figure: str, types: list[str]) -> int:
    return sum(figs[u][figure][ty] for u in units for ty in types)


def _by_type(figs: dict[str, dict[str, dict[str, int]]], units: list[str], figure: str, types: list[str]) -> dict[str, int]:
    out = {ty: sum(figs[u][figure][ty] for u in units) for ty in types}
    return {ty: n for ty, n in sorted(out.items()) if n}


_Plan = tuple[Unit, Any, datetime, datetime, str, list[str], list[Unit], list[str], list[tuple[int, int]]]


def _plan(tx: Any, runtime: Any, md: MasterData, period: str, unit_code: str, kind: Optional[str]) -> Optional[_Plan]:
    """What a report of `unit_code` reads: the unit, its zone, the period, its offices and regions, the
    trend weeks and the windows (the period first, then the trend weeks); None for no such unit."""
    unit = md.unit(unit_code)
    if unit is None or unit.kind not in ("office", "region", "hq"):
        return None
    tz = unit_tz(tx, runtime, unit.code)
    start, end, kind = period_bounds(period, tz, kind)
    offices = [u.code for u in md.units_of_kind("office", under=unit.code)] if unit.kind != "office" else [unit.code]
    regions = [r for r in ([md.region_of(unit.code)] if unit.kind == "office" else
                           [unit] if unit.kind == "region" else md.units_of_kind("region", under=unit.code))
               if r is not None]
    weeks_of_trend = _trend_weeks(period, kind, end, tz)
    windows = [(to_us(start), to_us(end))] + [(to_us(s), to_us(e)) for s, e in
                                                (week_bounds(w, tz) for w in weeks_of_trend)]
    return unit, tz, start, end, kind, offices, regions, weeks_of_trend, windows


def _cells(plan: _Plan) -> list[counters.Cell]:
    """The counter cells a report reads: every unit's period; the trend weeks of the offices alone
    (the regions' figures, rvalid and qesc, count for the period only)."""
    _u, _tz, _s, _e, _k, offices, regions, _w, windows = plan
    return ([(u, *windows[0]) for u in offices + [r.code for r in regions]] +
            [(o, *w) for w in windows[1:] for o in offices])


def prepare_reports(tx: Any, runtime: Any, *, period: str, kind: str, unit_codes: list[str]) -> int:
    """In a write transaction: make the counter rows of every window the reports of `unit_codes` over
    `period` will read that has none yet (a review launch does it once for all its units, so each
    report is then read in a read-only transaction); the number of cells made. A unit that is no
    office, region or HQ is left to `build_report` to refuse."""
    md = MasterData(tx)
    cells: list[counters.Cell] = []
    for code in unit_codes:
        plan = _plan(tx, runtime, md, period, code, kind)
        if plan is not None:
            cells.extend(_cells(plan))
    return counters.seed_cells(tx, cells)


def build_report(tx: Any, runtime: Any, rules: ItrRules, *, period: str, unit_code: str, now: datetime,
                 kind: Optional[str] = None, types: Optional[list[str]] = None, create: bool = True) -> ItrReport:
    """The figures of one unit and period (`create=False`: in a read-only transaction, raise
    `counters.WindowsMissing` rather than make a window's counter rows). Period figures come from the report counters
    (flows/itr/counters.py, kept by the flow's own steps): index look-ups, whatever the number of issues;
    the "open now" figures read the open issues alone (partial index)."""
    md = MasterData(tx)
    plan = _plan(tx, runtime, md, period, unit_code, kind)
    if plan is None:
        raise ItrUsageError(t("itr.report_unit", code=unit_code, kind="office / region / hq"))
    unit, tz, start, end, kind, offices, regions, weeks_of_trend, windows = plan
    sel = sorted(types) if types else list(TYPES)
    units = offices + [r.code for r in regions]
    # The period's and the trend weeks' counter rows of the selected types in one read.
    every = counters.report_cells(tx, _cells(plan), create=create, types=sel)
    figs = {u: every[(u, *windows[0])] for u in units}

    def total(figure: str) -> int:
        return _sum(figs, offices, figure, sel)

    by_type = _by_type(figs, offices, "valid", sel)
    dispatched, wrong = total("disp1"), total("disp_wrong")
    closed, on_time = total("closed"), total("closed_ontime")
    urgent, urgent_cb, called = total("closed_urgent"), total("closed_urgent_cb"), total("closed_cb")
    score_n, score_sum = total("score_n"), total("score_sum")

    rates: list[UnitRate] = []
    for code in offices:
        rates.append(_unit_rate(rules, md.unit(code), _sum(figs, [code], "valid", sel),  # type: ignore[arg-type]
                                _sum(figs, [code], "qesc", sel)))
    for region in regions:
        rates.append(_unit_rate(rules, region, _sum(figs, [region.code], "rvalid", sel),
                                _sum(figs, [region.code], "qesc", sel)))

    # As of now: open QA cases, open issues without owner, open issues past their time limit.
    marks, params = _in("o", offices)
    p: dict[str, Any] = {**params, "yes": True}
    in_offices = f"i.office_code IN ({marks})"
    if types:  # e.g. the weekly office review of non-technical issues (SPEC §5)
        type_marks, type_params = _in("ty", sel)
        p.update(type_params)
        in_offices += f" AND i.type IN ({type_marks})"
    qa_open = int(tx.one(f"SELECT COUNT(*) FROM itr_qa_case q JOIN itr_issue i ON i.id = q.issue_id "
                         f"WHERE {in_offices} AND q.status = 'open'", p)[0])
    open_marks, open_params = _in("st", list(OPEN_STATES))
    p.update(open_params)
    # An open state is never resolved nor rejected: the two extra terms let the partial index
    # ix_itr_issue_office_open hold the open issues alone, however many are closed.
    open_rows = tx.all(f"SELECT i.handler_emp_no, i.sla_due_us FROM itr_issue i JOIN flow_instance f ON f.id = i.id "
                       f"WHERE {in_offices} AND i.resolved_us IS NULL AND i.valid AND f.state IN ({open_marks})", p)

    weeks = _weeks_of(period, kind, start, end, tz)
    short, negative = weekly_entries(tx, weeks, offices)
    return ItrReport(
        period=period, period_start=start.astimezone(tz).isoformat(), period_end=end.astimezone(tz).isoformat(),
        unit=unit.code, unit_kind=unit.kind, unit_name=unit.name, types=sorted(types or []),
        generated_at=now.astimezone(tz).isoformat(),
        new_valid_issues=sum(by_type.values()), new_issues_by_type=by_type, rejected=total("rejected"),
        dispatch=DispatchFigures(dispatched=dispatched, first_time_right=dispatched - wrong,
                                 accuracy=ratio(dispatched - wrong, dispatched)),
        closure=ClosureFigures(closed=closed, on_time=on_time, timely_rate=ratio(on_time, closed)),
        self_resolution=rates,
        escalations=EscalationFigures(granted=total("esc_granted"), refused=total("esc_refused"),
                                      overridden=total("esc_overridden"), automatic=total("esc_auto")),
        callbacks=CallbackFigures(
            closed=closed, called_back=called, coverage=ratio(called, closed), urgent_closed=urgent,
            urgent_called_back=urgent_cb, urgent_coverage=ratio(urgent_cb, urgent), scores=score_n,
            average_score=round(score_sum / score_n, 2) if score_n else None),
        qa_cases_open=qa_open, open_issues=len(open_rows),
        unowned_open=sum(1 for r in open_rows if r[0] is None),
        overdue_open=sum(1 for r in open_rows if r[1] is not None and int(r[1]) < to_us(now)),
        weekly_shortfalls=short, negative_scores=negative,
        trend=_trend(tx, weeks_of_trend, windows[1:], every, offices, sel))


T = TypeVar("T")


def read_report(db: Any, build: Callable[[Any, bool], T]) -> T:
    """`build(tx, create)` in a read-only transaction, the usual case (every window's counter rows
    exist); when a window is read for the first time, again in a write transaction that makes its
    rows and keeps them — in the read-only one they would be thrown away and made again at every read."""
    try:
        with db.read() as tx:
            return build(tx, False)
    except counters.WindowsMissing:
        with db.tx() as tx:
            return build(tx, True)


def _trend_weeks(period: str, kind: str, end: datetime, tz: Any) -> list[str]:
    """The TREND_WEEKS ISO weeks up to the period's last week, oldest first."""
    last = period if kind == "week" else week_of(end - timedelta(microseconds=1), tz)
    monday, _ = week_bounds(last, tz)
    return [week_of(monday - timedelta(weeks=k), tz) for k in range(TREND_WEEKS - 1, -1, -1)]


def _trend(tx: Any, weeks: list[str], windows: list[tuple[int, int]],
           every: dict[tuple[str, int, int], dict[str, dict[str, int]]], offices: list[str],
           sel: list[str]) -> list[TrendPoint]:
    """Each trend week's figures, from the counter rows read with the period's."""
    entries = {}
    for w in tx.all(f"SELECT week, COUNT(*) FROM itr_weekly_score WHERE kind = 'shortfall' AND week IN "
                    f"({_in('w', weeks)[0]}) AND office_code IN ({_in('o', offices)[0]}) GROUP BY week",
                    {**_in("w", weeks)[1], **_in("o", offices)[1]}):
        entries[str(w[0])] = int(w[1])
    out = []
    for week, window in zip(weeks, windows):
        figs = {o: every[(o, *window)] for o in offices}

        def total(figure: str) -> int:
            return _sum(figs, offices, figure, sel)

        dispatched, issues = total("disp1"), total("valid")
        out.append(TrendPoint(
            week=week, new_valid_issues=issues,
            dispatch_accuracy=ratio(dispatched - total("disp_wrong"), dispatched),
            timely_rate=ratio(total("closed_ontime"), total("closed")),
            self_resolution_rate=self_resolution_rate(issues, total("qesc")),
            escalations_granted=total("esc_granted"), escalations_refused=total("esc_refused"),
            escalations_overridden=total("esc_overridden"), shortfalls=entries.get(week, 0)))
    return out


def _unit_rate(rules: ItrRules, unit: Unit, issues: int, escalated: int) -> UnitRate:
    limit, minimum = rules.quota.limit(unit.kind), rules.quota.minimum(unit.kind)
    return UnitRate(unit=unit.code, kind=unit.kind, name=unit.name, issues=issues, escalated=escalated,
                    self_resolution_rate=self_resolution_rate(issues, escalated), quota=float(limit),
                    min_allowed=minimum, allowed=allowed_escalations(issues, limit, minimum),
                    within_quota=within_quota(issues, escalated, limit, minimum))


def weekly_entries(tx: Any, weeks: list[str], offices: list[str]) -> tuple[list[ShortfallEntry], list[NegativeEntry]]:
    if not weeks:
        return [], []
    wm, wp = _in("w", weeks)
    om, op = _in("o", offices)
    rows = tx.all(f"SELECT kind, week, office_code, team_code, customer_code, issue_id, valid_issues, required, "
                  f"points, reason FROM itr_weekly_score WHERE week IN ({wm}) AND office_code IN ({om}) "
                  "ORDER BY week, team_code, customer_code, id", {**wp, **op})
    short = [ShortfallEntry(week=r[1], office=r[2], team=r[3], customer=r[4], valid_issues=int(r[6] or 0),
                            required=int(r[7] or 0)) for r in rows if r[0] == "shortfall"]
    neg = [NegativeEntry(week=r[1], office=r[2], team=r[3], customer=r[4], issue=r[5], points=int(r[8]),
                         reason=r[9]) for r in rows if r[0] == "negative"]
    return short, neg


def run_weekly_check(tx: Any, runtime: Any, rules: ItrRules, week: str, now: datetime) -> WeeklyCheck:
    """Record a shortfall entry for each big customer with fewer valid issues than required in the week."""
    try:
        parse_week(week)
    except ValueError:
        raise ItrUsageError(t("itr.bad_week", week=week)) from None
    wq = rules.weekly_quota
    customers = MasterData(tx).big_customers(wq.revenue_line_usd)
    for cust in customers:
        start, end = week_bounds(week, unit_tz(tx, runtime, cust.office_code))
        count = int(tx.one("SELECT COUNT(*) FROM itr_issue WHERE customer_code = :c AND valid = :yes "
                           "AND opened_us >= :s AND opened_us < :e",
                           {"c": cust.code, "yes": True, "s": to_us(start), "e": to_us(end)})[0])
        if count >= wq.min_valid_issues:
            continue
        # Written once per week and customer: re-running the check changes nothing.
        tx.execute("INSERT INTO itr_weekly_score (key, week, kind, office_code, team_code, customer_code, issue_id, "
                   "valid_issues, required, points, reason, created_us) VALUES (:key, :week, 'shortfall', :office, "
                   ":team, :cust, NULL, :count, :req, 0, :reason, :now) ON CONFLICT (key) DO NOTHING",
                   {"key": f"shortfall:{week}:{cust.code}", "week": week, "office": cust.office_code,
                    "team": cust.team_code, "cust": cust.code, "count": count, "req": wq.min_valid_issues,
                    "reason": f"{count} < {wq.min_valid_issues}", "now": to_us(now)})
    offices = sorted({c.office_code for c in customers} | {r[0] for r in tx.all(
        "SELECT DISTINCT office_code FROM itr_weekly_score WHERE week = :w", {"w": week})})
    short, neg = weekly_entries(tx, [week], offices)
    return WeeklyCheck(week=week, revenue_line_usd=wq.revenue_line_usd, required=wq.min_valid_issues,
                       customers_checked=len(customers), shortfalls=short,
                       teams_short=sorted({s.team or s.office for s in short}), negative_scores=neg)

