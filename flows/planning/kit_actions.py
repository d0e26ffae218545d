"""Guards and actions of the planning-kit flow (flows/planning/planning_kit.yaml).

They run inside the step's one transaction and write only through `ctx.tx`. The reminder, overdue
and escalation timers are declared `once: true` in the flow, so re-entering a state after a send-back
does not arm (and repeat) one that already went out; the outbox dedupe key guards the mail besides.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import insert, select, update

from engine.clock import to_us
from engine.errors import ActionNotPermitted
from engine.masterdata.models import Assessment, AuditEntry
from engine.registry import action, guard
from flows.planning import rights
from engine import i18n
from flows.planning.models import PlanActivity, PlanObjective
from flows.planning.workbook import DIMENSIONS

STEP_STATES = {"assessment": "issued", "objectives": "assessment_submitted", "plan": "objectives_submitted"}


def _team_mail(ctx: Any) -> list[str]:
    people = list(ctx.data.get("team_emails") or [])
    sup = ctx.data.get("supervisor_email")
    return people or ([sup] if sup else [])


def _insert_id(ctx: Any, sql: str, params: dict[str, Any]) -> int:
    return int(ctx.tx.one(sql + " RETURNING id", params)[0])


# ---------------------------------------------------------------------------------------------- issue


@action("announce_kit")
def announce_kit(ctx: Any) -> None:
    """Mail the kit (path and link) to the team and its supervisor."""
    to = sorted(set(_team_mail(ctx)) | ({ctx.data["supervisor_email"]} if ctx.data.get("supervisor_email") else set()))
    ctx.mail("kit_issued", to, dedupe_key=f"{ctx.instance_id}:kit_issued")
    ctx.data["issued_at"] = ctx.now.isoformat()


# ---------------------------------------------------------------------------------------------- submissions


@action("record_section")
def record_section(ctx: Any, section: str) -> None:
    """Record one accepted section of the workbook (rows validated by `mcr planning submit`)."""
    check_team(ctx)
    rows = ctx.payload.get("rows") or []
    if not rows:
        from flows.planning.workbook import ASSESSMENT_SHEET, OBJECTIVES_SHEET, PLAN_SHEET

        sheet = {"assessment": ASSESSMENT_SHEET, "objectives": OBJECTIVES_SHEET, "plan": PLAN_SHEET}[section]
        ctx.refuse(i18n.t("planning.kit_missing_section", sheet=sheet))
    team, year, now_us = ctx.data["team"], int(ctx.data["year"]), to_us(ctx.now)
    sub_id = _insert_id(ctx, "INSERT INTO planning_submission (kit_instance_id, team_code, year, file, sections, "
                             "revision, actor, at_us) VALUES (:i, :t, :y, :f, :s, 0, :a, :now)",
                        {"i": ctx.instance_id, "t": team, "y": year, "f": str(ctx.payload.get("file") or ""),
                         "s": section, "a": ctx.actor, "now": now_us})
    info: dict[str, Any] = {"submission": sub_id, "rows": len(rows), "at": ctx.now.isoformat(), "by": ctx.actor,
                            "file": ctx.payload.get("file")}
    if section == "assessment":
        info["recorded"] = record_assessments(ctx, rows, year, source=f"planning-kit #{ctx.instance_id}")
    elif section == "objectives":
        write_objectives(ctx, rows, team, year, sub_id)
    else:
        info["budget"] = write_activities(ctx, rows, team, year, sub_id)
    ctx.data.setdefault("sections", {})[section] = info
    ctx.data["submissions"] = int(ctx.data.get("submissions") or 0) + 1


def record_assessments(ctx: Any, rows: list[dict[str, Any]], year: int, *, source: str) -> int:
    """Add a revision of each contact's assessment for `year` (an identical one adds nothing)."""
    t = Assessment.__table__
    recorded = 0
    for r in rows:
        values: dict[str, Any] = {}
        for d in DIMENSIONS:
            values[d] = r["scores"].get(d)
            values[f"{d}_evidence"] = r["evidence"].get(d)
        values["support_us"] = r.get("support_us")
        values["competitor_support"] = json.dumps(r.get("competitor_support") or {}, ensure_ascii=False, sort_keys=True)
        cols = [t.c[k] for k in values] + [t.c.revision]
        prev = ctx.tx.run(select(*cols).where(t.c.contact_code == r["contact_code"], t.c.year == year)
                          .order_by(t.c.revision.desc()).limit(1)).fetchone()
        if prev is not None and all(prev[i] == v for i, v in enumerate(values.values())):
            continue
        revision = (prev[-1] + 1) if prev is not None else 1
        ctx.tx.run(insert(t).values(contact_code=r["contact_code"], year=year, revision=revision, actor=ctx.actor,
                                    source=source, recorded_us=to_us(ctx.now),
                                    assessor_emp_no=None, **values))
        _audit(ctx, "insert" if revision == 1 else "update", "assessment", f"{r['contact_code']}/{year}",
               {"revision": revision, "source": source})
        recorded += 1
    return recorded


