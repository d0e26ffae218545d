"""Sign-in, sign-out, change of password and of language: the only pages that create or end sessions."""

from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from engine.auth import accounts
from engine.auth.accounts import AccountError, AccountLocked, AuthError
from engine.i18n import t
from engine.web.deps import (LOCALE_COOKIE, SESSION_COOKIE, CsrfChecked, OptionalPrincipal, PagePrincipal,
                             client_address, request_locale, set_cookie)
from engine.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(target: Optional[str]) -> str:
    """Only a path on this site: an absolute or protocol-relative URL would be an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/inbox"
    return target


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/inbox", status_code=303)


@router.get("/signin")
def signin_page(request: Request, principal: OptionalPrincipal, next: str = "/inbox", expired: int = 0) -> Response:
    if principal is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    message = t("engine.auth.session_expired", request_locale(request)) if expired else None
    return render(request, "signin.html", {"next": _safe_next(next), "error": message, "emp_no": ""})


@router.post("/signin", dependencies=[CsrfChecked])
def signin(request: Request, emp_no: str = Form(""), password: str = Form(""), next: str = Form("/inbox")) -> Response:
    app = request.app.state
    locale = request_locale(request)
    try:
        principal = accounts.authenticate(app.runtime.db, emp_no, password, address=client_address(request),
                                          clock=app.runtime.clock, settings=app.settings.auth, locale=locale)
    except AuthError as exc:
        status = 429 if isinstance(exc, AccountLocked) else exc.status
        response = render(request, "signin.html", {"next": _safe_next(next), "error": str(exc), "emp_no": emp_no},
                          status_code=status)
        if isinstance(exc, AccountLocked):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # a new sign-in replaces the browser's session: never keep a session id across sign-ins
        accounts.close_session(app.runtime.db, previous)
    sid, _ = accounts.open_session(app.runtime.db, principal, clock=app.runtime.clock,
                                   address=client_address(request), settings=app.settings.auth)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(response, request, SESSION_COOKIE, sid)
    return response


@router.post("/signout", dependencies=[CsrfChecked])
def signout(request: Request) -> Response:
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        accounts.close_session(request.app.state.runtime.db, sid)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/password")
def password_page(request: Request, principal: PagePrincipal) -> Response:
    return render(request, "password.html", {"error": None, "done": False, "nav": "password"}, principal=principal)


@router.post("/password", dependencies=[CsrfChecked])
def password_change(request: Request, principal: PagePrincipal, current: str = Form(""), new: str = Form(""),
                    confirm: str = Form("")) -> Response:
    app = request.app.state
    try:
        accounts.change_password(app.runtime.db, principal, current, new, confirm, clock=app.runtime.clock,
                                 settings=app.settings.auth, keep_session=request.cookies.get(SESSION_COOKIE))
    except (AuthError, AccountError) as exc:
        return render(request, "password.html", {"error": str(exc), "done": False, "nav": "password"},
                      status_code=422, principal=principal)
    return render(request, "password.html", {"error": None, "done": True, "nav": "password"}, principal=principal)


@router.post("/locale", dependencies=[CsrfChecked])
def set_language(request: Request, principal: OptionalPrincipal, locale: str = Form("zh-CN"),
                 next: str = Form("/inbox")) -> Response:
    """Switch the language: stored on the account when signed in, and in a cookie for the sign-in page."""
    if locale not in accounts.LOCALES:
        locale = "zh-CN"
    if principal is not None:
        accounts.set_locale(request.app.state.runtime.db, principal.emp_no, locale)
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(response, request, LOCALE_COOKIE, locale, max_age=365 * 24 * 3600)
    return response
