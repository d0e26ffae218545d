"""Guards and actions of the test ticket flow."""

from __future__ import annotations

from engine.registry import action, guard


@guard("has_assignee")
def has_assignee(ctx) -> bool:
    return bool(ctx.payload.get("assignee"))


@guard("blocked")
def blocked(ctx) -> bool:
    return bool(ctx.data.get("blocked"))


@action("count_reminder")
def count_reminder(ctx) -> None:
    ctx.data["reminders"] = ctx.data.get("reminders", 0) + 1


@action("append_note")
def append_note(ctx) -> None:
    text = ctx.payload.get("text")
    if not text:
        ctx.refuse("a note needs a non-empty 'text'")
    ctx.data.setdefault("notes", []).append(text)
