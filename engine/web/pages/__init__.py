"""The staff pages (server-rendered, Jinja2 templates in engine/web/templates/).

`ROUTERS` is what `engine.web.app.create_app` mounts. Each page gets the signed-in principal from
`engine.web.deps.PagePrincipal` and calls the services with it; a page never offers what the
service would refuse, and never decides on its own who may do what.
"""

from __future__ import annotations

from pathlib import Path

from engine.web.pages import audit, inbox, instances, issues, masterdata

ROUTERS = [inbox.router, issues.router, instances.router, masterdata.router, audit.router]

PENDING = Path(__file__).parent.parent / "messages-pending.po-fragment"


def _register_pending_messages() -> None:
    """Until the pages' keys are in the gettext catalogue (engine/locale/*/mcr.po), serve them from
    engine/web/messages-pending.po-fragment. Delete this function and the fragment when they are."""
    import engine.i18n as i18n

    if hasattr(i18n, "translations") or not PENDING.exists():
        return
    from babel.messages.pofile import read_po

    blocks = PENDING.read_text(encoding="utf-8").split("# ==== en ====")
    zh, en = (read_po(iter(b.splitlines(keepends=True))) for b in blocks)
    for msg in zh:
        if msg.id and msg.id not in i18n.CATALOG:
            i18n.CATALOG[msg.id] = {"zh-CN": msg.string, "en": en[msg.id].string if en.get(msg.id) else msg.string}


_register_pending_messages()
