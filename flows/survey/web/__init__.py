"""The survey family's staff pages (engine.plugins.Plugin.web): `ROUTERS` and `NAV` for the app.

Templates are in `templates/survey/`, rendered as `"survey/<name>.html"` with `engine.web.templating.render`.
"""

from __future__ import annotations

from flows.survey.web import pages

ROUTERS = [pages.router]
NAV = [item for module in (pages,) for item in getattr(module, "NAV", [])]
