"""`mcr issue …` and `mcr itr …`: the ITR commands, a thin shell over flows/itr/service.py.

No business rule lives here. Errors are `MCRError`s raised by the service and propagate: the main
CLI prints them on one line and exits 1. Text is Simplified Chinese unless MCR_LOCALE=en; every
listing command also has `--json`. The CLI runs as the operator; acting for an employee needs
`--as EMP` (both are recorded: "operator root for E00012"). Issue actions need `--as`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from engine.i18n import t
from engine.tables import print_table
from flows.itr.messages import type_names

issue_app = typer.Typer(help="客户问题（ITR）/ customer issues", no_args_is_help=True)
cases_app = typer.Typer(help="案例库 / case library", no_args_is_help=True)
itr_app = typer.Typer(help="ITR 监控 / monitoring", no_args_is_help=True)
issue_app.add_typer(cases_app, name="cases")

AS = typer.Option(None, "--as", help="代该员工执行（工号）；审计同时记录操作员 / act for this employee (the audit records "
                                     "the operator too)")


def register(app: typer.Typer) -> None:
    app.add_typer(issue_app, name="issue")
    app.add_typer(itr_app, name="itr")


def _rt() -> Any:
    from engine.app import build_runtime

    return build_runtime()


def _who(rt: Any, as_emp: Optional[str], command: Optional[str] = None) -> Any:
    from engine.auth.principal import cli_principal

    return cli_principal(rt.db, as_emp, command=command)


def _json(value: Any) -> None:
    if isinstance(value, list):
        value = [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    elif hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _state(view: Any, as_json: bool) -> None:
    if as_json:
        _json(view)
    else:
        typer.echo(t("itr.state_now", id=view.id, state=view.state_title))


# ---------------------------------------------------------------------------------------------- issue


@issue_app.command("open")
def open_(customer: str = typer.Option(..., "--customer"), contact: str = typer.Option(..., "--contact"),
          type: str = typer.Option(..., "--type", help="technical | non_technical | spare_parts | complaint"),
          severity: str = typer.Option(..., "--severity", help="urgent | major | normal | minor"),
          source: str = typer.Option(..., "--source", help="hotline | service_request | sales_report | return | online | "
                                                         "interview | handling_team | survey | partner | observation | market_report"),
          title: str = typer.Option(..., "--title"), description: str = typer.Option("", "--description"),
          office: Optional[str] = typer.Option(None, "--office", help="default: the customer's office"),
          contract: Optional[str] = typer.Option(None, "--contract", help="contract with its own SLA (rules/itr.yaml)"),
          major: bool = typer.Option(False, "--major", help="major incident (重大事故)"),
          care_rep: Optional[str] = typer.Option(None, "--care-rep", help="customer-care representative of a major incident"),
          submitter: Optional[str] = typer.Option(None, "--submitter", help="default: --as"),
          as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """受理: record a customer issue."""
    from flows.itr import service

    rt = _rt()
    principal = _who(rt, as_emp, "issue open")
    view = service.open_issue(rt, principal=principal, customer=customer, contact=contact, type=type, severity=severity,
                              source=source, title=title, description=description, office=office, contract=contract,
                              major_incident=major, care_rep=care_rep, submitter=submitter)
    if as_json:
        _json(view)
    else:
        typer.echo(t("itr.opened", id=view.id, state=view.state_title, sla=f"{view.sla_hours:g} h", due=view.sla_due))


@issue_app.command("dispatch")
def dispatch(issue: int, queue: Optional[str] = typer.Option(None, "--queue"),
             to: Optional[str] = typer.Option(None, "--to", help="handler's employee number"),
             as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """分派 to the owning queue (by type unless --queue)."""
    from flows.itr import service

    rt = _rt()
    principal = _who(rt, as_emp, "issue dispatch")
    _state(service.dispatch(rt, issue, principal=principal, queue=queue, handler=to), as_json)


@issue_app.command("redispatch")
def redispatch(issue: int, reason: str = typer.Option(..., "--reason"), queue: Optional[str] = typer.Option(None, "--queue"),
               to: Optional[str] = typer.Option(None, "--to"), as_emp: Optional[str] = AS,
               as_json: bool = typer.Option(False, "--json")) -> None:
    """重新分派 (counts against first-time dispatch accuracy)."""
    from flows.itr import service

    rt = _rt()
    principal = _who(rt, as_emp, "issue redispatch")
    _state(service.redispatch(rt, issue, principal=principal, reason=reason, queue=queue, handler=to), as_json)


@issue_app.command("accept")
def accept(issue: int, as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """接收: the handler takes ownership (首问负责制)."""
    from flows.itr import service

    rt = _rt()
    _state(service.accept(rt, issue, principal=_who(rt, as_emp, "issue accept")), as_json)


@issue_app.command("reject")
def reject(issue: int, reason: str = typer.Option(..., "--reason"), as_emp: Optional[str] = AS,
           as_json: bool = typer.Option(False, "--json")) -> None:
    """判为无效问题."""
    from flows.itr import service

    rt = _rt()
    _state(service.reject(rt, issue, principal=_who(rt, as_emp, "issue reject"), reason=reason), as_json)


@issue_app.command("note")
def note(issue: int, text: str, as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """进展说明 (shown in the major-incident progress reports)."""
    from flows.itr import service

    rt = _rt()
    _state(service.note(rt, issue, principal=_who(rt, as_emp, "issue note"), text=text), as_json)


@issue_app.command("major")
def major(issue: int, care_rep: str = typer.Option(..., "--care-rep"), as_emp: Optional[str] = AS,
          as_json: bool = typer.Option(False, "--json")) -> None:
    """定为重大事故: hourly progress reports to the customer contact until resolved."""
    from flows.itr import service

    rt = _rt()
    principal = _who(rt, as_emp, "issue major")
    _state(service.declare_major(rt, issue, principal=principal, care_rep=care_rep), as_json)


@issue_app.command("escalate")
def escalate(issue: int,
             reason: Optional[str] = typer.Option(None, "--reason", help="time_limit_exceeded | no_owner | "
                                                                         "bid_or_social_impact | arbitration_needed"),
             note: Optional[str] = typer.Option(None, "--note"),
             override_by: Optional[str] = typer.Option(None, "--override-by", help="who approves escalating past the quota"),
             override_why: Optional[str] = typer.Option(None, "--override-why", help="why (flagged for QA)"),
             as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """升级 office → region → HQ."""
    from flows.itr import service

    rt = _rt()
    principal = _who(rt, as_emp, "issue escalate")
    esc = service.escalate(rt, issue, principal=principal, reason=reason, note=note, override_by=override_by,
                           override_why=override_why)
    if as_json:
        _json(esc)
    else:
        typer.echo(t("itr.escalation_done", id=esc.issue, level=t(f"itr.level.{esc.to_level}"), decision=esc.decision,
                     handler=esc.handler or "-"))


@issue_app.command("resolve")
def resolve(issue: int, solution: str = typer.Option(..., "--solution"), case: Optional[str] = typer.Option(None, "--case"),
            add_case: bool = typer.Option(False, "--add-case", help="add the solution to the case library"),
            as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """解决: the plan agreed with the customer was carried out."""
    from flows.itr import service

    rt = _rt()
    principal = _who(rt, as_emp, "issue resolve")
    _state(service.resolve(rt, issue, principal=principal, solution=solution, case=case, add_to_library=add_case), as_json)


@issue_app.command("close")
def close(issue: int, as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """关闭 (submitter only); the callback policy may require a callback first."""
    from flows.itr import service

    rt = _rt()
    _state(service.close(rt, issue, principal=_who(rt, as_emp, "issue close")), as_json)


@issue_app.command("callback")
def callback(issue: int, score: Optional[int] = typer.Option(None, "--score", help="1-5"),
             unreached: bool = typer.Option(False, "--unreached", help="the customer could not be reached"),
             note: Optional[str] = typer.Option(None, "--note"), as_emp: Optional[str] = AS,
             as_json: bool = typer.Option(False, "--json")) -> None:
    """回访: record the customer's score (≥ 3 closes, < 3 opens a QA retrospective)."""
    from flows.itr import service

    rt = _rt()
    principal = _who(rt, as_emp, "issue callback")
    _state(service.record_callback(rt, issue, principal=principal, score=score, reached=not unreached, note=note), as_json)


