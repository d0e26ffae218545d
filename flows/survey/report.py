"""Satisfaction analysis (满意度分析): `mcr survey report --year 2026 [--json] [--html FILE]`.

Scores of the third-party survey by product, by service phase (售前 / 售中 / 售后) and by brand
aspect; per region, office and customer tier (as they were when the results were imported); the
trend over the years up to the one asked; and the post-project and activity callbacks of the
year. Every list is sorted lowest average first — the items to improve come first. The HTML
page is self-contained: inline CSS and SVG charts drawn here, no script, nothing fetched.

Read-only; figures are plain averages of the 1–5 scores, rounded to two decimals.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from engine.clock import to_us

from engine.i18n import label
from flows.survey.rules import CALLBACK_ITEMS, PHASES

REPORT_TZ = ZoneInfo("Asia/Shanghai")


def _avg(values: list[int]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _group(rows: Iterable[Any], key: Any, low_below: int, labeller: Any = None) -> list[dict[str, Any]]:
    groups: dict[Any, list[int]] = defaultdict(list)
    for r in rows:
        k = key(r)
        if k is not None:
            groups[k].append(r["score"])
    out = []
    for k, scores in groups.items():
        entry = {"key": k, "average": _avg(scores), "count": len(scores),
                 "low_share": round(sum(1 for s in scores if s < low_below) / len(scores), 4)}
        if labeller is not None:
            entry["label"] = labeller(k)
        out.append(entry)
    return sorted(out, key=lambda e: (e["average"], str(e["key"])))


def customer_summary(rows: list[Any], low_below: int = 3) -> dict[str, Any]:
    """What the team's mail shows first: averages per category and per item, lowest first."""
    dicts = [r.as_dict() if hasattr(r, "as_dict") else r for r in rows]
    scores = [r["score"] for r in dicts]
    return {"average": _avg(scores), "count": len(scores),
            "low": sum(1 for s in scores if s < low_below),
            "by_category": _group(dicts, lambda r: r["category"], low_below),
            "by_item": [{**e, "category": e["key"][0], "item": e["key"][1]}
                        for e in _group(dicts, lambda r: (r["category"], r["item"]), low_below)]}


def _year_bounds(year: int) -> tuple[int, int]:
    start = datetime(year, 1, 1, tzinfo=REPORT_TZ).astimezone(timezone.utc)
    end = datetime(year + 1, 1, 1, tzinfo=REPORT_TZ).astimezone(timezone.utc)
    return to_us(start), to_us(end)


def build_report(tx: Any, year: int, *, lowest: int = 10, low_below: int = 3, locale: str | None = None) -> dict[str, Any]:
    """The report as a JSON-able dict (read through `tx`)."""
    cols = ("year", "customer_code", "contact_code", "category", "item", "score", "tier", "office_code", "region_code")
    rows = [dict(zip(cols, r)) for r in tx.all(
        f"SELECT {', '.join(cols)} FROM survey_result WHERE year <= :y ORDER BY year, id", {"y": year})]
    this_year = [r for r in rows if r["year"] == year]
    units = {r[0]: r[1] for r in tx.all("SELECT code, name FROM org_unit")}

    def item_label(key: Any) -> str:
        cat, item = key
        return f"{label('survey.category', cat, locale)} · {label('survey.phase', item, locale) if cat == 'service' else item}"

    scores = [r["score"] for r in this_year]
    report: dict[str, Any] = {
        "year": year,
        "responses": len(this_year),
        "customers": len({r["customer_code"] for r in this_year}),
        "contacts": len({r["contact_code"] for r in this_year if r["contact_code"]}),
        "average": _avg(scores),
        "low_share": round(sum(1 for s in scores if s < low_below) / len(scores), 4) if scores else None,
        "low_score_below": low_below,
        "by_category": _group(this_year, lambda r: r["category"], low_below, lambda k: label("survey.category", k, locale)),
        "by_product": _group(this_year, lambda r: r["item"] if r["category"] == "product" else None, low_below,
                             lambda k: k),
        "by_phase": _group(this_year, lambda r: r["item"] if r["category"] == "service" else None, low_below,
                           lambda k: label("survey.phase", k, locale)),
        "by_brand": _group(this_year, lambda r: r["item"] if r["category"] == "brand" else None, low_below,
                           lambda k: k),
        "by_region": _group(this_year, lambda r: r["region_code"], low_below, lambda k: units.get(k, k)),
        "by_office": _group(this_year, lambda r: r["office_code"], low_below, lambda k: units.get(k, k)),
        "by_tier": _group(this_year, lambda r: r["tier"], low_below, lambda k: label("survey.tier", k, locale)),
    }
    items = _group(this_year, lambda r: (r["category"], r["item"]), low_below, item_label)
    report["lowest_items"] = [{"category": e["key"][0], "item": e["key"][1], "label": e["label"],
                               "average": e["average"], "count": e["count"], "low_share": e["low_share"]}
                              for e in items[:lowest]]
    trend = []
    for y in sorted({r["year"] for r in rows}):
        ys = [r for r in rows if r["year"] == y]
        trend.append({"year": y, "average": _avg([r["score"] for r in ys]), "count": len(ys),
                      "by_category": {e["key"]: e["average"] for e in _group(ys, lambda r: r["category"], low_below)}})
    report["trend"] = trend
    report["callbacks"] = _callbacks(tx, year, low_below)
    return report


