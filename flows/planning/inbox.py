"""Planning and care items of the my-work inbox (我的待办): kit steps of my team, self-checks, card
reviews, reviews and evaluations, tier reviews, handovers, and the care reminders of the last week.

Open instances are read through the (flow, state) index; care reminders through their day index.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from engine.auth import Principal
from engine.i18n import label
from engine.inbox import Assignment, InboxItem, assigned_items, inbox_provider
from engine.instances import Concerned, concerned

ASSIGNMENTS = (
    Assignment("planning_kit", ("issued", "assessment_submitted", "objectives_submitted", "plan_submitted"), "kit",
               who=("supervisor",), team="team", due="deadline_at", label=("team_name", "year")),
    Assignment("planning_kit", ("supervisor_review",), "kit", who=("supervisor",), label=("team_name", "year")),
    Assignment("self_check", ("open", "overdue"), "self_check", who=("emp",), due="due_at", label=("emp_name",)),
    Assignment("card_review", ("open", "overdue"), "card_review", who=("emp",), due="due_at", label=("emp_name",)),
    Assignment("card_review", ("awaiting_supervisor",), "card_review", who=("supervisor",), label=("emp_name",)),
    Assignment("half_year_review", ("open", "overdue"), "review", who=("supervisor",), due="due_at",
               label=("team_name",)),
    Assignment("annual_evaluation", ("open", "overdue"), "review", who=("supervisor",), due="due_at",
               label=("team_name",)),
    Assignment("annual_evaluation", ("submitted",), "review", who=("boss",), label=("team_name",)),
    Assignment("tier_review", ("open", "overdue"), "tier_review", who=("owner",), due="due_at",
               label=("customer_name", "customer")),
    Assignment("tier_review", ("proposed",), "tier_review", who=("supervisor",), label=("customer_name", "customer")),
    Assignment("handover", ("awaiting_introduction",), "handover", who=("from_owner", "from_supervisor"),
               label=("contact_name", "to_name")),
)

# Who may read an instance (engine/instances.py): the people and teams its data names, and their chains.
SERVICE = "flows.planning.service"
concerned(
    Concerned("planning_kit", people=("supervisor",), units=("team",), service=SERVICE),
    Concerned("self_check", people=("emp", "supervisor"), service=SERVICE),
    Concerned("card_review", people=("emp", "supervisor"), service=SERVICE),
    Concerned("half_year_review", people=("supervisor", "boss"), units=("team",), service=SERVICE),
    Concerned("annual_evaluation", people=("supervisor", "boss"), units=("team",), service=SERVICE),
    Concerned("tier_review", people=("owner", "supervisor"), service=SERVICE),
    Concerned("win_rate_alert", units=("office",), service=SERVICE),
    Concerned("handover", people=("from_owner", "from_supervisor", "to_owner"), service=SERVICE),
    Concerned("care_digest", people=("emp",), service=SERVICE),
)

CARE_DAYS = 7  # care reminders stay in the inbox for a week after their digest


@inbox_provider("planning")
def planning_items(rt: Any, p: Principal, now: datetime) -> list[InboxItem]:
    items = assigned_items(rt, p, ASSIGNMENTS)
    since = (now - timedelta(days=CARE_DAYS)).date()
    with rt.db.read() as tx:
        rows = tx.all("SELECT id, kind, item_key, digest_day, digest_instance_id FROM care_reminder "
                      "WHERE digest_day >= :since AND recipient_emp_no = :me ORDER BY digest_day, id",
                      {"since": since.isoformat(), "me": p.emp_no})
        # The digest (one per person and day) holds each item's names: read those few by primary key.
        digests = {d: _items(tx, d) for d in {r[4] for r in rows if r[4] is not None}}
    for _rid, kind, key, day, digest in rows:
        item = digests.get(digest, {}).get(key, {})
        names = " ".join(str(item[k]) for k in ("customer_name", "contact_name", "title") if item.get(k))
        items.append(InboxItem(kind="care", title=f"{label('web.care', kind, p.locale)} · {names or key}",
                               flow="care_digest", instance_id=digest, state="sent", due=None,
                               link=(f"/care/visit/{item['contact']}" if kind == "visit" else f"/contacts/{item['contact']}")
                               if item.get("contact") else "/care",
                               detail=str(item.get("day") or day)))
    return items


def _items(tx: Any, digest_id: int) -> dict[str, dict[str, Any]]:
    row = tx.one("SELECT data FROM flow_instance WHERE id = :i", {"i": digest_id})
    data = json.loads(row[0]) if row and isinstance(row[0], str) else (row[0] if row else {}) or {}
    return {str(i.get("key")): i for i in data.get("items") or [] if isinstance(i, dict)}
