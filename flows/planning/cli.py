"""`mcr planning …` and `mcr care …` — thin commands over flows/planning's services.

No business rule lives here: every command calls one service function and prints its outcome.
`MCRError`s propagate to `engine.cli.main`, which prints one line and exits 1. Text is Chinese by
default and English with MCR_LOCALE=en.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Optional

import typer

from engine.errors import MCRError
from engine.i18n import locale

planning_app = typer.Typer(help="客户关系规划与执行节奏 / planning kit and rhythm", no_args_is_help=True)
review_app = typer.Typer(help="主管审核三件套 / supervisor review of a kit", no_args_is_help=True)
check_app = typer.Typer(help="自检 / self-check", no_args_is_help=True)
card_app = typer.Typer(help="关键客户拓展卡片 / key-customer card review", no_args_is_help=True)
halfyear_app = typer.Typer(help="半年度审视 / half-year review", no_args_is_help=True)
evaluation_app = typer.Typer(help="年度评价 / annual evaluation", no_args_is_help=True)
tier_app = typer.Typer(help="客户分级审视 / tier review", no_args_is_help=True)
winrate_app = typer.Typer(help="赢率 / win rate", no_args_is_help=True)
alert_app = typer.Typer(help="告警 / alerts", no_args_is_help=True)
care_app = typer.Typer(help="客户关怀与关系交接 / care reminders and handovers", no_args_is_help=True)
visit_app = typer.Typer(help="拜访记录 / visits", no_args_is_help=True)
handover_app = typer.Typer(help="关系交接 / handovers", no_args_is_help=True)
coverage_app = typer.Typer(help="客户覆盖 / coverage", no_args_is_help=True)
for sub, name in ((review_app, "review"), (check_app, "check"), (card_app, "card"), (halfyear_app, "halfyear"),
                  (evaluation_app, "evaluation"), (tier_app, "tier"), (winrate_app, "winrate"), (alert_app, "alert")):
    planning_app.add_typer(sub, name=name)
for sub, name in ((visit_app, "visit"), (handover_app, "handover"), (coverage_app, "coverage")):
    care_app.add_typer(sub, name=name)


def register(app: typer.Typer) -> None:
    from flows.planning.activity_cli import activity_app

    planning_app.add_typer(activity_app, name="activity")
    app.add_typer(planning_app, name="planning")
    app.add_typer(care_app, name="care")


def _runtime() -> Any:
    from engine.app import build_runtime

    return build_runtime()


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def _date(text: Optional[str], option: str) -> Optional[date]:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise MCRError(f"{option} '{text}': YYYY-MM-DD") from None


def _today(rt: Any) -> date:
    return rt.clock.now().astimezone(rt.calendars.get(None).tz).date()


def _en() -> bool:
    return locale() == "en"


def _step(res: Any) -> str:
    from engine import i18n

    return i18n.t("planning.reviewed", id=res.instance_id, src=res.from_state, dst=res.to_state)


# The CLI runs as the operator; `--as EMP` acts for an employee (history records "operator root for
# EMP"). Every command below that records someone's work needs `--as`.
AS = typer.Option(None, "--as", help="代该员工执行（工号）；审计同时记录操作员 / act for this employee (the audit records "
                                     "the operator too)")


def _who(rt: Any, as_emp: Optional[str], command: Optional[str] = None) -> Any:
    from engine.auth.principal import cli_principal

    return cli_principal(rt.db, as_emp, command=command)


def _send(rt: Any, flow: str, subject: str, event: str, as_emp: Optional[str], payload: dict[str, Any],
          command: str) -> None:
    from flows.planning.common import find_instance
    from engine import i18n

    principal = _who(rt, as_emp, command)
    inst = find_instance(rt.db, flow, subject)
    if inst is None:
        raise MCRError(i18n.t("planning.no_instance", what=subject))
    typer.echo(_step(rt.send(inst.id, event, actor=principal.actor, principal=principal, payload=payload)))


# ============================================================================================ planning kit


@planning_app.command("launch")
def launch(year: int = typer.Option(..., "--year", help="planning year, e.g. 2027"),
           direct: bool = typer.Option(False, "--direct", help="without Prefect (same steps, no ~10 s start-up)")) -> None:
    """Issue the year's planning kit to every team owning an S/A customer (a Prefect flow; safe to re-run)."""
    rt = _runtime()
    if direct:
        from flows.planning.kit import launch_kits_direct

        report = launch_kits_direct(rt, year, progress=typer.echo)
    else:
        from flows.planning.launch import run_launch

        report = run_launch(rt, year, progress=typer.echo)
    typer.echo(report.summary())
    if report.failures:
        raise MCRError("; ".join(f"{t}: {e}" for t, e in report.failures.items()))


