"""`mcr profiles …` (CP/VP) and `mcr watch …` (the customer watch and its retrospectives): thin shells
over flows/profiles/service.py and watch.py.

No business rule lives here; `MCRError`s propagate and the main CLI prints them as one line with
exit 1. The CLI runs as the operator; acting for an employee needs `--as EMP`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import typer

profiles_app = typer.Typer(help="客户企业档案 CP / 供应商档案 VP / customer and vendor profiles", no_args_is_help=True)
watch_app = typer.Typer(help="跟踪与监控客户策略 / the customer watch", no_args_is_help=True)

AS = typer.Option(None, "--as", help="代该员工执行（工号） / act for this employee")
JSON = typer.Option(False, "--json", help="JSON 输出 / print JSON")
KIND = typer.Argument(..., help="CP 或 VP / CP or VP")
CUSTOMER = typer.Argument(..., help="客户编码 / customer code")
YEAR = typer.Argument(..., help="档案年度 / profile year")


def register(app: typer.Typer) -> None:
    app.add_typer(profiles_app, name="profiles")
    app.add_typer(watch_app, name="watch")


def _rt() -> Any:
    from engine.app import build_runtime

    return build_runtime()


def _who(rt: Any, as_emp: Optional[str]) -> Any:
    from engine.auth.principal import cli_principal

    return cli_principal(rt.db, as_emp)


def _out(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _step(value: dict[str, Any]) -> None:
    typer.echo(f"#{value['instance_id']} → {value['state']}")


@profiles_app.command("launch")
def launch(year: int = typer.Option(..., "--year"), as_emp: Optional[str] = AS) -> None:
    """发放某年度的 CP/VP（重复执行只补缺） / open a year's profiles (a repeat opens only what is missing)."""
    from flows.profiles import service

    rt = _rt()
    started = service.launch_profiles(rt, year, principal=_who(rt, as_emp))
    typer.echo(f"{len(started)}")


@profiles_app.command("list")
def list_(year: Optional[int] = typer.Option(None, "--year"), customer: Optional[str] = typer.Option(None, "--customer"),
          as_emp: Optional[str] = AS) -> None:
    """列出可见的档案 / the profiles I may see."""
    from flows.profiles import service

    rt = _rt()
    _out(service.list_profiles(rt, principal=_who(rt, as_emp), year=year, customer=customer))


@profiles_app.command("show")
def show(kind: str = KIND, customer: str = CUSTOMER, year: int = YEAR, as_emp: Optional[str] = AS) -> None:
    """档案内容、评审轮次、与去年的差异 / content, review rounds, diff to last year (JSON)."""
    from flows.profiles import service

    rt = _rt()
    _out(service.show_profile(rt, kind, customer, year, principal=_who(rt, as_emp)))


@profiles_app.command("save")
def save(kind: str = KIND, customer: str = CUSTOMER, year: int = YEAR,
         sections: str = typer.Option(..., "--sections", help='JSON {"section": {"field": value}} 或 @文件 / or @file'),
         as_emp: Optional[str] = AS) -> None:
    """保存章节 / save sections."""
    from flows.profiles import service

    text = Path(sections[1:]).read_text(encoding="utf-8") if sections.startswith("@") else sections
    rt = _rt()
    _step(service.save(rt, kind, customer, year, json.loads(text), principal=_who(rt, as_emp)))


@profiles_app.command("submit")
def submit(kind: str = KIND, customer: str = CUSTOMER, year: int = YEAR, as_emp: Optional[str] = AS) -> None:
    """提交评审 / submit for review."""
    from flows.profiles import service

    rt = _rt()
    _step(service.submit(rt, kind, customer, year, principal=_who(rt, as_emp)))


@profiles_app.command("comment")
def comment(kind: str = KIND, customer: str = CUSTOMER, year: int = YEAR,
            section: str = typer.Option(..., "--section"), text: str = typer.Option(..., "--text"),
            as_emp: Optional[str] = AS) -> None:
    """评审人按章节评论 / a reviewer's comment on a section."""
    from flows.profiles import service

    rt = _rt()
    _step(service.comment(rt, kind, customer, year, section, text, principal=_who(rt, as_emp)))


def _comments(items: Optional[List[str]]) -> dict[str, str]:
    out = {}
    for item in items or []:
        section, _, text = item.partition("=")
        out[section.strip()] = text.strip()
    return out


@profiles_app.command("send-back")
def send_back(kind: str = KIND, customer: str = CUSTOMER, year: int = YEAR,
              comment_: Optional[List[str]] = typer.Option(None, "--comment", help="section=意见 / section=text"),
              as_emp: Optional[str] = AS) -> None:
    """退回（本轮保留） / send back (the round is kept)."""
    from flows.profiles import service

    rt = _rt()
    _step(service.send_back(rt, kind, customer, year, principal=_who(rt, as_emp), comments=_comments(comment_)))


