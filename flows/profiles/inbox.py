"""Profiles items of the my-work inbox (我的待办): a CP/VP to write or to review, a retrospective to do or confirm."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.auth import Principal
from engine.inbox import Assignment, InboxItem, assigned_items, inbox_kinds, inbox_provider
from engine.instances import Concerned, concerned

SERVICE = "flows.profiles.service"

ASSIGNMENTS = (
    Assignment("customer_profile", ("drafting",), "profile", who=("owner", "backup"), team="team", due="deadline_at",
               label=("customer_name", "year")),
    Assignment("vendor_profile", ("drafting",), "profile", who=("owner", "backup"), team="team", due="deadline_at",
               label=("customer_name", "year")),
    Assignment("customer_profile", ("in_review",), "review", who=("reviewer",), label=("customer_name", "year")),
    Assignment("vendor_profile", ("in_review",), "review", who=("reviewer",), label=("customer_name", "year")),
    Assignment("retrospective", ("open", "overdue"), "retrospective", who=("owner",), due="due_at",
               label=("customer_name", "period")),
    Assignment("retrospective", ("submitted",), "retrospective", who=("supervisor",), label=("customer_name", "period")),
)

# "review" (a CP/VP to review) is the engine's own kind; these two are the family's.
inbox_kinds(profile="profiles.inbox.kind.profile", retrospective="profiles.inbox.kind.retrospective")

# Who may read an instance (engine/instances.py): the people named and the chain above them, the team.
concerned(
    Concerned("customer_profile", people=("owner", "backup", "reviewer"), units=("team",), service=SERVICE),
    Concerned("vendor_profile", people=("owner", "backup", "reviewer"), units=("team",), service=SERVICE),
    Concerned("retrospective", people=("owner", "supervisor"), service=SERVICE),
)


@inbox_provider("profiles")
def profiles_items(rt: Any, p: Principal, now: datetime) -> list[InboxItem]:
    return assigned_items(rt, p, ASSIGNMENTS)
