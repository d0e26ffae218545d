"""`mcr simulate --days N --customers C --seed S [--start DATE] [--database URL|PATH] [--json]`:
a synthetic company year on the fake clock (engine/simulate.py), printed month by month."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Optional

import typer

from engine.i18n import locale, t
from engine.tables import print_table


def _flow_title(defs: Any, flow: str) -> str:
    try:
        return defs.get(flow).title_of(locale())
    except Exception:  # a flow no longer installed: its name is all there is
        return flow


def _state_title(defs: Any, flow: str, state: str) -> str:
    try:
        spec = defs.get(flow).state(state)
        return spec.title.get(locale()) or state
    except Exception:
        return state


def print_summary(out: dict[str, Any]) -> None:
    from engine.definition import load_definitions
    from engine.rules import flow_folders

    defs = load_definitions(*flow_folders())
    typer.echo(t("cli.simulate.header", days=out["days"], customers=out["customers"], seed=out["seed"], start=out["start"],
                 end=out["end"], database=out["database"] if out["database"] != "temporary"
                 else t("cli.simulate.database_temporary")))
    typer.echo("")
    rows = [*out["months"], out["total"]]
    print_table([t(f"cli.simulate.col.{k}") for k in ("month", "events", "timers", "mails_queued", "mails_sent", "launches",
                                              "actions", "refused")],
                ([t("cli.simulate.total") if p["period"] == "total" else p["period"], p["total_events"], p["timers_fired"],
                  p["mails_queued"], p["mails_delivered"], p["launches"], sum(p["actions"].values()),
                  sum(p["refused"].values())] for p in rows))
    typer.echo("")
    typer.echo(t("cli.simulate.by_flow"))
    print_table([t("cli.simulate.col.flow"), t("cli.simulate.col.events"), t("cli.simulate.col.states")],
                ([_flow_title(defs, flow), n, "，".join(f"{_state_title(defs, flow, s)} {c}"
                                                       for s, c in out["instances_by_state"].get(flow, {}).items())]
                 for flow, n in sorted(out["total"]["events"].items(), key=lambda kv: -kv[1])))
    if out["total"]["actions"]:
        typer.echo("")
        typer.echo(t("cli.simulate.by_family", items="，".join(f"{k} {v}" for k, v in out["total"]["actions"].items())))
    if out["total"]["refused"]:
        typer.echo(t("cli.simulate.refusals", items="，".join(f"{k} {v}" for k, v in out["total"]["refused"].items())))
    typer.echo("")
    typer.echo(t("cli.simulate.rate", rate=out["events_per_s"], events=out["total"]["total_events"],
                 seconds=out["simulated_s"], mail=out["mail_delivery_s"], setup=out["setup_s"]))
    hot = out["engine_hot_path"]
    if hot is None:
        typer.echo(t("cli.simulate.hot_path_skipped"))
    else:
        typer.echo(t("cli.simulate.hot_path", rounds=hot["rounds"], per=hot["events_per_round"], rate=hot["events_per_s"],
                     low=hot["range"][0], high=hot["range"][1], ratio=hot["ratio"],
                     verdict=t("cli.simulate.met") if hot["target_ratio_ge_0.5"] else t("cli.simulate.not_met")))
    if out["database"] != "temporary":
        typer.echo(t("cli.simulate.serve_hint", url=out["database"]))


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(days: int = typer.Option(365, "--days", help="simulated days"),
                 customers: int = typer.Option(200, "--customers", help="demo customers"),
                 seed: int = typer.Option(1, "--seed", help="random seed (same seed, same year)"),
                 start: Optional[str] = typer.Option(None, "--start", help="first day, YYYY-MM-DD (default: 1 Nov of "
                                                     "this year)"),
                 database: Optional[str] = typer.Option(None, "--database", help="database URL or SQLite file to keep "
                                                        "(default: a temporary SQLite file)"),
                 hot_path_events: int = typer.Option(2000, "--hot-path-events", help="events per round of the engine "
                                                     "hot-path measurement E (0: skip it)"),
                 as_json: bool = typer.Option(False, "--json", help="print the outcome as JSON")) -> None:
        """Simulate a company year on the fake clock: demo master data, every flow, daily activity."""
        from engine.clock import SystemClock
        from engine.simulate import SimulationError, database_url, default_start, run_simulation

        if start is None:
            first = default_start(SystemClock().now())
        else:
            try:
                first = date.fromisoformat(start)
            except ValueError:
                raise SimulationError(t("cli.simulate.bad_start", value=start)) from None

        def progress(period: Any) -> None:
            typer.echo(t("cli.simulate.progress", month=period.label, events=period.total_events), err=True)

        out = run_simulation(days=days, customers=customers, seed=seed, start=first, database=database_url(database),
                             hot_path_events=hot_path_events, progress=None if as_json else progress)
        if as_json:
            typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        else:
            print_summary(out)
