"""ITR in replayed scenarios (`mcr replay SCENARIO.yaml`): commands, setups and output sections.

Commands (`do:` in a step, `as:` the acting employee number) call flows/itr/service.py exactly as
the CLI and the web app do: `itr.open`, `itr.open_many`, `itr.dispatch`, `itr.redispatch`,
`itr.accept`, `itr.reject`, `itr.note`, `itr.declare_major`, `itr.escalate`, `itr.resolve`,
`itr.close`, `itr.callback`, `itr.qa_decide`, `itr.weekly_check`, `itr.report`, `itr.scorecard`, `itr.queue`, `itr.search`,
`itr.add_case`, `itr.load_cases`.

Setups (top-level scenario keys): `itr_org` — a small organisation, customers and contacts in a
compact form (optionally from a shared file), loaded through the shared master-data importer
(engine/masterdata, the same checks as `mcr import`); the shared `masterdata:` setup works as
well. `itr_cases` — case-library entries (a list) or `true` for rules/case-library.

Sections of the output: `issues`, `escalations`, `callbacks`, `qa_cases`, `weekly_scores` and
`report` (the figures of every office with issues for the ISO week of the final time). They are
empty lists for scenarios without ITR issues. Format: docs/replay.md.
"""

from __future__ import annotations

from typing import Any

from engine.auth.principal import Principal
from engine.errors import Problem
from engine.replay import InvalidScenario, ReplayContext, scenario_command, scenario_section, scenario_setup
from flows.itr import service
from flows.itr.policy import week_of


