"""我的待办 / My work, the start page, and the language switch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.web.deps import CsrfChecked, PagePrincipal, Runtime
from engine.web.pages.common import form_of, page, see_other

router = APIRouter()


def _state_titles(rt: Any, locale: str) -> Any:
    def state_title(flow: str, state: str) -> str:
        try:
            spec = rt.definitions.get(flow).state_by_name(state)
        except Exception:  # a flow no longer loaded: show the raw state name
            return state
        return spec.title.get(locale) or spec.title.get("zh-CN") or state
    return state_title


@router.get("/", include_in_schema=False)
def home() -> Response:
    return see_other("/inbox")


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, rt: Runtime, principal: PagePrincipal) -> Response:
    """Everything waiting for this person across every flow, due first, overdue marked."""
    from engine.inbox import inbox

    box = inbox(rt, principal=principal)
    return page(request, "inbox.html", {"inbox": box, "state_title": _state_titles(rt, principal.locale)},
                principal=principal)


@router.post("/locale", dependencies=[CsrfChecked])
async def switch_locale(request: Request, rt: Runtime, principal: PagePrincipal) -> Response:
    """The language switch: saved on the account, so every page, mail and CLI answer follows it."""
    from engine.auth.accounts import set_locale

    form = await form_of(request)
    set_locale(rt.db, principal.emp_no, form.get("locale"))
    target = form.get("next") or "/inbox"
    return see_other(target if target.startswith("/") and not target.startswith("//") else "/inbox")
