"""The staff pages (server-rendered, Jinja2 templates in engine/web/templates/).

`ROUTERS` is what `engine.web.app.create_app` mounts. Each page gets the signed-in principal from
`engine.web.deps.PagePrincipal` and calls the services with it; a page never offers what the
service would refuse, and never decides on its own who may do what.
"""

from __future__ import annotations

from engine.web.pages import audit, flows, inbox, instances, issues, masterdata

ROUTERS = [inbox.router, issues.router, instances.router, masterdata.router, audit.router, flows.router]
