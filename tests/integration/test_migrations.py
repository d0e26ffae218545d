"""The Alembic migrations create exactly the schema the models describe, on both backends, and
the documented diagrams match the shipped flows."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from engine import migrate
from engine.db import Database, metadata
from engine.definition import load_definitions
from engine.docgen import diagrams_markdown
from engine.rules import flows_dir
from tests.conftest import ROOT


def test_migrations_at_heads_match_every_model(db: Database) -> None:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, metadata())
        heads = set(ctx.get_current_heads())
    assert diff == []
    assert heads == set(migrate.heads())


def test_upgrade_is_idempotent(db: Database) -> None:
    db.upgrade()
    assert migrate.current(db) == ", ".join(migrate.heads())


def test_docs_diagrams_show_every_shipped_flow_as_it_is() -> None:
    expected = diagrams_markdown(load_definitions(flows_dir()))
    actual = (ROOT / "docs" / "diagrams.md").read_text(encoding="utf-8")
    assert actual == expected, "docs/diagrams.md is stale: run `mcr flows diagrams`"
