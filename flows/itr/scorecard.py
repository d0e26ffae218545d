"""The unit scorecard (组织绩效): how one office or region did over a quarter or a month.

Figures: the self-resolution rate against the quota (问题自行解决率, from the same window counters the
escalate step keeps: flows/itr/counters.py), the unit's own escalation decisions (granted, refused,
overridden, automatic), dispatch first-time accuracy, timely closure and negative scores
(关键事件负向扣分). Dispatch, closure and negative scores are the monitoring report's own figures
(flows/itr/reports.py `build_report`, one call per month of the period), never computed twice.
"Too many escalations worsen the unit's scorecard": a unit past its allowance (the larger of the
share and the minimum of rules/itr.yaml) carries the concern `over_quota`, overrides `overridden`.

Who may read a unit's scorecard: the engine, operators, QA and sales management; otherwise the
heads (supervisor role) of the unit or of a unit above it. This module never reads the clock
(callers pass `now`) nor the rules folder (the registered rules come from the runtime).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel

from engine.auth.principal import Principal
from engine.clock import to_us
from engine.errors import NotVisible
from engine.i18n import t
from engine.masterdata.read import MasterData, Unit
from flows.itr import counters
from flows.itr.errors import ItrUsageError
from flows.itr.policy import allowed_escalations, month_bounds, ratio, self_resolution_rate, within_quota
from flows.itr.reports import build_report, unit_tz
from flows.itr.rules import ItrRules

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
KINDS = ("office", "region")


class ScorecardNotVisible(NotVisible):
    """You may not see this unit's scorecard."""

    code = "not_visible"


class QuotaFigures(BaseModel):
    """问题自行解决率 over the period, against the share and the minimum allowance of rules/itr.yaml."""

    issues: int
    escalated: int
    share_limit: float
    min_allowed: int
    allowed: int
    self_resolution_rate: Optional[float]
    target_rate: float
    within_quota: bool
    over_by: int


class DecisionFigures(BaseModel):
    """The unit's own escalation decisions (those that use its quota)."""

    granted: int
    refused: int
    overridden: int
    automatic: int


class RateFigures(BaseModel):
    base: int
    hits: int
    rate: Optional[float]


class NegativeFigures(BaseModel):
    entries: int
    points: int


class MonthFigures(BaseModel):
    month: str
    issues: int
    escalated: int
    self_resolution_rate: Optional[float]
    granted: int
    refused: int
    overridden: int
    dispatch_accuracy: Optional[float]
    timely_rate: Optional[float]
    negative_points: int


class Scorecard(BaseModel):
    unit: str
    unit_kind: str
    unit_name: str
    period: str
    period_kind: str
    period_start: str
    period_end: str
    generated_at: str
    quota: QuotaFigures
    escalations: DecisionFigures
    dispatch: RateFigures
    timely_closure: RateFigures
    negative_scores: NegativeFigures
    concerns: list[str]
    months: list[MonthFigures]


def parse_period(text: str) -> tuple[str, list[str]]:
    """'2026-Q4' → ('quarter', ['2026-10', '2026-11', '2026-12']); '2026-11' → ('month', ['2026-11'])."""
    value = str(text or "").strip()
    q = _QUARTER.match(value)
    if q:
        year, quarter = int(q[1]), int(q[2])
        return "quarter", [f"{year}-{m:02d}" for m in range(quarter * 3 - 2, quarter * 3 + 1)]
    m = _MONTH.match(value)
    if m and 1 <= int(m[2]) <= 12:
        return "month", [f"{int(m[1])}-{int(m[2]):02d}"]
    raise ItrUsageError(t("itr.scorecard.bad_period", period=value or "∅"))


def current_period(now: datetime, tz: Any) -> str:
    local = now.astimezone(tz)
    return f"{local.year}-Q{(local.month - 1) // 3 + 1}"


def _everyone(principal: Principal) -> bool:
    return principal.is_engine or principal.is_operator or principal.is_qa or principal.is_sales_management


def covers(tx: Any, principal: Principal, unit_code: str) -> bool:
    """The principal may read the unit's scorecard: a head of the unit or of a unit above it."""
    if _everyone(principal):
        return True
    md = MasterData(tx)
    return any(principal.emp_no in {p.emp_no for p in md.heads(u.code, ["supervisor"])} for u in md.unit_path(unit_code))


