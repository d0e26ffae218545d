"""`mcr survey …`: the satisfaction-survey commands, a thin shell over flows/survey/service.py.

No business rule lives here. Errors are `MCRError`s raised by the service (a refused file lists
every problem) and propagate: the main CLI prints them and exits 1. Text is Simplified Chinese
unless MCR_LOCALE=en; listing commands also have `--json`. The CLI runs as the operator; acting
for an employee needs `--as EMP` (the history records both: "operator root for E00012").
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, List, Optional

import typer

from engine.i18n import label, t
from engine.tables import print_table

survey_app = typer.Typer(help="客户满意度调查 / satisfaction surveys", no_args_is_help=True)
callback_app = typer.Typer(help="回访 / callbacks", no_args_is_help=True)
sample_app = typer.Typer(help="第三方调查样本清单 / third-party survey sample lists", no_args_is_help=True)
results_app = typer.Typer(help="第三方调查结果 / third-party survey results", no_args_is_help=True)
survey_app.add_typer(callback_app, name="callback")
survey_app.add_typer(sample_app, name="sample")
survey_app.add_typer(results_app, name="results")

AS = typer.Option(None, "--as", help="代该员工执行（工号）；审计同时记录操作员 / act for this employee (the audit records "
                                     "the operator too)")
YEAR = typer.Option(..., "--year", help="调查年度 / survey year")
JSON = typer.Option(False, "--json", help="JSON 输出 / print JSON")


def register(app: typer.Typer) -> None:
    """Add `mcr survey …` to the main command line."""
    app.add_typer(survey_app, name="survey")


def _rt() -> Any:
    from engine.app import build_runtime

    return build_runtime()


def _who(rt: Any, as_emp: Optional[str], command: Optional[str] = None) -> Any:
    from engine.auth.principal import cli_principal

    return cli_principal(rt.db, as_emp, command=command)


def _json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


# ---------------------------------------------------------------------------------------------- projects


@survey_app.command("project-closed")
def project_closed(project: Optional[str] = typer.Argument(None, help="项目编码 / project code"),
                   contact: Optional[str] = typer.Option(None, "--contact", help="回访的客户联系人 / the contact to call back"),
                   all_closed: bool = typer.Option(False, "--all-closed",
                                                   help="所有已关闭但未抽样的项目 / every closed project not drawn yet"),
                   as_emp: Optional[str] = AS, as_json: bool = JSON) -> None:
    """项目关闭：抽样并启动满意度回访 / a project closed: draw it and start its callback."""
    from flows.survey import service

    rt = _rt()
    if all_closed:
        decisions = service.sync_closed_projects(rt, principal=_who(rt, as_emp))
    elif project:
        decisions = [service.project_closed(rt, project, principal=_who(rt, as_emp), contact=contact)]
    else:
        raise typer.BadParameter("PROJECT or --all-closed")
    if as_json:
        _json([d.__dict__ for d in decisions])
        return
    for d in decisions:
        typer.echo(d.summary())
    if not decisions:
        typer.echo(t("survey.nothing"))


@survey_app.command("sample-log")
def sample_log(limit: Optional[int] = typer.Option(None, "--limit"), as_json: bool = JSON) -> None:
    """项目回访抽样记录（抽中与否、原因、种子、比例、抽样值） / every sampling decision and why."""
    from flows.survey import service

    rt = _rt()
    rows = service.sample_log(rt.db, principal=_who(rt, None), limit=limit)
    if as_json:
        _json(rows)
        return
    for r in rows:
        typer.echo(f"{r['at']}\t{r['project']}\t{label('survey.project_level', r['level'])}\t"
                   f"{'✓' if r['selected'] else '✗'} {label('survey.reason', r['reason'])}\t"
                   f"draw={r['draw']:.6f} rate={r['rate']:g} seed={r['seed']}\t#{r['instance'] or '-'}")
    if not rows:
        typer.echo(t("survey.nothing"))


# ---------------------------------------------------------------------------------------------- callbacks


@callback_app.command("record")
def callback_record(instance: Optional[int] = typer.Argument(None, help="回访流程编号 / callback instance id"),
                    project: Optional[str] = typer.Option(None, "--project"),
                    activity: Optional[str] = typer.Option(None, "--activity"),
                    contact: Optional[str] = typer.Option(None, "--contact", help="活动回访的联系人 / activity callbacks"),
                    product: Optional[str] = typer.Option(None, "--product", help="产品 1-5"),
                    solution: Optional[str] = typer.Option(None, "--solution", help="解决方案 1-5"),
                    delivery: Optional[str] = typer.Option(None, "--delivery", help="交付 1-5"),
                    attitude: Optional[str] = typer.Option(None, "--attitude", help="服务态度 1-5"),
                    score: Optional[str] = typer.Option(None, "--score", help="活动回访总体满意度 1-5（可选）"),
                    comment: Optional[str] = typer.Option(None, "--comment", help="客户意见 / the customer's comment"),
                    not_reached: bool = typer.Option(False, "--not-reached", help="未接通 / the call did not get through"),
                    as_emp: Optional[str] = AS, as_json: bool = JSON) -> None:
    """记录回访 / record a callback (project: four scores; activity: one contact)."""
    from flows.survey import service

    rt = _rt()
    principal = _who(rt, as_emp, "survey callback record")
    view = service.record_callback(rt, principal=principal, project=project, activity=activity, instance=instance,
                                   contact=contact, scores={"product": product, "solution": solution,
                                                            "delivery": delivery, "service_attitude": attitude},
                                   score=score, comment=comment, reached=not not_reached)
    if as_json:
        _json(view)
        return
    typer.echo(t("survey.attempt_recorded" if not_reached else "survey.callback_recorded", instance=view["instance"])
               + f" ({view['state']})")
    low = view.get("low_items")
    if low and not not_reached:
        items = "、".join(label("survey.item", i) for i in low)
        if view.get("improvement_issue"):
            typer.echo(t("survey.improvement_opened", items=items, issue=view["improvement_issue"]))
        else:
            typer.echo(t("survey.improvement_not_opened", items=items))


@callback_app.command("cancel")
def callback_cancel(instance: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                    as_emp: Optional[str] = AS) -> None:
    """取消回访（须说明原因） / cancel a callback, with the reason."""
    from flows.survey import service

    rt = _rt()
    view = service.cancel_callback(rt, instance, principal=_who(rt, as_emp, "survey callback cancel"),
                                   reason=reason)
    typer.echo(f"#{view['instance']}: {view['state']}")


@callback_app.command("list")
def callback_list(kind: Optional[str] = typer.Option(None, "--kind", help="project | activity"),
                  contact: Optional[str] = typer.Option(None, "--contact"), as_json: bool = JSON) -> None:
    """已记录的回访 / recorded callbacks."""
    from flows.survey import service

    rt = _rt()
    rows = service.callbacks(rt.db, principal=_who(rt, None), kind=kind, contact=contact)
    if as_json:
        _json(rows)
        return
    def line(r: dict[str, Any]) -> list[Any]:
        what = r["project"] if r["kind"] == "project" else r["activity"]
        scores = (" ".join(f"{label('survey.item', k)}={v}" for k, v in r["scores"].items()) if r["kind"] == "project"
                  else f"{label('survey.item', 'overall')}={r.get('score') or '-'}")
        return [r["at"], f"#{r['instance']}", what, r["contact"], "✓" if r["reached"] else "✗", scores, r.get("comment")]

    if not print_table([t(f"cli.col.{k}") for k in ("at", "instance", "item", "contact", "reached", "scores", "comment")],
                       (line(r) for r in rows)):
        typer.echo(t("survey.nothing"))


# ---------------------------------------------------------------------------------------------- activities


@survey_app.command("activity-ended")
def activity_ended(activity: str = typer.Argument(..., help="活动编码 / activity code"),
                   ended: Optional[str] = typer.Option(None, "--ended", help="结束日期 YYYY-MM-DD（默认活动日期）"),
                   as_emp: Optional[str] = AS, as_json: bool = JSON) -> None:
    """活动结束：邀请人须在期限内回访每位受邀客户 / the activity ended: start its callbacks."""
    from engine.errors import MCRError
    from flows.survey import service

    try:
        day = date.fromisoformat(ended) if ended else None
    except ValueError:
        raise MCRError(f"--ended {ended}: YYYY-MM-DD") from None
    rt = _rt()
    out = service.activity_ended(rt, activity, principal=_who(rt, as_emp), ended_on=day)
    if as_json:
        _json(out)
    else:
        typer.echo(out["message"])


# ---------------------------------------------------------------------------------------------- annual survey


def _print_checked(customer: str, year: int, checked: Any) -> None:
    typer.echo(t("survey.sample_checked", customer=customer, year=year, size=len(checked.rows), required=checked.required,
                 senior=checked.counts.get("senior", 0), middle=checked.counts.get("middle", 0),
                 base=checked.counts.get("base", 0)))


@sample_app.command("check")
def sample_check(file: Path = typer.Argument(..., dir_okay=False), customer: str = typer.Option(..., "--customer"),
                 year: int = YEAR) -> None:
    """只检查样本清单，不保存 / check a sample list against the rules, store nothing."""
    from flows.survey import service

    rt = _rt()
    checked = service.check_sample_list(rt, customer, year, principal=_who(rt, None), file=file)
    _print_checked(customer, year, checked)


@sample_app.command("import")
def sample_import(file: Path = typer.Argument(..., dir_okay=False), customer: str = typer.Option(..., "--customer"),
                  year: int = YEAR, as_emp: Optional[str] = AS, as_json: bool = JSON) -> None:
    """提交样本清单（XLSX 或 CSV；有任何问题则全部不写入） / submit a sample list, all or nothing."""
    from flows.survey import service

    rt = _rt()
    out = service.submit_sample_list(rt, customer, year, principal=_who(rt, as_emp, "survey sample submit"),
                                     file=file)
    if as_json:
        _json(out)
    else:
        typer.echo(out["message"])


@sample_app.command("export")
def sample_export(file: Path = typer.Argument(..., dir_okay=False, help=".xlsx"), year: int = YEAR,
                  customer: Optional[List[str]] = typer.Option(None, "--customer", help="默认全部 / default: all"),
                  as_emp: Optional[str] = AS) -> None:
    """导出样本清单（XLSX）给调查公司 / export the lists for the survey firm."""
    from flows.survey import service

    rt = _rt()
    principal = _who(rt, as_emp)
    out = service.export_samples(rt, year, file, principal=principal, customers=list(customer) if customer else None)
    typer.echo(out["message"])


@sample_app.command("list")
def sample_list(year: int = YEAR, as_json: bool = JSON) -> None:
    """本年度的样本清单 / the year's sample lists."""
    from flows.survey import service

    rt = _rt()
    lists = service.sample_lists(rt, year, principal=_who(rt, None))
    if as_json:
        _json(lists)
        return
    def line(lst: dict[str, Any]) -> list[Any]:
        levels = {lv: sum(1 for e in lst["entries"] if e["level"] == lv) for lv in ("senior", "middle", "base")}
        return [lst["customer_code"], lst["customer_name"], label("survey.status", lst["status"]),
                f"{lst['size']}/{lst['required']}", " ".join(f"{label('survey.level', k)} {v}" for k, v in levels.items()),
                f"v{lst['revision']}"]

    if not print_table([t(f"cli.col.{k}") for k in ("customer", "customer_name", "status", "sample", "levels",
                                                    "version")], (line(lst) for lst in lists)):
        typer.echo(t("survey.nothing"))


