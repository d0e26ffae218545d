"""JSON API of CP/VP profiles, the customer watch and its retrospectives (under /api).

Same principal as every /api route (session cookie + X-CSRF-Token for changes, or a bearer token);
every handler is one service call, which checks who may (errors → JSON by engine/web/errors.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Header, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from engine.web.deps import ApiPrincipal, CsrfChecked, Runtime
from flows.profiles import service, watch

router = APIRouter(prefix="/api", tags=["profiles"])
ClientEventId = Annotated[Optional[str], Header(alias="X-Client-Event-Id", max_length=200)]


class Sections(BaseModel):
    sections: dict[str, dict[str, Any]]


class Comment(BaseModel):
    section: str
    text: str = Field(min_length=1)


class Decision(BaseModel):
    comments: dict[str, str] = {}


class Launch(BaseModel):
    year: int


class RetroForm(BaseModel):
    findings: Optional[str] = None
    actions: Optional[list[str]] = None
    comment: Optional[str] = None


@router.get("/profiles")
def list_profiles(rt: Runtime, p: ApiPrincipal, year: Optional[int] = None,
                  customer: Optional[str] = None) -> list[dict[str, Any]]:
    return service.list_profiles(rt, principal=p, year=year, customer=customer)


@router.post("/profiles/launch", dependencies=[CsrfChecked])
def launch(body: Launch, rt: Runtime, p: ApiPrincipal) -> dict[str, Any]:
    return {"started": service.launch_profiles(rt, body.year, principal=p)}


@router.get("/profiles/{kind}/{customer}/history")
def history(kind: str, customer: str, rt: Runtime, p: ApiPrincipal) -> list[dict[str, Any]]:
    return service.history(rt, customer, kind, principal=p)


@router.get("/profiles/{kind}/{customer}/{year}")
def show(kind: str, customer: str, year: int, rt: Runtime, p: ApiPrincipal) -> dict[str, Any]:
    return service.show_profile(rt, kind, customer, year, principal=p)


@router.post("/profiles/{kind}/{customer}/{year}/save", dependencies=[CsrfChecked])
def save(kind: str, customer: str, year: int, body: Sections, rt: Runtime, p: ApiPrincipal,
         cid: ClientEventId = None) -> dict[str, Any]:
    return service.save(rt, kind, customer, year, body.sections, principal=p, client_event_id=cid)


@router.post("/profiles/{kind}/{customer}/{year}/submit", dependencies=[CsrfChecked])
def submit(kind: str, customer: str, year: int, rt: Runtime, p: ApiPrincipal, cid: ClientEventId = None) -> dict[str, Any]:
    return service.submit(rt, kind, customer, year, principal=p, client_event_id=cid)


@router.post("/profiles/{kind}/{customer}/{year}/comment", dependencies=[CsrfChecked])
def comment(kind: str, customer: str, year: int, body: Comment, rt: Runtime, p: ApiPrincipal,
            cid: ClientEventId = None) -> dict[str, Any]:
    return service.comment(rt, kind, customer, year, body.section, body.text, principal=p, client_event_id=cid)


@router.post("/profiles/{kind}/{customer}/{year}/send-back", dependencies=[CsrfChecked])
def send_back(kind: str, customer: str, year: int, body: Decision, rt: Runtime, p: ApiPrincipal,
              cid: ClientEventId = None) -> dict[str, Any]:
    return service.send_back(rt, kind, customer, year, principal=p, comments=body.comments, client_event_id=cid)


@router.post("/profiles/{kind}/{customer}/{year}/accept", dependencies=[CsrfChecked])
def accept(kind: str, customer: str, year: int, body: Decision, rt: Runtime, p: ApiPrincipal,
           cid: ClientEventId = None) -> dict[str, Any]:
    return service.accept(rt, kind, customer, year, principal=p, comments=body.comments, client_event_id=cid)


@router.get("/profiles/{kind}/{customer}/{year}/xlsx")
def export_xlsx(kind: str, customer: str, year: int, rt: Runtime, p: ApiPrincipal) -> FileResponse:
    target = Path(tempfile.mkdtemp(prefix="mcr-profile-")) / f"{kind.upper()}-{customer}-{year}.xlsx"
    service.export_workbook(rt, kind, customer, year, target, principal=p)
    return FileResponse(target, filename=target.name,
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@router.post("/profiles/{kind}/{customer}/{year}/xlsx", dependencies=[CsrfChecked])
async def import_xlsx(kind: str, customer: str, year: int, request: Request, rt: Runtime, p: ApiPrincipal,
                      cid: ClientEventId = None) -> dict[str, Any]:
    """The workbook as the request body (application/octet-stream)."""
    target = Path(tempfile.mkdtemp(prefix="mcr-profile-in-")) / f"{kind.upper()}-{customer}-{year}.xlsx"
    target.write_bytes(await request.body())
    return service.import_workbook(rt, kind, customer, year, target, principal=p, client_event_id=cid)


@router.get("/watch/{period}")
def watch_report(period: str, rt: Runtime, p: ApiPrincipal, unit: Optional[str] = None) -> dict[str, Any]:
    return watch.watch_report(rt, period, principal=p, unit=unit)


@router.post("/watch/{period}/run", dependencies=[CsrfChecked])
def watch_run(period: str, rt: Runtime, p: ApiPrincipal) -> dict[str, Any]:
    return watch.run_watch(rt, period, principal=p)


@router.post("/retrospectives/{instance_id}/{event}", dependencies=[CsrfChecked])
def retrospective(instance_id: int, event: str, body: RetroForm, rt: Runtime, p: ApiPrincipal,
                  cid: ClientEventId = None) -> dict[str, Any]:
    res = service.retrospective_send(rt, instance_id, event.replace("-", "_"), body.model_dump(exclude_none=True),
                                     principal=p, client_event_id=cid)
    return res