def units_covered(rt: Any, *, principal: Principal) -> list[Unit]:
    """The offices and regions whose scorecard the principal may read (for the page's choice)."""
    with rt.db.read() as tx:
        md = MasterData(tx)
        every = [u for kind in KINDS for u in md.units_of_kind(kind)]
        if _everyone(principal):
            return sorted(every, key=lambda u: (KINDS.index(u.kind), u.code))
        headed = {u.code for u in every if principal.emp_no in {p.emp_no for p in md.heads(u.code, ["supervisor"])}}
        if principal.unit_code and principal.emp_no in {p.emp_no for p in md.heads(principal.unit_code, ["supervisor"])}:
            headed.add(principal.unit_code)
        below = set().union(*(md.subtree(code) for code in headed)) if headed else set()
        return sorted((u for u in every if u.code in below), key=lambda u: (KINDS.index(u.kind), u.code))


def _decisions(tx: Any, unit: str, start_us: int, end_us: int) -> DecisionFigures:
    # The unit's own decisions: an index range on (unit_code, at_us), bounded by its escalations.
    rows = tx.all("SELECT decision, automatic, COUNT(*) FROM itr_escalation WHERE unit_code = :u AND at_us >= :s "
                  "AND at_us < :e GROUP BY decision, automatic", {"u": unit, "s": start_us, "e": end_us})
    by = {"granted": 0, "refused": 0, "overridden": 0}
    automatic = 0
    for decision, auto, n in rows:
        by[decision] = by.get(decision, 0) + int(n)
        automatic += int(n) if auto else 0
    return DecisionFigures(granted=by["granted"], refused=by["refused"], overridden=by["overridden"],
                           automatic=automatic)


def build_scorecard(tx: Any, runtime: Any, rules: ItrRules, *, unit_code: str, period: str,
                    now: datetime) -> Scorecard:
    """The scorecard of one office or region over a quarter ('2026-Q4') or a month ('2026-11').

    `tx` must be a writing transaction: a window counter row is made the first time it is read."""
    md = MasterData(tx)
    unit = md.unit(unit_code)
    if unit is None or unit.kind not in KINDS:
        raise ItrUsageError(t("itr.report_unit", code=unit_code, kind="office / region"))
    kind, months = parse_period(period)
    tz = unit_tz(tx, runtime, unit.code)
    start, end = month_bounds(months[0], tz)[0], month_bounds(months[-1], tz)[1]
    window = kind  # a calendar window of the counters: one row per unit, metric and period
    issues = counters.count(tx, "issues", unit.code, start, end, window=window, level=unit.kind)
    escalated = counters.count(tx, "esc", unit.code, start, end, window=window)
    limit, minimum = rules.quota.limit(unit.kind), rules.quota.minimum(unit.kind)
    allowed = allowed_escalations(issues, limit, minimum)
    rate = self_resolution_rate(issues, escalated)
    quota = QuotaFigures(issues=issues, escalated=escalated, share_limit=float(limit), min_allowed=minimum,
                         allowed=allowed, self_resolution_rate=rate, target_rate=round(1 - float(limit), 4),
                         within_quota=within_quota(issues, escalated, limit, minimum),
                         over_by=max(0, escalated - allowed))
    decisions = _decisions(tx, unit.code, to_us(start), to_us(end))
    per_month: list[MonthFigures] = []
    dispatched = right = closed = on_time = neg_entries = neg_points = 0
    for month in months:
        m_start, m_end = month_bounds(month, tz)
        # The report's own figures (dispatch, closure, negative scores) for the month.
        rep = build_report(tx, runtime, rules, period=month, unit_code=unit.code, now=now, kind="month")
        m_issues = counters.count(tx, "issues", unit.code, m_start, m_end, window="month", level=unit.kind)
        m_esc = counters.count(tx, "esc", unit.code, m_start, m_end, window="month")
        m_dec = _decisions(tx, unit.code, to_us(m_start), to_us(m_end))
        points = sum(n.points for n in rep.negative_scores)
        dispatched += rep.dispatch.dispatched
        right += rep.dispatch.first_time_right
        closed += rep.closure.closed
        on_time += rep.closure.on_time
        neg_entries += len(rep.negative_scores)
        neg_points += points
        per_month.append(MonthFigures(month=month, issues=m_issues, escalated=m_esc,
                                      self_resolution_rate=self_resolution_rate(m_issues, m_esc),
                                      granted=m_dec.granted, refused=m_dec.refused, overridden=m_dec.overridden,
                                      dispatch_accuracy=rep.dispatch.accuracy, timely_rate=rep.closure.timely_rate,
                                      negative_points=points))
    concerns = [c for c, hit in (("over_quota", not quota.within_quota), ("overridden", decisions.overridden > 0),
                                 ("negative_scores", neg_points < 0)) if hit]
    return Scorecard(
        unit=unit.code, unit_kind=unit.kind, unit_name=unit.name, period=period.strip(), period_kind=kind,
        period_start=start.astimezone(tz).isoformat(), period_end=end.astimezone(tz).isoformat(),
        generated_at=now.astimezone(tz).isoformat(), quota=quota, escalations=decisions,
        dispatch=RateFigures(base=dispatched, hits=right, rate=ratio(right, dispatched)),
        timely_closure=RateFigures(base=closed, hits=on_time, rate=ratio(on_time, closed)),
        negative_scores=NegativeFigures(entries=neg_entries, points=neg_points), concerns=concerns, months=per_month)


