"""The composition root: builds the database, definitions, calendars and runtime from settings.

Settings come from the environment so that `mcr serve`, the CLI and tests build the same
thing: MCR_DATABASE_URL (default sqlite:///mcr.db), MCR_FLOWS_DIR (default the shipped
flows/), MCR_RULES_DIR (default the shipped rules/).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.clock import Clock, clock_from_env
from engine.db import Database
from engine.definition import DefinitionSet, load_definitions
from engine.rules import flow_folders, rules_dir
from engine.runtime import Runtime


def load_calendar_registry(rules: Path | None = None) -> Any:
    from engine.calendar import builtin_registry, load_calendars

    folder = (rules or rules_dir()) / "calendars"
    return load_calendars(folder) if folder.is_dir() else builtin_registry()


def build_runtime(db: Database | None = None, *, clock: Clock | None = None,
                  flows: list[Path] | None = None, rules: Path | None = None,
                  definitions: DefinitionSet | None = None, migrate: bool = True) -> Runtime:
    db = db or Database(create=False)  # only `mcr init` and `mcr serve` create a database
    db.check()
    if migrate:
        db.upgrade()
    defs = definitions or load_definitions(*(flows or flow_folders()))
    runtime = Runtime(db, defs, clock=clock or clock_from_env(), calendars=load_calendar_registry(rules))
    runtime.register_definitions()
    return runtime
