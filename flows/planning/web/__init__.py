"""The planning family's staff pages (engine.plugins.Plugin.web): `ROUTERS` and `NAV` for the app.

Templates are in `templates/planning/`, rendered as `"planning/<name>.html"` with `engine.web.templating.render`.
"""

from __future__ import annotations

from flows.planning.web import kit, manage, care

ROUTERS = [kit.router, manage.router, care.router]
NAV = [item for module in (kit, manage, care,) for item in getattr(module, "NAV", [])]
