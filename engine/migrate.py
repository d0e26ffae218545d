"""Schema migrations with Alembic, run by `mcr db upgrade` and by `mcr serve` on an empty database.

The engine's migration scripts live in engine/migrations/versions, each flow family's in the
`migrations/` folder of its package (its own Alembic branch, found through engine/plugins.py);
`metadata()` (every SQLModel table of the product) is what `alembic revision --autogenerate`
compares against.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from engine.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def version_locations() -> list[Path]:
    """The engine's scripts, then each installed family's `migrations/` folder."""
    from engine import plugins

    families = [p.folder / "migrations" for p in plugins.plugins()]
    return [MIGRATIONS / "versions", *(f for f in families if f.is_dir())]


def _scripts_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")  # os.pathsep: a folder name may hold spaces
    cfg.set_main_option("version_locations", os.pathsep.join(str(p) for p in version_locations()).replace("%", "%%"))
    return cfg


def alembic_config(db: "Database") -> Config:
    cfg = _scripts_config()
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    cfg.attributes["database"] = db
    return cfg


def upgrade(db: "Database", revision: str = "heads") -> None:
    refuse_newer_schema(db)
    command.upgrade(alembic_config(db), revision)


def refuse_newer_schema(db: "Database") -> None:
    """A database migrated by a newer mcr (a revision these scripts do not know) is refused with
    one line, before Alembic fails on it — and before this older code writes anything into it."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from engine.errors import SchemaTooNew
    from engine.i18n import t

    with db.engine.connect() as conn:
        found = MigrationContext.configure(conn).get_current_heads()
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config(db)).walk_revisions()}
    unknown = sorted(set(found) - known)
    if unknown:
        raise SchemaTooNew(t("engine.db.schema_too_new", where=db.safe_url, revision=", ".join(unknown)))


def current(db: "Database") -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ", ".join(sorted(heads)) if heads else None


def heads() -> list[str]:
    """Each product module (master data, ITR, planning, surveys) is its own branch after 0002."""
    from alembic.script import ScriptDirectory

    return sorted(ScriptDirectory.from_config(_scripts_config()).get_heads())
