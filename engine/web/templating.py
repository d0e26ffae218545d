"""The Jinja2 environment of the pages (autoescape, i18n extension) and `render`, which adds what
every page needs to the context.

One environment for all users; the language is per request: `_`, `gettext` and `ngettext` are put
in each render's context (Jinja2's i18n extension looks them up there before the environment's),
so two users in two languages never share state. Words come from the one catalogue
(engine/locale/*/mcr.po) through `engine.i18n.t`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
import json
from starlette.responses import HTMLResponse

from engine.i18n import t

TEMPLATES_DIR = Path(__file__).parent / "templates"


def make_templates(folder: Path = TEMPLATES_DIR) -> Jinja2Templates:
    """One autoescaped environment with the i18n extension; the words come per render (`translator`).
    Looks in the engine's folder first, then in each flow family's pages folder (`Plugin.web`), whose
    templates sit under a subfolder named after the family (`planning/kit.html`)."""
    from engine.web.nav import template_folders

    folders = [str(folder)] + [str(f) for f in template_folders()]
    env = Environment(loader=FileSystemLoader(folders), autoescape=select_autoescape(["html", "xml", "j2"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.filters["tojson_attr"] = _tojson_attr
    return Jinja2Templates(env=env)


def _tojson_attr(value: Any) -> str:
    """JSON for an HTML attribute (autoescape quotes it); charts read their option from `data-chart`."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def translator(locale: str) -> tuple[Callable[..., str], Callable[..., str]]:
    """`gettext` and `ngettext` over the one catalogue (engine.i18n.t) for one language: an unknown key
    raises instead of showing itself. A count picks the key of one or of many, as the catalogue's
    Translations do; the whole result is escaped by the template's autoescape."""

    def gettext(key: str, **kwargs: Any) -> str:
        return t(key, locale, **kwargs)

    def ngettext(singular: str, plural: str, n: int, **kwargs: Any) -> str:
        kwargs.setdefault("num", n)
        return t(singular if n == 1 else plural, locale, **kwargs)

    return gettext, ngettext


def render(request: Request, name: str, context: Optional[dict[str, Any]] = None, *, status_code: int = 200,
           principal: Any = None) -> HTMLResponse:
    """Render a page with: principal, csrf_token, locale, base_url, nav_counts (+ nav_counts_total),
    form_nonce(), _/gettext/ngettext, url_for, request."""
    from engine.web.deps import PRESESSION_CSRF_COOKIE, csrf_token_for, form_nonce, optional_principal, request_locale, \
        set_cookie

    from engine.web.nav import items as nav_items

    app = request.app.state
    principal = principal or optional_principal(request)
    locale = principal.locale if principal is not None else request_locale(request)
    gettext, ngettext = translator(locale)
    counts: dict[str, int] = {}
    if principal is not None:
        from engine.inbox import Inbox, counts as inbox_counts

        # The inbox page already has the counts: do not read the inbox twice for one page.
        given = (context or {}).get("inbox")
        counts = given.counts if isinstance(given, Inbox) else inbox_counts(app.runtime, principal=principal)
    ctx: dict[str, Any] = {"principal": principal, "csrf_token": csrf_token_for(request), "locale": locale,
                           "base_url": app.settings.base_url, "nav_counts": counts,
                           "nav_items": [i for i in nav_items() if i.visible_to(principal)],
                           "nav_counts_total": sum(counts.values()), "form_nonce": form_nonce,
                           "_": gettext, "gettext": gettext, "ngettext": ngettext}
    ctx.update(context or {})
    response = app.templates.TemplateResponse(request, name, ctx, status_code=status_code)
    if getattr(request.state, "presession_csrf_new", False):
        set_cookie(response, request, PRESESSION_CSRF_COOKIE, request.state.presession_csrf)
    response.headers.setdefault("Cache-Control", "no-store")
    return response  # type: ignore[no-any-return]
