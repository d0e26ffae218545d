from __future__ import annotations

import typer

sample_app = typer.Typer(help="sample family")


@sample_app.command("hello")
def hello(name: str) -> None:
    typer.echo(f"hello {name} from the sample family")


def register(app: typer.Typer) -> None:
    app.add_typer(sample_app, name="sample-family")
