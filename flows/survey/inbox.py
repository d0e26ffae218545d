"""Survey items of the my-work inbox (我的待办): project and activity callbacks I have to make."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.auth import Principal
from engine.inbox import Assignment, InboxItem, assigned_items, inbox_provider

ASSIGNMENTS = (
    Assignment("project_callback", ("pending", "escalated"), "callback", who=("owner",), due="due_at",
               label=("project_name", "customer_name")),
    Assignment("activity_callback", ("pending", "overdue", "escalated"), "callback", who=("inviter",), due="due_at",
               label=("activity_title", "activity")),
)


@inbox_provider("survey")
def survey_items(rt: Any, p: Principal, now: datetime) -> list[InboxItem]:
    return assigned_items(rt, p, ASSIGNMENTS)
