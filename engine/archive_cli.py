"""`mcr archive --closed-before YYYY-MM-DD [--dry-run] [--batch N] [--json]` (engine/archive.py)."""

from __future__ import annotations

import json

import typer

from engine.archive import DEFAULT_BATCH, archive_closed, check_batch, midnight, parse_cutoff
from engine.i18n import t


def register(app: typer.Typer) -> None:
    @app.command("archive")
    def archive(closed_before: str = typer.Option(..., "--closed-before", help="YYYY-MM-DD"),
                dry_run: bool = typer.Option(False, "--dry-run", help="count what would move; move nothing"),
                batch: int = typer.Option(DEFAULT_BATCH, "--batch", help="instances per transaction"),
                as_json: bool = typer.Option(False, "--json")) -> None:
        """Move the history, timers and sent mail of instances closed before DATE into the archive
        tables; pages, reports and `instances show` still read them."""
        from engine.app import load_calendar_registry
        from engine.clock import clock_from_env
        from engine.db import Database

        day = parse_cutoff(closed_before)  # the user's input first, before touching the database
        check_batch(batch)
        db = Database(create=False)
        db.check()
        db.upgrade()  # the archive tables come with a migration
        tz = load_calendar_registry().get(None).tz  # DATE starts at midnight in the company's zone
        res = archive_closed(db, clock_from_env(), midnight(day, tz), batch=batch, dry_run=dry_run)
        if as_json:
            typer.echo(json.dumps(res.as_dict(), ensure_ascii=False, indent=2))
            return
        typer.echo(t("engine.archive.dry_run" if dry_run else "engine.archive.done", day=day.isoformat(),
                     instances=res.instances, history=res.history, timers=res.timers, outbox=res.outbox))
        if res.outbox_kept or res.waiting:
            typer.echo(t("engine.archive.kept", outbox=res.outbox_kept, waiting=res.waiting))