@results_app.command("import")
def results_import(file: Path = typer.Argument(..., dir_okay=False, help=".xlsx"), year: int = YEAR,
                   as_emp: Optional[str] = AS, as_json: bool = JSON) -> None:
    """导入调查公司的结果并全量发布给各团队（有任何问题则全部不写入） / import and publish results, all or nothing."""
    from flows.survey import service

    rt = _rt()
    out = service.import_results(rt, year, principal=_who(rt, as_emp), file=file)
    if as_json:
        _json(out)
    else:
        typer.echo(out["message"])


@survey_app.command("close-year")
def close_year(year: int = YEAR, as_emp: Optional[str] = AS) -> None:
    """结束年度第三方调查 / close the year's survey."""
    from flows.survey import service

    rt = _rt()
    out = service.close_year(rt, year, principal=_who(rt, as_emp))
    typer.echo(f"#{out['instance']}: {out['state']}")


# ---------------------------------------------------------------------------------------------- report


@survey_app.command("report")
def report(year: int = YEAR, as_json: bool = JSON,
           html: Optional[Path] = typer.Option(None, "--html", help="写入 HTML 报告（含图表） / write the HTML report")) -> None:
    """满意度分析：按产品/服务阶段/品牌、地区部/代表处/客户级别、历年趋势，低分项在前 / the analysis."""
    from engine.i18n import locale
    from flows.survey import service
    from flows.survey.report import render_html

    rt = _rt()
    data = service.report(rt.db, year, principal=_who(rt, None), locale=locale())
    if html is not None:
        from engine.paths import output_file

        output_file(html).write_text(render_html(data, locale()), encoding="utf-8")
    if as_json:
        _json(data)
        return
    if html is not None:
        typer.echo(t("survey.html_written", file=html))
    if not data["responses"]:
        typer.echo(t("survey.no_results", year=year))
    else:
        typer.echo(t("survey.report_head", year=year, avg=data["average"], n=data["responses"], customers=data["customers"]))
        for e in data["lowest_items"]:
            typer.echo(f"  {e['average']:.2f}\t{e['label']}\t(n={e['count']})")
    cb = data["callbacks"]["projects"]
    if cb["count"]:
        typer.echo("  " + " ".join(f"{e['label']}={e['average']:.2f}" for e in cb["by_item"]))
