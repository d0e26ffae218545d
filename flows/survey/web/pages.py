"""Survey pages (/surveys): the callbacks to make and record, the annual sample list edited with its size and
level-ratio checks shown live (htmx), the survey firm's results uploaded, the satisfaction report with charts,
project quality ratings and the improvement items of the annual survey.

Handlers read the form and call flows/survey/service.py and flows/survey/quality.py with the principal; those
decide who may see and do what (flows/survey/rights.py). A refused or bad input comes back as the page with the
problems listed (422) or the error page; nothing is half-written.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.i18n import label, t
from engine.web import charts
from engine.web.deps import CsrfChecked, PagePrincipal, Runtime
from engine.web.nav import NavItem
from engine.web.pages.common import form_of, office_tz, opt, page, see_other

router = APIRouter()
NAV = [NavItem("surveys", "/surveys", "survey.web.nav", order=60)]


def _year(rt: Any, principal: Any, year: Optional[int]) -> int:
    return int(year) if year else rt.clock.now().astimezone(office_tz(rt, principal)).year


# ---------------------------------------------------------------------------------------------- callbacks


@router.get("/surveys", response_class=HTMLResponse)
def surveys_page(request: Request, rt: Runtime, principal: PagePrincipal) -> Response:
    from flows.survey import service

    todo = service.open_callbacks(rt, principal=principal)
    done = list(reversed(service.callbacks(rt.db, principal=principal)))[:30]
    return page(request, "survey/surveys.html", {"nav": "surveys", "todo": todo, "done": done},
                principal=principal)


def _callback(request: Request, rt: Any, principal: Any, instance_id: int, *, problems: list[str] | None = None,
              form: dict[str, str] | None = None, status_code: int = 200) -> Response:
    from flows.survey import service

    cb = service.callback_page(rt, instance_id, principal=principal)
    return page(request, "survey/callback.html", {"nav": "surveys", "cb": cb, "problems": problems or [],
                                                 "form": form or {}, "saved": request.query_params.get("saved")},
                principal=principal, status_code=status_code)


@router.get("/surveys/callbacks/{instance_id}", response_class=HTMLResponse)
def callback_page(request: Request, instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    return _callback(request, rt, principal, instance_id)


@router.post("/surveys/callbacks/{instance_id}", dependencies=[CsrfChecked])
async def callback_record(request: Request, instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    """Record the scores (or an attempt that did not reach the contact, or a cancellation with its reason)."""
    from engine.errors import ActionFailed, ActionNotPermitted
    from flows.survey import service

    form = await form_of(request)
    event = form.get("event") or "record"
    if event not in ("record", "cancel"):
        event = "record"
    try:
        service.take_action(rt, instance_id, event, principal=principal, form=form,
                            client_event_id=form.get("client_event_id"))
    except ActionNotPermitted:
        raise
    except ActionFailed as exc:  # a score out of range, a contact not invited: shown on the form
        return _callback(request, rt, principal, instance_id, problems=[str(exc)], form=form, status_code=422)
    return see_other(f"/surveys/callbacks/{instance_id}?saved=1")


# ---------------------------------------------------------------------------------------------- sample lists


@router.get("/surveys/samples", response_class=HTMLResponse)
def samples_page(request: Request, rt: Runtime, principal: PagePrincipal, year: Optional[int] = None) -> Response:
    from flows.survey import service

    y = _year(rt, principal, year)
    rows = service.sample_overview(rt, y, principal=principal)
    return page(request, "survey/samples.html", {"nav": "surveys", "year": y, "rows": rows}, principal=principal)


async def _picked_rows(request: Request) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The editor's form: a checkbox `pick` per contact in the list and its method `method_<code>`."""
    form = await request.form()
    picks = [str(v) for v in form.getlist("pick")]
    rows = [{"contact": code, "method": str(form.get(f"method_{code}") or "")} for code in picks]
    flat = {k: v for k, v in form.items() if isinstance(v, str)}
    return rows, flat


