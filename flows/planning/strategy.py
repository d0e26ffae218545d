"""Customer strategy review (客户策略审视, SPEC §4, §7, §8): the periodic tier re-evaluation of each
customer — yearly by default, half-yearly or quarterly for the industries rules/planning.yaml names —
and the win-rate watch of general (C) customers, whose drop beyond the configured points (default
10, e.g. 40 % → 30 %) raises an alert to the office.

Tier review: one instance per customer and period (`tier-review:C001:2027-Q1`); the owner proposes
(keep or change, with a reason), sales management or a supervisor above the owner decides; an
approved change is applied to the customer with a `customer_tier_change` row and an audit row.
Win-rate alert: one instance per customer and period (`winrate:C005:2027-Q2`), so a period's drop
alerts once, whoever records or re-checks it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from engine.auth.principal import Principal
from engine.batch import BatchRunner, DirectRunner, start_each, started_text
from engine.clock import to_us
from engine.errors import ActionNotPermitted, MCRError
from engine.masterdata import service
from engine.masterdata.models import AuditEntry, Customer, TierChange
from engine.registry import action, launcher
from engine.masterdata.read import MasterData
from flows.planning import rights
from flows.planning.common import start_and_kick
from flows.planning.dates import previous_period, quarter_of
from engine import i18n
from flows.planning.models import WinRate
from flows.planning.rules import PlanningRules, load_planning_rules
from flows.planning.rhythm import _check_data
from flows.planning.rules import tier_rules as load_tier_rules

_PERIOD = re.compile(r"^\d{4}(-(Q[1-4]|H[12]|(0[1-9]|1[0-2])))?$")


def review_due(cadence: str, quarter: int, review_quarter: int) -> bool:
    """Is a customer with this cadence reviewed in `quarter`?"""
    if cadence == "quarterly":
        return True
    if cadence == "half_yearly":
        return quarter in (review_quarter, (review_quarter + 1) % 4 + 1)
    return quarter == review_quarter


def customers_due_review(session: Session, quarter: int, rules: PlanningRules) -> list[Customer]:
    s = rules.strategy
    out = []
    for c in session.exec(select(Customer).order_by(col(Customer.code))):
        cadence = s.industry_cadence.get(c.industry or "", s.default_cadence)
        if review_due(cadence, quarter, s.review_quarter):
            out.append(c)
    return out


def start_tier_reviews(runtime: Any, at: datetime, *, rules: PlanningRules | None = None,
                       actor: str = "system", runner: BatchRunner | None = None) -> list[int]:
    rules = rules or load_planning_rules()
    tz = runtime.calendars.get(None).tz
    local = at.astimezone(tz).date()
    period = f"{local.year}-Q{quarter_of(local)}"
    with runtime.db.session() as session:
        plans = []
        for c in customers_due_review(session, quarter_of(local), rules):
            owner = MasterData.of_session(session).person(c.owner_emp_no)
            sup = MasterData.of_session(session).supervisor(c.owner_emp_no)
            cal = service.calendar_of(session, c.office_code)
            plans.append((c, owner, sup, cal, MasterData.of_session(session).sales_management()))

    def start(record: tuple[Any, ...]) -> tuple[int, bool]:
        c, owner, sup, cal, sales = record
        cadence = rules.strategy.industry_cadence.get(c.industry or "", rules.strategy.default_cadence)
        data = {"customer": c.code, "customer_name": c.name, "industry": c.industry, "tier": c.tier,
                "cadence": cadence, "period": period, "owner": c.owner_emp_no,
                "emp_name": owner.name if owner else c.owner_emp_no, "email": owner.email if owner else None,
                "supervisor": sup.emp_no if sup else None, "supervisor_email": sup.email if sup else None,
                "sales_management": sales, "locale": owner.locale if owner else "zh-CN",
                **_check_data(runtime, at, rules.strategy.review, cal)}
        return start_and_kick(runtime, "tier_review", data, subject=f"tier-review:{c.code}:{period}",
                              event="open", actor=actor, calendar=cal)
    return start_each(runner, "tier-review", plans, start, key=lambda r: r[0].code)


@launcher("launch_tier_reviews")
def launch_tier_reviews(ctx: Any) -> int:
    return len(start_tier_reviews(ctx.runtime, ctx.occurrence, runner=ctx.runner))


@action("propose_tier")
def propose_tier(ctx: Any) -> None:
    """The owner proposes the customer's tier for the coming period (the same tier = keep), with a reason."""
    from flows.planning.rhythm import _require_actor

    _require_actor(ctx, ctx.data.get("owner"), ctx.data.get("supervisor"))
    from engine.masterdata.tiers import TierRules

    tier = ctx.rules.get("tiers.yaml", TierRules).normalise(str(ctx.payload.get("tier") or ""))
    if tier is None:
        ctx.refuse(i18n.t("planning.bad_tier", value=ctx.payload.get("tier")))
    reason = str(ctx.payload.get("reason") or "").strip()
    if not reason:
        ctx.refuse(i18n.t("planning.revision_needs_reason"))
    ctx.data.update(proposed_tier=tier, reason=reason, proposed_by=ctx.actor, proposed_at=ctx.now.isoformat())
    to = ctx.data.get("sales_management") or ([ctx.data["supervisor_email"]] if ctx.data.get("supervisor_email") else [])
    ctx.mail("tier_proposed", to, dedupe_key=f"{ctx.instance_id}:tier_proposed:{ctx.now.isoformat()}")


