"""The itr family's staff pages (engine.plugins.Plugin.web): `ROUTERS` and `NAV` for the app.

Templates are in `templates/itr/`, rendered as `"itr/<name>.html"` with `engine.web.templating.render`.
"""

from __future__ import annotations

from flows.itr.web import reports, scorecard

ROUTERS = [reports.router, scorecard.router]
NAV = [item for module in (reports, scorecard,) for item in getattr(module, "NAV", [])]
