"""The plugin registry: what each flow family (ITR, planning, surveys, ...) adds to the engine.

The engine core names no flow. A family is a Python package that declares one `Plugin` under the
entry-point group `mcr.flows` (pyproject.toml: `itr = "flows.itr.plugin:PLUGIN"`); the core asks
this registry for the family's

* flow folder          — the package's folder, loaded as flow definitions (`flow_folders()`);
* model modules        — imported so their SQLModel tables join `engine.db.metadata()` (Alembic);
* migration branch     — the Alembic branch label of its migrations (`mcr db heads` shows one each);
* CLI                  — `"module:function"` called with the `mcr` typer app to mount its commands;
* replay module        — imported so its scenario verbs register (`@scenario_command`, ...);
* simulator            — `"module:function"` called once per simulated day by `mcr simulate`
                         (engine/simulate.py) to book the family's users' actions of that day;
* inbox module         — imported so its my-work providers and `concerned(...)` declarations register
                         (instance pages use the latter for who may read and act);
* callback sources     — `"module:attr"` of a `CallbackSource` for the same-contact rule (engine/contacts.py);
* services             — public entry points other families call by name (`service("itr", "open_issue_in")`),
                         so one family never imports another;
* web                  — `"module"` of the family's staff pages: it exposes `ROUTERS` (FastAPI routers the
                         app mounts) and may expose `NAV` (a list of `engine.web.nav.NavItem` for the top
                         bar); its templates live in `<module folder>/templates/<family>/…` and are
                         rendered as `"<family>/page.html"` (engine/web/templating.py adds the folder).

Every field but `name` and `package` is optional, and each is a dotted name imported only when
asked for: reading the registry does not import a family. Tests add a family with `register()`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from engine.errors import ConfigError

GROUP = "mcr.flows"


@dataclass(frozen=True)
class Plugin:
    name: str
    package: str
    models: tuple[str, ...] = ()
    migration_branch: Optional[str] = None
    cli: Optional[str] = None
    replay: Optional[str] = None
    inbox: Optional[str] = None
    callbacks: Optional[str] = None
    services: Mapping[str, str] = field(default_factory=dict, hash=False)
    web: Optional[str] = None
    # Rules files the family validates: file name → "module:Model" (`mcr rules register` checks them first).
    rules: Mapping[str, str] = field(default_factory=dict, hash=False)
    # `mcr simulate`'s daily hook, "module:function" (last, so positional construction keeps its meaning).
    simulator: Optional[str] = None

    @property
    def folder(self) -> Path:
        """The package's folder: its flow YAML files."""
        module = import_module(self.package)
        return Path(getattr(module, "__file__", "") or "").resolve().parent


class PluginError(ConfigError):
    """A flow family's plugin declaration is malformed (a packaging mistake, found at start-up)."""


_lock = threading.Lock()
_plugins: Optional[dict[str, Plugin]] = None


def _discover() -> dict[str, Plugin]:
    found: dict[str, Plugin] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        plugin = ep.load()
        if not isinstance(plugin, Plugin):
            raise PluginError(f"entry point {GROUP}:{ep.name} ({ep.value}) is not an engine.plugins.Plugin")
        if plugin.name in found:
            raise PluginError(f"plugin '{plugin.name}' is declared twice ({found[plugin.name].package}, {plugin.package})")
        found[plugin.name] = plugin
    return found


def _registry() -> dict[str, Plugin]:
    global _plugins
    if _plugins is None:
        with _lock:
            if _plugins is None:
                _plugins = _discover()
    return _plugins


def plugins() -> list[Plugin]:
    """Every installed family, by name."""
    return [p for _, p in sorted(_registry().items())]


def get(name: str) -> Optional[Plugin]:
    return _registry().get(name)


def register(plugin: Plugin) -> None:
    """Add a family not installed through an entry point (tests; an embedding application)."""
    registry = _registry()
    existing = registry.get(plugin.name)
    if existing is not None and existing != plugin:
        raise PluginError(f"plugin '{plugin.name}' is declared twice ({existing.package}, {plugin.package})")
    registry[plugin.name] = plugin


def unregister(name: str) -> None:
    _registry().pop(name, None)


def resolve(ref: str) -> Any:
    """`"package.module:attr"` → the attribute; `"package.module"` → the module."""
    module, _, attr = ref.partition(":")
    mod = import_module(module)
    return getattr(mod, attr) if attr else mod


def flow_folders() -> list[Path]:
    """The flow folders of every installed family (what a runtime loads when not told otherwise)."""
    return [p.folder for p in plugins()]


def model_modules() -> Iterator[str]:
    for p in plugins():
        yield from p.models


def import_all(kind: str) -> None:
    """Import each family's module of `kind` ("replay", "inbox"), which registers what it declares."""
    for p in plugins():
        ref = getattr(p, kind)
        if ref:
            resolve(ref)


def owner_of(path: Path) -> Optional[Plugin]:
    """The family whose folder holds `path` (a flow file), if any."""
    path = Path(path).resolve()
    for p in plugins():
        if path.is_relative_to(p.folder):
            return p
    return None


def service(plugin: str, name: str) -> Any:
    """The public entry point `name` of family `plugin`, or None when that family is not installed."""
    p = get(plugin)
    if p is None:
        return None
    ref = p.services.get(name)
    if ref is None:
        raise PluginError(f"plugin '{plugin}' offers no service '{name}' (it offers: {', '.join(sorted(p.services)) or 'none'})")
    return resolve(ref)
