"""`mcr replay SCENARIO.yaml [--json]`: run a scripted scenario on the fake clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from engine.replay import ScenarioFailed, run_scenario


def register(app: typer.Typer) -> None:
    @app.command("replay")
    def replay(scenario: Path, as_json: bool = typer.Option(False, "--json", help="print the full outcome as JSON"),
               database: Optional[str] = typer.Option(None, "--database", help="database URL (default: a temporary SQLite file)")) -> None:
        """Run SCENARIO from a clean database on the fake clock; exit 1 if an expectation fails."""
        outcome = run_scenario(scenario, database_url=database)
        failures = outcome["expectations"]["failures"]
        if as_json:
            typer.echo(json.dumps(outcome, ensure_ascii=False, indent=2, default=str))
        else:
            typer.echo(f"{outcome['scenario']}: {len(outcome['instances'])} instance(s), "
                       f"{len(outcome['mails'])} mail(s), {len(outcome['refusals'])} refusal(s), "
                       f"final time {outcome['final_time']}")
        if failures:
            raise ScenarioFailed("expectations not met:\n" + "\n".join(f"  {f}" for f in failures))
