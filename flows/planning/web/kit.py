"""The planning kit in the browser: forms, drafts, sections, upload/download, supervisor review, budget roll-up.

Pages under /planning/kits and the JSON API under /api/planning/kits. Every handler is one call of
`flows.planning.kit_service` with the principal; the service decides who may and validates (one
validator for the form, the workbook and the API).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from engine.web.api import ClientEventId
from engine.web.deps import ApiPrincipal, CsrfChecked, PagePrincipal, Runtime
from engine.web.nav import NavItem
from engine.web.pages.common import form_of, page, see_other
from flows.planning import kit_service as ks

router = APIRouter()
api = APIRouter(prefix="/api/planning", tags=["api"])
api_acts = APIRouter(prefix="/api/planning", tags=["api"], dependencies=[CsrfChecked])

NAV = [NavItem("planning_kits", "/planning/kits", "planning.kit.web.nav", order=40)]

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _year(rt: Any, year: Optional[int]) -> int:
    """The planning year on show: asked for, else the one the next kits are for (next calendar year)."""
    return int(year) if year else rt.clock.now().year + 1


# ---------------------------------------------------------------------------------------------- pages


@router.get("/planning/kits")
def kits_page(request: Request, rt: Runtime, principal: PagePrincipal, year: Optional[int] = None) -> Response:
    """The kits the signed-in person may see: their team's, their chain's, all for sales management."""
    kits = ks.list_kits(rt, principal=principal, year=year)
    return page(request, "planning/kits.html", {"nav": "planning_kits", "kits": kits, "year": year},
                principal=principal)


def _kit_page(request: Request, rt: Any, principal: Any, instance_id: int, *, problems: list[Any] | None = None,
              posted: dict[str, list[dict[str, Any]]] | None = None, notice: Optional[str] = None,
              status_code: int = 200, upload_problems: list[str] | None = None) -> Response:
    view = ks.kit_view(rt, instance_id, principal=principal, posted=posted)
    from engine.masterdata.settings import load_masterdata_rules

    from flows.planning.rules import load_planning_rules

    md_rules = load_masterdata_rules()
    kit_rules = load_planning_rules().kit
    fields: dict[str, str] = {}
    for p in problems or []:
        if getattr(p, "field", ""):
            fields[p.field] = (fields[p.field] + "；" + p.message) if p.field in fields else p.message
    en = principal.locale == "en"
    context = {
        "nav": "planning_kits", "kit": view, "problems": problems or [], "field_problems": fields,
        "notice": notice, "upload_problems": upload_problems or [], "dimensions": ks.DIMENSIONS,
        "section_labels": {s.name: {c["key"]: c["label"] for c in s.columns} for s in view.sections},
        "customer_choices": [(c["code"], f"{c['code']} {c['name']}") for c in view.customers],
        "activity_choices": [(code, md_rules.activity_type_label(code, "en" if en else "zh-CN"))
                             for code in md_rules.activity_type_codes()],
        "project_choices": [(p["code"], f"{p['code']} {p['name']} ({p['decision_date'] or '—'})") for p in view.projects],
        # The relationship ratings of the kit checks (rules/planning.yaml kit.*_relationship_levels), lowest first.
        "org_choices": [(lvl.code, lvl.en if en else lvl.zh) for lvl in kit_rules.org_relationship_levels],
        "general_choices": [(lvl.code, lvl.en if en else lvl.zh) for lvl in kit_rules.general_relationship_levels],
    }
    return page(request, "planning/kit.html", context,
                principal=principal, status_code=status_code)


@router.get("/planning/kits/{instance_id}")
def kit_page(request: Request, instance_id: int, rt: Runtime, principal: PagePrincipal,
             saved: Optional[str] = None, submitted: Optional[str] = None, uploaded: Optional[str] = None) -> Response:
    from engine.i18n import t

    notice = None
    if saved in ks.SECTIONS:
        notice = t("planning.kit.web.saved", principal.locale, section=ks._section_title(saved, principal.locale))
    elif submitted in ks.SECTIONS:
        notice = t("planning.kit.web.submitted", principal.locale,
                   section=ks._section_title(submitted, principal.locale))
    elif uploaded:
        names = [ks._section_title(s, principal.locale) for s in uploaded.split(",") if s in ks.SECTIONS]
        notice = t("planning.kit.web.uploaded", principal.locale, sections="、".join(names) or "-")
    return _kit_page(request, rt, principal, instance_id, notice=notice)


@router.post("/planning/kits/{instance_id}/sections/{section}", dependencies=[CsrfChecked])
async def kit_section(request: Request, instance_id: int, section: str, rt: Runtime,
                      principal: PagePrincipal) -> Response:
    """Save the section as a draft (`action=save`) or submit it (`action=submit`)."""
    form = await form_of(request)
    ks._check_section(section)
    rows = ks.rows_from_form(form, section)
    if form.get("action") == "submit":
        try:
            ks.submit_section(rt, instance_id, section, principal=principal, rows=rows,
                              client_event_id=form.get("client_event_id"))
        except ks.KitProblems as exc:
            return _kit_page(request, rt, principal, instance_id, problems=exc.problems, posted={section: rows},
                             status_code=422)
        return see_other(f"/planning/kits/{instance_id}?submitted={section}")
    result = ks.save_draft(rt, instance_id, section, rows, principal=principal)
    if result.problems:
        from engine.i18n import t

        return _kit_page(request, rt, principal, instance_id, problems=result.problems, posted={section: rows},
                         notice=t("planning.kit.web.saved_with_problems", principal.locale,
                                  section=ks._section_title(section, principal.locale), n=len(result.problems)))
    return see_other(f"/planning/kits/{instance_id}?saved={section}")


@router.get("/planning/kits/{instance_id}/workbook")
def kit_workbook_download(instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    """The pre-filled workbook (the same file `mcr planning kit` gives), for those who may read the kit."""
    from flows.planning.service import kit_workbook

    path = kit_workbook(rt, instance_id, principal=principal)
    return FileResponse(path, filename=path.name, media_type=XLSX)


async def _saved_upload(request: Request) -> tuple[bytes, str, dict[str, Any]]:
    from engine.errors import ImportRejected
    from engine.i18n import t
    from engine.masterdata.importer import check_upload
    from flows.planning.workbook import Problems

    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        problems = Problems("-")
        problems.workbook(t("planning.kit.web.no_file"))
        raise ImportRejected(problems.items, header=t("planning.kit.web.upload_rejected"))
    content = await upload.read()
    name = Path(upload.filename or "kit.xlsx").name
    check_upload(len(content), name)
    return content, name, {k: v for k, v in form.items() if isinstance(v, str)}


def _upload(rt: Any, instance_id: int, content: bytes, name: str, section: Optional[str], principal: Any) -> Any:
    with tempfile.TemporaryDirectory(prefix="mcr-kit-") as folder:
        path = Path(folder) / ("upload" + Path(name).suffix.lower())
        path.write_bytes(content)
        return ks.upload_workbook(rt, instance_id, path, principal=principal, section=section, name=name)


@router.post("/planning/kits/{instance_id}/upload", dependencies=[CsrfChecked])
async def kit_upload(request: Request, instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    """The filled workbook taken back as drafts (one section or every open one); problems listed by cell."""
    from engine.errors import ImportRejected

    try:
        content, name, form = await _saved_upload(request)
        section = form.get("section") or None
        result = _upload(rt, instance_id, content, name, section, principal)
    except ImportRejected as exc:
        return _kit_page(request, rt, principal, instance_id, status_code=422,
                         upload_problems=[p.message for p in exc.problems])
    return see_other(f"/planning/kits/{instance_id}?uploaded={','.join(result.sections)}")


@router.post("/planning/kits/{instance_id}/review", dependencies=[CsrfChecked])
async def kit_review(request: Request, instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    """Approve, or send back with comments per section."""
    form = await form_of(request)
    comments = {s: form.get(f"comment_{s}", "") for s in ks.SECTIONS}
    ks.review(rt, instance_id, principal=principal, approve=form.get("decision") == "approve", comments=comments,
              comment=form.get("comment"), client_event_id=form.get("client_event_id"))
    return see_other(f"/planning/kits/{instance_id}")


@router.get("/planning/budget")
def budget_page(request: Request, rt: Runtime, principal: PagePrincipal, year: Optional[int] = None) -> Response:
    """Planned budgets of the current action plans per region, office and team (chart and table)."""
    from engine.i18n import t
    from engine.web.charts import bar

    y = _year(rt, year)
    data = ks.budget_view(rt, y, principal=principal)
    loc = principal.locale
    charts = [
        bar("budget-regions", t("planning.kit.web.budget_by_region", loc), list(data["regions"]),
            {t("planning.kit.web.budget", loc): list(data["regions"].values())}, unit=""),
        bar("budget-offices", t("planning.kit.web.budget_by_office", loc), list(data["offices"]),
            {t("planning.kit.web.budget", loc): list(data["offices"].values())}, unit=""),
    ]
    return page(request, "planning/kit_budget.html", {"nav": "planning_kits", "budget": data, "year": y,
                                                      "charts": charts}, principal=principal)


# ---------------------------------------------------------------------------------------------- JSON API


class RowsIn(BaseModel):
    rows: list[dict[str, Any]] = Field(default_factory=list)


class SubmitIn(BaseModel):
    rows: Optional[list[dict[str, Any]]] = None  # none: the section's saved draft


class ReviewIn(BaseModel):
    decision: str = Field(pattern="^(approve|send_back)$")
    comment: Optional[str] = None
    comments: dict[str, str] = Field(default_factory=dict)


def _problems_json(exc: Any, status: int = 422) -> JSONResponse:
    return JSONResponse({"error": "kit_problems", "message": str(exc), "problems": [_problem(p) for p in exc.problems]},
                        status_code=status)


def _problem(p: Any) -> dict[str, Any]:
    return {"message": p.message, "sheet": getattr(p, "sheet", ""), "row": p.line, "column": getattr(p, "column", ""),
            "field": getattr(p, "field", "")}


def _json(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if isinstance(value, list):
        return [_json(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


@api.get("/kits")
def api_kits(rt: Runtime, principal: ApiPrincipal, year: Optional[int] = None) -> Any:
    """The kits the caller may see."""
    return _json(ks.list_kits(rt, principal=principal, year=year))


@api.get("/kits/{instance_id}")
def api_kit(rt: Runtime, principal: ApiPrincipal, instance_id: int) -> Any:
    """One kit: its sections (rows pre-filled like the workbook, drafts laid over), state, who may act."""
    return _json(ks.kit_view(rt, instance_id, principal=principal))


@api.get("/kits/{instance_id}/workbook")
def api_kit_workbook(rt: Runtime, principal: ApiPrincipal, instance_id: int) -> Response:
    from flows.planning.service import kit_workbook

    path = kit_workbook(rt, instance_id, principal=principal)
    return FileResponse(path, filename=path.name, media_type=XLSX)


@api_acts.put("/kits/{instance_id}/sections/{section}/draft")
def api_save_draft(rt: Runtime, principal: ApiPrincipal, instance_id: int, section: str, body: RowsIn) -> Any:
    """Save a section's draft; the answer lists its problems (none: ready to submit)."""
    res = ks.save_draft(rt, instance_id, section, body.rows, principal=principal, source="api")
    return {"instance_id": res.instance_id, "section": res.section, "rows": res.rows,
            "problems": [_problem(p) for p in res.problems]}


