"""ITR policy as pure functions: measurement windows, the self-resolution quota, callback sampling,
SLA deadlines, ISO weeks.

Nothing here reads the clock, the database or the rules file: callers pass the instants, counts
and numbers in, so every rule can be tested at its edges (exactly at 20 %, 9 vs 10 days) and a
decision can be replayed from what was stored with it (seed, draw, counts). Business time comes
from `engine.calendar` only.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from fractions import Fraction
from typing import Any, Optional
from zoneinfo import ZoneInfo

from flows.itr.rules import rolling_days

_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


# ---------------------------------------------------------------------------------------------- windows


def _local_midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0, 0), tz).astimezone(timezone.utc)


def window_bounds(window: str, at: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The measurement window containing `at`, as [start, end) in UTC.

    Calendar windows (month, quarter, half_year, year) follow the office's local calendar —
    the default, "the current calendar quarter", starts 1 Jan/Apr/Jul/Oct 00:00 local time.
    A rolling window "N days" is the N days up to and including `at`.
    """
    days = rolling_days(window)
    if days is not None:
        return at - timedelta(days=days), at + timedelta(microseconds=1)
    local = at.astimezone(tz).date()
    span = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}[window]
    first_month = (local.month - 1) // span * span + 1
    start = date(local.year, first_month, 1)
    end_month = first_month + span
    end = date(local.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    return _local_midnight(start, tz), _local_midnight(end, tz)


def parse_week(text: str) -> tuple[int, int]:
    """'2026-W48' → (2026, 48); anything else is a ValueError naming the expected form."""
    m = _WEEK.match(str(text).strip())
    if not m:
        raise ValueError(f"'{text}' is not an ISO week; write it like 2026-W48")
    year, week = int(m[1]), int(m[2])
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        raise ValueError(f"'{text}': {year} has no week {week}") from None
    return year, week


def week_bounds(text: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday 00:00 of an ISO week, local time, as UTC instants."""
    year, week = parse_week(text)
    monday = date.fromisocalendar(year, week, 1)
    return _local_midnight(monday, tz), _local_midnight(monday + timedelta(days=7), tz)


def week_of(at: datetime, tz: ZoneInfo) -> str:
    iso = at.astimezone(tz).date().isocalendar()
    return f"{iso[0]}-W{iso[1]:02d}"


def previous_week(at: datetime, tz: ZoneInfo) -> str:
    return week_of(at - timedelta(days=7), tz)


def parse_month(text: str) -> tuple[int, int]:
    m = _MONTH.match(str(text).strip())
    if not m or not 1 <= int(m[2]) <= 12:
        raise ValueError(f"'{text}' is not a month; write it like 2026-11")
    return int(m[1]), int(m[2])


def month_bounds(text: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    year, month = parse_month(text)
    start = date(year, month, 1)
    end = date(year + month // 12, month % 12 + 1, 1)
    return _local_midnight(start, tz), _local_midnight(end, tz)


def previous_month(at: datetime, tz: ZoneInfo) -> str:
    first = at.astimezone(tz).date().replace(day=1)
    last = first - timedelta(days=1)
    return f"{last.year}-{last.month:02d}"


# ---------------------------------------------------------------------------------------------- quota


@dataclass(frozen=True)
class QuotaCheck:
    """Would one more escalation keep the unit within its quota (问题自行解决率)?

    `issues` are the unit's issues in the window, the one being escalated included;
    `escalated_before` the escalations already counted against the unit in the window;
    `minimum` the escalations a unit may always make per window (fair to small numbers).
    """

    escalated_before: int
    issues: int
    limit: Fraction
    minimum: int = 0

    @property
    def rate_after(self) -> Fraction:
        return Fraction(self.escalated_before + 1, max(self.issues, 1))

    @property
    def within_minimum(self) -> bool:
        """The escalation is one of the unit's always-allowed escalations of the window."""
        return self.escalated_before + 1 <= self.minimum

    @property
    def within_share(self) -> bool:
        # Exactly at the limit is allowed (2 of 10 = 20 % ≤ 20 %); above it is not.
        return self.rate_after <= self.limit

    @property
    def allowed(self) -> bool:
        return self.within_share or self.within_minimum

    @property
    def basis(self) -> str:
        """Why it is allowed or not: 'share', 'minimum' or 'over'."""
        return "share" if self.within_share else "minimum" if self.within_minimum else "over"

    def describe(self) -> str:
        minimum = f", {self.minimum} always allowed" if self.minimum else ""
        return (f"{self.escalated_before + 1}/{self.issues} = {float(self.rate_after):.1%} "
                f"(limit {float(self.limit):.0%}{minimum})")


def check_quota(escalated_before: int, issues: int, limit: Fraction | float, minimum: int = 0) -> QuotaCheck:
    return QuotaCheck(escalated_before, issues, limit if isinstance(limit, Fraction) else Fraction(str(limit)),
                      max(0, int(minimum)))


def allowed_escalations(issues: int, limit: Fraction | float, minimum: int = 0) -> int:
    """How many escalations a unit with `issues` issues may make in the window: the larger of the
    share (⌊limit × issues⌋, exactly at the limit allowed) and the minimum allowance."""
    share = Fraction(str(limit)) if not isinstance(limit, Fraction) else limit
    return max(int(share * max(issues, 0)), max(0, int(minimum)))


def within_quota(issues: int, escalated: int, limit: Fraction | float, minimum: int = 0) -> bool:
    """Did a unit with `issues` issues and `escalated` escalations over a period stay within its quota?

    The one rule behind every "within quota" a person reads (report page, CLI report, review mail,
    scorecard): the escalations made are at most those allowed — the share or the minimum
    allowance, whichever is larger — exactly as the escalate step decided them one by one."""
    return escalated <= allowed_escalations(issues, limit, minimum)


def self_resolution_rate(issues: int, escalated: int) -> Optional[float]:
    """Share of a unit's issues it resolved without escalating (None when it had none)."""
    if issues <= 0:
        return None
    return round(max(0.0, 1 - escalated / issues), 4)


# ---------------------------------------------------------------------------------------------- callback


def draw(seed: int, issue_id: int) -> float:
    """The issue's reproducible draw in [0, 1): the same seed and issue always give the same number."""
    return random.Random(f"itr-callback:{seed}:{issue_id}").random()


@dataclass(frozen=True)
class CallbackInputs:
    urgent: bool
    draw: float
    min_rate: float
    urgent_rate: float
    coverage_done: int          # successful (or still pending required) callbacks of the office in the window
    coverage_base: int          # issues of the office whose closing was requested in the window, this one included
    last_callback: Optional[datetime]  # latest callback (made or planned) to the same contact
    now: datetime
    gap_days: int
    owed_by: Optional[int] = None      # an earlier issue whose drawn slot passed on to the next eligible one
    reopened: bool = False             # QA sent it back after a low score: the customer is asked again


@dataclass(frozen=True)
class CallbackDecision:
    required: bool
    reason: str
    not_before: Optional[datetime] = None
    carry_pending: bool = False
    carried_from: Optional[int] = None


def contact_free(last_callback: Optional[datetime], now: datetime, gap_days: int) -> bool:
    """True if the contact was not called back within the gap (exactly 10 days later is free again)."""
    return last_callback is None or now - last_callback >= timedelta(days=gap_days)


def decide_callback(i: CallbackInputs) -> CallbackDecision:
    """Must this issue be called back (回访) before it closes?

    1. Urgent issues: always (rate 1.0); so is an issue QA reopened after a low score. If the
       contact was called back within the gap, the call waits until the gap has passed
       (`not_before`): both rules hold.
    2. Otherwise the same contact is never called back twice within the gap: not this issue; if it
       had been drawn, its slot passes to the next eligible issue of the office (`carry_pending`).
    3. An owed slot from such an issue is taken by the next eligible issue ("carried_over").
    4. If the office's successful-callback coverage in the window would be below the minimum, the
       issue is required ("coverage_below_minimum") — this guarantees ≥ 10 %.
    5. Otherwise the seeded draw decides: draw < min_rate ("sampled").
    """
    free = contact_free(i.last_callback, i.now, i.gap_days)
    if i.reopened or (i.urgent and i.draw < i.urgent_rate):
        why = "reopened" if i.reopened else "urgent"
        if free:
            return CallbackDecision(True, why)
        assert i.last_callback is not None
        return CallbackDecision(True, f"{why}_after_gap", not_before=i.last_callback + timedelta(days=i.gap_days))
    drawn = i.draw < i.min_rate
    if not free:
        return CallbackDecision(False, "contact_called_recently", carry_pending=drawn and i.owed_by is None)
    if i.owed_by is not None:
        return CallbackDecision(True, "carried_over", carried_from=i.owed_by)
    if i.coverage_base > 0 and Fraction(i.coverage_done, i.coverage_base) < Fraction(str(i.min_rate)):
        return CallbackDecision(True, "coverage_below_minimum")
    if drawn:
        return CallbackDecision(True, "sampled")
    return CallbackDecision(False, "not_sampled")


def closes_with_score(score: int, close_min_score: int) -> bool:
    """A callback score ≥ the minimum (3 of 5) lets the issue close; below goes to QA (回溯)."""
    return score >= close_min_score


# ---------------------------------------------------------------------------------------------- SLA


def sla_text(hours: float) -> str:
    """The duration as flows write it, e.g. 16 → '16 business hours'."""
    number = int(hours) if float(hours).is_integer() else hours
    return f"{number} business hours"


def sla_due(calendar: Any, start: datetime, hours: float) -> datetime:
    """When `hours` of the office's working time have passed since `start` (engine.calendar does the counting)."""
    return calendar.add_business_hours(start, float(hours))


# ---------------------------------------------------------------------------------------------- weekly quota


def is_major_issue(*, severity: str, type: str, major_incident: bool, severities: list[str], types: list[str],
                   count_major_incident: bool) -> bool:
    """A "major issue or complaint" for the negative-score rule (关键事件负向扣分)."""
    return severity in severities or type in types or (count_major_incident and major_incident)


def ratio(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None
