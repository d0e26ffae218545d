"""Sales management: the annual launch, completion watch, reminders, the rhythm pages.

Thin pages over flows/planning/progress.py: the service decides who may launch, watch or remind
(a refusal propagates as its error page); the page only hides buttons the service would refuse.

    GET  /planning/launch?year=            teams due a kit and why, then confirm
    POST /planning/launch                  start the launch (background Prefect flow) → its progress page
    GET  /planning/launch/{id}             the launch's per-team task states, polled by htmx
    GET  /planning/launch/{id}/tasks       the polled fragment (stops polling once the launch is over)
    GET  /planning/progress?year=&region=&office=   completion per region → office → team, overdue first
    POST /planning/progress/remind         remind one team, or every overdue team of a unit
    GET  /planning/rhythm                  the four rhythm rounds with their completion
    GET  /planning/rhythm/{kind}?period=   one round: what each person still owes
    POST /planning/rhythm/half_year_review/{id}/revise   the half-year revision (workbook upload)
"""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.i18n import t
from engine.web.charts import bar
from engine.web.deps import CsrfChecked, PagePrincipal, Runtime
from engine.web.nav import NavItem
from engine.web.pages.common import form_of, page, see_other
from flows.planning import progress as svc

router = APIRouter()

NAV = [NavItem("planning-manage", "/planning/progress", "planning.manage.web.nav",
               roles=("sales_management", "supervisor"), order=40)]


def _year(rt: Any, year: Optional[int], *, launch: bool = False) -> int:
    """The planning year a page shows by default: the kits launched on 1 Dec are next year's, so from
    December the watch shows next year; the launch page prepares next year from July on."""
    if year:
        return int(year)
    today = rt.clock.now().astimezone(rt.calendars.get(None).tz)
    return today.year + 1 if today.month >= (7 if launch else 12) else today.year


def _state_titles(rt: Any, flow: str, locale: str) -> dict[str, str]:
    defn = rt.definitions.get(flow)
    return {s.name: s.title.get(locale) or s.title.get("zh-CN") or s.name for s in defn.states}


# ============================================================================================ launch


@router.get("/planning/launch", response_class=HTMLResponse)
def launch_page(request: Request, rt: Runtime, principal: PagePrincipal, year: Optional[int] = None) -> Response:
    preview = svc.launch_preview(rt, _year(rt, year, launch=True), principal=principal)
    return page(request, "planning/launch.html", {"nav": "planning-manage", "p": preview,
                                                  "kit_states": _state_titles(rt, "planning_kit", principal.locale)},
                principal=principal)


@router.post("/planning/launch", dependencies=[CsrfChecked])
async def launch_confirm(request: Request, rt: Runtime, principal: PagePrincipal) -> Response:
    form = await form_of(request)
    try:
        year = int(form.get("year") or "")
    except ValueError:
        from engine.errors import MCRError

        raise MCRError(t("planning.manage.web.bad_year", principal.locale, value=form.get("year") or "")) from None
    launch_id = svc.start_launch(rt, year, principal=principal, client_event_id=form.get("client_event_id"))
    return see_other(f"/planning/launch/{launch_id}")


def _launch_context(rt: Any, launch_id: int, principal: Any) -> dict[str, Any]:
    return {"nav": "planning-manage", "launch": svc.launch_view(rt, launch_id, principal=principal),
            "task_states": svc.TASK_STATES}


