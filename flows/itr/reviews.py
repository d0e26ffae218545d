"""The scheduled ITR reviews (flows/itr/itr_review.yaml): weekly office review, monthly region/HQ review.

A launcher runs outside any step: it runs the weekly valid-issue check, builds each report with
read-only queries (in a write transaction when a window's counter rows do not exist yet: they are
made once and kept, so a week's reviews make only the week just ended), then starts one
`itr_review` instance per unit and period (its subject makes a second start a no-op) and
publishes it, which mails the report through the outbox. Units that never recorded an issue are
not reviewed: ITR is not in use there (yet), and an empty review would only be noise.
"""

from __future__ import annotations

from typing import Any, Optional

from engine.i18n import t
from engine.masterdata.read import MasterData, Person, Unit
from flows.itr.policy import previous_month, previous_week
from flows.itr.reports import ItrReport, build_report, prepare_reports, read_report, run_weekly_check
from flows.itr.rules import ItrRules

ACTOR = "launcher:itr_review"


def _publish(runtime: Any, *, kind: str, period: str, unit: Unit, report: ItrReport,
             recipients: list[Person]) -> int:
    data = {"kind": kind, "period": period, "unit": unit.code, "unit_name": unit.name,
            "report": report.model_dump(mode="json"),
            "recipients": [{"emp_no": p.emp_no, "name": p.name, "email": p.email, "locale": p.locale}
                           for p in recipients]}
    res = runtime.start("itr_review", data, actor=ACTOR, subject=f"{kind}:{period}:{unit.code}")
    if res.duplicate and res.to_state != "prepared":
        return 0
    runtime.send(res.instance_id, "publish", actor=ACTOR, internal=True)
    return 0 if res.duplicate else 1


def _review(runtime: Any, rules: ItrRules, code: str, roles: Any, *, period: str, kind: str, now: Any,
            types: Any) -> int:
    """One unit's review: its report and recipients read (read-only unless a window is new), then published."""
    def read(tx: Any, create: bool) -> tuple[Optional[Unit], ItrReport, list[Person]]:
        md = MasterData(tx)
        return (md.unit(code), build_report(tx, runtime, rules, period=period, unit_code=code, now=now, kind=kind,
                                            types=types, create=create),
                md.heads(code, roles))
    unit, report, recipients = read_report(runtime.db, read)
    if unit is None:
        return 0
    return _publish(runtime, kind="weekly" if kind == "week" else "monthly", period=period, unit=unit, report=report,
                    recipients=recipients)


def _units_with_issues(tx: Any) -> tuple[list[str], list[str], list[str]]:
    offices = sorted(r[0] for r in tx.all("SELECT DISTINCT office_code FROM itr_issue"))
    regions = sorted({r[0] for r in tx.all("SELECT DISTINCT region_code FROM itr_issue") if r[0]})
    hqs = sorted({hq.code for hq in (MasterData(tx).hq_of(o) for o in offices) if hq is not None})
    return offices, regions, hqs


def run_weekly_review(lctx: Any) -> int:
    """Monday 09:00: the previous ISO week's review for every office, to its heads and sales management."""
    runtime = lctx.runtime
    rules = runtime.current_rules().get("itr.yaml", ItrRules)
    if not rules.reviews.weekly_enabled:
        return 0
    week = previous_week(lctx.occurrence, lctx.launch.recurrence.tz)
    now = runtime.clock.now()
    with runtime.db.tx() as tx:
        run_weekly_check(tx, runtime, rules, week, now)
        offices, _, _ = _units_with_issues(tx)
        # The windows without counter rows yet (in a running system, the week just ended: the trend
        # weeks were made by earlier reviews) are made here, for every office in one transaction,
        # and kept: each review then reads in a read-only transaction.
        prepare_reports(tx, runtime, period=week, kind="week", unit_codes=offices)

    def review(code: str) -> int:
        return _review(runtime, rules, code, rules.reviews.weekly_roles, period=week, kind="week", now=now,
                       types=rules.reviews.weekly_types)
    return _each(lctx, "itr-weekly-review", offices, review)


def run_monthly_review(lctx: Any) -> int:
    """The 1st, 09:00: last month's quality analysis for every region (its heads) and HQ (sales management)."""
    runtime = lctx.runtime
    rules = runtime.current_rules().get("itr.yaml", ItrRules)
    if not rules.reviews.monthly_enabled:
        return 0
    month = previous_month(lctx.occurrence, lctx.launch.recurrence.tz)
    now = runtime.clock.now()
    with runtime.db.tx() as tx:  # the month's counter rows, once for every unit (see run_weekly_review)
        _, regions, hqs = _units_with_issues(tx)
        prepare_reports(tx, runtime, period=month, kind="month", unit_codes=regions + hqs)

    def review(item: tuple[str, Any]) -> int:
        code, roles = item
        return _review(runtime, rules, code, roles, period=month, kind="month", now=now,
                       types=rules.reviews.monthly_types)
    units = [(r, rules.reviews.region_roles) for r in regions] + [(h, rules.reviews.hq_roles) for h in hqs]
    return _each(lctx, "itr-monthly-review", units, review, key=lambda u: u[0])


def _each(lctx: Any, what: str, units: list[Any], review: Any, key: Any = str) -> int:
    """One review per unit through the launch's runner (a Prefect task each in a flow run); the
    number published; the launch fails (and runs again) if a unit's review failed."""
    batch = lctx.runner.each(what, units, review, key=key,
                             describe=lambda n: t("engine.batch.published" if n else "engine.batch.nothing_new"))
    batch.raise_failures()
    return sum(batch.results)
