"""The customer watch (跟踪与监控客户策略, SPEC §8a): per period, new customers, lost customers and
abnormal losses, and revenue against each customer's value-return curve.

* new customer      — its first month with orders falls in the period;
* lost customer     — orders of at least `watch.min_previous_orders_usd` in the previous period, none in this one;
* abnormal loss     — a lost customer of `watch.abnormal_loss_tiers` (S, A, B): opens a management
                      retrospective (retrospective.yaml, one per customer and period);
* curve shortfall   — at a period ending in December: the year's orders short of the curve's
                      expected revenue for that relationship year by more than `watch.curve_shortfall_share`
                      (years 2 and 4 interpolated, 5 and later = year 5): opens a tier review, the existing
                      `tier_review` flow, started through the engine by name (no import of its family).

A run is kept per period (`watch_run`, unique): running a period again returns the kept report and
opens nothing twice. Reports per office and region, as JSON. Orders and curves are master data
(`mcr import orders|curves`), read through `MasterData`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Optional

from engine.auth.principal import Principal
from engine.clock import to_us
from engine.errors import MCRError, NotPermitted
from engine.i18n import t
from engine.masterdata.read import MasterData
from flows.profiles.rules import ProfilesRules, pinned

_PERIOD = re.compile(r"^(\d{4})(?:-(Q[1-4]|H[12]|0[1-9]|1[0-2]))?$")


class BadPeriod(MCRError):
    status = 422


@dataclass(frozen=True)
class Period:
    key: str
    first: date     # first day
    months: int

    @property
    def first_month(self) -> str:
        return f"{self.first.year:04d}-{self.first.month:02d}"

    @property
    def last_month(self) -> str:
        m = self.first.month - 1 + self.months - 1
        return f"{self.first.year + m // 12:04d}-{m % 12 + 1:02d}"

    def previous(self) -> "Period":
        m = self.first.month - 1 - self.months
        return period_starting(date(self.first.year + m // 12, m % 12 + 1, 1), self.months)


_MONTHS = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}


def period_starting(first: date, months: int) -> Period:
    y, m = first.year, first.month
    key = {1: f"{y}-{m:02d}", 3: f"{y}-Q{(m - 1) // 3 + 1}", 6: f"{y}-H{(m - 1) // 6 + 1}", 12: f"{y}"}[months]
    return Period(key, date(y, m, 1), months)


def parse_period(text: str) -> Period:
    match = _PERIOD.match(str(text).strip())
    if not match:
        raise BadPeriod(t("profiles.bad_period", value=text))
    year, part = int(match[1]), match[2]
    if part is None:
        return period_starting(date(year, 1, 1), 12)
    if part.startswith("Q"):
        return period_starting(date(year, (int(part[1]) - 1) * 3 + 1, 1), 3)
    if part.startswith("H"):
        return period_starting(date(year, (int(part[1]) - 1) * 6 + 1, 1), 6)
    return period_starting(date(year, int(part), 1), 1)


def period_ended_before(day: date, kind: str) -> Optional[Period]:
    """The period of `kind` that ended the day before `day`, when `day` starts a new one (else None)."""
    months = _MONTHS[kind]
    if day.day != 1 or (day.month - 1) % months:
        return None
    m = day.month - 1 - months
    return period_starting(date(day.year + m // 12, m % 12 + 1, 1), months)


def expected_revenue(curve: tuple[int, int, int, int], year: int) -> Optional[int]:
    """The curve's expected revenue for calendar `year` (None before the relationship's year 1)."""
    start, y1, y3, y5 = curve
    n = year - start + 1
    if n < 1:
        return None
    return {1: y1, 2: (y1 + y3) // 2, 3: y3, 4: (y3 + y5) // 2}.get(n, y5)


# ---------------------------------------------------------------------------------------------- the report


def compute(md: MasterData, period: Period, rules: ProfilesRules) -> dict[str, Any]:
    """The watch report of `period` from master data as it is now (no writes)."""
    w = rules.watch
    prev = period.previous()
    now_orders = md.orders_between(period.first_month, period.last_month)
    prev_orders = md.orders_between(prev.first_month, prev.last_month)
    first = md.first_order_months()
    customers = md.all_customers()
    new, lost, abnormal, shortfalls = [], [], [], []
    curves = md.value_curves()
    year_end = period.last_month.endswith("-12")
    year = int(period.last_month[:4])
    year_orders = md.orders_between(f"{year}-01", f"{year}-12") if year_end else {}
    for c in customers:
        row = {"customer": c.code, "name": c.name, "tier": c.tier, "office": c.office_code,
               "owner": c.owner_emp_no, "orders_usd": now_orders.get(c.code, 0),
               "previous_orders_usd": prev_orders.get(c.code, 0)}
        if period.first_month <= first.get(c.code, "9999") <= period.last_month:
            new.append(row)
        if prev_orders.get(c.code, 0) >= w.min_previous_orders_usd and now_orders.get(c.code, 0) <= 0:
            lost.append(row)
            if c.tier in w.abnormal_loss_tiers:
                abnormal.append(row)
        if year_end and c.code in curves:
            expected = expected_revenue(curves[c.code], year)
            actual = year_orders.get(c.code, 0)
            if expected and (expected - actual) / expected > w.curve_shortfall_share:
                shortfalls.append({**row, "year": year, "relationship_year": year - curves[c.code][0] + 1,
                                   "expected_usd": expected, "actual_usd": actual,
                                   "shortfall_share": round((expected - actual) / expected, 4)})
    return {"period": period.key, "first_month": period.first_month, "last_month": period.last_month,
            "previous_period": prev.key, "totals": _counts(customers, new, lost, abnormal, shortfalls, now_orders,
                                                             prev_orders),
            "offices": _by_unit(md, customers, new, lost, abnormal, shortfalls, now_orders, prev_orders),
            "new": new, "lost": lost, "abnormal": abnormal, "shortfalls": shortfalls}


def _counts(customers: list[Any], new: list[Any], lost: list[Any], abnormal: list[Any], shortfalls: list[Any],
            now_orders: dict[str, int], prev_orders: dict[str, int]) -> dict[str, int]:
    codes = {c.code for c in customers}
    return {"customers": len(customers), "new": len(new), "lost": len(lost), "abnormal": len(abnormal),
            "shortfalls": len(shortfalls), "orders_usd": sum(v for k, v in now_orders.items() if k in codes),
            "previous_orders_usd": sum(v for k, v in prev_orders.items() if k in codes)}


def _by_unit(md: MasterData, customers: list[Any], new: list[Any], lost: list[Any], abnormal: list[Any],
             shortfalls: list[Any], now_orders: dict[str, int], prev_orders: dict[str, int]) -> list[dict[str, Any]]:
    out = []
    for office in sorted({c.office_code for c in customers}):
        unit, region = md.unit(office), md.region_of(office)
        mine = [c for c in customers if c.office_code == office]

        def pick(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [r for r in rows if r["office"] == office]

        out.append({"office": office, "office_name": unit.name if unit else office,
                    "region": region.code if region else None, "region_name": region.name if region else None,
                    **_counts(mine, pick(new), pick(lost), pick(abnormal), pick(shortfalls), now_orders, prev_orders),
                    "abnormal_customers": [r["customer"] for r in pick(abnormal)]})
    return out


def regions_of(offices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Office rows rolled up per region (地区部)."""
    regions: dict[Any, dict[str, Any]] = {}
    for o in offices:
        r = regions.setdefault(o["region"], {"region": o["region"], "region_name": o["region_name"], "offices": 0,
                                             "customers": 0, "new": 0, "lost": 0, "abnormal": 0, "shortfalls": 0,
                                             "orders_usd": 0, "previous_orders_usd": 0})
        r["offices"] += 1
        for k in ("customers", "new", "lost", "abnormal", "shortfalls", "orders_usd", "previous_orders_usd"):
            r[k] += o[k]
    return [regions[k] for k in sorted(regions, key=lambda x: str(x))]


