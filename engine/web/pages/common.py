"""What every page handler shares: the render call with the formatting filters, names for codes,
the office's time zone, reading a posted form.

Handlers get the principal from `engine.web.deps.PagePrincipal` and call services with it; they
never decide who may do what (the service does), they only hide what the service would refuse.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from engine.auth import Principal


def office_tz(rt: Any, principal: Principal) -> ZoneInfo:
    """The time zone of the principal's office (its calendar's zone); dates on pages are shown in it."""
    from engine.masterdata.service import calendar_of

    if principal.unit_code:
        with rt.db.session() as s:
            cal = calendar_of(s, principal.unit_code)
        if cal and cal in rt.calendars:
            return rt.calendars.get(cal).tz
    return rt.calendars.get(None).tz


def _as_datetime(value: Any) -> Optional[datetime]:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    raise TypeError(f"not a date-time: {value!r}")


def _filters(locale: str, tz: ZoneInfo) -> dict[str, Any]:
    from engine.i18n import fmt_date, fmt_datetime, fmt_number, fmt_percent

    def dt(value: Any) -> str:
        when = _as_datetime(value)
        if when is None:
            return "—"
        return fmt_datetime(when, locale, tz)

    def d(value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, datetime):
            value = value.astimezone(tz).date()
        elif isinstance(value, str):
            value = date.fromisoformat(value[:10])
        return fmt_date(value, locale)

    return {"datetime": dt, "date": d, "number": lambda v: fmt_number(v, locale),
            "percent": lambda v: fmt_percent(v, locale)}


class Names:
    """Readable names for the codes a page shows (employees, units, customers, contacts).

    Looked up once per page for all codes at first use; a code that names nothing shows as itself.
    """

    def __init__(self, rt: Any) -> None:
        self._rt = rt
        self._map: Optional[dict[str, str]] = None

    def _load(self) -> dict[str, str]:
        if self._map is None:
            from sqlmodel import select

            from engine.masterdata.models import Contact, Customer, Employee, OrgUnit

            out: dict[str, str] = {}
            with self._rt.db.session() as s:
                for model, key in ((OrgUnit, "code"), (Customer, "code"), (Contact, "code"), (Employee, "emp_no")):
                    for code, name in s.exec(select(getattr(model, key), model.name)):
                        out[code] = name
            self._map = out
        return self._map

    def get(self, code: Optional[str], default: Any = None) -> Any:
        if code is None:
            return default
        return self._load().get(code, default if default is not None else code)


def page(request: Request, name: str, context: dict[str, Any], *, principal: Optional[Principal] = None,
         status_code: int = 200) -> HTMLResponse:
    """Render a page through web-auth's `render` with the Babel filters for this user and office."""
    from engine.web.templating import render

    rt = request.app.state.runtime
    locale = principal.locale if principal else "zh-CN"
    tz = office_tz(rt, principal) if principal else rt.calendars.get(None).tz
    env = request.app.state.templates.env
    # Filters depend on the user's locale and office: bind them per render (the env is shared, so
    # they are passed through the context, and the names below read them from there).
    ctx = {"names": Names(rt), "fmt": _filters(locale, tz), **context}
    _install_context_filters(env)
    return render(request, name, ctx, status_code=status_code)


def _install_context_filters(env: Any) -> None:
    """`{{ x|datetime }}` etc. read the per-request formatters from the context (`fmt`)."""
    if "datetime" in env.filters and getattr(env.filters["datetime"], "_mcr", False):
        return
    from jinja2 import pass_context

    for key in ("datetime", "date", "number", "percent"):
        def make(k: str) -> Any:
            @pass_context
            def f(ctx: Any, value: Any) -> str:
                return ctx["fmt"][k](value)
            f._mcr = True  # type: ignore[attr-defined]
            return f
        env.filters[key] = make(key)


def see_other(url: str) -> RedirectResponse:
    """After a successful POST: back to a page with GET (a reload does not post again)."""
    return RedirectResponse(url, status_code=303)


async def form_of(request: Request) -> dict[str, str]:
    """The posted form as plain strings (the CSRF field is checked by the route's dependency)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def opt(value: Optional[str]) -> Optional[str]:
    """An optional form field: blank means not given."""
    value = (value or "").strip()
    return value or None
