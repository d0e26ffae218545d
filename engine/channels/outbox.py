"""From the mails a step queued (`ctx.mail`) to outbox rows, one per recipient and channel.

Runs inside the step's transaction (like the rendering it replaces in the runtime): the channels of
each recipient come from the instance's pinned `notify.yaml` (`ctx.rules`) and the master data
(`MasterData(ctx.tx)`: the person behind the address, their unit path). A mail row keeps the queued
dedupe key; a robot row gets `<key>#<robot>`, so a re-queued reminder is a no-op on every channel.
Recipients of one `ctx.mail` call who share a robot get ONE group message addressed to all of them
— a team of eight is not pinged eight times in its own group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from engine.channels import MAIL
from engine.channels.invite import invites_json
from engine.channels.rules import NOTIFY_RULES_FILE, NotifyRules
from engine.clock import to_us
from engine.templates import render, render_markdown

DEFAULT_TZ = "Asia/Shanghai"


@dataclass
class _RobotMessage:
    robot: str
    kind: str
    template: str
    template_dir: str
    locale: str
    context: dict[str, Any]
    dedupe_key: str | None
    addressees: list[str] = field(default_factory=list)


def outbox_rows(ctx: Any, mails: Iterable[Any]) -> list[dict[str, Any]]:
    """The INSERT parameters (engine/sql.py INSERT_OUTBOX_NOTICE) for the step's queued mails."""
    mails = list(mails)
    if not mails:
        return []
    rules: NotifyRules = ctx.rules.get(NOTIFY_RULES_FILE, NotifyRules)
    md = None
    if rules.routes_by_person:
        from engine.masterdata.read import MasterData

        md = MasterData(ctx.tx)
    base = {"data": ctx.data, "payload": ctx.payload, "event": ctx.event, "actor": ctx.actor,
            "instance": {"id": ctx.instance_id, "flow": ctx.flow.name, "state": ctx.target,
                         "title": ctx.flow.defn.title_of(ctx.locale)},
            "now": ctx.now}
    now_us = to_us(ctx.now)
    tz = _org_tz(ctx)
    rows: list[dict[str, Any]] = []
    robot_messages: dict[tuple[int, str, str, str], _RobotMessage] = {}
    routes: dict[str, tuple[list[str], str | None]] = {}  # a team's members recur in one step
    for m in mails:
        if m.recipient not in routes:
            routes[m.recipient] = _route(rules, md, m.recipient)
        channels, name = routes[m.recipient]
        context = {**base, **m.context}
        for channel in channels:
            if channel == MAIL:
                subject, body = render(m.template_dir, m.template, m.locale, context)
                rows.append(_row(ctx, m.dedupe_key, m.template, m.locale, m.recipient, subject, body, now_us,
                                 invite=invites_json(getattr(m, "invites", ()) or (), tz)))
                continue
            # One message per robot for all recipients of the same call (same context object).
            group = (id(m.context), m.template, m.locale, channel)
            msg = robot_messages.get(group)
            if msg is None:
                msg = robot_messages[group] = _RobotMessage(
                    channel, rules.robots[channel].kind, m.template, m.template_dir, m.locale, context,
                    f"{m.dedupe_key}#{channel}" if m.dedupe_key else None)
            msg.addressees.append(name or m.recipient)
    for msg in robot_messages.values():
        to = "、".join(dict.fromkeys(msg.addressees))
        subject, body = render_markdown(msg.template_dir, msg.template, msg.locale, msg.context,
                                        channel=msg.kind, addressee=to)
        rows.append(_row(ctx, msg.dedupe_key, msg.template, msg.locale, to, subject, body, now_us,
                         channel=msg.kind, target=msg.robot))
    return rows


def _row(ctx: Any, dedupe_key: str | None, template: str, locale: str, recipient: str, subject: str, body: str,
         now_us: int, *, channel: str = MAIL, target: str | None = None, invite: str | None = None) -> dict[str, Any]:
    return {"instance_id": ctx.instance_id, "dedupe_key": dedupe_key, "template": template, "locale": locale,
            "recipient": recipient, "subject": subject, "body": body, "now": now_us,
            "channel": channel, "target": target, "invite": invite}


def _route(rules: NotifyRules, md: Any, recipient: str) -> tuple[list[str], str | None]:
    """The recipient's channels and, when known, their name (robot messages address people by name)."""
    if md is None:
        return rules.default, None
    person = md.person_by_email(recipient)
    if person is None:
        # An outside address: no person, no unit — only the mail channel reaches it.
        return [MAIL], None
    path = [u.code for u in reversed(md.unit_path(person.unit_code))]  # own unit first, then upwards
    return rules.channels_for(person.emp_no, path), person.name


def _org_tz(ctx: Any) -> str:
    try:
        tz = ctx.calendar.tz
    except Exception:  # no calendar configured for this instance
        return DEFAULT_TZ
    return getattr(tz, "key", None) or str(tz) or DEFAULT_TZ