@action("decide_tier")
def decide_tier(ctx: Any, approve: bool = True) -> None:
    """Sales management (or the owner's supervisor) decides; an approved change is applied at once."""
    # A tier change: sales management or the owner's supervisor chain (as `change_tier`), never the owner.
    if not rights.decides_tier(ctx.who(), ctx.data):
        ctx.refuse(i18n.t("planning.not_allowed_actor", actor=ctx.actor, allowed=ctx.data.get("supervisor") or "-"),
                   ActionNotPermitted)
    ctx.data.update(decided_by=ctx.actor, decided_at=ctx.now.isoformat(), approved=approve,
                    decision_comment=ctx.payload.get("comment") or "")
    if not approve:
        return
    new, old = ctx.data["proposed_tier"], None
    cust = MasterData(ctx.tx).customer(ctx.data["customer"])
    old = cust.tier if cust else None
    if cust is not None and old != new:
        t = Customer.__table__
        ctx.tx.run(update(t).where(t.c.code == ctx.data["customer"]).values(tier=new))
        reason = f"tier review #{ctx.instance_id}: {ctx.data.get('reason')}"
        ctx.tx.run(insert(TierChange.__table__).values(customer_code=ctx.data["customer"], from_tier=old, to_tier=new,
                                                       actor=ctx.actor, at_us=to_us(ctx.now), reason=reason))
        ctx.tx.run(insert(AuditEntry.__table__).values(
            at_us=to_us(ctx.now), actor=ctx.actor, action="tier_change", entity="customer",
            entity_key=ctx.data["customer"], allowed=True,
            detail=json.dumps({"changed": {"tier": [old, new]}, "reason": reason}, ensure_ascii=False, sort_keys=True)))
    ctx.data["tier_before"], ctx.data["tier_after"] = old, new
    if ctx.data.get("email"):
        ctx.mail("tier_decided", ctx.data["email"], dedupe_key=f"{ctx.instance_id}:tier_decided")


# ============================================================================================ win rate


def _drop_points(rules: PlanningRules) -> float:
    if rules.strategy.win_rate_drop_points is not None:
        return float(rules.strategy.win_rate_drop_points)
    return float(load_tier_rules().policy("C").win_rate_drop_alert_points or 10)


def record_win_rate(runtime: Any, customer: str, period: str, *, principal: Principal, rate: Optional[float] = None,
                    bids: Optional[int] = None, wins: Optional[int] = None) -> dict[str, Any]:
    """Record a customer's win rate for a period (from `rate`, or `wins`/`bids`) and check it at once."""
    if not _PERIOD.match(period):
        raise MCRError(i18n.t("planning.bad_period", value=period))
    if rate is None and bids:
        rate = 100.0 * (wins or 0) / bids
    if rate is None or not 0 <= rate <= 100:
        raise MCRError(i18n.t("planning.bad_rate"))
    with runtime.db.session() as session:
        if session.exec(select(Customer).where(Customer.code == customer)).first() is None:
            raise MCRError(i18n.t("planning.unknown_customer_cli", value=customer))
        row = session.exec(select(WinRate).where(WinRate.customer_code == customer, WinRate.period == period)).first()
        now = to_us(runtime.clock.now())
        actor = principal.actor
        if row is None:
            session.add(WinRate(customer_code=customer, period=period, rate_pct=round(rate, 2), bids=bids, wins=wins,
                                actor=actor, at_us=now))
        else:
            row.rate_pct, row.bids, row.wins, row.actor, row.at_us = round(rate, 2), bids, wins, actor, now
            session.add(row)
        session.commit()
    alert = check_win_rate(runtime, customer, actor=actor)
    return {"customer": customer, "period": period, "rate": round(rate, 2), "alert": alert,
            "message": i18n.t("planning.win_rate_recorded", customer=customer, period=period, rate=round(rate, 2))}