@api_acts.post("/kits/{instance_id}/sections/{section}/submit")
def api_submit(rt: Runtime, principal: ApiPrincipal, instance_id: int, section: str, body: SubmitIn,
               cid: ClientEventId = None) -> Any:
    """Submit a section (its rows, or its draft): 422 with every problem, nothing recorded."""
    try:
        return _json(ks.submit_section(rt, instance_id, section, principal=principal, rows=body.rows,
                                       client_event_id=cid, source="api"))
    except ks.KitProblems as exc:
        return _problems_json(exc)


@api_acts.post("/kits/{instance_id}/workbook")
async def api_upload(request: Request, rt: Runtime, principal: ApiPrincipal, instance_id: int,
                     section: Optional[str] = None) -> Any:
    """The filled workbook as drafts (`?section=` for one); 422 with every problem by sheet, row, column."""
    from engine.errors import ImportRejected

    try:
        content, name, _ = await _saved_upload(request)
        return _json(_upload(rt, instance_id, content, name, section, principal))
    except ImportRejected as exc:
        return _problems_json(exc)


@api_acts.post("/kits/{instance_id}/review")
def api_review(rt: Runtime, principal: ApiPrincipal, instance_id: int, body: ReviewIn,
               cid: ClientEventId = None) -> Any:
    res = ks.review(rt, instance_id, principal=principal, approve=body.decision == "approve", comments=body.comments,
                    comment=body.comment, client_event_id=cid)
    return {"instance_id": instance_id, "state": getattr(res, "to_state", getattr(res, "state", None))}


@api.get("/budget")
def api_budget(rt: Runtime, principal: ApiPrincipal, year: Optional[int] = None) -> Any:
    """Planned budgets per team, office and region of the teams the caller may see."""
    return ks.budget_view(rt, _year(rt, year), principal=principal)


router.include_router(api)
router.include_router(api_acts)