def _who(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """The principal of the step's `as:` (required: ITR actions are always someone's)."""
    if not actor:
        raise InvalidScenario([Problem(ctx.file, 0, "an itr.* step needs 'as:' (the acting employee number)")])
    return ctx.principal(actor)


_ENGINE = Principal.engine("scenario")  # the output sections read everything, as the engine


def _reader(ctx: ReplayContext, actor: str | None) -> Any:
    """A read step's principal: its `as:`, or the engine when the step names nobody."""
    return ctx.principal(actor) if actor else _ENGINE


def _issue(args: dict[str, Any]) -> Any:
    issue = args.get("issue")
    if isinstance(issue, dict):  # `issue: $i1` refers to the whole result of an itr.open step
        issue = issue.get("id")
    return getattr(issue, "id", issue)


# ---------------------------------------------------------------------------------------------- setups


def masterdata_rows(spec: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The compact ITR org spec as rows of the master-data import layouts (org, customers, contacts)."""
    org: list[dict[str, Any]] = []
    for u in spec.get("units") or []:
        row = {"kind": u["kind"], "code": u["code"], "name": u.get("name", u["code"]), "parent": u.get("parent")}
        row.update({k: u[k] for k in ("calendar", "timezone") if u.get(k)})
        org.append(row)
    for e in spec.get("employees") or []:
        roles = e.get("roles") or []
        org.append({"kind": "employee", "code": e["emp_no"], "name": e.get("name", e["emp_no"]), "unit": e["unit"],
                    "supervisor": e.get("supervisor"),
                    "email": str(e.get("email") or f"{e['emp_no'].lower()}@example.com"),
                    "locale": e.get("locale", "zh-CN"),
                    "roles": ",".join(roles) if isinstance(roles, list) else str(roles)})
    owners = {c["code"]: c["owner"] for c in spec.get("customers") or []}
    customers = [{"code": c["code"], "name": c.get("name", c["code"]), "tier": c.get("tier", "B"), "office": c["office"],
                  "team": c.get("team"), "owner": c["owner"], "annual_revenue_usd": c.get("revenue_usd")}
                 for c in spec.get("customers") or []]
    contacts = [{"code": k["code"], "customer": k["customer"], "name": k.get("name", k["code"]),
                 "email": k.get("email", f"{k['code'].lower()}@customer.example"), "phone": k.get("phone"),
                 "owner": k.get("owner") or owners[k["customer"]]} for k in spec.get("contacts") or []]
    # The importer judges the organisation as a whole (tree, supervisors, owners), in any row order.
    return {"org": org, "customers": customers, "contacts": contacts}


def insert_org(db: Any, spec: dict[str, Any], clock: Any = None, source: str = "itr_org") -> None:
    """Load a small organisation through the shared master-data importer (all or nothing, validated)."""
    from engine.clock import SystemClock
    from engine.masterdata.importer import import_table
    from engine.masterdata.replay import rows_table

    with db.session() as session:
        for kind, rows in masterdata_rows(spec).items():
            if rows:
                import_table(session, kind, rows_table(f"{source}.{kind}", rows), clock=clock or SystemClock(),
                             principal=Principal.engine("itr_org"))
                session.flush()
        session.commit()


@scenario_setup("itr_org")
def _setup_org(ctx: ReplayContext, value: Any) -> None:
    """`itr_org: {file: data/org.yaml, customers: [...]}` — a shared file plus this scenario's own rows."""
    spec = dict(value or {})
    if spec.get("file"):
        from pathlib import Path

        from engine.yamlsrc import load_yaml

        base = load_yaml(Path(ctx.file).parent / str(spec.pop("file"))) or {}
        for key, rows in spec.items():
            base[key] = list(base.get(key) or []) + list(rows or [])
        spec = base
    insert_org(ctx.db, spec, ctx.clock, f"{ctx.file}:itr_org")


@scenario_setup("itr_cases")
def _setup_cases(ctx: ReplayContext, value: Any) -> None:
    if value is True:
        service.load_case_library(ctx.runtime, principal=_ENGINE)
        return
    for e in value or []:
        service.add_case(ctx.runtime, principal=_ENGINE, code=e["code"], kind=e.get("kind", "case"), title=e["title"],
                         body=e["body"], issue_type=e.get("issue_type"), tags=e.get("tags"))


# ---------------------------------------------------------------------------------------------- commands


@scenario_command("itr.open")
def _open(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.open_issue(ctx.runtime, principal=_who(ctx, actor, args), **args)


@scenario_command("itr.open_many")
def _open_many(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """`with: {count: 8, customer: C1, ..., through: resolved}` opens `count` issues (titles numbered; a list of
    contacts is used in turn) and
    takes each through the usual steps up to `through`: received (default), dispatched, handling,
    resolved or closed (the submitter's close request; `callback_score: N` answers a required callback).
    Returns `{ids: [...], first: N, last: M}` (`$ref.first` in later steps)."""
    fields = dict(args)
    count = int(fields.pop("count", 1))
    title = fields.pop("title", "issue")
    through = str(fields.pop("through", "received"))
    score = fields.pop("callback_score", None)
    stages = ["received", "dispatched", "handling", "resolved", "closed"]
    if through not in stages:
        raise InvalidScenario([Problem(ctx.file, 0, f"itr.open_many: through must be one of {', '.join(stages)}")])
    contacts = fields.pop("contact", None)
    contacts = contacts if isinstance(contacts, list) else [contacts]
    who = _who(ctx, actor, args)
    rt = ctx.runtime
    ids = []
    for i in range(count):
        view = service.open_issue(rt, principal=who, title=f"{title} {i + 1}", contact=contacts[i % len(contacts)], **fields)
        ids.append(view.id)
        reach = stages.index(through)
        if reach >= 1:
            view = service.dispatch(rt, view.id, principal=who)
        if reach >= 2:
            view = service.accept(rt, view.id, principal=ctx.principal(view.handler))
        if reach >= 3:
            view = service.resolve(rt, view.id, principal=ctx.principal(view.handler), solution="按指导书处理")
        if reach >= 4:
            view = service.close(rt, view.id, principal=ctx.principal(view.submitter))
            if view.state == "callback_pending" and score is not None:
                service.record_callback(rt, view.id, principal=who, score=score)
    return {"ids": ids, "first": ids[0] if ids else None, "last": ids[-1] if ids else None}


@scenario_command("itr.dispatch")
def _dispatch(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.dispatch(ctx.runtime, _issue(args), principal=_who(ctx, actor, args), queue=args.get("queue"),
                            handler=args.get("handler"))


@scenario_command("itr.redispatch")
def _redispatch(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.redispatch(ctx.runtime, _issue(args), principal=_who(ctx, actor, args), reason=args.get("reason", ""),
                              queue=args.get("queue"), handler=args.get("handler"))


@scenario_command("itr.accept")
def _accept(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.accept(ctx.runtime, _issue(args), principal=_who(ctx, actor, args))


@scenario_command("itr.reject")
def _reject(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.reject(ctx.runtime, _issue(args), principal=_who(ctx, actor, args), reason=args.get("reason", ""))


@scenario_command("itr.note")
def _note(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.note(ctx.runtime, _issue(args), principal=_who(ctx, actor, args), text=args.get("text", ""))


@scenario_command("itr.declare_major")
def _declare_major(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.declare_major(ctx.runtime, _issue(args), principal=_who(ctx, actor, args),
                                 care_rep=args.get("care_rep", ""))


@scenario_command("itr.escalate")
def _escalate(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.escalate(ctx.runtime, _issue(args), principal=_who(ctx, actor, args), reason=args.get("reason"),
                            note=args.get("note"), override_by=args.get("override_by"),
                            override_why=args.get("override_why"))


@scenario_command("itr.resolve")
def _resolve(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.resolve(ctx.runtime, _issue(args), principal=_who(ctx, actor, args),
                           solution=args.get("solution", ""), case=args.get("case"),
                           add_to_library=bool(args.get("add_to_library")))


@scenario_command("itr.close")
def _close(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.close(ctx.runtime, _issue(args), principal=_who(ctx, actor, args))


@scenario_command("itr.callback")
def _callback(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.record_callback(ctx.runtime, _issue(args), principal=_who(ctx, actor, args), score=args.get("score"),
                                   reached=args.get("reached", True) is not False, note=args.get("note"))


@scenario_command("itr.qa_decide")
def _qa_decide(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    case = args.get("case")
    if case is None and args.get("issue") is not None:  # the issue's open QA case
        open_cases = [c for c in service.qa_cases(ctx.runtime, principal=_ENGINE, status="open")
                      if c.issue == int(_issue(args))]
        case = open_cases[-1].id if open_cases else -1
    return service.qa_decide(ctx.runtime, case, principal=_who(ctx, actor, args), decision=args.get("decision", ""),
                             accountable=args.get("accountable"), note=args.get("note"))


@scenario_command("itr.weekly_check")
def _weekly_check(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.weekly_check(ctx.runtime, str(args["week"]), principal=_reader(ctx, actor))


@scenario_command("itr.report")
def _report(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.report(ctx.runtime, principal=_reader(ctx, actor), week=args.get("week"), month=args.get("month"), office=args.get("office"),
                          region=args.get("region"), unit=args.get("unit"), types=args.get("types"))


@scenario_command("itr.scorecard")
def _scorecard(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """`with: {unit: OFF-SZ, period: 2026-Q4}` — the unit scorecard (flows/itr/scorecard.py), as `as:` sees it."""
    from flows.itr.scorecard import scorecard

    who = ctx.principal(actor) if actor else _ENGINE
    return scorecard(ctx.runtime, principal=who, unit=str(args.get("unit", "")), period=args.get("period"))


@scenario_command("itr.queue")
def _queue(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    """`with: {unit: OFF-SZ}` — the unit's open issues in queue order (tier, then deadline), as `as:` sees them."""
    who = ctx.principal(actor) if actor else _ENGINE
    issues = service.queue_issues(ctx.runtime, principal=who, unit=str(args.get("unit", "")))
    return {"ids": [i.id for i in issues], "tiers": [i.tier for i in issues], "issues": _plain(issues)}


@scenario_command("itr.search")
def _search(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    hits = service.search_cases(ctx.runtime, str(args.get("query", "")), principal=_reader(ctx, actor), limit=int(args.get("limit", 10)),
                                kind=args.get("kind"))
    return {"query": args.get("query"), "count": len(hits), "best": hits[0].code if hits else None,
            "hits": _plain(hits)}


@scenario_command("itr.add_case")
def _add_case(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.add_case(ctx.runtime, principal=ctx.principal(actor), code=args["code"], kind=args.get("kind", "case"),
                            title=args["title"], body=args["body"], issue_type=args.get("issue_type"),
                            tags=args.get("tags"))


@scenario_command("itr.load_cases")
def _load_cases(ctx: ReplayContext, actor: str | None, args: dict[str, Any]) -> Any:
    return service.load_case_library(ctx.runtime, args.get("path"), principal=ctx.principal(actor))


# ---------------------------------------------------------------------------------------------- sections


def _plain(value: Any) -> Any:
    """Lists of pydantic models as JSON-able data (the runner only converts a top-level model)."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _has_issues(ctx: ReplayContext) -> bool:
    with ctx.db.read() as tx:
        return tx.one("SELECT COUNT(*) FROM itr_issue")[0] > 0


@scenario_section("issues")
def _issues(ctx: ReplayContext) -> Any:
    return _plain(service.list_issues(ctx.runtime, principal=_ENGINE, limit=100_000)) if _has_issues(ctx) else []


@scenario_section("escalations")
def _escalations(ctx: ReplayContext) -> Any:
    return _plain(service.escalations(ctx.runtime, principal=_ENGINE)) if _has_issues(ctx) else []


@scenario_section("callbacks")
def _callbacks(ctx: ReplayContext) -> Any:
    if not _has_issues(ctx):
        return []
    out = []
    for issue in service.list_issues(ctx.runtime, principal=_ENGINE, limit=100_000, detail=True):
        calls = [c.model_dump(mode="json") for c in issue.callbacks]
        for d in issue.callback_decisions:
            out.append({"issue": issue.id, "title": issue.title, "severity": issue.severity, "office": issue.office,
                        **d.model_dump(mode="json"), "calls": calls})
    return sorted(out, key=lambda d: d["id"])


@scenario_section("qa_cases")
def _qa(ctx: ReplayContext) -> Any:
    return _plain(service.qa_cases(ctx.runtime, principal=_ENGINE)) if _has_issues(ctx) else []


@scenario_section("weekly_scores")
def _weekly(ctx: ReplayContext) -> Any:
    return service.weekly_scores(ctx.runtime) if _has_issues(ctx) else []


@scenario_section("report")
def _report_section(ctx: ReplayContext) -> Any:
    if not _has_issues(ctx):
        return []
    week = week_of(ctx.clock.now(), ctx.tz)
    with ctx.db.read() as tx:
        offices = [r[0] for r in tx.all("SELECT DISTINCT office_code FROM itr_issue ORDER BY office_code")]
    return _plain([service.report(ctx.runtime, principal=_ENGINE, week=week, office=o) for o in offices])
