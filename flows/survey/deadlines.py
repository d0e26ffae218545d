"""The due instants of the survey callbacks, computed with the office's business calendar.

* Post-project callback: due `due` after it is assigned ("5 business days" = the engine's
  business-day rule: same local time N working days later), reminder `remind_before` earlier.
* Activity callback (展会结束3天内回访): the activity's last day ends at `ends_at` (18:00 local);
  the limit is `within` after that — in calendar days by default, so a weekend counts — and a
  limit that falls on a non-working day moves to the next working day at the same time
  (`roll_to_workday`, like a statutory time limit). The reminder is at `remind_at` on the last
  day; a missed callback is escalated `escalate_after` later.

Working days are asked of the calendar (`engine/calendar.py`); this module only counts them
while keeping the local time of day. (The engine's `add_business_days` first moves an
after-hours start to the next morning, which would turn "18:00 + 1 working day" into 09:00 the
day after next — right for work arriving after hours, wrong for a deadline at the end of a day.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from engine.timespec import Duration

from flows.survey.rules import ActivityCallbackRules, ProjectCallbackRules


def _hhmm(text: str) -> time:
    h, m = text.split(":")
    return time(int(h), int(m))


def add_keeping_time(start: datetime, duration: Duration, cal: Any) -> datetime:
    """`start` + `duration`; whole (business) days keep the local time of day."""
    if duration.unit not in ("days", "weeks") or duration.amount != int(duration.amount):
        return duration.add_to(start, cal)
    n = int(duration.amount)
    local = start.astimezone(cal.tz)
    d = local.date()
    if duration.business:
        for _ in range(n * (5 if duration.unit == "weeks" else 1)):
            d = cal.roll_to_workday(d + timedelta(days=1), "forward")
    else:
        d = d + timedelta(days=n * (7 if duration.unit == "weeks" else 1))
    return datetime.combine(d, local.time(), cal.tz).astimezone(timezone.utc)


@dataclass(frozen=True)
class Due:
    due_at: datetime
    remind_at: datetime
    escalate_at: datetime | None = None


def project_due(assigned_at: datetime, rules: ProjectCallbackRules, cal: Any) -> Due:
    due = rules.due_duration.add_to(assigned_at, cal)
    remind = rules.remind_duration.subtract_from(due, cal)
    return Due(due, max(remind, assigned_at))


def activity_due(ended_on: date, rules: ActivityCallbackRules, cal: Any) -> Due:
    end = datetime.combine(ended_on, _hhmm(rules.ends_at), cal.tz).astimezone(timezone.utc)
    due = add_keeping_time(end, rules.within_duration, cal)
    if rules.roll_to_workday:
        local = due.astimezone(cal.tz)
        day = cal.roll_to_workday(local.date(), "forward")
        due = datetime.combine(day, local.time(), cal.tz).astimezone(timezone.utc)
    local_due = due.astimezone(cal.tz)
    remind = datetime.combine(local_due.date(), _hhmm(rules.remind_at), cal.tz).astimezone(timezone.utc)
    if remind >= due:
        remind = due - timedelta(hours=1)
    escalate = add_keeping_time(due, rules.escalate_duration, cal)
    return Due(due, remind, escalate)
