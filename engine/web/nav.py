"""The top bar's entries that flow families add (`Plugin.web` module's `NAV`).

An entry names a catalogue key for its label and, optionally, the roles that see it; the service
behind the page still decides what a person may read — hiding a link is a courtesy, not a check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from engine import plugins


@dataclass(frozen=True)
class NavItem:
    key: str                      # aria-current when the page passes nav=<key>
    href: str
    label: str                    # catalogue key
    roles: tuple[str, ...] = ()   # empty: everyone signed in; else any of these roles (operators always)
    order: int = 50

    def visible_to(self, principal: Any) -> bool:
        if not self.roles or principal is None:
            return principal is not None
        if getattr(principal, "operator", False):
            return True
        have = set(getattr(principal, "roles", ()) or ())
        return bool(have.intersection(self.roles))


def web_modules() -> list[Any]:
    """Every installed family's pages module (imported on first use)."""
    return [plugins.resolve(p.web) for p in plugins.plugins() if p.web]


def template_folders() -> list[Path]:
    """`templates/` beside each family's pages module, when it has one."""
    folders: list[Path] = []
    for module in web_modules():
        folder = Path(getattr(module, "__file__", "") or "").resolve().parent / "templates"
        if folder.is_dir():
            folders.append(folder)
    return folders


def family_routers() -> list[Any]:
    routers: list[Any] = []
    for module in web_modules():
        routers.extend(getattr(module, "ROUTERS", []))
    return routers


_items: Optional[list[NavItem]] = None


def items() -> list[NavItem]:
    global _items
    if _items is None:
        found: list[NavItem] = []
        for module in web_modules():
            found.extend(getattr(module, "NAV", []))
        _items = sorted(found, key=lambda i: (i.order, i.key))
    return _items