@issue_app.command("qa-decide")
def qa_decide(case: int, decision: str = typer.Option(..., "--decision", help="close | reopen (low score); "
                                                                              "justified | unjustified (override)"),
              accountable: Optional[str] = typer.Option(None, "--accountable"),
              note: Optional[str] = typer.Option(None, "--note"), as_emp: Optional[str] = AS,
              as_json: bool = typer.Option(False, "--json")) -> None:
    """流程QA decides a case."""
    from flows.itr import service

    rt = _rt()
    principal = _who(rt, as_emp, "issue qa-decide")
    view = service.qa_decide(rt, case, principal=principal, decision=decision, accountable=accountable, note=note)
    if as_json:
        _json(view)
    else:
        typer.echo(t("itr.qa_decided", case=view.id, decision=view.decision))


@issue_app.command("show")
def show(issue: int, as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show one issue with its dispatches, escalations, callbacks and QA cases."""
    from flows.itr import service

    rt = _rt()
    view = service.get_issue(rt, issue, principal=_who(rt, as_emp))
    if as_json:
        _json(view)
        return
    typer.echo(f"#{view.id} {view.title}  [{view.state_title}]")
    for label, value in (("customer", f"{view.customer} / {view.contact}"), ("type", f"{view.type} / {view.severity} / "
                         f"{view.source}"), ("office", f"{view.office} ({view.level})"), ("handler", view.handler),
                         ("submitter", view.submitter), ("sla", f"{view.sla_hours:g} h, due {view.sla_due}, "
                                                               f"breaches {view.sla_breaches}"),
                         ("resolution", view.resolution)):
        typer.echo(f"  {label}: {value if value is not None else '-'}")
    for d in view.dispatches:
        again = f" (re-dispatch: {d.reason or ''})" if d.redispatch else ""
        typer.echo(f"  dispatch {d.seq} {d.at} {d.queue} -> {d.handler}{again}")
    for e in view.escalations:
        typer.echo(f"  escalation {e.at} {e.from_level}->{e.to_level} {e.reason} {e.decision}"
                   f"{' by ' + e.override_by if e.override_by else ''}")
    for c in view.callback_decisions:
        typer.echo(f"  callback decision {c.at}: {'required' if c.required else 'not required'} ({c.reason}, "
                   f"draw {c.draw:.4f}, seed {c.seed})")
    for c in view.callbacks:
        typer.echo(f"  callback {c.at} {c.contact}: {c.score if c.reached else 'not reached'}")
    for q in view.qa_cases:
        typer.echo(f"  QA #{q.id} {q.kind} {q.status} {q.decision or ''}")


@issue_app.command("list")
def list_(office: Optional[str] = typer.Option(None, "--office"), state: Optional[str] = typer.Option(None, "--state"),
          customer: Optional[str] = typer.Option(None, "--customer"), limit: int = typer.Option(50, "--limit"),
          as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """List issues, oldest first."""
    from flows.itr import service

    rt = _rt()
    principal = _who(rt, as_emp)
    rows = service.list_issues(rt, principal=principal, office=office, state=state, customer=customer, limit=limit)
    if as_json:
        _json(rows)
        return
    if not print_table([t(f"cli.col.{k}") for k in ("id", "state", "level", "severity", "customer", "handler", "title")],
                       ([f"#{v.id}", v.state_title, v.level, v.severity, v.customer, v.handler or "-", v.title]
                        for v in rows)):
        typer.echo(t("cli.nothing"))


@cases_app.command("search")
def cases_search(query: list[str] = typer.Argument(..., help="words to search for (Chinese works)"),
                 limit: int = typer.Option(10, "--limit"), kind: Optional[str] = typer.Option(None, "--kind"),
                 as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """Full-text search of cases and handling guides (Chinese works)."""
    from flows.itr import service

    rt = _rt()
    hits = service.search_cases(rt, " ".join(query), principal=_who(rt, as_emp), limit=limit, kind=kind)
    if as_json:
        _json(hits)
        return
    for h in hits:
        typer.echo(f"{h.code}\t{h.kind}\t{h.score:.2f}\t{h.title}\t{h.snippet}")
    if not hits:
        typer.echo(t("cli.nothing"))


@cases_app.command("add")
def cases_add(code: str = typer.Option(..., "--code"), title: str = typer.Option(..., "--title"),
              body: str = typer.Option(..., "--body"), kind: str = typer.Option("case", "--kind", help="case | guide"),
              issue_type: Optional[str] = typer.Option(None, "--issue-type"), tags: Optional[str] = typer.Option(None, "--tags"),
              as_emp: Optional[str] = AS) -> None:
    """Add (or replace, same code) a case-library entry."""
    from flows.itr import service

    rt = _rt()
    principal = _who(rt, as_emp)
    service.add_case(rt, principal=principal, code=code, kind=kind, title=title, body=body, issue_type=issue_type, tags=tags)
    typer.echo(t("itr.case_saved", code=code))


@cases_app.command("load")
def cases_load(path: Optional[Path] = typer.Argument(None, help="YAML file or folder (default rules/case-library)"),
               as_emp: Optional[str] = AS) -> None:
    """Load handling guides and cases from YAML."""
    from flows.itr import service

    rt = _rt()
    typer.echo(t("itr.cases_loaded", n=service.load_case_library(rt, path, principal=_who(rt, as_emp))))


# ---------------------------------------------------------------------------------------------- itr


@itr_app.command("report")
def report(week: Optional[str] = typer.Option(None, "--week", help="ISO week, e.g. 2026-W48"),
           month: Optional[str] = typer.Option(None, "--month", help="e.g. 2026-11"),
           office: Optional[str] = typer.Option(None, "--office"), region: Optional[str] = typer.Option(None, "--region"),
           type: Optional[list[str]] = typer.Option(None, "--type", help="only issues of this type (repeatable)"),
           as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """Monitoring report of an office (or region, or HQ without either) for a week or month; with
    `--as EMP`, only a unit that employee covers (the same figures as /itr/reports/…)."""
    from engine.templates import render
    from flows.itr import service
    from engine.i18n import locale

    rt = _rt()
    rep = service.report(rt, principal=_who(rt, as_emp), week=week, month=month, office=office, region=region,
                         types=list(type or []))
    if as_json:
        _json(rep)
        return
    folder = Path(__file__).parent / "templates"
    subject, body = render(folder, "review_report", locale(), {
        "report": rep.model_dump(mode="json"), "kind": "weekly" if week else "monthly", "recipient_name": "-",
        "type_names": type_names(rep.types, locale())})
    typer.echo(subject)
    typer.echo("\n".join(body.splitlines()[2:]))


@itr_app.command("weekly-check")
def weekly_check(week: str = typer.Option(..., "--week"), as_emp: Optional[str] = AS,
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """每周有效问题检查: teams of big customers with too few valid issues in the week."""
    from flows.itr import service

    rt = _rt()
    res = service.weekly_check(rt, week, principal=_who(rt, as_emp))
    if as_json:
        _json(res)
        return
    for s in res.shortfalls:
        typer.echo(t("itr.weekly_line", week=s.week, team=s.team or s.office, customer=s.customer, count=s.valid_issues,
                     required=s.required))
    if not res.shortfalls:
        typer.echo(t("cli.nothing"))


@itr_app.command("qa-cases")
def qa_cases(status: Optional[str] = typer.Option("open", "--status", help="open | decided | all"),
             as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """Process-QA cases (low-score retrospectives, escalation overrides)."""
    from flows.itr import service

    rt = _rt()
    rows = service.qa_cases(rt, principal=_who(rt, as_emp), status=None if status == "all" else status)
    if as_json:
        _json(rows)
        return
    for q in rows:
        typer.echo(f"#{q.id}\tissue #{q.issue}\t{q.kind}\t{q.status}\t{q.reason}")
    if not rows:
        typer.echo(t("cli.nothing"))


@itr_app.command("scorecard")
def scorecard(unit: str = typer.Option(..., "--unit", help="office or region code"),
              period: Optional[str] = typer.Option(None, "--period", help="quarter (2026-Q4) or month (2026-11); "
                                                                          "default: the current quarter"),
              as_emp: Optional[str] = AS, as_json: bool = typer.Option(False, "--json")) -> None:
    """组织绩效记分卡: a unit's self-resolution against the quota, escalation decisions, dispatch accuracy,
    timely closure and negative scores over a quarter or month."""
    from engine.i18n import locale
    from flows.itr import scorecard as sc

    rt = _rt()
    card = sc.scorecard(rt, principal=_who(rt, as_emp), unit=unit, period=period)
    if as_json:
        _json(card)
        return
    typer.echo(t("itr.scorecard.heading", unit=card.unit_name, code=card.unit, period=card.period))
    print_table([t("itr.scorecard.col.figure"), t("itr.scorecard.col.value"), t("itr.scorecard.col.detail")],
                sc.figure_rows(card, locale()))
    for concern in sc.concern_titles(card, locale()):
        typer.echo(f"! {concern}")