@router.get("/planning/launch/{launch_id}", response_class=HTMLResponse)
def launch_progress(request: Request, launch_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    return page(request, "planning/launch_progress.html", _launch_context(rt, launch_id, principal), principal=principal)


@router.get("/planning/launch/{launch_id}/tasks", response_class=HTMLResponse)
def launch_tasks(request: Request, launch_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    return page(request, "planning/launch_tasks.html", _launch_context(rt, launch_id, principal), principal=principal)


# ============================================================================================ completion


@router.get("/planning/progress", response_class=HTMLResponse)
def progress_page(request: Request, rt: Runtime, principal: PagePrincipal, year: Optional[int] = None,
                  region: Optional[str] = None, office: Optional[str] = None,
                  reminded: Optional[int] = None) -> Response:
    c = svc.completion(rt, _year(rt, year), principal=principal, region=region or None, office=office or None)
    loc = principal.locale
    chart = None
    if c.units:
        chart = bar("progress-chart", t("planning.manage.web.chart_title", loc, year=c.year),
                    [u.name for u in c.units],
                    {t("planning.manage.web.done", loc): [u.done for u in c.units],
                     t("planning.manage.web.in_review", loc): [u.in_review for u in c.units],
                     t("planning.manage.web.in_progress", loc): [u.in_progress - u.overdue for u in c.units],
                     t("planning.manage.web.overdue", loc): [u.overdue for u in c.units]}, stacked=True)
    flash = t("planning.manage.web.reminded", loc, n=reminded) if reminded is not None else None
    return page(request, "planning/progress.html", {
        "nav": "planning-manage", "c": c, "chart": chart, "flash": flash,
        "kit_states": _state_titles(rt, "planning_kit", loc),
        "here": _progress_url(c.year, **({"region": c.unit} if c.level == "region" else
                                         {"office": c.unit} if c.level == "office" else {})),
        "back": _progress_url(c.year, region=c.region) if c.level == "office" else _progress_url(c.year)},
        principal=principal)


def _progress_url(year: int, **unit: Optional[str]) -> str:
    return "/planning/progress?" + urlencode({"year": year, **{k: v for k, v in unit.items() if v}})


@router.post("/planning/progress/remind", dependencies=[CsrfChecked])
async def remind(request: Request, rt: Runtime, principal: PagePrincipal) -> Response:
    form = await form_of(request)
    year = int(form.get("year") or 0)
    n = svc.send_reminders(rt, year, principal=principal, team=form.get("team") or None,
                           unit=form.get("unit") or None, client_event_id=form.get("client_event_id"))
    back = form.get("back") or _progress_url(year)
    if not back.startswith("/planning/progress"):
        back = _progress_url(year)
    return see_other(back + ("&" if "?" in back else "?") + f"reminded={n}")


# ============================================================================================ rhythm


@router.get("/planning/rhythm", response_class=HTMLResponse)
def rhythm_index(request: Request, rt: Runtime, principal: PagePrincipal) -> Response:
    views = [svc.rhythm_overview(rt, kind, principal=principal) for kind in svc.RHYTHMS]
    loc = principal.locale
    chart = bar("rhythm-chart", t("planning.manage.web.rhythm_chart", loc),
                [t(f"planning.manage.web.rhythm.{v.kind}", loc) for v in views],
                {t("planning.manage.web.completion", loc): [v.completion_pct for v in views]}, unit="%")
    return page(request, "planning/rhythm.html", {"nav": "planning-manage", "views": views, "chart": chart},
                principal=principal)


@router.get("/planning/rhythm/{kind}", response_class=HTMLResponse)
def rhythm_page(request: Request, kind: str, rt: Runtime, principal: PagePrincipal, period: Optional[str] = None,
                revised: Optional[int] = None) -> Response:
    view = svc.rhythm_overview(rt, kind, principal=principal, period=period)
    flash = t("planning.manage.web.revised", principal.locale) if revised else None
    return page(request, "planning/rhythm_round.html", {
        "nav": "planning-manage", "v": view, "flash": flash,
        "states": _state_titles(rt, view.flow, principal.locale)}, principal=principal)


@router.post("/planning/rhythm/half_year_review/{instance_id}/revise", dependencies=[CsrfChecked])
async def rhythm_revise(request: Request, instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    """The half-year revision: the revised workbook (objectives and plan sheets) and a reason."""
    import tempfile
    from pathlib import Path

    from engine.errors import ImportRejected
    from engine.masterdata.importer import check_upload

    form = await request.form()
    upload = form.get("file")
    reason = form.get("reason")
    cid = form.get("client_event_id")
    if upload is None or isinstance(upload, str):
        from engine.errors import MCRError

        raise MCRError(t("planning.manage.web.file_missing", principal.locale))
    content = await upload.read()
    name = Path(upload.filename or "revision.xlsx").name
    try:
        check_upload(len(content), name)
        with tempfile.TemporaryDirectory(prefix="mcr-revise-") as folder:
            path = Path(folder) / ("revision" + Path(name).suffix.lower())
            path.write_bytes(content)
            svc.revise_half_year(rt, instance_id, path, principal=principal,
                                 reason=reason if isinstance(reason, str) else "",
                                 client_event_id=cid if isinstance(cid, str) else None)
    except ImportRejected as exc:
        view = svc.rhythm_overview(rt, "half_year_review", principal=principal)
        return page(request, "planning/rhythm_round.html", {
            "nav": "planning-manage", "v": view, "problems": [p.message for p in exc.problems],
            "problem_instance": instance_id, "states": _state_titles(rt, view.flow, principal.locale)},
            principal=principal, status_code=422)
    return see_other("/planning/rhythm/half_year_review?revised=1")