def check_win_rate(runtime: Any, customer: str, *, actor: str = "system",
                   rules: PlanningRules | None = None) -> Optional[int]:
    """Compare the customer's latest period with the one before; a drop beyond the threshold on a
    watched tier (C by default, rules/tiers.yaml win_rate_monitored) raises ONE alert per period."""
    rules = rules or load_planning_rules()
    tiers = load_tier_rules()
    with runtime.db.session() as session:
        cust = session.exec(select(Customer).where(Customer.code == customer)).first()
        if cust is None or not tiers.policy(cust.tier).win_rate_monitored:
            return None
        rates = {r.period: r.rate_pct for r in session.exec(select(WinRate).where(WinRate.customer_code == customer))}
        if not rates:
            return None
        latest = max(rates)
        prev = rates.get(previous_period(latest))
        if prev is None or prev - rates[latest] < _drop_points(rules) - 1e-9:
            return None
        heads = MasterData.of_session(session).heads(cust.office_code)
        owner = MasterData.of_session(session).person(cust.owner_emp_no)
        to = sorted({h.email for h in heads} | ({owner.email} if owner else set())) or \
            MasterData.of_session(session).sales_management()
        office = service.get_unit(session, cust.office_code)
        data = {"customer": customer, "customer_name": cust.name, "office": cust.office_code,
                "office_name": office.name, "period": latest, "previous_period": previous_period(latest),
                "rate": rates[latest], "previous_rate": prev, "drop": round(prev - rates[latest], 2),
                "threshold": _drop_points(rules), "notify": to, "locale": heads[0].locale if heads else "zh-CN"}
    iid, _ = start_and_kick(runtime, "win_rate_alert", data, subject=f"winrate:{customer}:{latest}", event="raise",
                            actor=actor)
    return iid


def watch_win_rates(runtime: Any, *, actor: str = "system", runner: BatchRunner | None = None) -> list[int]:
    tiers = load_tier_rules()
    watched = [code for code in ("S", "A", "B", "C") if tiers.policy(code).win_rate_monitored]
    with runtime.db.session() as session:
        # Only customers with a win rate recorded: the others have nothing to compare (check_win_rate
        # would open a session and read two tables to find that out, customer by customer, weekly).
        codes = list(session.exec(select(Customer.code).where(col(Customer.tier).in_(watched),
                                                              col(Customer.code).in_(select(WinRate.customer_code)))))
    batch = (runner or DirectRunner()).each(
        "win-rate", codes, lambda code: check_win_rate(runtime, code, actor=actor),
        describe=lambda iid: i18n.t("engine.batch.nothing_new") if iid is None else started_text((iid, True)))
    batch.raise_failures()
    return [iid for iid in batch.results if iid is not None]


@launcher("watch_win_rates")
def watch_win_rates_launcher(ctx: Any) -> int:
    return len(watch_win_rates(ctx.runtime, runner=ctx.runner))


@action("raise_win_rate_alert")
def raise_win_rate_alert(ctx: Any) -> None:
    ctx.mail("win_rate_alert", ctx.data.get("notify") or [], dedupe_key=f"winrate:{ctx.data['customer']}:"
                                                                      f"{ctx.data['period']}")


@action("acknowledge_alert")
def acknowledge_alert(ctx: Any) -> None:
    if not rights.acknowledges(ctx.who(), MasterData(ctx.tx).person(ctx.emp_no) is not None):
        ctx.refuse(i18n.t("planning.not_employee_actor", value=ctx.actor), ActionNotPermitted)
    ctx.data.update(acknowledged_by=ctx.actor, acknowledged_at=ctx.now.isoformat(),
                    measures=ctx.payload.get("note") or "")