@planning_app.command("status")
def status(year: int = typer.Option(..., "--year"), as_json: bool = typer.Option(False, "--json")) -> None:
    """Completion of the year's kits per region, office and team."""
    from flows.planning.kit import kit_status
    from engine import i18n

    rt = _runtime()
    st = kit_status(rt, year)
    if as_json:
        _echo_json(st)
        return
    en = _en()
    typer.echo(i18n.t("planning.status_header", year=year))

    def line(label: str, s: dict[str, Any]) -> str:
        if en:
            return (f"{label}\tkits {s['kits']}\tdone {s['done']}\tin review {s['in_review']}\t"
                    f"in progress {s['in_progress']}\toverdue {s['overdue']}\t{s['completion_pct']}%")
        return (f"{label}\t共 {s['kits']}\t完成 {s['done']}\t审核中 {s['in_review']}\t进行中 {s['in_progress']}\t"
                f"逾期 {s['overdue']}\t完成率 {s['completion_pct']}%")

    for region, r_sum in st["regions"].items():
        typer.echo(line(("region " if en else "地区部 ") + region, r_sum))
        offices = sorted({t["office"] or "-" for t in st["teams"] if (t["region"] or "-") == region})
        for office in offices:
            typer.echo(line(("  office " if en else "  代表处 ") + office, st["offices"][office]))
            for t in st["teams"]:
                if (t["office"] or "-") != office:
                    continue
                flag = (" OVERDUE" if en else " 逾期") if t["overdue"] else ""
                typer.echo(f"    {t['team']}\t{t['team_name']}\t#{t['instance_id']}\t{t['state']}\t"
                           f"{'due' if en else '截止'} {t['deadline']}{flag}")
    typer.echo(line(i18n.t("planning.total"), st["total"]))


@planning_app.command("kit")
def kit(team: str, as_emp: Optional[str] = AS,
        year: Optional[int] = typer.Option(None, "--year", help="default: the team's latest kit"),
        out: Optional[Path] = typer.Option(None, "--out", help="copy the workbook to this file")) -> None:
    """The team's pre-filled kit workbook (written on its first request); prints its path."""
    import shutil

    from flows.planning.kit import kit_instance
    from flows.planning.service import kit_workbook

    rt = _runtime()
    principal = _who(rt, as_emp)
    path = kit_workbook(rt, kit_instance(rt, team, year).id, principal=principal)
    if out is not None:
        shutil.copyfile(path, out)
        path = out
    typer.echo(str(path))


@planning_app.command("submit")
def submit(team: str, file: Path, as_emp: Optional[str] = AS,
           year: Optional[int] = typer.Option(None, "--year", help="default: the team's latest kit")) -> None:
    """Validate a filled kit workbook; every problem is listed (sheet, row, column), nothing recorded on failure."""
    from flows.planning.kit import submit_kit

    rt = _runtime()
    principal = _who(rt, as_emp, "planning submit")
    typer.echo(submit_kit(rt, team, file, principal=principal, year=year).describe())


@planning_app.command("budget")
def budget(year: int = typer.Option(..., "--year"), as_json: bool = typer.Option(False, "--json")) -> None:
    """Planned marketing budgets rolled up per team, office and region."""
    from flows.planning.kit import budget_rollup
    from engine import i18n

    rt = _runtime()
    with rt.db.session() as session:
        roll = budget_rollup(session, year)
    if as_json:
        _echo_json(roll)
        return
    typer.echo(i18n.t("planning.budget_header", year=year))
    for region, amount in roll["regions"].items():
        typer.echo(f"{region}\t{amount:,}")
        for office, o_amount in roll["offices"].items():
            if any(t["office"] == office and t["region"] == region for t in roll["teams"]):
                typer.echo(f"  {office}\t{o_amount:,}")
                for t in roll["teams"]:
                    if t["office"] == office:
                        typer.echo(f"    {t['team']}\t{t['name']}\t{t['activities']}\t{t['budget']:,}")
    typer.echo(f"{i18n.t('planning.total')}\t{roll['total']:,}")