@profiles_app.command("accept")
def accept(kind: str = KIND, customer: str = CUSTOMER, year: int = YEAR,
           comment_: Optional[List[str]] = typer.Option(None, "--comment", help="section=意见 / section=text"),
           as_emp: Optional[str] = AS) -> None:
    """通过 / accept."""
    from flows.profiles import service

    rt = _rt()
    _step(service.accept(rt, kind, customer, year, principal=_who(rt, as_emp), comments=_comments(comment_)))


@profiles_app.command("export")
def export(kind: str = KIND, customer: str = CUSTOMER, year: int = YEAR,
           file: Path = typer.Argument(..., dir_okay=False, help=".xlsx"), as_emp: Optional[str] = AS) -> None:
    """导出为 XLSX / export to XLSX."""
    from flows.profiles import service

    rt = _rt()
    typer.echo(str(service.export_workbook(rt, kind, customer, year, file, principal=_who(rt, as_emp))))


@profiles_app.command("import")
def import_(kind: str = KIND, customer: str = CUSTOMER, year: int = YEAR,
            file: Path = typer.Argument(..., exists=True, dir_okay=False, help=".xlsx"), as_emp: Optional[str] = AS) -> None:
    """从 XLSX 导入章节（有错误时列出表/行/列，不保存任何内容） / import sections from XLSX (all or nothing)."""
    from flows.profiles import service

    rt = _rt()
    _step(service.import_workbook(rt, kind, customer, year, file, principal=_who(rt, as_emp)))


@profiles_app.command("history")
def history(kind: str = KIND, customer: str = CUSTOMER, as_emp: Optional[str] = AS) -> None:
    """历年版本与逐年差异 / every year's version with its diff to the year before."""
    from flows.profiles import service

    rt = _rt()
    _out(service.history(rt, customer, kind, principal=_who(rt, as_emp)))


@watch_app.command("run")
def watch_run(period: str = typer.Argument(..., help="2027-Q1 / 2027-03 / 2027-H1 / 2027"), as_emp: Optional[str] = AS,
              as_json: bool = JSON) -> None:
    """运行某周期的客户监控（异常流失开启管理回溯，收入不及价值曲线开启分级审视） / run the watch of a period."""
    from flows.profiles import watch

    rt = _rt()
    report = watch.run_watch(rt, period, principal=_who(rt, as_emp))
    if as_json:
        _out(report)
        return
    _print_report(report)


@watch_app.command("report")
def watch_report(period: str = typer.Argument(...), unit: Optional[str] = typer.Option(None, "--unit"),
                 as_emp: Optional[str] = AS, as_json: bool = JSON) -> None:
    """按代表处、地区部的监控报告 / the watch report per office and region."""
    from flows.profiles import watch

    rt = _rt()
    report = watch.watch_report(rt, period, principal=_who(rt, as_emp), unit=unit)
    if as_json:
        _out(report)
        return
    _print_report(report)


def _print_report(report: dict[str, Any]) -> None:
    from engine.i18n import t
    from engine.tables import print_table

    typer.echo(t("profiles.watch_title", period=report["period"], first=report["first_month"], last=report["last_month"]))
    heads = [t("profiles.col.unit"), t("profiles.col.customers"), t("profiles.col.new"), t("profiles.col.lost"),
             t("profiles.col.abnormal"), t("profiles.col.shortfalls"), t("profiles.col.orders")]
    rows = [[f"{o['office']} {o['office_name']}", o["customers"], o["new"], o["lost"], o["abnormal"], o["shortfalls"],
             o["orders_usd"]] for o in report["offices"]]
    rows += [[f"{r['region']} {r['region_name']}", r["customers"], r["new"], r["lost"], r["abnormal"], r["shortfalls"],
              r["orders_usd"]] for r in report.get("regions", [])]
    print_table(heads, rows)


@watch_app.command("retro")
def retro(customer: str = typer.Argument(...), period: str = typer.Argument(...),
          event: str = typer.Argument(..., help="record / submit / confirm / send-back"),
          findings: Optional[str] = typer.Option(None, "--findings"),
          action: Optional[List[str]] = typer.Option(None, "--action", help="改进措施（可多次） / an action (repeatable)"),
          comment: Optional[str] = typer.Option(None, "--comment"), as_emp: Optional[str] = AS) -> None:
    """管理回溯：记录、提交、确认或退回 / a management retrospective: record, submit, confirm or send back."""
    from flows.profiles import service

    rt = _rt()
    payload: dict[str, Any] = {}
    if findings is not None:
        payload["findings"] = findings
    if action:
        payload["actions"] = list(action)
    if comment is not None:
        payload["comment"] = comment
    iid = service.retrospective_of(rt, customer, period)
    _step(service.retrospective_send(rt, iid, event.replace("-", "_"), payload, principal=_who(rt, as_emp)))
