"""Who may take each user-facing step of the planning and care flows — one predicate per rule.

The flow's actions (run inside the step) and `flows.planning.service.allowed_actions` (what the
instance page offers) both ask these functions, so the page never offers what the step would refuse.
`who` is the step's or the caller's `Principal`; `data` the instance data.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from engine.auth import Principal


def acts_as(who: Principal, *named: Optional[str]) -> bool:
    """The named people, the supervisors above them, sales management or the engine."""
    people = {n for n in named if n}
    return (who.is_engine or who.emp_no in people or any(who.supervises(n) for n in people)
            or who.is_sales_management)


def in_team(who: Principal, team: str, members: Iterable[str]) -> bool:
    """A kit is submitted or revised only by its team (members of the team unit) or their supervisor chain."""
    return who.is_engine or who.unit_code == team or bool(set(members) & who.below)


def reviews_kit(who: Principal, data: dict[str, Any]) -> bool:
    """Approve / send back: the team's supervisor chain, or 销售管理部 (deciding for an absent supervisor)."""
    reviewer = data.get("supervisor")
    return who.is_engine or who.emp_no == reviewer or who.supervises(reviewer) or who.is_sales_management


def decides_tier(who: Principal, data: dict[str, Any]) -> bool:
    """A tier change: sales management or the owner's supervisor chain (as `change_tier`), never the owner."""
    return (who.is_engine or who.is_sales_management or who.emp_no == data.get("supervisor")
            or who.supervises(data.get("owner")))


def introduces(who: Principal, data: dict[str, Any]) -> bool:
    """The previous owner (or their supervisor chain, or sales management) logs the introduction."""
    allowed = {data.get("from_owner"), data.get("from_supervisor")} - {None}
    return who.is_engine or who.emp_no in allowed or who.supervises(data.get("from_owner")) or who.is_sales_management


def acknowledges(who: Principal, is_employee: bool) -> bool:
    """A win-rate alert is acknowledged by an employee of the master data (not the bare operator)."""
    return is_employee
