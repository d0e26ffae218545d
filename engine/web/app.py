"""The app factory: `create_app(runtime, settings)` — pages, sign-in, the JSON API, static files,
error pages, the request size limit.

Nothing here decides who may do what: the dependencies (engine/web/deps.py) authenticate, the
services decide, and `engine.web.errors` turns their refusals into a page or JSON.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.errors import MCRError
from engine.i18n import t
from engine.web.deps import SignInRequired, request_locale, signin_url
from engine.web.errors import error_body, error_code, http_status
from engine.web.settings import WebSettings
from engine.web.templating import make_templates, render

STATIC_DIR = Path(__file__).parent / "static"


class BodyTooLarge(MCRError):
    """The request body is larger than the limit."""

    code = "too_large"
    status = 413


class BodySizeLimit:
    """Refuse request bodies over `limit` bytes (declared or streamed) before a handler reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(t("engine.auth.too_large", limit=self.limit))
            return message

        await self.app(scope, counted, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        """413 before the body is read: JSON for the API, the error page for a browser's form."""
        from starlette.concurrency import run_in_threadpool

        request = Request(scope, receive)
        exc = BodyTooLarge(t("engine.auth.too_large", request_locale(request), limit=self.limit))
        if _wants_json(request):
            response: Response = JSONResponse(error_body(exc), status_code=413)
        else:  # the page reads the session from the database: not on the event loop
            response = await run_in_threadpool(_error_response, request, 413, error_code(exc), str(exc))
        await response(scope, receive, send)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.startswith("/api") or ("application/json" in accept and "text/html" not in accept)


def _error_response(request: Request, status: int, code: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": code, "message": message}, status_code=status)
    return render(request, "error.html", {"status_code": status, "error": code, "message": message},
                  status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(MCRError)
    async def mcr_error(request: Request, exc: MCRError) -> Response:
        if isinstance(exc, SignInRequired) and not _wants_json(request):
            return RedirectResponse(signin_url(exc.next_url, expired=exc.expired), status_code=303)
        response = _error_response(request, http_status(exc), error_code(exc), str(exc))
        retry = getattr(exc, "retry_after", None)
        if retry:
            response.headers["Retry-After"] = str(retry)
        if http_status(exc) == 401 and _wants_json(request):
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        locale = request_locale(request)
        if exc.status_code == 404:
            return _error_response(request, 404, "not_found", t("web.not_found", locale))
        return _error_response(request, exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def bad_input(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
        return _error_response(request, 422, "bad_input", problems)


def create_app(runtime: Any, settings: Optional[WebSettings] = None) -> FastAPI:
    """The web app over `runtime` (its database, clock and definitions)."""
    settings = settings or WebSettings.from_env()
    app = FastAPI(title="mcr", version="1", openapi_url="/api/openapi.json", docs_url="/api/docs", redoc_url=None)
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.templates = make_templates()
    _install_error_handlers(app)

    from engine.web.api import router as api_router
    from engine.web.auth_routes import router as auth_router

    app.include_router(auth_router)
    app.include_router(api_router)
    for router in _page_routers():
        app.include_router(router, include_in_schema=False)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.add_middleware(BodySizeLimit, limit=settings.max_upload_bytes)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        # No framing (clickjacking), no MIME sniffing, no full URLs (with record codes) sent to other sites.
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app


def _page_routers() -> list[Any]:
    """The pages' routers (engine.web.pages.ROUTERS, when the pages are part of this build) and each flow
    family's (`Plugin.web`)."""
    try:
        pages = importlib.import_module("engine.web.pages")
    except ModuleNotFoundError as exc:
        if exc.name in ("engine.web.pages",):
            return []
        raise
    from engine.web.nav import family_routers

    return list(getattr(pages, "ROUTERS", [])) + family_routers()
