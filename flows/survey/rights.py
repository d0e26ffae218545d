"""Who may record, attempt or cancel a survey callback — one predicate, asked by the flow's actions
(inside the step) and by `flows.survey.service.allowed_actions` (what the instance page offers)."""

from __future__ import annotations

from typing import Any

from engine.auth import Principal

# The data key naming who owes the callback, per flow.
CALLER_KEY = {"project_callback": "owner", "activity_callback": "inviter"}


def calls_back(who: Principal, flow: str, data: dict[str, Any]) -> bool:
    """The person who owes the callback, the supervisors above them, sales management, customer care."""
    named = data.get(CALLER_KEY.get(flow, ""))
    return who.is_engine or who.covers(named) or who.is_sales_management or who.has_role("customer_care")
