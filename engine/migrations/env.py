"""Alembic environment: runs against the `Database` handed in by engine.migrate."""

from __future__ import annotations

from alembic import context

from engine.db import Database, metadata

config = context.config
db: Database | None = config.attributes.get("database")
if db is None:  # invoked by the alembic CLI (e.g. to autogenerate a revision)
    db = Database(config.get_main_option("sqlalchemy.url"))

with db.engine.connect() as connection:
    context.configure(connection=connection, target_metadata=metadata(),
                      render_as_batch=not db.is_pg, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