def _callbacks(tx: Any, year: int, low_below: int) -> dict[str, Any]:
    start, end = _year_bounds(year)
    proj = tx.all("SELECT product, solution, delivery, service_attitude, improvement_issue_id, low_items "
                  "FROM survey_callback WHERE kind = 'project' AND reached = :t AND at_us >= :a AND at_us < :b",
                  {"t": True, "a": start, "b": end})
    by_item = {item: _avg([r[i] for r in proj if r[i] is not None]) for i, item in enumerate(CALLBACK_ITEMS)}
    act = tx.all("SELECT score FROM survey_callback WHERE kind = 'activity' AND reached = :t AND at_us >= :a AND at_us < :b",
                 {"t": True, "a": start, "b": end})
    return {
        "projects": {"count": len(proj),
                     "by_item": sorted(({"item": k, "label": label("survey.item", k), "average": v}
                                        for k, v in by_item.items() if v is not None),
                                       key=lambda e: (e["average"], e["item"])),
                     "low": sum(1 for r in proj if json.loads(r[5] or "[]")),
                     "improvement_issues": sum(1 for r in proj if r[4] is not None)},
        "activities": {"count": len(act), "average": _avg([r[0] for r in act if r[0] is not None])},
    }


# ============================================================================================ HTML

_CSS = """
body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",Arial,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
.kpis{display:flex;gap:16px;flex-wrap:wrap}.kpi{border:1px solid #ddd;border-radius:6px;padding:10px 16px;min-width:130px}
.kpi b{display:block;font-size:24px}.muted{color:#777;font-size:12px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #e2e2e2;padding:3px 8px;text-align:left}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px 28px}
"""


def _colour(value: float | None) -> str:
    if value is None:
        return "#bbb"
    if value < 3:
        return "#d9534f"
    if value < 4:
        return "#f0ad4e"
    return "#5cb85c"


def bar_chart(entries: list[dict[str, Any]], *, width: int = 520) -> str:
    """Horizontal bars on a 0–5 scale, one per entry (already sorted lowest first)."""
    if not entries:
        return "<p class='muted'>—</p>"
    row_h, left, right = 24, 190, 50
    height = row_h * len(entries) + 24
    scale = (width - left - right) / 5.0
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"]
    for tick in range(6):
        x = left + tick * scale
        parts.append(f"<line x1='{x:.1f}' y1='0' x2='{x:.1f}' y2='{height - 18}' stroke='#eee'/>"
                     f"<text x='{x:.1f}' y='{height - 4}' font-size='11' text-anchor='middle' fill='#888'>{tick}</text>")
    for i, e in enumerate(entries):
        y = i * row_h + 4
        avg = e.get("average")
        w = (avg or 0) * scale
        name = html.escape(str(e.get("label", e.get("key"))))
        parts.append(f"<text x='{left - 6}' y='{y + 14}' font-size='12' text-anchor='end'>{name}</text>"
                     f"<rect x='{left}' y='{y}' width='{w:.1f}' height='{row_h - 8}' fill='{_colour(avg)}' rx='2'>"
                     f"<title>{name}: {avg} (n={e.get('count', '')})</title></rect>"
                     f"<text x='{left + w + 4:.1f}' y='{y + 14}' font-size='12'>{'' if avg is None else f'{avg:.2f}'}</text>")
    parts.append("</svg>")
    return "".join(parts)


