"""Properties of business-time arithmetic, checked on random instants of the shipped calendars."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.calendar import BusinessCalendar, load_calendars

SHIPPED = Path(__file__).resolve().parents[2] / "rules" / "calendars"
REGISTRY = load_calendars(SHIPPED)
CALENDARS = [REGISTRY.get(name) for name in REGISTRY.names]

# Moderate on purpose: the whole file should run in well under 20 s on a shared machine.
PROFILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ZONES = [timezone.utc, ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin"),
         ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]

calendars = st.sampled_from(CALENDARS)
instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31, 23, 59),
                        timezones=st.sampled_from(ZONES), allow_imaginary=False)
day_counts = st.integers(min_value=1, max_value=60)


def in_working_hours(cal: BusinessCalendar, instant: datetime) -> bool:
    """Checked from the spec directly, not through the calendar's own interval code."""
    wall = instant.astimezone(cal.tz)
    return cal.is_workday(wall.date()) and any(
        h.start <= wall.time().replace(tzinfo=None) < h.end for h in cal.spec.hours)


def daily_seconds(cal: BusinessCalendar) -> float:
    return sum((datetime.combine(date.min, h.end) - datetime.combine(date.min, h.start)).total_seconds()
               for h in cal.spec.hours)


@PROFILE
@given(cal=calendars, start=instants, n=day_counts)
def test_business_days_land_inside_working_hours_of_a_workday(
        cal: BusinessCalendar, start: datetime, n: int) -> None:
    due = cal.add_business_days(start, n)
    assert due.tzinfo is timezone.utc
    assert in_working_hours(cal, due)
    assert due > start


@PROFILE
@given(cal=calendars, start=instants, n=st.integers(0, 40), m=st.integers(0, 40))
def test_adding_n_then_m_business_days_equals_adding_n_plus_m(
        cal: BusinessCalendar, start: datetime, n: int, m: int) -> None:
    begin = cal.next_working_instant(start)
    assert cal.add_business_days(cal.add_business_days(begin, n), m) == cal.add_business_days(begin, n + m)


@PROFILE
@given(cal=calendars, start=instants, n=st.integers(0, 59), extra=st.integers(1, 20))
def test_business_days_are_strictly_monotonic(
        cal: BusinessCalendar, start: datetime, n: int, extra: int) -> None:
    assert cal.add_business_days(start, n) < cal.add_business_days(start, n + extra)


@PROFILE
@given(cal=calendars, start=instants, n=day_counts)
def test_n_business_days_hold_n_working_days_of_business_time(
        cal: BusinessCalendar, start: datetime, n: int) -> None:
    # The shipped offices' hours avoid the 02:00-03:00 DST jumps, so every workday has the
    # same amount of working time and "N days" must equal N days' worth of hours.
    begin = cal.next_working_instant(start)
    due = cal.add_business_days(begin, n)
    assert cal.business_seconds_between(begin, due) == n * daily_seconds(cal)


@PROFILE
@given(cal=calendars, start=instants,
       hours=st.floats(min_value=0, max_value=300, allow_nan=False, allow_infinity=False))
def test_business_hours_added_are_the_business_hours_between(
        cal: BusinessCalendar, start: datetime, hours: float) -> None:
    due = cal.add_business_hours(start, hours)
    assert due >= start
    assert abs(cal.business_seconds_between(start, due) - hours * 3600) <= 1


@PROFILE
@given(cal=calendars, start=instants,
       hours=st.floats(min_value=0.01, max_value=300, allow_nan=False, allow_infinity=False))
def test_business_hours_end_inside_or_at_the_end_of_working_time(
        cal: BusinessCalendar, start: datetime, hours: float) -> None:
    due = cal.add_business_hours(start, hours)
    just_before = due - timedelta(microseconds=1)
    assert in_working_hours(cal, due) or in_working_hours(cal, just_before)


@PROFILE
@given(cal=calendars, a=instants, b=instants)
def test_business_seconds_between_is_antisymmetric_and_bounded(
        cal: BusinessCalendar, a: datetime, b: datetime) -> None:
    forward = cal.business_seconds_between(a, b)
    assert forward == -cal.business_seconds_between(b, a)
    assert abs(forward) <= abs((b - a).total_seconds())


@PROFILE
@given(cal=calendars, d=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
       direction=st.sampled_from(["forward", "backward"]))
def test_rolling_finds_the_nearest_workday(cal: BusinessCalendar, d: date, direction: str) -> None:
    rolled = cal.roll_to_workday(d, direction)  # type: ignore[arg-type]
    assert cal.is_workday(rolled)
    step = timedelta(days=1 if direction == "forward" else -1)
    day = d
    while day != rolled:
        assert not cal.is_workday(day)
        day += step
    assert cal.next_workday(d) >= d


@PROFILE
@given(d=st.dates(min_value=date(2020, 1, 1), max_value=date(2026, 12, 31)))
def test_china_agrees_with_chinese_calendar_where_it_has_data(d: date) -> None:
    assert REGISTRY.get("CN").is_workday(d) == chinese_calendar.is_workday(d)
