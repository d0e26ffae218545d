"""`mcr planning activity …` — the marketing-activity life cycle (flows/planning/activities.py)."""

from __future__ import annotations

import uuid
from typing import Any, Optional

import typer

from engine import i18n
from flows.planning.cli import AS, _echo_json, _runtime, _who

activity_app = typer.Typer(help="品牌/营销活动生命周期 / marketing-activity life cycle", no_args_is_help=True)


def _act(code: str, event: str, as_emp: Optional[str], payload: dict[str, Any], as_json: bool) -> None:
    from flows.planning import activities

    rt = _runtime()
    principal = _who(rt, as_emp, f"planning activity {event}")
    out = activities.act(rt, code, event, principal=principal, payload=payload,
                         client_event_id=f"cli:{uuid.uuid4()}")
    if as_json:
        _echo_json(out)
    else:
        typer.echo(i18n.t("planning.activity.cli.state", code=code, state=out["state"]))
        if out.get("callbacks") and out["callbacks"].get("message"):
            typer.echo(out["callbacks"]["message"])


@activity_app.command("track")
def track(code: str, as_emp: Optional[str] = AS) -> None:
    """Start the life cycle of a planned activity (the daily launch does it for every new one)."""
    from flows.planning import activities

    rt = _runtime()
    instance = activities.track_activity(rt, code, principal=_who(rt, as_emp))
    typer.echo(i18n.t("planning.activity.cli.tracked", code=code, instance=instance))


@activity_app.command("invite")
def invite(code: str, contact: list[str] = typer.Option([], "--contact", help="受邀联系人编码（可多次）"),
           as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    _act(code, "invite", as_emp, {"contacts": contact}, as_json)


@activity_app.command("hold")
def hold(code: str, held_on: Optional[str] = typer.Option(None, "--on", help="举办日期 YYYY-MM-DD（默认今天）"),
         as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    _act(code, "hold", as_emp, {"held_on": held_on} if held_on else {}, as_json)


@activity_app.command("summary")
def summary(code: str, text: str = typer.Option(..., "--text", help="活动总结"),
            item: list[str] = typer.Option([], "--item", help="遗留问题（每条一次）"),
            as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    _act(code, "submit_summary", as_emp, {"summary": text, "open_items": item}, as_json)


@activity_app.command("close-item")
def close_item(code: str, item: int = typer.Option(..., "--item"), resolution: str = typer.Option(..., "--resolution"),
               as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    _act(code, "close_item", as_emp, {"item": item, "resolution": resolution}, as_json)


@activity_app.command("close")
def close(code: str, as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    _act(code, "close", as_emp, {}, as_json)


@activity_app.command("cancel")
def cancel(code: str, reason: str = typer.Option(..., "--reason"), as_emp: Optional[str] = AS,
           as_json: bool = typer.Option(False, "--json")) -> None:
    _act(code, "cancel", as_emp, {"reason": reason}, as_json)


@activity_app.command("meeting")
def meeting(office: str = typer.Option(..., "--office"), as_emp: Optional[str] = AS,
            as_json: bool = typer.Option(False, "--json")) -> None:
    """The weekly sales meeting's list: activities under way in the office and their open items."""
    from dataclasses import asdict

    from flows.planning import activities

    rt = _runtime()
    lines = activities.meeting_list(rt, office, principal=_who(rt, as_emp))
    if as_json:
        _echo_json([asdict(line) for line in lines])
        return
    if not lines:
        typer.echo(i18n.t("planning.activity.cli.meeting_empty", office=office))
        return
    typer.echo(i18n.t("planning.activity.cli.meeting_header", office=office, n=len(lines)))
    for line in lines:
        typer.echo(f"  {line.date}  {line.activity}  {line.title}  [{line.state}]  {line.customer}  {line.inviter}")
        for item in line.open_items:
            typer.echo(f"      #{item['n']} {item['text']}")