def scorecard(rt: Any, *, principal: Principal, unit: str, period: Optional[str] = None) -> Scorecard:
    """`mcr itr scorecard --unit OFF-SZ --period 2026-Q4`: one unit's scorecard, for someone who covers it
    (otherwise `ScorecardNotVisible`). Without a period: the quarter of now in the unit's zone."""
    rules = rt.current_rules().get("itr.yaml", ItrRules)
    now = rt.clock.now()
    with rt.db.tx() as tx:  # a counter row is made on first use
        found = MasterData(tx).unit(unit)
        if found is None or found.kind not in KINDS:
            raise ItrUsageError(t("itr.report_unit", code=unit, kind="office / region"))
        if not covers(tx, principal, found.code):
            raise ScorecardNotVisible(t("itr.scorecard.not_visible", actor=principal.actor, unit=found.code))
        return build_scorecard(tx, rt, rules, unit_code=found.code,
                               period=period or current_period(now, unit_tz(tx, rt, found.code)), now=now)


def _pct(value: Optional[float]) -> str:
    return "—" if value is None else f"{value:.1%}"


def figure_rows(card: Scorecard, locale: Optional[str] = None) -> list[tuple[str, str, str]]:
    """The scorecard as (figure, value, target or detail) rows in `locale` — the CLI's table and the page's."""
    q, e = card.quota, card.escalations

    def w(key: str, **kw: Any) -> str:
        return t(f"itr.scorecard.{key}", locale, **kw)

    return [
        (w("self_resolution"), _pct(q.self_resolution_rate),
         w("self_resolution_target", target=_pct(q.target_rate), issues=q.issues, escalated=q.escalated)),
        (w("allowed"), str(q.allowed), w("allowed_detail", share=f"{q.share_limit:.0%}", minimum=q.min_allowed)),
        (w("within_quota"), w("yes") if q.within_quota else w("no"), w("over_by", n=q.over_by) if q.over_by else ""),
        (w("granted"), str(e.granted), w("automatic", n=e.automatic) if e.automatic else ""),
        (w("refused"), str(e.refused), ""),
        (w("overridden"), str(e.overridden), ""),
        (w("dispatch_accuracy"), _pct(card.dispatch.rate), w("of", hits=card.dispatch.hits, base=card.dispatch.base)),
        (w("timely_closure"), _pct(card.timely_closure.rate),
         w("of", hits=card.timely_closure.hits, base=card.timely_closure.base)),
        (w("negative_scores"), str(card.negative_scores.points), w("entries", n=card.negative_scores.entries)),
    ]


def concern_titles(card: Scorecard, locale: Optional[str] = None) -> list[str]:
    return [t(f"itr.scorecard.concern.{c}", locale) for c in card.concerns]