def _audit(ctx: Any, action_name: str, entity: str, key: str, detail: dict[str, Any]) -> None:
    ctx.tx.run(insert(AuditEntry.__table__).values(
        at_us=to_us(ctx.now), actor=ctx.actor, action=action_name, entity=entity, entity_key=key, allowed=True,
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True)))


def _d(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def write_objectives(ctx: Any, rows: list[dict[str, Any]], team: str, year: int, sub_id: int) -> None:
    t = PlanObjective.__table__
    ctx.tx.run(update(t).where(t.c.team_code == team, t.c.year == year, t.c.superseded_by.is_(None))
               .values(superseded_by=sub_id))
    for r in rows:
        ctx.tx.run(insert(t).values(submission_id=sub_id, team_code=team, year=year, customer_code=r["customer_code"],
                                    market_target=r.get("market_target"), relationship_target=r["relationship_target"],
                                    target_count=r.get("target_count"), target_level=r.get("target_level"),
                                    owner_emp_no=r.get("owner"), due_date=_d(r.get("due_date")), sheet_row=r["row"]))


def write_activities(ctx: Any, rows: list[dict[str, Any]], team: str, year: int, sub_id: int) -> int:
    t = PlanActivity.__table__
    ctx.tx.run(update(t).where(t.c.team_code == team, t.c.year == year, t.c.superseded_by.is_(None))
               .values(superseded_by=sub_id))
    total = 0
    for r in rows:
        ctx.tx.run(insert(t).values(submission_id=sub_id, team_code=team, year=year, customer_code=r["customer_code"],
                                    project_code=r["project_code"], activity_type=r["activity_type"], title=r["title"],
                                    planned_date=_d(r["planned_date"]), budget=int(r["budget"]),
                                    contact_codes=json.dumps(r.get("contacts") or [], ensure_ascii=False),
                                    owner_emp_no=r.get("owner"), sheet_row=r["row"]))
        total += int(r["budget"])
    return total


def current_budget(ctx: Any, team: str, year: int) -> int:
    t = PlanActivity.__table__
    from sqlalchemy import func

    row = ctx.tx.run(select(func.coalesce(func.sum(t.c.budget), 0)).where(
        t.c.team_code == team, t.c.year == year, t.c.superseded_by.is_(None))).fetchone()
    return int(row[0] or 0)


# ---------------------------------------------------------------------------------------------- review


@action("request_review")
def request_review(ctx: Any) -> None:
    check_team(ctx)
    ctx.data["budget"] = current_budget(ctx, ctx.data["team"], int(ctx.data["year"]))
    ctx.data["reviews"] = int(ctx.data.get("reviews") or 0) + 1
    if ctx.data.get("supervisor_email"):
        ctx.mail("kit_review", ctx.data["supervisor_email"],
                 dedupe_key=f"{ctx.instance_id}:kit_review:{ctx.data['reviews']}")


def _check_reviewer(ctx: Any) -> None:
    if not rights.reviews_kit(ctx.who(), ctx.data):
        ctx.refuse(i18n.t("planning.not_reviewer", actor=ctx.actor, team=ctx.data["team"], reviewer=ctx.data.get("supervisor") or "-"),
                   ActionNotPermitted)


def team_members(tx: Any, team: str) -> set[str]:
    return {r[0] for r in tx.all("SELECT emp_no FROM employee WHERE unit_code = :u", {"u": team})}


def check_team(ctx: Any) -> None:
    team = ctx.data["team"]
    if not rights.in_team(ctx.who(), team, team_members(ctx.tx, team)):
        ctx.refuse(i18n.t("planning.not_team", actor=ctx.actor, team=team), ActionNotPermitted)


@action("approve_kit")
def approve_kit(ctx: Any) -> None:
    _check_reviewer(ctx)
    ctx.data["approved_at"] = ctx.now.isoformat()
    ctx.data["approved_by"] = ctx.actor
    ctx.data["review_comment"] = ctx.payload.get("comment") or ""
    ctx.mail("kit_approved", _team_mail(ctx), dedupe_key=f"{ctx.instance_id}:kit_approved")


@guard("back_to_assessment")
def back_to_assessment(ctx: Any) -> bool:
    return ctx.payload.get("step") == "assessment"


@guard("back_to_objectives")
def back_to_objectives(ctx: Any) -> bool:
    return ctx.payload.get("step") == "objectives"


@action("send_back")
def send_back(ctx: Any) -> None:
    """Back to the step the supervisor names, with comments; sections from that step on are redone."""
    step = ctx.payload.get("step")
    if step not in STEP_STATES:
        ctx.refuse(i18n.t("planning.send_back_step", value=step or ""))
    if not str(ctx.payload.get("comment") or "").strip():
        ctx.refuse(i18n.t("planning.comment_required"))
    _check_reviewer(ctx)
    n = int(ctx.data.get("sent_back") or 0) + 1
    ctx.data["sent_back"] = n
    back = {"step": step, "comment": ctx.payload["comment"], "by": ctx.actor, "at": ctx.now.isoformat()}
    if isinstance(ctx.payload.get("comments"), dict):  # the kit page's comments per section
        back["comments"] = {str(k): str(v) for k, v in ctx.payload["comments"].items()}
    ctx.data.setdefault("send_backs", []).append(back)
    ctx.mail("kit_sent_back", _team_mail(ctx), dedupe_key=f"{ctx.instance_id}:kit_sent_back:{n}",
             step=step, comment=ctx.payload["comment"])


# ---------------------------------------------------------------------------------------------- deadline


@action("kit_reminder")
def kit_reminder(ctx: Any) -> None:
    name = str(ctx.payload.get("timer") or "")
    days = ctx.payload.get("item")  # the rules item the reminder was armed for: days before the deadline
    ctx.data.setdefault("reminded", []).append(name)
    ctx.mail("kit_reminder", _team_mail(ctx), dedupe_key=f"{ctx.instance_id}:kit_reminder:{name}", days=days)


@action("kit_overdue")
def kit_overdue(ctx: Any) -> None:
    ctx.data["overdue_at"] = ctx.now.isoformat()
    to = ctx.data.get("supervisor_email") or _team_mail(ctx)
    ctx.mail("kit_overdue", to, dedupe_key=f"{ctx.instance_id}:kit_overdue")


@action("kit_escalate")
def kit_escalate(ctx: Any) -> None:
    ctx.data["escalated_at"] = ctx.now.isoformat()
    ctx.mail("kit_escalated", ctx.data.get("sales_management") or [], dedupe_key=f"{ctx.instance_id}:kit_escalated")


@action("review_reminder")
def review_reminder(ctx: Any) -> None:
    if ctx.data.get("supervisor_email"):
        ctx.mail("kit_review_reminder", ctx.data["supervisor_email"],
                 dedupe_key=f"{ctx.instance_id}:kit_review_reminder:{ctx.data.get('reviews')}")
