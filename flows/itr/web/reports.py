"""ITR report pages: the weekly office review and the monthly region/HQ quality analysis, with
charts, the trend over weeks, and an XLSX export of the same figures.

Every figure comes from `flows.itr.service.report` — the function behind `mcr itr report --json` —
called with the signed-in principal (the service refuses a unit the principal does not cover). The
page only lays the figures out: `figures(report)` names each one by its path in the JSON
(`dispatch.accuracy`), and the page, the XLSX and the tests all use that one list.
"""

from __future__ import annotations

import io
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.i18n import t
from engine.web import charts
from engine.web.deps import PagePrincipal, Runtime
from engine.web.nav import NavItem
from engine.web.pages.common import page

router = APIRouter()

# Office and region heads, sales management and QA read reports; the service decides which units.
NAV = [NavItem("itr_reports", "/itr/reports/weekly", "itr.report.web.nav", roles=("supervisor", "sales_management", "qa"),
               order=40)]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# (path in the report's JSON, catalogue key of its label, "pct" for a ratio shown as a percentage)
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("new_valid_issues", "itr.report.web.new_valid_issues", "n"),
    ("rejected", "itr.report.web.rejected", "n"),
    ("dispatch.dispatched", "itr.report.web.dispatched", "n"),
    ("dispatch.first_time_right", "itr.report.web.first_time_right", "n"),
    ("dispatch.accuracy", "itr.report.web.dispatch_accuracy", "pct"),
    ("closure.closed", "itr.report.web.closed", "n"),
    ("closure.on_time", "itr.report.web.on_time", "n"),
    ("closure.timely_rate", "itr.report.web.timely_rate", "pct"),
    ("open_issues", "itr.report.web.open_issues", "n"),
    ("unowned_open", "itr.report.web.unowned_open", "n"),
    ("overdue_open", "itr.report.web.overdue_open", "n"),
    ("escalations.granted", "itr.report.web.esc_granted", "n"),
    ("escalations.refused", "itr.report.web.esc_refused", "n"),
    ("escalations.overridden", "itr.report.web.esc_overridden", "n"),
    ("escalations.automatic", "itr.report.web.esc_automatic", "n"),
    ("callbacks.coverage", "itr.report.web.cb_coverage", "pct"),
    ("callbacks.urgent_coverage", "itr.report.web.cb_urgent_coverage", "pct"),
    ("callbacks.average_score", "itr.report.web.average_score", "n"),
    ("qa_cases_open", "itr.report.web.qa_open", "n"),
)


