"""Pure date arithmetic of planning and care: deadlines in business-calendar terms, reminder
instants, lunar festivals, birthdays in a given year, periods (quarters, halves, weeks), visit
cadences. No database, no clock: every function is given the dates and the calendar it needs.
"""

from __future__ import annotations

import calendar as _cal
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal, NamedTuple

from lunardate import LunarDate

from flows.planning.rules import CareRules, FestivalRules, KitRules


def _at(d: date, hhmm: str, tz: Any) -> datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime.combine(d, time(h, m), tz).astimezone(timezone.utc)


# ----------------------------------------------------------------------------------------- the kit


def kit_deadline(year: int, kit: KitRules, cal: Any) -> date:
    """The planning kit's deadline day for planning year `year` (default 31 March), as a workday.

    31 March falling on a day off (weekend, holiday) moves to the last workday before it
    (`deadline_roll: previous_workday`, the default: a team must not be told "31 March" and find
    the office closed) or to the first workday after it (`next_workday`). A 调休 make-up workday
    on 31 March is a workday: the deadline stays.
    """
    month, day = kit.deadline_month_day
    nominal = date(year, month, min(day, _cal.monthrange(year, month)[1]))
    return cal.roll_to_workday(nominal, "backward" if kit.deadline_roll == "previous_workday" else "forward")


@dataclass(frozen=True)
class KitSchedule:
    """The kit's deadline and escalation instant; its reminders are timers of the flow itself
    (planning_kit.yaml: one per item of rules kit.reminder_days_before)."""

    deadline: date
    deadline_at: datetime
    escalate_at: datetime


def kit_schedule(year: int, kit: KitRules, cal: Any) -> KitSchedule:
    """Deadline and escalation instants of one year's kit (UTC)."""
    deadline = kit_deadline(year, kit, cal)
    deadline_at = _at(deadline, kit.deadline_time, cal.tz)
    return KitSchedule(deadline, deadline_at, deadline_at + timedelta(days=kit.escalate_to_sales_management_days))


def check_due(start: datetime, due_business_days: int, cal: Any) -> datetime:
    """When a check started at `start` is due: N business days later (its reminders are flow timers)."""
    return cal.add_business_days(start, due_business_days)


# ----------------------------------------------------------------------------------------- periods


def quarter_of(d: date) -> int:
    return (d.month - 1) // 3 + 1


def quarter_key(d: date) -> str:
    return f"{d.year}-Q{quarter_of(d)}"


def quarter_bounds(d: date) -> tuple[date, date]:
    q = quarter_of(d)
    first = date(d.year, 3 * (q - 1) + 1, 1)
    last_month = 3 * q
    return first, date(d.year, last_month, _cal.monthrange(d.year, last_month)[1])


def half_of(d: date) -> Literal["H1", "H2"]:
    return "H1" if d.month <= 6 else "H2"


def week_key(d: date) -> str:
    iso = d.isocalendar()
    return f"{iso[0]}-W{iso[1]:02d}"


def previous_period(key: str) -> str:
    """'2027-Q1' → '2026-Q4', '2027-H1' → '2026-H2', '2027' → '2026', '2027-03' → '2027-02'."""
    head, _, tail = key.partition("-")
    year = int(head)
    if not tail:
        return str(year - 1)
    if tail.startswith("Q"):
        q = int(tail[1:])
        return f"{year - 1}-Q4" if q == 1 else f"{year}-Q{q - 1}"
    if tail.startswith("H"):
        return f"{year - 1}-H2" if tail == "H1" else f"{year}-H1"
    month = int(tail)
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


# ----------------------------------------------------------------------------------------- festivals, birthdays


def lunar_to_solar(year: int, lunar_month: int, lunar_day: int) -> date:
    """The solar date of a lunar date in the lunar year that starts in solar `year`.

    A lunar day 30 in a 29-day month is taken as that month's last day (the festival is held then).
    """
    try:
        return LunarDate(year, lunar_month, lunar_day).to_solar_date()
    except ValueError:
        return LunarDate(year, lunar_month, lunar_day - 1).to_solar_date()