def _editor(request: Request, rt: Any, principal: Any, customer: str, year: int, *,
            rows: list[dict[str, Any]] | None = None, problems: list[str] | None = None,
            status_code: int = 200) -> Response:
    from flows.survey import service

    ed = service.sample_editor(rt, customer, year, principal=principal)
    if rows is not None:  # a refused submission: show what was sent, not what is stored
        ed["entries"] = {r["contact"]: r["method"] for r in rows}
    current = [{"contact": c, "method": m} for c, m in ed["entries"].items()]
    check = service.preview_sample_list(rt, customer, year, principal=principal, rows=current)
    return page(request, "survey/sample_edit.html",
                {"nav": "surveys", "ed": ed, "check": check, "problems": problems or [],
                 "saved": request.query_params.get("saved")}, principal=principal, status_code=status_code)


@router.get("/surveys/samples/{customer}", response_class=HTMLResponse)
def sample_edit_page(request: Request, customer: str, rt: Runtime, principal: PagePrincipal,
                     year: Optional[int] = None) -> Response:
    return _editor(request, rt, principal, customer, _year(rt, principal, year))


@router.post("/surveys/samples/{customer}/check", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def sample_check(request: Request, customer: str, rt: Runtime, principal: PagePrincipal,
                       year: Optional[int] = None) -> Response:
    """htmx: the checks of the list as it is being edited (size, level shares, problems); stores nothing."""
    from flows.survey import service

    rows, _ = await _picked_rows(request)
    y = _year(rt, principal, year)
    check = service.preview_sample_list(rt, customer, y, principal=principal, rows=rows)
    return page(request, "survey/_sample_check.html", {"check": check}, principal=principal)


@router.post("/surveys/samples/{customer}", dependencies=[CsrfChecked])
async def sample_submit(request: Request, customer: str, rt: Runtime, principal: PagePrincipal,
                        year: Optional[int] = None) -> Response:
    from engine.errors import ImportRejected, MCRError
    from flows.survey import service

    rows, form = await _picked_rows(request)
    y = _year(rt, principal, year)
    try:
        service.submit_sample_list(rt, customer, y, principal=principal, rows=rows,
                                   client_event_id=form.get("client_event_id"))
    except ImportRejected as exc:
        return _editor(request, rt, principal, customer, y, rows=rows, problems=[p.message for p in exc.problems],
                       status_code=422)
    except MCRError as exc:
        from engine.errors import NotPermitted, NotVisible

        if isinstance(exc, (NotVisible, NotPermitted)):
            raise
        return _editor(request, rt, principal, customer, y, rows=rows, problems=[str(exc)], status_code=422)
    return see_other(f"/surveys/samples/{customer}?year={y}&saved=1")


# ---------------------------------------------------------------------------------------------- results


@router.get("/surveys/results", response_class=HTMLResponse)
def results_page(request: Request, rt: Runtime, principal: PagePrincipal, year: Optional[int] = None) -> Response:
    return page(request, "survey/results.html", {"nav": "surveys", "year": _year(rt, principal, year),
                                                "problems": [], "done": None}, principal=principal)


@router.post("/surveys/results", dependencies=[CsrfChecked])
async def results_upload(request: Request, rt: Runtime, principal: PagePrincipal) -> Response:
    """The survey firm's result file (XLSX or CSV): checked as `mcr survey results import`, all or nothing."""
    from engine.errors import ImportRejected
    from engine.masterdata.importer import check_upload
    from flows.survey import rights, service

    rights.require_manager(principal, t("survey.web.results", locale=principal.locale))
    form = await request.form()
    year = _year(rt, principal, int(str(form.get("year") or 0)) or None)
    upload = form.get("file")
    problems: list[str] = []
    done = None
    if upload is None or isinstance(upload, str) or not upload.filename:
        problems = [t("survey.web.no_file", locale=principal.locale)]
    else:
        content = await upload.read()
        name = Path(upload.filename).name
        try:
            check_upload(len(content), name)
            with tempfile.TemporaryDirectory(prefix="mcr-survey-") as folder:
                path = Path(folder) / ("results" + Path(name).suffix.lower())
                path.write_bytes(content)
                cid = form.get("client_event_id")
                done = service.import_results(rt, year, principal=principal, file=path,
                                              client_event_id=cid if isinstance(cid, str) else None)
        except ImportRejected as exc:
            problems = [p.message if not p.line else f"{name}:{p.line}: {p.message}" for p in exc.problems]
    return page(request, "survey/results.html", {"nav": "surveys", "year": year, "problems": problems, "done": done},
                principal=principal, status_code=422 if problems else 200)


# ---------------------------------------------------------------------------------------------- report


def report_charts(rep: dict[str, Any], locale: str) -> list[charts.Chart]:
    """The report's charts: each shows its numbers as a table too (engine/web/charts.py)."""
    avg = t("survey.web.average", locale=locale)
    low = t("survey.web.low_share", locale=locale)
    out = []
    for key in ("by_category", "by_phase", "by_product", "by_brand", "by_region", "by_office", "by_tier"):
        entries = rep.get(key) or []
        if entries:
            out.append(charts.bar(f"survey-{key.replace('_', '-')}", t(f"survey.web.chart.{key}", locale=locale),
                                  [str(e.get("label") or e["key"]) for e in entries],
                                  {avg: [e["average"] for e in entries],
                                   low: [round(e["low_share"] * 100, 1) for e in entries]}))
    if rep.get("lowest_items"):
        items = rep["lowest_items"]
        out.insert(0, charts.bar("survey-lowest", t("survey.web.chart.lowest", locale=locale),
                                 [e["label"] for e in items], {avg: [e["average"] for e in items]}))
    trend = rep.get("trend") or []
    if trend:
        cats = sorted({c for y in trend for c in y["by_category"]})
        series = {avg: [y["average"] for y in trend]}
        for c in cats:
            series[label("survey.category", c, locale)] = [y["by_category"].get(c) for y in trend]
        out.append(charts.line("survey-trend", t("survey.web.chart.trend", locale=locale),
                               [str(y["year"]) for y in trend], series))
    cb = (rep.get("callbacks") or {}).get("projects") or {}
    if cb.get("by_item"):
        out.append(charts.bar("survey-callbacks", t("survey.web.chart.callbacks", locale=locale),
                              [e["label"] for e in cb["by_item"]], {avg: [e["average"] for e in cb["by_item"]]}))
    return out


@router.get("/surveys/report", response_class=HTMLResponse)
def report_page(request: Request, rt: Runtime, principal: PagePrincipal, year: Optional[int] = None) -> Response:
    from flows.survey import service

    y = _year(rt, principal, year)
    rep = service.report(rt.db, y, principal=principal, locale=principal.locale)
    return page(request, "survey/report.html", {"nav": "surveys", "year": y, "rep": rep,
                                               "charts": report_charts(rep, principal.locale)}, principal=principal)


# ---------------------------------------------------------------------------------------------- quality


@router.get("/surveys/quality", response_class=HTMLResponse)
def quality_page(request: Request, rt: Runtime, principal: PagePrincipal, customer: Optional[str] = None) -> Response:
    from flows.survey import quality, service

    rules = service._rules(rt)
    projects = quality.projects_quality(rt, principal=principal, customer=opt(customer))
    items = quality.improvements(rt, principal=principal, customer=opt(customer))
    return page(request, "survey/quality.html", {"nav": "surveys", "projects": projects, "items": items,
                                                "weights": rules.quality, "customer": opt(customer)},
                principal=principal)


@router.post("/surveys/quality/{project}", dependencies=[CsrfChecked])
async def quality_assess(request: Request, project: str, rt: Runtime, principal: PagePrincipal) -> Response:
    from flows.survey import quality

    form = await form_of(request)
    quality.assess_project(rt, project, principal=principal, score=form.get("score"), comment=form.get("comment"))
    back = opt(form.get("customer"))
    return see_other("/surveys/quality" + (f"?customer={back}" if back else ""))


@router.post("/surveys/improvements/{item_id}/close", dependencies=[CsrfChecked])
async def improvement_close(request: Request, item_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    from flows.survey import quality

    form = await form_of(request)
    quality.close_improvement(rt, item_id, principal=principal, resolution=form.get("resolution") or "")
    return see_other("/surveys/quality")
