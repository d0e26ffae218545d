"""The survey flows in replayed scenarios (`mcr replay SCENARIO.yaml`): commands, a setup and sections.

Commands (`do:` in a step, `as:` the acting employee number) call flows/survey/service.py exactly
as the CLI does:
  survey.project_closed     {project, contact?} or {projects: [...]}
  survey.callback           {project | instance, product, solution, delivery, service_attitude (or attitude),
                             comment?, reached?}
  survey.activity_ended     {activity, ended?: YYYY-MM-DD}
  survey.activity_callback  {activity | instance, contact, score?, comment?, reached?}
  survey.cancel             {instance, reason}
  survey.sample_submit      {customer, year, rows: [{contact, method, level?}, ...]}
  survey.sample_check       {customer, year, rows: [...]}          (checks, stores nothing)
  survey.sample_export      {year, customers?}                      (writes the XLSX to a temporary folder)
  survey.results_import     {year, rows: [{customer, contact?, category, item, score, comment?}, ...]}
  survey.close_year         {year}

Setup (top-level key): `survey_org` — an organisation, customers, contacts, projects and activities
written into the master-data tables (format: flows/survey/fixtures.py; `file:` loads a YAML beside the
scenario, `standard: true` the standard organisation of the tests).

Sections of the output: `survey_draws` (every sampling decision), `survey_callbacks` (every recorded
survey callback), `survey_samples` (the sample lists by year with their entries), `survey_report`
(the analysis of each year with results), `survey_improvements` (the annual survey's improvement items). The ITR module owns the plain `callbacks` section.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from engine.errors import Problem
from engine.replay import InvalidScenario, ReplayContext, scenario_command, scenario_section, scenario_setup

from engine.auth.principal import Principal
from flows.survey import service
from flows.survey.fixtures import insert_org, standard_org


_AUDIT = Principal.engine("replay")  # the output sections show everything that happened


def _who(ctx: ReplayContext, actor: str | None) -> Any:
    """The principal of the step's `as:` (required: survey steps are always someone's)."""
    if not actor:
        raise InvalidScenario([Problem(ctx.file, 0, "a survey.* step needs 'as:' (the acting employee number)")])
    return ctx.principal(actor)


def _instance(args: dict[str, Any]) -> Any:
    value = args.get("instance")
    if isinstance(value, dict):  # `instance: $cb` refers to the whole result of an earlier step
        value = value.get("instance")
    return int(value) if value is not None else None


@scenario_setup("survey_org")
def _setup_org(ctx: ReplayContext, value: Any) -> None:
    spec = dict(value or {})
    base: dict[str, Any] = {}
    if spec.pop("standard", False):
        base = standard_org()
    if spec.get("file"):
        from engine.yamlsrc import load_yaml

        loaded = load_yaml(Path(ctx.file).parent / str(spec.pop("file"))) or {}
        for key, rows in loaded.items():
            base[key] = list(base.get(key) or []) + list(rows or [])
    for key, rows in spec.items():
        base[key] = list(base.get(key) or []) + list(rows or [])
    insert_org(ctx.db, base)


@scenario_command("survey.project_closed")
def _project_closed(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """`{project: P1, contact?: K1}`, or `{projects: [P1, P2, ...]}` for many at once (a list of results)."""
    def one(code: str, contact: Any = None) -> dict[str, Any]:
        d = service.project_closed(ctx.runtime, code, principal=_who(ctx, actor), contact=contact)
        return {**d.__dict__, "draw": round(d.draw, 6)}

    if "projects" in args:
        return [one(str(code)) for code in args["projects"]]
    return one(str(args["project"]), args.get("contact"))


@scenario_command("survey.callback")
def _callback(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    scores = {k: args.get(k) for k in ("product", "solution", "delivery", "service_attitude")}
    if scores["service_attitude"] is None and "attitude" in args:
        scores["service_attitude"] = args["attitude"]
    return service.record_project_callback(ctx.runtime, principal=_who(ctx, actor), project=args.get("project"),
                                           instance=_instance(args), scores=scores, comment=args.get("comment"),
                                           reached=bool(args.get("reached", True)))


@scenario_command("survey.activity_ended")
def _activity_ended(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    from datetime import date

    ended = args.get("ended")
    day = ended if isinstance(ended, date) or ended is None else date.fromisoformat(str(ended))
    return service.activity_ended(ctx.runtime, str(args["activity"]), principal=_who(ctx, actor), ended_on=day)


@scenario_command("survey.activity_callback")
def _activity_callback(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.record_activity_callback(ctx.runtime, principal=_who(ctx, actor), activity=args.get("activity"),
                                            instance=_instance(args), contact=str(args["contact"]),
                                            score=args.get("score"), comment=args.get("comment"),
                                            reached=bool(args.get("reached", True)))


@scenario_command("survey.cancel")
def _cancel(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.cancel_callback(ctx.runtime, _instance(args), principal=_who(ctx, actor), reason=str(args.get("reason") or ""))


@scenario_command("survey.sample_submit")
def _sample_submit(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.submit_sample_list(ctx.runtime, str(args["customer"]), int(args["year"]), principal=_who(ctx, actor),
                                      rows=list(args.get("rows") or []))


@scenario_command("survey.sample_check")
def _sample_check(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    checked = service.check_sample_list(ctx.runtime, str(args["customer"]), int(args["year"]),
                                        principal=_who(ctx, actor), rows=list(args.get("rows") or []))
    return {"size": len(checked.rows), "required": checked.required, **checked.counts}


@scenario_command("survey.sample_export")
def _sample_export(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    folder = ctx.extra.setdefault("survey_export_dir", tempfile.mkdtemp(prefix="mcr-survey-export-"))
    out = service.export_samples(ctx.runtime, int(args["year"]), Path(folder) / f"sample-{args['year']}.xlsx",
                                 principal=_who(ctx, actor), customers=args.get("customers"))
    return {k: v for k, v in out.items() if k != "file"}  # the temporary path would differ run to run


@scenario_command("survey.results_import")
def _results_import(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.import_results(ctx.runtime, int(args["year"]), principal=_who(ctx, actor),
                                  rows=list(args.get("rows") or []))


@scenario_command("survey.close_year")
def _close_year(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.close_year(ctx.runtime, int(args["year"]), principal=_who(ctx, actor))


# ---------------------------------------------------------------------------------------------- sections


def _has_survey_tables(ctx: ReplayContext) -> bool:
    from flows.survey.contact_gap import _table_exists

    with ctx.db.read() as tx:
        return _table_exists(tx, "survey_project_draw")


@scenario_section("survey_draws")
def _draws(ctx: ReplayContext) -> Any:
    if not _has_survey_tables(ctx):
        return []
    return sorted(({k: v for k, v in r.items() if k != "at"} for r in service.sample_log(ctx.db, principal=_AUDIT)),
                  key=lambda r: r["project"])


@scenario_section("survey_callbacks")
def _callbacks(ctx: ReplayContext) -> Any:
    if not _has_survey_tables(ctx):
        return []
    return service.callbacks(ctx.db, principal=_AUDIT)


@scenario_section("survey_samples")
def _samples(ctx: ReplayContext) -> Any:
    if not _has_survey_tables(ctx):
        return []
    with ctx.db.read() as tx:
        years = [r[0] for r in tx.all("SELECT DISTINCT year FROM survey_sample ORDER BY year")]
    out = []
    for year in years:
        for lst in service.sample_lists(ctx.runtime, year, principal=_AUDIT):
            out.append({"year": year, "customer": lst["customer_code"], "status": lst["status"], "size": lst["size"],
                        "required": lst["required"], "revision": lst["revision"],
                        "contacts": [e["contact_code"] for e in lst["entries"]]})
    return out


@scenario_section("survey_report")
def _report(ctx: ReplayContext) -> Any:
    if not _has_survey_tables(ctx):
        return {}
    with ctx.db.read() as tx:
        years = [r[0] for r in tx.all("SELECT DISTINCT year FROM survey_result ORDER BY year")]
    return {str(y): service.report(ctx.db, y, principal=_AUDIT, locale="zh-CN") for y in years}


@scenario_section("survey_improvements")
def _improvements(ctx: ReplayContext) -> Any:
    from flows.survey import quality

    if not _has_survey_tables(ctx):
        return []
    return [{k: v for k, v in i.items() if k not in ("opened_at", "closed_at")}
            for i in quality.improvements(ctx.runtime, principal=_AUDIT)]
