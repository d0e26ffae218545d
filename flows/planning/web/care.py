"""Care: today's reminders, coming dates, visit cadence, visits, handovers.

`/care` is the owner's care page; `/care/visit/{contact}` is the page a digest mail's visit line
links to — one click logs today's visit (sign-in first when needed, then back to the link).
Handovers are accepted by the new owner and introduced by the previous one from `/care`.
The handlers only call flows/planning/care.py and handover.py with the principal; who may see or
do what is decided there.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.i18n import t
from engine.web.deps import CsrfChecked, PagePrincipal, Runtime
from engine.web.nav import NavItem
from engine.web.pages.common import form_of, opt, page, see_other

router = APIRouter()
NAV = [NavItem("care", "/care", "care.web.nav", order=40)]


def _day(value: str | None) -> date | None:
    """A posted date field (blank: none); a malformed one is refused naming the value (422)."""
    from engine.errors import MCRError

    text = opt(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MCRError(t("care.web.bad_date", value=text)) from None


def _ratio_chart(ratio: dict[str, Any], locale: str) -> Any:
    from engine.web.charts import pie

    return pie("care-ratio", t("care.web.ratio_title", locale, **{"from": ratio["from"], "to": ratio["to"]}),
               {t("care.web.place.office", locale): ratio["office"], t("care.web.place.private", locale): ratio["private"],
                t("care.web.place.unknown", locale): ratio["unknown"]}, name=t("care.web.visits", locale))


@router.get("/care", response_class=HTMLResponse)
def care_page(request: Request, rt: Runtime, principal: PagePrincipal, done: str = "") -> Response:
    from flows.planning.care import care_overview

    view = care_overview(rt, principal=principal)
    flash = t(f"care.web.done.{done}", principal.locale) if done in ("accepted", "introduced", "logged") else None
    return page(request, "planning/care.html", {"view": view, "ratio_chart": _ratio_chart(view.ratio, principal.locale),
                                                "flash": flash}, principal=principal)


@router.get("/care/visit/{contact}", response_class=HTMLResponse)
def visit_page(request: Request, contact: str, rt: Runtime, principal: PagePrincipal, done: str = "") -> Response:
    from flows.planning.care import PLACES, visit_form

    form = visit_form(rt, contact, principal=principal)
    flash = t("care.web.done.logged", principal.locale) if done == "logged" else None
    return page(request, "planning/care_visit.html", {"form": form, "places": PLACES, "flash": flash},
                principal=principal)


@router.post("/care/visit/{contact}", dependencies=[CsrfChecked])
async def log_visit_post(request: Request, contact: str, rt: Runtime, principal: PagePrincipal) -> Response:
    from flows.planning.care import log_visit

    form = await form_of(request)
    on = _day(form.get("date")) or rt.clock.now().astimezone(rt.calendars.get(None).tz).date()
    log_visit(rt.db, rt.clock, contact, principal=principal, on=on, kind="visit", place=opt(form.get("place")),
              tz=rt.calendars.get(None).tz,
              note=opt(form.get("note")))
    return see_other(f"/care/visit/{contact}?done=logged")


@router.post("/care/handovers/{instance_id}/accept", dependencies=[CsrfChecked])
def accept_post(instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    from flows.planning.care import accept_handover

    accept_handover(rt, instance_id, principal=principal)
    return see_other("/care?done=accepted")


@router.post("/care/handovers/{instance_id}/introduce", dependencies=[CsrfChecked])
async def introduce_post(request: Request, instance_id: int, rt: Runtime, principal: PagePrincipal) -> Response:
    from flows.planning.handover import introduce

    form = await form_of(request)
    on = _day(form.get("date"))
    introduce(rt, instance_id, principal=principal, note=(form.get("note") or "").strip(), on=on,
              client_event_id=opt(form.get("client_event_id")))
    return see_other("/care?done=introduced")