@review_app.command("approve")
def review_approve(team: str, year: int = typer.Option(..., "--year"), as_emp: Optional[str] = AS,
                   comment: str = typer.Option("", "--comment")) -> None:
    """Approve a team's kit (the team's supervisor chain, or sales management)."""
    from flows.planning.kit import review_kit

    rt = _runtime()
    principal = _who(rt, as_emp, "planning review approve")
    typer.echo(_step(review_kit(rt, team, year, principal=principal, approve=True, comment=comment)))


@review_app.command("send-back")
def review_send_back(team: str, year: int = typer.Option(..., "--year"), as_emp: Optional[str] = AS,
                     step: str = typer.Option(..., "--step", help="assessment | objectives | plan"),
                     comment: str = typer.Option(..., "--comment")) -> None:
    """Send a kit back to a step with comments."""
    from flows.planning.kit import review_kit

    rt = _runtime()
    principal = _who(rt, as_emp, "planning review send-back")
    typer.echo(_step(review_kit(rt, team, year, principal=principal, approve=False, step=step, comment=comment)))


@planning_app.command("revise")
def revise(team: str, file: Path, year: int = typer.Option(..., "--year"), as_emp: Optional[str] = AS,
           reason: str = typer.Option(..., "--reason")) -> None:
    """The half-year revision of objectives and plan (集中修订) — once per half year."""
    from engine import i18n
    from flows.planning.rhythm import revise as do_revise

    rt = _runtime()
    out = do_revise(rt, team, year, file, principal=_who(rt, as_emp, "planning revise"), reason=reason)
    typer.echo(i18n.t("planning.revised", team=team, year=year, half=i18n.t(f"planning.half.{out['half']}") if out["half"] else "-", seq=out["seq"],
                   before=out["budget_before"], after=out["budget_after"]))


@planning_app.command("start")
def start(kind: str = typer.Argument(..., help="self-checks | weekly-checks | cards | half-year | evaluations | "
                                                "tier-reviews"),
          at: Optional[str] = typer.Option(None, "--date", help="as of this date (default today)")) -> None:
    """Start a rhythm round by hand (what the recurring launches do); already started ones are left alone."""
    from flows.planning import rhythm, strategy

    rt = _runtime()
    day = _date(at, "--date") or _today(rt)
    when = datetime.combine(day, datetime.min.time().replace(hour=9), rt.calendars.get(None).tz)
    fns = {"self-checks": lambda: rhythm.start_self_checks(rt, when, weekly=False),
           "weekly-checks": lambda: rhythm.start_self_checks(rt, when, weekly=True),
           "cards": lambda: rhythm.start_card_reviews(rt, when),
           "half-year": lambda: rhythm.start_team_reviews(rt, "half_year_review", when),
           "evaluations": lambda: rhythm.start_team_reviews(rt, "annual_evaluation", when),
           "tier-reviews": lambda: strategy.start_tier_reviews(rt, when)}
    if kind not in fns:
        raise MCRError(f"'{kind}': " + " | ".join(fns))
    typer.echo(" ".join(f"#{i}" for i in fns[kind]()) or "-")


# ============================================================================================ rhythm


@check_app.command("submit")
def check_submit(emp: str, period: str = typer.Option(..., "--period", help="2027-Q2 or 2027-W14"),
                 progress: int = typer.Option(..., "--progress", help="0-100"),
                 note: str = typer.Option("", "--note"), as_emp: Optional[str] = AS) -> None:
    """Submit EMP's self-check (EMP themselves, or a supervisor above them, `--as`)."""
    flow_kind = "weeklycheck" if "-W" in period else "selfcheck"
    _send(_runtime(), "self_check", f"{flow_kind}:{emp}:{period}", "submit", as_emp, {"progress": progress, "note": note},
          "planning check submit")


