"""The unit scorecard per period (组织绩效记分卡): the page `/itr/scorecard` and the JSON `/api/itr/scorecard`.

Both call `flows.itr.scorecard.scorecard` with the signed-in principal; the service decides who may
read which unit (heads of the unit or above, sales management, QA). The page shows the figures as a
table and two charts (engine/web/charts.py), each with its numbers as a table too.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from engine.i18n import t
from engine.web.charts import Chart, bar
from engine.web.deps import ApiPrincipal, PagePrincipal, Runtime
from engine.web.nav import NavItem
from engine.web.pages.common import opt, page

router = APIRouter()

NAV = [NavItem("itr_scorecard", "/itr/scorecard", "itr.scorecard.web.nav",
               roles=("supervisor", "sales_management", "qa"), order=60)]


def _pct(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value * 100, 1)


def charts(card: Any, locale: str) -> list[Chart]:
    """Rates per month against the self-resolution target, and the unit's escalation decisions per month."""
    months = [m.month for m in card.months]
    w = lambda key: t(f"itr.scorecard.{key}", locale)  # noqa: E731
    rates = bar("itr-scorecard-rates", t("itr.scorecard.web.chart_rates", locale), months, {
        w("self_resolution"): [_pct(m.self_resolution_rate) for m in card.months],
        t("itr.scorecard.web.target", locale): [_pct(card.quota.target_rate) for _ in card.months],
        w("dispatch_accuracy"): [_pct(m.dispatch_accuracy) for m in card.months],
        w("timely_closure"): [_pct(m.timely_rate) for m in card.months],
    }, unit="%")
    decisions = bar("itr-scorecard-escalations", t("itr.scorecard.web.chart_escalations", locale), months, {
        w("granted"): [float(m.granted) for m in card.months],
        w("refused"): [float(m.refused) for m in card.months],
        w("overridden"): [float(m.overridden) for m in card.months],
    }, stacked=True)
    return [rates, decisions]


@router.get("/itr/scorecard", response_class=HTMLResponse)
def scorecard_page(request: Request, rt: Runtime, principal: PagePrincipal, unit: Optional[str] = None,
                   period: Optional[str] = None) -> Response:
    from flows.itr import scorecard as sc

    units = sc.units_covered(rt, principal=principal)
    code = opt(unit) or next((u.code for u in units if u.code == principal.unit_code), None) or \
        (units[0].code if units else None)
    card = sc.scorecard(rt, principal=principal, unit=code, period=opt(period)) if code else None
    return page(request, "itr/scorecard.html", {
        "units": units, "unit": code, "period": card.period if card else (opt(period) or ""), "card": card,
        "rows": sc.figure_rows(card, principal.locale) if card else [],
        "concerns": sc.concern_titles(card, principal.locale) if card else [],
        "charts": charts(card, principal.locale) if card else [], "nav": "itr_scorecard"}, principal=principal)


@router.get("/api/itr/scorecard")
def scorecard_api(rt: Runtime, principal: ApiPrincipal, unit: str, period: Optional[str] = None) -> Response:
    """The unit's scorecard as JSON (`period`: 2026-Q4 or 2026-11; default the current quarter)."""
    from flows.itr import scorecard as sc

    card = sc.scorecard(rt, principal=principal, unit=unit, period=opt(period))
    return JSONResponse(card.model_dump(mode="json"))
