"""FastAPI dependencies: who is asking (session cookie or bearer token), the runtime, CSRF.

A handler declares `principal: PagePrincipal` (HTML pages: no session → 303 to /signin) or
`principal: ApiPrincipal` (JSON: no credentials → 401). The principal comes from
engine/auth/accounts.py and nowhere else; handlers pass it to the services, which decide.

CSRF: a signed-in browser's session row holds a random token; every state-changing form carries it
in the hidden field `csrf_token` (htmx sends it as `X-CSRF-Token`). Before sign-in, the sign-in form
is protected by a double-submit cookie (`mcr_csrf`). Bearer-token API calls carry no cookie and are
exempt: a browser cannot be tricked into sending an Authorization header.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from typing import Annotated, Any, Optional
from urllib.parse import quote

from fastapi import Depends, Request

from engine.auth import Principal
from engine.auth import accounts
from engine.auth.accounts import AuthError, SessionExpired, WebSessionView
from engine.errors import MCRError
from engine.i18n import t

SESSION_COOKIE = "mcr_session"
PRESESSION_CSRF_COOKIE = "mcr_csrf"
LOCALE_COOKIE = "mcr_locale"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class CsrfRejected(MCRError):
    """The form's security token is missing or wrong; nothing was changed."""

    code = "csrf"
    status = 403


class SignInRequired(AuthError):
    """A page needs a signed-in user: the handler answers with a redirect to /signin."""

    def __init__(self, message: str, *, next_url: str, expired: bool = False) -> None:
        self.next_url = next_url
        self.expired = expired
        super().__init__(message)


def get_runtime(request: Request) -> Any:
    return request.app.state.runtime


Runtime = Annotated[Any, Depends(get_runtime)]


def client_address(request: Request) -> str:
    """The client's address (uvicorn's proxy-header support puts the X-Forwarded-For one here)."""
    return request.client.host if request.client else "unknown"


def request_locale(request: Request) -> str:
    """The language for someone not (yet) signed in: the locale cookie, else Accept-Language."""
    chosen = request.cookies.get(LOCALE_COOKIE)
    if chosen in accounts.LOCALES:
        return chosen  # type: ignore[return-value]
    accept = request.headers.get("accept-language", "").lower()
    first = accept.split(",")[0].strip()
    return "en" if first.startswith("en") else "zh-CN"


def cookie_secure(request: Request) -> bool:
    """Secure cookies when the public address is https or the request came over https (directly or
    through a trusted proxy's X-Forwarded-Proto, which uvicorn applies to the request's scheme)."""
    settings = request.app.state.settings
    return settings.secure_cookies or request.url.scheme == "https"


def set_cookie(response: Any, request: Request, name: str, value: str, *, max_age: Optional[int] = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=cookie_secure(request),
                        path="/")


def _authenticate(request: Request) -> Optional[Principal]:
    """The principal of this request, or None when it carries no credentials. Cached per request.

    A bearer token that is wrong raises `BadToken` (401); a cookie of an ended session gives None
    and marks `request.state.session_expired` so the sign-in page can say why."""
    if getattr(request.state, "authenticated", False):
        return request.state.principal  # type: ignore[no-any-return]
    app = request.app.state
    principal: Optional[Principal] = None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        principal = accounts.token_principal(app.runtime.db, header[7:].strip(), clock=app.runtime.clock)
        request.state.web_session = None
    else:
        sid = request.cookies.get(SESSION_COOKIE)
        if sid:
            try:
                principal, view = accounts.session_principal(app.runtime.db, sid, clock=app.runtime.clock,
                                                             settings=app.settings.auth)
                request.state.web_session = view
            except SessionExpired:
                request.state.session_expired = True
    request.state.principal = principal
    request.state.authenticated = True
    return principal


def optional_principal(request: Request) -> Optional[Principal]:
    return _authenticate(request)


def page_principal(request: Request) -> Principal:
    """For HTML pages: the signed-in principal, else a redirect to /signin?next=<this page>."""
    principal = _authenticate(request)
    if principal is None:
        expired = bool(getattr(request.state, "session_expired", False))
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        key = "engine.auth.session_expired" if expired else "engine.auth.unauthenticated"
        raise SignInRequired(t(key, request_locale(request)), next_url=target, expired=expired)
    return principal


def api_principal(request: Request) -> Principal:
    """For /api: the principal of the session cookie or the bearer token, else 401 JSON."""
    principal = _authenticate(request)
    if principal is None:
        expired = bool(getattr(request.state, "session_expired", False))
        if expired:
            raise SessionExpired(t("engine.auth.session_expired", request_locale(request)))
        raise AuthError(t("engine.auth.unauthenticated", request_locale(request)))
    return principal


PagePrincipal = Annotated[Principal, Depends(page_principal)]
ApiPrincipal = Annotated[Principal, Depends(api_principal)]
OptionalPrincipal = Annotated[Optional[Principal], Depends(optional_principal)]


def web_session(request: Request) -> Optional[WebSessionView]:
    _authenticate(request)
    return getattr(request.state, "web_session", None)


def csrf_token_for(request: Request) -> str:
    """The token a form on this page must carry: the session's, or before sign-in the cookie's."""
    view = web_session(request)
    if view is not None:
        return view.csrf_token
    existing = getattr(request.state, "presession_csrf", None) or request.cookies.get(PRESESSION_CSRF_COOKIE)
    if not existing:
        existing = secrets.token_urlsafe(32)
        request.state.presession_csrf_new = True
    request.state.presession_csrf = existing
    return existing


async def require_csrf(request: Request) -> None:
    """Refuse a state-changing request whose CSRF token is missing or wrong (403, nothing done)."""
    _authenticate(request)
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches it: the handler reads the same form
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    view = getattr(request.state, "web_session", None)
    expected = view.csrf_token if view is not None else request.cookies.get(PRESESSION_CSRF_COOKIE)
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        principal: Optional[Principal] = request.state.principal
        rt = request.app.state.runtime
        accounts.record_attempt(rt.db, rt.clock, actor=principal.actor if principal else "-", action="csrf_refused",
                                key=principal.emp_no if principal else "-", allowed=False,
                                path=request.url.path, address=client_address(request))
        raise CsrfRejected(t("engine.auth.csrf", principal.locale if principal else request_locale(request)))


CsrfChecked = Depends(require_csrf)


def form_nonce() -> str:
    """A fresh one-time id for a form (`client_event_id`): the engine applies an event id once."""
    return uuid.uuid4().hex


def signin_url(next_url: str = "/inbox", *, expired: bool = False) -> str:
    return f"/signin?next={quote(next_url, safe='/')}" + ("&expired=1" if expired else "")