# ---------------------------------------------------------------------------------------------- the run


def run_watch_due(runtime: Any, at: datetime) -> int:
    """The monthly launch: run the watch for the period that just ended, if this month starts one."""
    rules = pinned(runtime)
    day = at.astimezone(runtime.calendars.get(None).tz).date()
    period = period_ended_before(day, rules.watch.period)
    if period is None:
        return 0
    out = run_watch(runtime, period.key, principal=Principal.engine("system"))
    return len(out["retrospectives"]) + len(out["tier_reviews"])


def _may_run(p: Principal) -> bool:
    return p.is_engine or p.is_operator or p.is_sales_management


def run_watch(runtime: Any, period: str, *, principal: Principal) -> dict[str, Any]:
    """Compute, keep and act on the watch of `period` (sales management, the operator or the engine).

    Opens a retrospective per abnormal loss and a tier review per curve shortfall; a second run of
    the same period returns the kept report and opens nothing again."""
    if not _may_run(principal):
        raise NotPermitted(t("profiles.watch_not_allowed", actor=principal.actor))
    p = parse_period(period)
    rules = pinned(runtime)
    with runtime.db.tx() as tx:
        kept = tx.one("SELECT report FROM watch_run WHERE period = :p", {"p": p.key})
        if kept is not None:
            return {**json.loads(kept[0]), "already": True}
        md = MasterData(tx)
        report = compute(md, p, rules)
        plans = _plans(runtime, md, report, rules)
        tx.insert_row("watch_run", {"period": p.key, "first_month": p.first_month, "last_month": p.last_month,
                                    "at_us": to_us(runtime.clock.now()), "actor": principal.actor, "report": "{}"})
    retros, reviews = {}, {}
    for code, data in plans["retro"]:
        res = runtime.start("retrospective", data, actor=principal.actor, subject=f"retro:{code}:{p.key}",
                            calendar=data["calendar"], internal=True)
        retros[code] = res.instance_id
    if plans["tier"] and "tier_review" in {d.name for d in runtime.definitions.latest()}:
        for code, data in plans["tier"]:
            subject = f"tier-review:{code}:{p.key}"
            res = runtime.start("tier_review", data, actor=principal.actor, subject=subject, calendar=data["calendar"])
            initial = runtime.definitions.get("tier_review").initial.name
            if not res.duplicate and res.to_state == initial:
                # The tier review waits in its first state for the engine's `open` (as its own launcher does).
                runtime.send(res.instance_id, "open", actor=principal.actor, client_event_id=f"kick:tier_review:{subject}",
                             internal=True)
            reviews[code] = res.instance_id
    report.update(retrospectives=retros, tier_reviews=reviews, regions=regions_of(report["offices"]),
                  run_by=principal.actor)
    with runtime.db.tx() as tx:
        tx.execute("UPDATE watch_run SET report = :r WHERE period = :p",
                   {"r": json.dumps(report, ensure_ascii=False), "p": p.key})
    return report