@card_app.command("review")
def card_review(emp: str, period: str = typer.Option(..., "--period"), kept: int = typer.Option(..., "--kept"),
                committed: int = typer.Option(..., "--committed"), pbc: str = typer.Option(..., "--pbc"),
                note: str = typer.Option("", "--note"), as_emp: Optional[str] = AS) -> None:
    """The employee's review of the past three months and the next PBC (`--as` EMP)."""
    _send(_runtime(), "card_review", f"card:{emp}:{period}", "review", as_emp,
          {"kept": kept, "committed": committed, "pbc": pbc, "note": note}, "planning card review")


@card_app.command("confirm")
def card_confirm(emp: str, period: str = typer.Option(..., "--period"), as_emp: Optional[str] = AS,
                 comment: str = typer.Option("", "--comment")) -> None:
    _send(_runtime(), "card_review", f"card:{emp}:{period}", "confirm", as_emp, {"comment": comment}, "planning card confirm")


@halfyear_app.command("complete")
def halfyear_complete(team: str, year: int = typer.Option(..., "--year"), as_emp: Optional[str] = AS,
                      summary: str = typer.Option(..., "--summary")) -> None:
    _send(_runtime(), "half_year_review", f"halfyear:{team}:{year}", "complete", as_emp, {"summary": summary}, "planning halfyear complete")


@evaluation_app.command("submit")
def evaluation_submit(team: str, year: int = typer.Option(..., "--year"), as_emp: Optional[str] = AS,
                      score: int = typer.Option(..., "--score"), summary: str = typer.Option("", "--summary")) -> None:
    _send(_runtime(), "annual_evaluation", f"evaluation:{team}:{year}", "submit", as_emp,
          {"score": score, "summary": summary}, "planning evaluation submit")


@evaluation_app.command("approve")
def evaluation_approve(team: str, year: int = typer.Option(..., "--year"), as_emp: Optional[str] = AS,
                       summary: str = typer.Option("", "--summary")) -> None:
    _send(_runtime(), "annual_evaluation", f"evaluation:{team}:{year}", "approve", as_emp, {"summary": summary}, "planning evaluation approve")


@tier_app.command("propose")
def tier_propose(customer: str, period: str = typer.Option(..., "--period"), tier: str = typer.Option(..., "--tier"),
                 reason: str = typer.Option(..., "--reason"), as_emp: Optional[str] = AS) -> None:
    _send(_runtime(), "tier_review", f"tier-review:{customer}:{period}", "propose", as_emp,
          {"tier": tier, "reason": reason}, "planning tier propose")


@tier_app.command("approve")
def tier_approve(customer: str, period: str = typer.Option(..., "--period"), as_emp: Optional[str] = AS,
                 comment: str = typer.Option("", "--comment")) -> None:
    _send(_runtime(), "tier_review", f"tier-review:{customer}:{period}", "approve", as_emp, {"comment": comment}, "planning tier approve")


@tier_app.command("reject")
def tier_reject(customer: str, period: str = typer.Option(..., "--period"), as_emp: Optional[str] = AS,
                comment: str = typer.Option("", "--comment")) -> None:
    _send(_runtime(), "tier_review", f"tier-review:{customer}:{period}", "reject", as_emp, {"comment": comment}, "planning tier reject")


@winrate_app.command("record")
def winrate_record(customer: str, period: str, as_emp: Optional[str] = AS,
                   rate: Optional[float] = typer.Option(None, "--rate", help="percent, 0-100"),
                   wins: Optional[int] = typer.Option(None, "--wins"), bids: Optional[int] = typer.Option(None, "--bids")) -> None:
    """Record a customer's win rate for a period (2027-Q2, 2027-H1, 2027-05, 2027); a sharp drop alerts the office."""
    from engine import i18n
    from flows.planning.strategy import record_win_rate

    rt = _runtime()
    out = record_win_rate(rt, customer, period, principal=_who(rt, as_emp, "planning winrate record"), rate=rate,
                          wins=wins, bids=bids)
    typer.echo(out["message"])
    if out["alert"]:
        from flows.planning.common import get_instance

        inst = get_instance(rt.db, out["alert"])
        typer.echo(i18n.t("planning.win_rate_alert", id=out["alert"], customer=customer, prev=inst.data["previous_rate"],
                       rate=inst.data["rate"], drop=inst.data["drop"]))