def line_chart(trend: list[dict[str, Any]], *, width: int = 520, height: int = 220) -> str:
    """The yearly average (and each category's) on a 1–5 scale."""
    if not trend:
        return "<p class='muted'>—</p>"
    left, right, top, bottom = 36, 90, 12, 28
    years = [t["year"] for t in trend]
    span = max(1, len(years) - 1)
    sx = (width - left - right) / span
    sy = (height - top - bottom) / 4.0

    def pt(i: int, v: float) -> tuple[float, float]:
        return left + i * sx, top + (5 - v) * sy

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img'>"]
    for v in range(1, 6):
        _, y = pt(0, v)
        parts.append(f"<line x1='{left}' y1='{y:.1f}' x2='{width - right}' y2='{y:.1f}' stroke='#eee'/>"
                     f"<text x='{left - 6}' y='{y + 4:.1f}' font-size='11' text-anchor='end' fill='#888'>{v}</text>")
    for i, yr in enumerate(years):
        x, _ = pt(i, 1)
        parts.append(f"<text x='{x:.1f}' y='{height - 8}' font-size='11' text-anchor='middle'>{yr}</text>")
    series = [("average", label("survey.item", "overall"), "#333")]
    palette = {"product": "#337ab7", "service": "#8e44ad", "brand": "#16a085"}
    series += [(c, label("survey.category", c), palette[c]) for c in ("product", "service", "brand")]
    for n, (key, name, colour) in enumerate(series):
        pts = []
        for i, t in enumerate(trend):
            v = t["average"] if key == "average" else t["by_category"].get(key)
            if v is not None:
                pts.append(pt(i, v))
        if not pts:
            continue
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        parts.append(f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='{3 if n == 0 else 1.5}'/>")
        parts.extend(f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{colour}'/>" for x, y in pts)
        parts.append(f"<text x='{width - right + 6}' y='{top + 14 * n + 10}' font-size='11' fill='{colour}'>"
                     f"{html.escape(name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


_TITLES = {
    "title": ("{year} 年客户满意度分析", "Customer satisfaction {year}"),
    "responses": ("评分条数", "scores"), "customers": ("客户数", "customers"), "contacts": ("受访人数", "respondents"),
    "average": ("平均分", "average"), "low_share": ("低分占比（< {low}）", "low share (< {low})"),
    "lowest": ("最低的评价项（优先改进）", "Lowest items (improve first)"),
    "by_category": ("按类别", "By category"), "by_product": ("按产品", "By product"),
    "by_phase": ("按服务阶段（售前/售中/售后）", "By service phase (pre-/in-/after-sale)"),
    "by_brand": ("按品牌", "By brand"), "by_region": ("按地区部", "By region"), "by_office": ("按代表处", "By office"),
    "by_tier": ("按客户级别", "By customer tier"), "trend": ("历年趋势", "Trend over the years"),
    "callbacks": ("项目回访与活动回访", "Project and activity callbacks"),
    "cb_projects": ("项目回访 {n} 次，低分 {low} 次，开立改进问题 {issues} 个",
                    "{n} project callback(s), {low} with a low score, {issues} improvement issue(s) opened"),
    "cb_activities": ("活动回访 {n} 次，平均 {avg}", "{n} activity callback(s), average {avg}"),
    "item": ("评价项", "item"), "n": ("条数", "n"), "note": ("自动生成，不含任何脚本或外部资源。", "Generated; no script, no external resource."),
}


def _t(key: str, locale: str | None, **kw: Any) -> str:
    from engine.i18n import locale as current

    zh, en = _TITLES[key]
    return (en if (locale or current()) == "en" else zh).format(**kw)


def render_html(report: dict[str, Any], locale: str | None = None) -> str:
    def kpi(name: str, value: Any) -> str:
        return f"<div class='kpi'><span class='muted'>{html.escape(name)}</span><b>{html.escape(str(value))}</b></div>"

    low = report.get("low_share")
    out = ["<!DOCTYPE html><html lang='", "en" if (locale == "en") else "zh-CN", "'><head><meta charset='utf-8'>",
           f"<title>{html.escape(_t('title', locale, year=report['year']))}</title><style>{_CSS}</style></head><body>",
           f"<h1>{html.escape(_t('title', locale, year=report['year']))}</h1><div class='kpis'>",
           kpi(_t("average", locale), report["average"] if report["average"] is not None else "—"),
           kpi(_t("responses", locale), report["responses"]), kpi(_t("customers", locale), report["customers"]),
           kpi(_t("contacts", locale), report["contacts"]),
           kpi(_t("low_share", locale, low=report["low_score_below"]), f"{low:.1%}" if low is not None else "—"),
           "</div>"]
    out.append(f"<h2>{_t('lowest', locale)}</h2>")
    out.append(bar_chart(report["lowest_items"], width=720))
    out.append("<table><tr><th>#</th><th>" + _t("item", locale) + "</th><th>" + _t("average", locale) + "</th><th>"
               + _t("n", locale) + "</th><th>" + _t("low_share", locale, low=report["low_score_below"]) + "</th></tr>")
    for i, e in enumerate(report["lowest_items"], start=1):
        out.append(f"<tr><td>{i}</td><td>{html.escape(e['label'])}</td><td>{e['average']:.2f}</td><td>{e['count']}</td>"
                   f"<td>{e['low_share']:.0%}</td></tr>")
    out.append("</table><div class='grid'>")
    for key in ("by_category", "by_phase", "by_product", "by_brand", "by_region", "by_office", "by_tier"):
        out.append(f"<div><h2>{_t(key, locale)}</h2>{bar_chart(report[key])}</div>")
    out.append(f"<div><h2>{_t('trend', locale)}</h2>{line_chart(report['trend'])}</div></div>")
    cb = report["callbacks"]
    out.append(f"<h2>{_t('callbacks', locale)}</h2><p>"
               + html.escape(_t("cb_projects", locale, n=cb["projects"]["count"], low=cb["projects"]["low"],
                                issues=cb["projects"]["improvement_issues"])) + "</p>")
    out.append(bar_chart(cb["projects"]["by_item"]))
    avg = cb["activities"]["average"]
    out.append("<p>" + html.escape(_t("cb_activities", locale, n=cb["activities"]["count"],
                                      avg="—" if avg is None else f"{avg:.2f}")) + "</p>")
    out.append(f"<p class='muted'>{_t('note', locale)}</p></body></html>")
    return "".join(out)


__all__ = ["build_report", "customer_summary", "render_html", "bar_chart", "line_chart", "PHASES"]