def value_at(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of the report's JSON (`dispatch.accuracy`)."""
    value: Any = data
    for part in path.split("."):
        value = value[part]
    return value


def figures(data: dict[str, Any], locale: str) -> list[dict[str, Any]]:
    """The headline figures, each with its path, label, raw value and the value as shown."""
    out = []
    for path, key, kind in FIGURES:
        value = value_at(data, path)
        shown = "—" if value is None else (f"{value * 100:.1f}%" if kind == "pct" else str(value))
        out.append({"path": path, "label": t(key, locale), "value": value, "shown": shown})
    return out


def _pct(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value * 100, 1)


def report_charts(data: dict[str, Any], locale: str) -> list[charts.Chart]:
    """The page's charts; each also shows its numbers as a table (engine/web/charts.py)."""
    def _(key: str, **kw: Any) -> str:
        return t(key, locale, **kw)

    by_type = data["new_issues_by_type"]
    rates = data["self_resolution"]
    trend = data["trend"]
    weeks = [p["week"] for p in trend]
    return [
        charts.bar("chart-new-issues", _("itr.report.web.chart_new_issues"),
                   [t(f"itr.type.{k}", locale) for k in by_type], {_("itr.report.web.new_valid_issues"): list(by_type.values())}),
        charts.bar("chart-self-resolution", _("itr.report.web.chart_self_resolution"),
                   [f"{r['name']} ({r['unit']})" for r in rates],
                   {_("itr.report.web.self_resolution_rate"): [_pct(r["self_resolution_rate"]) for r in rates],
                    _("itr.report.web.quota_floor"): [round((1 - r["quota"]) * 100, 1) for r in rates]}, unit="%"),
        charts.bar("chart-escalations", _("itr.report.web.chart_escalations"),
                   [_("itr.report.web.esc_granted"), _("itr.report.web.esc_refused"), _("itr.report.web.esc_overridden")],
                   {_("itr.report.web.escalations"): [data["escalations"]["granted"], data["escalations"]["refused"],
                                                      data["escalations"]["overridden"]]}),
        charts.line("chart-trend-rates", _("itr.report.web.chart_trend_rates"), weeks,
                    {_("itr.report.web.dispatch_accuracy"): [_pct(p["dispatch_accuracy"]) for p in trend],
                     _("itr.report.web.timely_rate"): [_pct(p["timely_rate"]) for p in trend],
                     _("itr.report.web.self_resolution_rate"): [_pct(p["self_resolution_rate"]) for p in trend]},
                    unit="%"),
        charts.bar("chart-trend-issues", _("itr.report.web.chart_trend_issues"), weeks,
                   {_("itr.report.web.new_valid_issues"): [p["new_valid_issues"] for p in trend],
                    _("itr.report.web.esc_granted"): [p["escalations_granted"] for p in trend],
                    _("itr.report.web.esc_refused"): [p["escalations_refused"] for p in trend],
                    _("itr.report.web.shortfalls"): [p["shortfalls"] for p in trend]}),
    ]


def _default_unit(rt: Any, principal: Any, kind: str) -> str:
    """The principal's own unit (monthly: its region, or HQ), else the first unit they may read."""
    from flows.itr import service

    units = service.report_units(rt, principal=principal)
    codes = {c: k for c, k, _n in units}
    if principal.unit_code in codes:
        if kind == "week" or codes[principal.unit_code] != "office":
            return str(principal.unit_code)
        with rt.db.read() as tx:
            from engine.masterdata.read import MasterData

            region = MasterData(tx).region_of(principal.unit_code)
        if region is not None and region.code in codes:
            return region.code
    wanted = "office" if kind == "week" else "region"
    for code, k, _n in units:
        if k == wanted:
            return code
    return units[0][0] if units else (principal.unit_code or "")


def _report(rt: Any, principal: Any, kind: str, unit: Optional[str], period: Optional[str],
            types: Optional[list[str]] = None) -> tuple[Any, str, str]:
    from flows.itr import service
    from flows.itr.policy import week_of
    from flows.itr.reports import unit_tz

    code = (unit or "").strip() or _default_unit(rt, principal, kind)
    if not (period or "").strip():
        with rt.db.read() as tx:
            tz = unit_tz(tx, rt, code)
        now = rt.clock.now().astimezone(tz)
        period = week_of(now, tz) if kind == "week" else now.strftime("%Y-%m")
    period = str(period).strip()
    rep = service.report(rt, principal=principal, unit=code, types=types or None,
                         **({"week": period} if kind == "week" else {"month": period}))
    return rep, code, period


def _page(request: Request, rt: Any, principal: Any, kind: str, unit: Optional[str], period: Optional[str]) -> Response:
    from flows.itr import service

    rep, code, period = _report(rt, principal, kind, unit, period)
    data = rep.model_dump(mode="json")
    locale = principal.locale
    return page(request, "itr/report.html", {
        "nav": "itr_reports", "kind": kind, "report": data, "unit": code, "period": period,
        "figures": figures(data, locale), "charts": report_charts(data, locale),
        "units": service.report_units(rt, principal=principal),
        "xlsx": f"/itr/reports/{'weekly' if kind == 'week' else 'monthly'}.xlsx?unit={code}&"
                f"{'week' if kind == 'week' else 'month'}={period}",
    }, principal=principal)


@router.get("/itr/reports", response_class=HTMLResponse)
def reports_home(request: Request, rt: Runtime, principal: PagePrincipal,
                 unit: Optional[str] = None, week: Optional[str] = None) -> Response:
    return _page(request, rt, principal, "week", unit, week)


@router.get("/itr/reports/weekly", response_class=HTMLResponse)
def weekly_page(request: Request, rt: Runtime, principal: PagePrincipal,
                unit: Optional[str] = None, week: Optional[str] = None) -> Response:
    """The weekly office review (代表处问题周例会) of one unit and ISO week."""
    return _page(request, rt, principal, "week", unit, week)


@router.get("/itr/reports/monthly", response_class=HTMLResponse)
def monthly_page(request: Request, rt: Runtime, principal: PagePrincipal,
                 unit: Optional[str] = None, month: Optional[str] = None) -> Response:
    """The monthly quality analysis (问题质量月度分析) of a region or HQ (or an office) and month."""
    return _page(request, rt, principal, "month", unit, month)


@router.get("/itr/reports/weekly.xlsx")
def weekly_xlsx(rt: Runtime, principal: PagePrincipal, unit: Optional[str] = None,
                week: Optional[str] = None) -> Response:
    return _xlsx_response(rt, principal, "week", unit, week)


@router.get("/itr/reports/monthly.xlsx")
def monthly_xlsx(rt: Runtime, principal: PagePrincipal, unit: Optional[str] = None,
                 month: Optional[str] = None) -> Response:
    return _xlsx_response(rt, principal, "month", unit, month)


def _xlsx_response(rt: Any, principal: Any, kind: str, unit: Optional[str], period: Optional[str]) -> Response:
    rep, code, period = _report(rt, principal, kind, unit, period)
    body = workbook(rep.model_dump(mode="json"), principal.locale)
    return Response(body, media_type=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="itr-report-{code}-{period}.xlsx"'})


def workbook(data: dict[str, Any], locale: str) -> bytes:
    """The report as an XLSX workbook: the headline figures (path, label, value — ratios as fractions,
    exactly as in the JSON), the self-resolution rates, the trend, shortfalls and negative scores."""
    from openpyxl import Workbook

    def _(key: str) -> str:
        return t(key, locale)

    wb = Workbook()
    ws = wb.active
    ws.title = "figures"
    ws.append([_("itr.report.web.unit"), data["unit"], data["unit_name"]])
    ws.append([_("itr.report.web.period"), data["period"], f"{data['period_start'][:10]} – {data['period_end'][:10]}"])
    ws.append([])
    ws.append(["path", _("itr.report.web.figure"), _("itr.report.web.value")])
    for f in figures(data, locale):
        ws.append([f["path"], f["label"], f["value"]])
    for ty, n in data["new_issues_by_type"].items():
        ws.append([f"new_issues_by_type.{ty}", t(f"itr.type.{ty}", locale), n])
    rates = wb.create_sheet("self_resolution")
    rates.append(["unit", "name", "kind", _("itr.report.web.issues"), _("itr.report.web.escalated"),
                  _("itr.report.web.self_resolution_rate"), _("itr.report.web.quota"), _("itr.report.web.allowed"),
                  _("itr.report.web.within_quota")])
    for r in data["self_resolution"]:
        rates.append([r["unit"], r["name"], r["kind"], r["issues"], r["escalated"], r["self_resolution_rate"], r["quota"],
                      r["allowed"], r["within_quota"]])
    trend = wb.create_sheet("trend")
    keys = ["week", "new_valid_issues", "dispatch_accuracy", "timely_rate", "self_resolution_rate",
            "escalations_granted", "escalations_refused", "escalations_overridden", "shortfalls"]
    trend.append(keys)
    for p in data["trend"]:
        trend.append([p[k] for k in keys])
    short = wb.create_sheet("shortfalls")
    short.append(["week", "office", "team", "customer", "valid_issues", "required"])
    for s in data["weekly_shortfalls"]:
        short.append([s["week"], s["office"], s["team"], s["customer"], s["valid_issues"], s["required"]])
    neg = wb.create_sheet("negative_scores")
    neg.append(["week", "office", "team", "customer", "issue", "points", "reason"])
    for n in data["negative_scores"]:
        neg.append([n["week"], n["office"], n["team"], n["customer"], n["issue"], n["points"], n["reason"]])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