@alert_app.command("acknowledge")
def alert_acknowledge(instance_id: int, as_emp: Optional[str] = AS, note: str = typer.Option("", "--note")) -> None:
    rt = _runtime()
    principal = _who(rt, as_emp, "planning alert acknowledge")
    typer.echo(_step(rt.send(instance_id, "acknowledge", actor=principal.actor, principal=principal,
                             payload={"note": note})))


# ============================================================================================ care


@care_app.command("scan")
def care_scan(at: Optional[str] = typer.Option(None, "--date", help="scan day, YYYY-MM-DD (default today)")) -> None:
    """Run the daily care scan: one digest per person; nothing already reminded is sent again."""
    from flows.planning.care import run_care_scan

    rt = _runtime()
    typer.echo(run_care_scan(rt, _date(at, "--date") or _today(rt)).summary())


@visit_app.command("log")
def visit_log(contact: str, as_emp: Optional[str] = AS,
              by: Optional[str] = typer.Option(None, "--visitor", help="who visited (default: --as)"),
              on: Optional[str] = typer.Option(None, "--date"),
              kind: str = typer.Option("visit", "--kind", help="visit | sponsor_meeting"),
              place: Optional[str] = typer.Option(None, "--place", help="office | private (办公室 / 私人拜访)"),
              note: Optional[str] = typer.Option(None, "--note")) -> None:
    """Log a visit to a key contact (or a sponsor meeting); it restarts the cadence clock."""
    from flows.planning.care import log_visit

    rt = _runtime()
    out = log_visit(rt.db, rt.clock, contact, principal=_who(rt, as_emp, "care visit log"), by=by,
                    on=_date(on, "--date") or _today(rt), kind=kind, note=note, place=place,
                    tz=rt.calendars.get(None).tz)
    typer.echo(out["message"])


@handover_app.command("start")
def handover_start(contact: Optional[str] = typer.Option(None, "--contact", help="a contact who moved"),
                   employee: Optional[str] = typer.Option(None, "--employee", help="an employee who rotates/leaves"),
                   reason: str = typer.Option(..., "--reason",
                                              help="promotion|department|region|company (contact) or rotation|leave"),
                   customer: Optional[str] = typer.Option(None, "--customer", help="the contact's new customer"),
                   title: Optional[str] = typer.Option(None, "--title"),
                   level: Optional[str] = typer.Option(None, "--level", help="senior|middle|base"),
                   to: Optional[str] = typer.Option(None, "--to", help="new owner (default: coverage rules)"),
                   as_emp: Optional[str] = AS) -> None:
    """Start a relationship handover after a contact's move or an employee's rotation/leave."""
    from flows.planning.handover import contact_moved, employee_moved

    rt = _runtime()
    if (contact is None) == (employee is None):
        raise MCRError("--contact or --employee (one of them)")
    principal = _who(rt, as_emp, "care handover start")
    if contact is not None:
        results = [contact_moved(rt, contact, reason=reason, principal=principal, new_customer=customer,
                                 new_title=title, new_level=level, to=to)]
    else:
        results = employee_moved(rt, employee, reason=reason, principal=principal, to=to)  # type: ignore[arg-type]
    for r in results:
        typer.echo(r.message)


@handover_app.command("introduce")
def handover_introduce(instance_id: int, as_emp: Optional[str] = AS, note: str = typer.Option("", "--note"),
                       on: Optional[str] = typer.Option(None, "--date")) -> None:
    """Log that the previous owner introduced the new one (completes the handover)."""
    from flows.planning.handover import introduce
    from engine import i18n

    rt = _runtime()
    introduce(rt, instance_id, principal=_who(rt, as_emp, "care handover introduce"), note=note, on=_date(on, "--date"))
    typer.echo(i18n.t("planning.introduced", id=instance_id))


@coverage_app.command("set")
def coverage_set(customer: str, emp: str, since: str = typer.Option(..., "--since"),
                 as_emp: Optional[str] = AS) -> None:
    """Record since when EMP covers CUSTOMER (rotation is flagged a quarter before 4 years)."""
    from flows.planning.care import set_coverage

    rt = _runtime()
    set_coverage(rt.db, rt.clock, customer, emp, _date(since, "--since"),  # type: ignore[arg-type]
                 principal=_who(rt, as_emp))
    typer.echo("ok")
