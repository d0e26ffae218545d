"""The profiles flows in replayed scenarios (`mcr replay SCENARIO.yaml`): commands and sections.

Commands (`do:` in a step, `as:` the acting employee) call service.py / watch.py as the CLI does:
  profiles.launch      {year}
  profiles.save        {kind, customer, year, sections: {section: {field: value}}}
  profiles.submit      {kind, customer, year}
  profiles.comment     {kind, customer, year, section, text}
  profiles.send_back   {kind, customer, year, comments?: {section: text}}
  profiles.accept      {kind, customer, year, comments?}
  profiles.xlsx        {kind, customer, year, cells: [{sheet, row, col, value}]}   export, edit the cells, import
  profiles.show        {kind, customer, year}                                      the view (for `result:` checks)
  watch.run            {period}
  watch.report         {period, unit?}
  watch.retro          {customer, period, event, findings?, actions?, comment?}

Sections of the output: `profiles` (every CP/VP with status, rounds and reviews), `watch_runs`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from engine.replay import ReplayContext, scenario_command, scenario_section
from flows.profiles import service, watch


def _p(ctx: ReplayContext, actor: Any) -> Any:
    return ctx.principal(actor)


def _key(args: dict[str, Any]) -> tuple[str, str, int]:
    return str(args["kind"]), str(args["customer"]), int(args["year"])


@scenario_command("profiles.launch")
def _launch(ctx: ReplayContext, actor: Any, args: dict[str, Any]) -> Any:
    return {"started": len(service.launch_profiles(ctx.runtime, int(args["year"]), principal=_p(ctx, actor)))}


@scenario_command("profiles.save")
def _save(ctx: ReplayContext, actor: Any, args: dict[str, Any]) -> Any:
    return service.save(ctx.runtime, *_key(args), args.get("sections") or {}, principal=_p(ctx, actor))


@scenario_command("profiles.submit")
def _submit(ctx: ReplayContext, actor: Any, args: dict[str, Any]) -> Any:
    return service.submit(ctx.runtime, *_key(args), principal=_p(ctx, actor))


@scenario_command("profiles.comment")
def _comment(ctx: ReplayContext, actor: Any, args: dict[str, Any]) -> Any:
    return service.comment(ctx.runtime, *_key(args), str(args["section"]), str(args["text"]), principal=_p(ctx, actor))


@scenario_command("profiles.send_back")
def _send_back(ctx: ReplayContext, actor: Any, args: dict[str, Any]) -> Any:
    return service.send_back(ctx.runtime, *_key(args), principal=_p(ctx, actor), comments=args.get("comments"))


@scenario_command("profiles.accept")
def _accept(ctx: ReplayContext, actor: Any, args: dict[str, Any]) -> Any:
    return service.accept(ctx.runtime, *_key(args), principal=_p(ctx, actor), comments=args.get("comments"))


@scenario_command("profiles.show")
def _show(ctx: ReplayContext, actor: Any, args: dict[str, Any]) -> Any:
    return service.show_profile(ctx.runtime, *_key(args), principal=_p(ctx, actor))


@scenario_command("profiles.xlsx")
def _xlsx(ctx: ReplayContext, actor: Any, args: dict[str, Any]) -> Any:
    import openpyxl

    kind, customer, year = _key(args)
    p = _p(ctx, actor)
    path = Path(tempfile.mkdtemp(prefix="mcr-replay-profile-")) / f"{kind}-{customer}-{year}.xlsx"
    service.export_workbook(ctx.runtime, kind, customer, year, path, principal=p)
    wb = openpyxl.load_workbook(path)
    for cell in args.get("cells") or []:
        wb[str(cell["sheet"])][f"{cell['col']}{int(cell['row'])}"] = cell.get("value")
    wb.save(path)
    return service.import_workbook(ctx.runtime, kind, customer, year, path, principal=p)


@scenario_command("watch.run")
def _watch_run(ctx: ReplayContext, actor: Any, args: dict[str, Any]) -> Any:
    return watch.run_watch(ctx.runtime, str(args["period"]), principal=_p(ctx, actor))


@scenario_command("watch.report")
def _watch_report(ctx: ReplayContext, actor: Any, args: dict[str, Any]) -> Any:
    return watch.watch_report(ctx.runtime, str(args["period"]), principal=_p(ctx, actor), unit=args.get("unit"))


@scenario_command("watch.retro")
def _retro(ctx: ReplayContext, actor: Any, args: dict[str, Any]) -> Any:
    iid = service.retrospective_of(ctx.runtime, str(args["customer"]), str(args["period"]))
    payload = {k: args[k] for k in ("findings", "actions", "comment") if k in args}
    return service.retrospective_send(ctx.runtime, iid, str(args["event"]), payload, principal=_p(ctx, actor))


@scenario_section("profiles")
def _profiles(ctx: ReplayContext) -> Any:
    with ctx.db.read() as tx:
        docs = tx.all("SELECT id, customer_code, kind, year, status, round, content FROM profile_doc ORDER BY id")
        reviews = tx.all("SELECT doc_id, round, reviewer_emp_no, decision, comments FROM profile_review ORDER BY id")
    by_doc: dict[int, list[dict[str, Any]]] = {}
    for doc_id, rnd, reviewer, decision, comments in reviews:
        by_doc.setdefault(doc_id, []).append({"round": rnd, "reviewer": reviewer, "decision": decision,
                                              "comments": json.loads(comments)})
    return [{"customer": c, "kind": k, "year": y, "status": s, "round": r, "content": json.loads(content),
             "reviews": by_doc.get(i, [])} for i, c, k, y, s, r, content in docs]


@scenario_section("watch_runs")
def _watch_runs(ctx: ReplayContext) -> Any:
    with ctx.db.read() as tx:
        rows = tx.all("SELECT period, actor, report FROM watch_run ORDER BY id")
    return [{"period": p, "actor": a, "report": json.loads(r)} for p, a, r in rows]
