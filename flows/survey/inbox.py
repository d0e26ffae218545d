"""Survey items of the my-work inbox (我的待办): project and activity callbacks I have to make."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.auth import Principal
from engine.inbox import Assignment, InboxItem, assigned_items, inbox_provider
from engine.instances import Concerned, concerned

ASSIGNMENTS = (
    Assignment("project_callback", ("pending", "escalated"), "callback", who=("owner",), due="due_at",
               label=("project_name", "customer_name")),
    Assignment("activity_callback", ("pending", "overdue", "escalated"), "callback", who=("inviter",), due="due_at",
               label=("activity_title", "activity")),
)

# Who may read an instance (engine/instances.py): the caller and their chain, and customer care.
concerned(
    Concerned("project_callback", people=("owner", "supervisor"), roles=("customer_care",),
              service="flows.survey.service"),
    Concerned("activity_callback", people=("inviter", "supervisor"), roles=("customer_care",),
              service="flows.survey.service"),
)


@inbox_provider("survey")
def survey_items(rt: Any, p: Principal, now: datetime) -> list[InboxItem]:
    return assigned_items(rt, p, ASSIGNMENTS)