def _plans(runtime: Any, md: MasterData, report: dict[str, Any], rules: ProfilesRules) -> dict[str, list[Any]]:
    sales = md.sales_management(rules.watch.sales_management_emails)
    retro, tier = [], []
    for row in report["abnormal"]:
        owner, sup = md.person(row["owner"]), md.supervisor(row["owner"])
        cal_name = md.calendar_of(row["office"], runtime.calendars)
        cal = runtime.calendars.get(cal_name)
        due = cal.add_business_days(runtime.clock.now(), rules.retrospective.due_business_days)
        retro.append((row["customer"], {
            "customer": row["customer"], "customer_name": row["name"], "tier": row["tier"], "office": row["office"],
            "period": report["period"], "previous_orders_usd": row["previous_orders_usd"],
            "owner": row["owner"], "owner_name": owner.name if owner else row["owner"],
            "owner_email": owner.email if owner else None, "supervisor": sup.emp_no if sup else None,
            "supervisor_email": sup.email if sup else None, "sales_management": sales,
            "locale": owner.locale if owner else "zh-CN", "calendar": cal_name,
            "due_at": due.isoformat(), "due": due.astimezone(cal.tz).date().isoformat()}))
    for row in report["shortfalls"]:
        owner, sup = md.person(row["owner"]), md.supervisor(row["owner"])
        c = md.customer(row["customer"])
        cal_name = md.calendar_of(row["office"], runtime.calendars)
        cal = runtime.calendars.get(cal_name)
        due = cal.add_business_days(runtime.clock.now(), rules.watch.tier_review_due_business_days)
        tier.append((row["customer"], {
            "customer": row["customer"], "customer_name": row["name"], "industry": c.industry if c else None,
            "tier": row["tier"], "cadence": "value_curve", "period": report["period"], "owner": row["owner"],
            "emp_name": owner.name if owner else row["owner"], "email": owner.email if owner else None,
            "supervisor": sup.emp_no if sup else None, "supervisor_email": sup.email if sup else None,
            "sales_management": sales, "locale": owner.locale if owner else "zh-CN", "calendar": cal_name,
            "due_at": due.isoformat(), "due": due.astimezone(cal.tz).date().isoformat(),
            "trigger": {"kind": "value_curve_shortfall", "year": row["year"], "expected_usd": row["expected_usd"],
                        "actual_usd": row["actual_usd"], "shortfall_share": row["shortfall_share"]}}))
    return {"retro": retro, "tier": tier}


def watch_report(runtime: Any, period: str, *, principal: Principal, unit: Optional[str] = None) -> dict[str, Any]:
    """The kept report of `period` (or, not run yet, a preview computed now) per office and region.

    Sales management and the operator see every office; a supervisor the offices under their own unit;
    anyone else is refused. `unit` narrows to the offices under that unit."""
    p = parse_period(period)
    rules = pinned(runtime)
    with runtime.db.read() as tx:
        md = MasterData(tx)
        kept = tx.one("SELECT report FROM watch_run WHERE period = :p", {"p": p.key})
        report = json.loads(kept[0]) if kept is not None and kept[0] != "{}" else {**compute(md, p, rules),
                                                                                 "preview": True}
        scope: Optional[set[str]] = None
        if not _may_run(principal):
            if not principal.has_role("supervisor") or not principal.unit_code:
                raise NotPermitted(t("profiles.watch_report_not_allowed", actor=principal.actor))
            scope = md.subtree(principal.unit_code)
        if unit:
            below = md.subtree(unit)
            scope = below if scope is None else scope & below
    if scope is not None:
        report["offices"] = [o for o in report["offices"] if o["office"] in scope]
        for key in ("new", "lost", "abnormal", "shortfalls"):
            report[key] = [r for r in report[key] if r["office"] in scope]
        report["totals"] = {k: sum(o[k] for o in report["offices"]) for k in
                            ("customers", "new", "lost", "abnormal", "shortfalls", "orders_usd", "previous_orders_usd")}
    report["regions"] = regions_of(report["offices"])
    return report