@dataclass(frozen=True)
class Festival:
    name: str
    zh: str
    en: str
    day: date
    days_before: int
    kind: Literal["lunar", "company"]

    def title(self, locale: str) -> str:
        return self.en if locale == "en" else self.zh


def festivals_in(year: int, rules: FestivalRules) -> list[Festival]:
    """Every configured festival and company date falling in solar year `year`, by date."""
    out = [Festival(f.name, f.zh, f.en, lunar_to_solar(year, f.lunar_month, f.lunar_day), f.days_before, "lunar")
           for f in rules.lunar]
    for c in rules.company:
        if c.on is not None:
            if c.on.year == year:
                out.append(Festival(c.name, c.zh, c.en, c.on, c.days_before, "company"))
        else:
            month, day = (int(x) for x in c.day.split("-"))  # type: ignore[union-attr]
            out.append(Festival(c.name, c.zh, c.en, birthday_in_year(date(2000, month, day), year),
                                c.days_before, "company"))
    return sorted(out, key=lambda f: (f.day, f.name))


def festivals_to_remind(day: date, rules: FestivalRules) -> list[Festival]:
    """Festivals whose reminder day (festival minus `days_before`) is `day`."""
    found = []
    for year in (day.year, day.year + 1):  # a festival early next year may be reminded in December
        for f in festivals_in(year, rules):
            if f.day - timedelta(days=f.days_before) == day:
                found.append(f)
    return found


def birthday_in_year(birthday: date, year: int, leap_day: Literal["feb28", "mar1"] = "feb28") -> date:
    """The day a birthday is celebrated in `year`: 29 Feb falls on 28 Feb (or 1 Mar) in common years."""
    if birthday.month == 2 and birthday.day == 29 and not _cal.isleap(year):
        return date(year, 2, 28) if leap_day == "feb28" else date(year, 3, 1)
    return date(year, birthday.month, birthday.day)


def birthdays_on(target: date, birthday: date, leap_day: Literal["feb28", "mar1"] = "feb28") -> bool:
    return birthday_in_year(birthday, target.year, leap_day) == target


# ----------------------------------------------------------------------------------------- visits


def visit_due(last: date, cadence_days: int) -> date:
    """The day the next visit is due: `cadence_days` after the last one (a visit resets the clock)."""
    return last + timedelta(days=cadence_days)


class VisitStatus(NamedTuple):
    """Immutable; a tuple because the daily care scan asks it of every contact (a frozen dataclass
    cost more to build than the question)."""

    due: date
    overdue_days: int  # 0 = not overdue (due today or later)
    remind_owner: bool
    escalate: bool


def visit_status(last: date, cadence_days: int, today: date, escalate_after_days: int) -> VisitStatus:
    """Whether a visit is overdue on `today`: the owner from the day after it fell due, the
    supervisor once it is `escalate_after_days` overdue."""
    due = visit_due(last, cadence_days)
    late = (today - due).days
    return VisitStatus(due, max(late, 0), late >= 1, late >= 1 + escalate_after_days)


def cadence_days_for(tier: str, care: CareRules, tier_days: dict[str, int | None]) -> int | None:
    """Days between visits of a key contact of this tier: care.yaml first, then tiers.yaml."""
    if tier in care.visits.days_by_tier:
        return care.visits.days_by_tier[tier]  # type: ignore[index]
    return tier_days.get(tier)


def rotation_flag_day(since: date, years: int, days_ahead: int) -> tuple[date, date]:
    """(the day the rotation period ends, the day it is flagged — a quarter ahead by default)."""
    try:
        end = since.replace(year=since.year + years)
    except ValueError:  # covered since 29 Feb
        end = date(since.year + years, 2, 28)
    return end, end - timedelta(days=days_ahead)
