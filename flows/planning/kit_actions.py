"""Guards and actions of the planning-kit flow (flows/planning/planning_kit.yaml).

They run inside the step's one transaction and write only through `ctx.tx`. The reminder, overdue
and escalation timers are declared `once: true` in the flow, so re-entering a state after a send-back
does not arm (and repeat) one that already went out; the outbox dedupe key guards the mail besides.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from engine.channels.invite import Invite
from engine.clock import to_us
from engine.errors import ActionNotPermitted
from engine.registry import action, guard
from flows.planning import rights
from engine import i18n
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


# The assessment's recorded fields, in the order a new revision is compared with the last one.
_ASSESSMENT_FIELDS = tuple(f for d in DIMENSIONS for f in (d, f"{d}_evidence")) + ("support_us", "competitor_support")
_LAST_ASSESSMENT = (f"SELECT {', '.join(_ASSESSMENT_FIELDS)}, revision FROM contact_assessment "
                    "WHERE contact_code = :c AND year = :y ORDER BY revision DESC LIMIT 1")


def record_assessments(ctx: Any, rows: list[dict[str, Any]], year: int, *, source: str) -> int:
    """Add a revision of each contact's assessment for `year` (an identical one adds nothing)."""
    recorded = 0
    for r in rows:
        values: dict[str, Any] = {}
        for d in DIMENSIONS:
            values[d] = r["scores"].get(d)
            values[f"{d}_evidence"] = r["evidence"].get(d)
        values["support_us"] = r.get("support_us")
        values["competitor_support"] = json.dumps(r.get("competitor_support") or {}, ensure_ascii=False, sort_keys=True)
        prev = ctx.tx.one(_LAST_ASSESSMENT, {"c": r["contact_code"], "y": year})
        if prev is not None and all(prev[i] == values[k] for i, k in enumerate(_ASSESSMENT_FIELDS)):
            continue
        revision = (prev[-1] + 1) if prev is not None else 1
        # Plain statements with cached text (`Tx.insert_row`): a SQLAlchemy compile per row cost more than the row.
        ctx.tx.insert_row("contact_assessment", {
            "contact_code": r["contact_code"], "year": year, "revision": revision, **values, "assessor_emp_no": None,
            "actor": ctx.actor, "source": source, "recorded_us": to_us(ctx.now)})
        _audit(ctx, "insert" if revision == 1 else "update", "assessment", f"{r['contact_code']}/{year}",
               {"revision": revision, "source": source})
        recorded += 1
    return recorded


def _audit(ctx: Any, action_name: str, entity: str, key: str, detail: dict[str, Any]) -> None:
    ctx.tx.insert_row("masterdata_audit", {
        "at_us": to_us(ctx.now), "actor": ctx.actor, "action": action_name, "entity": entity, "entity_key": key,
        "allowed": True, "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True)})


def _d(value: Any) -> str | None:
    """A date column's value: the ISO day (what SQLite stores for a DATE, and PostgreSQL reads as one)."""
    return date.fromisoformat(value).isoformat() if value else None


def write_objectives(ctx: Any, rows: list[dict[str, Any]], team: str, year: int, sub_id: int) -> None:
    ctx.tx.execute("UPDATE planning_objective SET superseded_by = :s "
                   "WHERE team_code = :t AND year = :y AND superseded_by IS NULL", {"s": sub_id, "t": team, "y": year})
    ctx.tx.many("INSERT INTO planning_objective (submission_id, team_code, year, customer_code, market_target, "
                "relationship_target, target_count, target_level, owner_emp_no, due_date, sheet_row) VALUES "
                "(:s, :t, :y, :customer_code, :market_target, :relationship_target, :target_count, :target_level, "
                ":owner, :due_date, :row)",
                [{"s": sub_id, "t": team, "y": year, "customer_code": r["customer_code"],
                  "market_target": r.get("market_target"), "relationship_target": r["relationship_target"],
                  "target_count": r.get("target_count"), "target_level": r.get("target_level"),
                  "owner": r.get("owner"), "due_date": _d(r.get("due_date")), "row": r["row"]} for r in rows])


def write_activities(ctx: Any, rows: list[dict[str, Any]], team: str, year: int, sub_id: int) -> int:
    ctx.tx.execute("UPDATE planning_activity SET superseded_by = :s "
                   "WHERE team_code = :t AND year = :y AND superseded_by IS NULL", {"s": sub_id, "t": team, "y": year})
    ctx.tx.many("INSERT INTO planning_activity (submission_id, team_code, year, customer_code, project_code, "
                "activity_type, title, planned_date, budget, contact_codes, owner_emp_no, sheet_row) VALUES "
                "(:s, :t, :y, :customer_code, :project_code, :activity_type, :title, :planned_date, :budget, "
                ":contacts, :owner, :row)",
                [{"s": sub_id, "t": team, "y": year, "customer_code": r["customer_code"],
                  "project_code": r["project_code"], "activity_type": r["activity_type"], "title": r["title"],
                  "planned_date": _d(r["planned_date"]), "budget": int(r["budget"]),
                  "contacts": json.dumps(r.get("contacts") or [], ensure_ascii=False), "owner": r.get("owner"),
                  "row": r["row"]} for r in rows])
    return sum(int(r["budget"]) for r in rows)


def current_budget(ctx: Any, team: str, year: int) -> int:
    row = ctx.tx.one("SELECT COALESCE(SUM(budget), 0) FROM planning_activity "
                     "WHERE team_code = :t AND year = :y AND superseded_by IS NULL", {"t": team, "y": year})
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
    # The deadline as a calendar entry (.ics): one UID per kit, so each reminder updates the same entry.
    deadline = ctx.data.get("deadline_at")
    invite = Invite.due_by(f"kit-deadline:{ctx.instance_id}", datetime.fromisoformat(deadline), minutes=60,
                           summary=i18n.t("engine.notify.invite.kit_deadline", ctx.locale, team=ctx.data.get("team", ""),
                                          year=ctx.data.get("year", ""))) if deadline else None
    ctx.mail("kit_reminder", _team_mail(ctx), dedupe_key=f"{ctx.instance_id}:kit_reminder:{name}", days=days,
             invite=invite)


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
