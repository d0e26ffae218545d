"""我的待办 / My work: everything waiting for the signed-in person, across every flow."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.web.deps import PagePrincipal, Runtime
from engine.web.pages.common import page

router = APIRouter()


def _state_titles(rt: Any, locale: str) -> Any:
    def state_title(flow: str, state: str) -> str:
        try:
            spec = rt.definitions.get(flow).state_by_name(state)
        except Exception:  # a flow no longer loaded: show the raw state name
            return state
        return spec.title.get(locale) or spec.title.get("zh-CN") or state
    return state_title


@router.get("/inbox", response_class=HTMLResponse)
def inbox_page(request: Request, rt: Runtime, principal: PagePrincipal) -> Response:
    """Everything waiting for this person across every flow, due first, overdue marked."""
    from engine.i18n import t
    from engine.inbox import inbox, kind_label

    box = inbox(rt, principal=principal)  # loads the families' inbox modules, and so their kinds

    def kind_title(kind: str) -> str:
        key = kind_label(kind)
        return t(key, principal.locale) if key else kind

    return page(request, "inbox.html", {"inbox": box, "state_title": _state_titles(rt, principal.locale),
                                        "kind_title": kind_title}, principal=principal)
