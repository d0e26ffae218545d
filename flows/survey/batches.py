"""The survey family's recurring batches (flows/survey/survey_batches.yaml), as launchers.

* `survey_sweep_closed_projects` (daily): a project closed in master data without the project-closed
  event — closed by an import, a sync, a direct edit — has no sampling decision; each such project is
  decided now through `service.project_closed`, the event's own path, one work item per project
  (one Prefect task with retries under `mcr-launch`); the very first sweep logs the projects closed
  by then as history instead (no flood of callbacks over old data). The decision is unique per project
  (survey_project_draw), so a project decided by the event, or by a concurrent sweep, is never
  decided twice.
* `survey_annual_request` (yearly, on `annual.launch`): opens the year's annual_survey instance (what
  the first sample list used to start, with its reminder timer) and sends it `request_lists` for every
  team owning in-scope customers, one work item per team; a team that already submitted a list for the
  year, or was asked already, is left alone (`client_event_id` makes a repeated request a no-op).
"""

from __future__ import annotations

from typing import Any

from engine.batch import DirectRunner
from engine.i18n import t
from engine.launches import launch_name
from engine.masterdata.read import MasterData
from engine.registry import launcher
from flows.survey import service

REQUEST_EVENT = "request_lists"


def _runner(ctx: Any) -> Any:
    return ctx.runner or DirectRunner()


def _swept_before(ctx: Any) -> bool:
    with ctx.runtime.db.read() as tx:
        return tx.one("SELECT 1 FROM launch_run WHERE launch = :l AND status = 'done'",
                      {"l": launch_name(ctx.flow, ctx.launch)}) is not None


@launcher("survey_sweep_closed_projects")
def sweep_closed_projects(ctx: Any) -> int:
    """Decide every undecided closed project; the number decided now.

    The first sweep ever takes the projects closed by then as history (logged, reason `history`, not
    called back): an install over years of closed projects must not call every one of them back
    (`mcr survey project-closed --all-closed` before the first sweep draws them instead)."""
    rt = ctx.runtime
    service._rules(rt)  # a schedule of the wrong kind fails the launch with the rules file's line, not runs on
    codes = service.undecided_closed_projects(rt)
    if not _swept_before(ctx):
        service.record_history(rt, codes)
        return 0
    batch = _runner(ctx).each("survey sweep", codes,
                              lambda code: service.project_closed(rt, code),
                              describe=lambda d: d.summary())
    batch.raise_failures()
    return sum(1 for d in batch.results if not d.duplicate)


def survey_year(ctx: Any) -> int:
    """The survey year of an occurrence: its year in the launch's own time zone."""
    return ctx.occurrence.astimezone(ctx.launch.recurrence.tz).year


def teams_in_scope(rt: Any) -> list[str]:
    """Teams owning at least one customer of the tiers the annual survey covers."""
    tiers = list(service._rules(rt).annual.tiers)
    with rt.db.read() as tx:
        return sorted({c.team_code for c in MasterData(tx).customers_with_tiers(tiers) if c.team_code})


def request_team(rt: Any, instance: int, year: int, team: str) -> str:
    """Ask one team for its lists unless it started already: `asked`, `started` or `already`."""
    tiers = list(service._rules(rt).annual.tiers)
    with rt.db.read() as tx:
        codes = [c.code for c in MasterData(tx).customers_with_tiers(tiers) if c.team_code == team]
        marks = ", ".join(f":c{i}" for i in range(len(codes)))
        started = bool(codes) and tx.one(f"SELECT 1 FROM survey_sample WHERE year = :y AND customer_code IN ({marks})",
                                         {"y": year, **{f"c{i}": c for i, c in enumerate(codes)}}) is not None
    if started:
        return "started"
    step = rt.send(instance, REQUEST_EVENT, actor=service._SYSTEM.actor, payload={"team": team},
                   client_event_id=f"survey-request:{year}:{team}", internal=True)
    return "already" if step.duplicate else "asked"


@launcher("survey_annual_request")
def annual_request(ctx: Any) -> int:
    """Open the year's survey and ask every team in scope; the number of teams asked now."""
    rt = ctx.runtime
    service._rules(rt)  # as in the sweep: validated before anything is done
    year = survey_year(ctx)
    found = service._instance(rt, service.ANNUAL_FLOW, f"annual:{year}")
    if found is not None and found[1] == "closed":  # closed early by hand: nobody is asked any more
        return 0
    instance = service.ensure_year(rt, year)
    batch = _runner(ctx).each("survey annual request", teams_in_scope(rt),
                              lambda team: request_team(rt, instance, year, team),
                              describe=lambda outcome: t(f"survey.request_team_{outcome}", year=year))
    batch.raise_failures()
    return batch.results.count("asked")
