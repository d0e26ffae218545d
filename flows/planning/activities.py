"""The marketing-activity life cycle (品牌/营销活动, flows/planning/marketing_activity.yaml).

An activity planned in master data (`mcr import activities`, the kit's action plan, the API) gets one
flow instance, subject `activity:<code>`, started by the daily launcher or at once by
`track_activity`. The inviter (or their supervisor chain, or sales management) invites, records the
activity as held, submits the summary with its open items (遗留问题) and closes each item; a big
activity (rules/planning.yaml `activities`: by type or budget) cannot close before its summary is in
and every open item is closed. Holding an activity starts the survey's 3-day callback of its invited
contacts through the survey family's public service (no import of another family).

`meeting_list` is the weekly sales meeting's agenda (纳入每周的销售例会跟踪议程): per office, the
activities under way and their open items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Optional

from engine import i18n, plugins
from engine.auth import Principal
from engine.batch import started_text
from engine.errors import ActionNotPermitted, MCRError, NotVisible
from engine.masterdata.read import MasterData
from engine.registry import action, guard, launcher
from flows.planning import rights
from flows.planning.common import find_instance, get_instance, start_and_kick
from flows.planning.rules import PlanningRules, load_planning_rules

FLOW = "marketing_activity"
OPEN_STATES = ("planned", "invited", "held", "summarised", "items_closed")


class UnknownActivity(MCRError):
    """No marketing activity (or no flow for it) by that code."""

    status = 404


def subject_of(code: str) -> str:
    return f"activity:{code}"


# --------------------------------------------------------------------------------------------- start


def _start_data(tx: Any, code: str, rules: PlanningRules, known_calendars: Any) -> dict[str, Any]:
    md = MasterData(tx)
    act = md.activity(code)
    if act is None:
        raise UnknownActivity(i18n.t("planning.activity.unknown", code=code))
    customer = md.customer(act.customer_code)
    inviter = md.person(act.inviter_emp_no)
    boss = md.person(inviter.supervisor_emp_no) if inviter else None
    office = customer.office_code if customer else None
    day = act.activity_date if isinstance(act.activity_date, date) else date.fromisoformat(str(act.activity_date)[:10])
    return {
        "activity": act.code, "title": act.title, "type": act.type, "budget": act.budget,
        "customer": act.customer_code, "customer_name": customer.name if customer else act.customer_code,
        "office": office, "team": customer.team_code if customer else None, "project": act.project_code,
        "date": day.isoformat(), "inviter": act.inviter_emp_no, "inviter_name": inviter.name if inviter else act.inviter_emp_no,
        "inviter_email": inviter.email if inviter else None, "supervisor": boss.emp_no if boss else None,
        "supervisor_email": boss.email if boss else None, "locale": (inviter.locale if inviter else None) or "zh-CN",
        "calendar": md.calendar_of(office, known_calendars),
        "big": rules.activities.is_big(act.type, act.budget), "invitees": md.invitees(code),
        "summary": None, "open_items": [],
    }


def track_activity(rt: Any, code: str, *, principal: Principal) -> int:
    """Start the life cycle of master-data activity `code` (once; a second call returns the same instance)."""
    found = find_instance(rt.db, FLOW, subject_of(code))
    if found is not None:
        return found.id
    with rt.db.read() as tx:
        data = _start_data(tx, code, load_planning_rules(), rt.calendars)
    if not rights.acts_as(principal, data["inviter"]):
        raise NotVisible(i18n.t("planning.activity.not_yours", code=code, actor=principal.actor))
    instance_id, _ = start_and_kick(rt, FLOW, data, subject=subject_of(code), event="open", actor=principal.actor,
                                    calendar=data["calendar"], locale=data["locale"])
    return instance_id


def untracked_activities(tx: Any) -> list[str]:
    """Planned activities without a life-cycle instance yet (an anti-join on the subject's index)."""
    rows = tx.all("SELECT a.code FROM marketing_activity a LEFT JOIN flow_instance f "
                  "ON f.flow = :flow AND f.subject = 'activity:' || a.code "
                  "WHERE f.id IS NULL AND a.status = 'planned' ORDER BY a.activity_date, a.code", {"flow": FLOW})
    return [r[0] for r in rows]


@launcher("sync_marketing_activities")
def sync_marketing_activities(ctx: Any) -> int:
    rt = ctx.runtime
    with rt.db.read() as tx:
        codes = untracked_activities(tx)
    batch = ctx.runner.each("marketing-activity", codes, lambda code: track_activity(rt, code, principal=Principal.engine()),
                            describe=lambda iid: started_text((iid, True)))
    batch.raise_failures()
    return len(batch.results)


# --------------------------------------------------------------------------------------------- the steps


def _require(ctx: Any) -> None:
    """The inviter, the supervisors above them, sales management or the engine; else refused."""
    if not rights.acts_as(ctx.who(), ctx.data.get("inviter")):
        ctx.refuse(i18n.t("planning.activity.not_yours", code=ctx.data.get("activity"), actor=ctx.actor),
                   ActionNotPermitted)


def _rules(ctx: Any) -> PlanningRules:
    return ctx.rules.get("planning.yaml", PlanningRules)  # type: ignore[no-any-return]


def _set_status(ctx: Any, status: str) -> None:
    # Master data keeps the activity's own status (planned / done / cancelled) for everyone who reads it.
    ctx.tx.execute("UPDATE marketing_activity SET status = :s WHERE code = :c",
                   {"s": status, "c": ctx.data["activity"]})


@action("open_activity")
def open_activity(ctx: Any) -> None:
    ctx.data.update(opened_at=ctx.now.isoformat(), big=_rules(ctx).activities.is_big(ctx.data["type"],
                                                                                        ctx.data.get("budget")))


@action("record_invitations")
def record_invitations(ctx: Any) -> None:
    _require(ctx)
    contacts = [c for c in (ctx.payload.get("contacts") or ctx.data.get("invitees") or []) if c]
    if not contacts:
        ctx.refuse(i18n.t("planning.activity.no_invitees", code=ctx.data["activity"]))
    md = MasterData(ctx.tx)
    unknown = [c for c in contacts if md.contact(c) is None]
    if unknown:
        ctx.refuse(i18n.t("planning.activity.unknown_contacts", contacts="、".join(unknown)))
    ctx.data.update(invitees=sorted(set(contacts)), invited_at=ctx.now.isoformat())


@action("record_held")
def record_held(ctx: Any) -> None:
    _require(ctx)
    held_on = str(ctx.payload.get("held_on") or ctx.local_now.date().isoformat())
    try:
        day = date.fromisoformat(held_on)
    except ValueError:
        ctx.refuse(i18n.t("planning.activity.bad_date", field="held_on", value=held_on))
    if day > ctx.local_now.date():
        ctx.refuse(i18n.t("planning.activity.held_in_future", date=held_on))
    ctx.data.update(held_on=held_on, held_at=ctx.now.isoformat())
    _set_status(ctx, "done")


def _items(payload: dict[str, Any]) -> list[str]:
    raw = payload.get("open_items") or []
    if isinstance(raw, str):
        raw = raw.splitlines()
    return [str(item).strip() for item in raw if str(item).strip()]


@guard("no_open_items")
def no_open_items(ctx: Any) -> bool:
    return not _items(ctx.payload)


@action("record_summary")
def record_summary(ctx: Any) -> None:
    """活动总结 and 遗留问题: the summary text is required; each line of open items becomes an item to close."""
    _require(ctx)
    summary = str(ctx.payload.get("summary") or "").strip()
    if not summary:
        ctx.refuse(i18n.t("planning.activity.summary_required", code=ctx.data["activity"]))
    items = _items(ctx.payload)
    ctx.data.update(summary=summary, summarised_at=ctx.now.isoformat(), summarised_by=ctx.actor,
                    open_items=[{"n": i + 1, "text": text, "closed_at": None, "closed_by": None, "resolution": None}
                                for i, text in enumerate(items)])


def _item(ctx: Any) -> dict[str, Any]:
    try:
        n = int(ctx.payload.get("item"))
    except (TypeError, ValueError):
        n = -1
    for item in ctx.data.get("open_items") or []:
        if item["n"] == n:
            return item  # type: ignore[no-any-return]
    ctx.refuse(i18n.t("planning.activity.unknown_item", item=ctx.payload.get("item"), code=ctx.data["activity"]))
    raise AssertionError  # refuse raises


@guard("closes_last_item")
def closes_last_item(ctx: Any) -> bool:
    still_open = [i for i in ctx.data.get("open_items") or [] if not i.get("closed_at")]
    return len(still_open) == 1 and str(still_open[0]["n"]) == str(ctx.payload.get("item"))


@action("close_open_item")
def close_open_item(ctx: Any) -> None:
    _require(ctx)
    item = _item(ctx)
    if item.get("closed_at"):
        ctx.refuse(i18n.t("planning.activity.item_already_closed", item=item["n"]))
    resolution = str(ctx.payload.get("resolution") or "").strip()
    if not resolution:
        ctx.refuse(i18n.t("planning.activity.resolution_required", item=item["n"]))
    item.update(closed_at=ctx.now.isoformat(), closed_by=ctx.actor, resolution=resolution)
    ctx.data["open_items"] = list(ctx.data["open_items"])  # a new list: the step sees data changed


@action("record_closed")
def record_closed(ctx: Any) -> None:
    """A big activity closes only with its summary in and every open item closed (闭环后才能关闭)."""
    _require(ctx)
    code = ctx.data["activity"]
    if ctx.data.get("big") and not ctx.data.get("summary"):
        ctx.refuse(i18n.t("planning.activity.big_needs_summary", code=code))
    still_open = [f"#{i['n']} {i['text']}" for i in ctx.data.get("open_items") or [] if not i.get("closed_at")]
    if still_open:
        ctx.refuse(i18n.t("planning.activity.items_still_open", code=code, items="；".join(still_open)))
    ctx.data.update(closed_at=ctx.now.isoformat(), closed_by=ctx.actor)


@action("record_cancelled")
def record_cancelled(ctx: Any) -> None:
    _require(ctx)
    reason = str(ctx.payload.get("reason") or "").strip()
    if not reason:
        ctx.refuse(i18n.t("planning.activity.reason_required"))
    ctx.data.update(cancelled_at=ctx.now.isoformat(), cancel_reason=reason)
    _set_status(ctx, "cancelled")


@action("remind_summary")
def remind_summary(ctx: Any, template: str) -> None:
    if ctx.data.get("inviter_email"):
        ctx.mail(template, ctx.data["inviter_email"], dedupe_key=f"{ctx.instance_id}:{template}")


@action("escalate_summary")
def escalate_summary(ctx: Any, template: str) -> None:
    to = [e for e in (ctx.data.get("supervisor_email"), ctx.data.get("inviter_email")) if e]
    ctx.data["escalated_at"] = ctx.now.isoformat()
    if to:
        ctx.mail(template, to, dedupe_key=f"{ctx.instance_id}:{template}")


# --------------------------------------------------------------------------------------------- service


def _instance_for(rt: Any, code: str) -> Any:
    found = find_instance(rt.db, FLOW, subject_of(code))
    if found is None:
        raise UnknownActivity(i18n.t("planning.activity.not_tracked", code=code))
    return found


def act(rt: Any, code: str, event: str, *, principal: Principal, payload: Optional[dict[str, Any]] = None,
        client_event_id: Optional[str] = None) -> dict[str, Any]:
    """Take one user step (invite, hold, submit_summary, close_item, close, cancel) on activity `code`.

    Holding an activity of a type the survey calls back starts that callback (survey's public
    `activity_ended`, idempotent): after the step, in its own transaction, so a refusal there never
    undoes the hold; `sync_marketing_activities` is not needed to repair it — calling `act(hold)`
    again is refused by the flow, but `start_callbacks` may be re-run."""
    found = _instance_for(rt, code)
    result = rt.send(found.id, event, actor=principal.actor, payload=payload or {}, client_event_id=client_event_id,
                     principal=principal)
    out: dict[str, Any] = {"instance": found.id, "state": result.to_state}
    if event == "hold":
        out["callbacks"] = start_callbacks(rt, code)
    return out


def start_callbacks(rt: Any, code: str) -> Optional[dict[str, Any]]:
    """The survey family's 3-day activity callback, if installed and the activity's type is called back."""
    ended = plugins.service("survey", "activity_ended")
    if ended is None:
        return None
    found = _instance_for(rt, code)
    try:
        return ended(rt, code, ended_on=date.fromisoformat(found.data.get("held_on") or found.data["date"]))  # type: ignore[no-any-return]
    except MCRError as exc:  # no callback needed for this type / no invitees: said, not an error
        return {"message": str(exc)}


@dataclass
class MeetingLine:
    activity: str
    title: str
    type: str
    customer: str
    inviter: str
    date: str
    state: str
    big: bool
    open_items: list[dict[str, Any]] = field(default_factory=list)
    instance: int = 0


def meeting_list(rt: Any, office: str, *, principal: Principal) -> list[MeetingLine]:
    """The weekly sales meeting's agenda for `office`: activities under way and their open items,
    oldest first. Visible to the office's people and the chain above (Principal.covers)."""
    with rt.db.read() as tx:
        if not sees_office(tx, principal, office):
            raise NotVisible(i18n.t("planning.activity.office_not_visible", office=office, actor=principal.actor))
    marks = ", ".join(f":s{i}" for i in range(len(OPEN_STATES)))
    params: dict[str, Any] = {"flow": FLOW} | {f"s{i}": s for i, s in enumerate(OPEN_STATES)}
    with rt.db.read() as tx:
        rows = tx.all(f"SELECT id, state, data FROM flow_instance WHERE flow = :flow AND state IN ({marks}) ORDER BY id",
                      params)
    lines: list[MeetingLine] = []
    for instance_id, state, raw in rows:
        data = json.loads(raw)
        if data.get("office") != office:
            continue
        lines.append(MeetingLine(activity=data["activity"], title=data["title"], type=data["type"],
                                 customer=data["customer_name"], inviter=data["inviter_name"], date=data["date"],
                                 state=state, big=bool(data.get("big")), instance=instance_id,
                                 open_items=[i for i in data.get("open_items") or [] if not i.get("closed_at")]))
    return sorted(lines, key=lambda line: (line.date, line.activity))


def sees_office(tx: Any, principal: Principal, office: Optional[str]) -> bool:
    """Operators, sales management, the engine, and people in the office or in a unit above it."""
    if principal.is_engine or principal.is_operator or principal.is_sales_management:
        return True
    if not office or not principal.unit_code:
        return False
    md = MasterData(tx)
    above_office = {u.code for u in md.unit_path(office)}
    above_me = {u.code for u in md.unit_path(principal.unit_code)}
    return principal.unit_code in above_office or office in above_me


def activity_view(rt: Any, code: str, *, principal: Principal) -> dict[str, Any]:
    found = _instance_for(rt, code)
    with rt.db.read() as tx:
        visible = rights.acts_as(principal, found.data.get("inviter")) or sees_office(tx, principal, found.data.get("office"))
    if not visible:
        raise NotVisible(i18n.t("planning.activity.not_yours", code=code, actor=principal.actor))
    current = get_instance(rt.db, found.id)
    return {"instance": found.id, "state": current.state if current else found.state, **(current or found).data}
