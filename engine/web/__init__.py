"""The staff web app (FastAPI + Jinja2, server-rendered) and the JSON API under /api.

`create_app(runtime, settings)` builds it; `mcr serve` hosts it in the same process as the
scheduler and the mail sender. Handlers get an authenticated `Principal` from the dependencies in
engine/web/deps.py and call the services with it: no permission rule lives in this package.
See engine/web/README-dev.md for the contract with the pages.
"""

from engine.web.app import create_app
from engine.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
