"""Time expressions of flow definitions: durations, anchors and recurrences."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.calendar import builtin_registry
from engine.timespec import (TimeSpecError, next_anniversary, parse_anchor, parse_duration,
                             parse_recurrence)

SH = ZoneInfo("Asia/Shanghai")
CAL = builtin_registry().get(None)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.mark.parametrize("text", ["2 bizness days", "0 hours", "-1 days", "1.5 business days", "soon", "3 fortnights"])
def test_bad_durations_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(TimeSpecError, match="bad duration"):
        parse_duration(text)


def test_plain_duration_adds_wall_time() -> None:
    assert parse_duration("1 hour").add_to(sh(2026, 11, 27, 17, 30), None) == sh(2026, 11, 27, 18, 30)


def test_business_days_skip_the_national_day_holiday_week() -> None:
    # Wed 30 Sep 2026 10:00 + 2 business days: 1-7 Oct are off, Sat 10 Oct is a make-up workday
    assert parse_duration("2 business days").add_to(sh(2026, 9, 30, 10, 0), CAL) == sh(2026, 10, 9, 10, 0)


def test_anchor_on_a_fixed_day_takes_the_next_occurrence() -> None:
    a = parse_anchor("31 Mar")
    assert a.resolve({}, sh(2026, 12, 1, 9, 0), CAL, SH) == sh(2027, 3, 31, 9, 0)


def test_anchor_days_before_a_data_date_with_time() -> None:
    a = parse_anchor("14 days before data.deadline 10:30")
    assert a.resolve({"deadline": "2027-03-31"}, sh(2026, 12, 1), CAL, SH) == sh(2027, 3, 17, 10, 30)


def test_anchor_business_days_before_lands_on_a_workday() -> None:
    a = parse_anchor("1 business day before data.deadline")
    # 2026-10-08 (Thu) - 1 business day = 2026-09-30: 1-7 Oct are off
    assert a.resolve({"deadline": "2026-10-08"}, sh(2026, 9, 1), CAL, SH) == sh(2026, 9, 30, 9, 0)


def test_anchor_on_empty_field_resolves_to_none() -> None:
    assert parse_anchor("1 day before anniversary of contact.birthday").resolve({"contact": {}}, sh(2026, 1, 1), CAL, SH) is None


def test_leap_day_birthday_is_remembered_on_28_february_in_common_years() -> None:
    assert next_anniversary(date(1988, 2, 29), date(2027, 1, 1)) == date(2027, 2, 28)
    assert next_anniversary(date(1988, 2, 29), date(2028, 1, 1)) == date(2028, 2, 29)
    a = parse_anchor("1 day before anniversary of contact.birthday")
    assert a.resolve({"contact": {"birthday": "1988-02-29"}}, sh(2027, 1, 1), CAL, SH) == sh(2027, 2, 27, 9, 0)


@pytest.mark.parametrize("text", ["tomorrow", "31 Foo", "1 day before", "1 day before data", "anniversary of 5"])
def test_bad_anchors_are_refused(text: str) -> None:
    with pytest.raises(TimeSpecError):
        parse_anchor(text)


def test_yearly_recurrence_previous_next_and_period_key() -> None:
    r = parse_recurrence("1 Dec 09:00 Asia/Shanghai")
    now = datetime(2027, 1, 15, tzinfo=timezone.utc)
    assert r.previous(now) == sh(2026, 12, 1, 9, 0)
    assert r.next(now) == sh(2027, 12, 1, 9, 0)
    assert r.period_key(r.previous(now)) == "2026-12-01T09:00"


@pytest.mark.parametrize("text, after, expected", [
    ("day 08:00 Asia/Shanghai", sh(2026, 11, 27, 8, 0), sh(2026, 11, 28, 8, 0)),
    ("monday 09:00 Asia/Shanghai", sh(2026, 11, 27, 8, 0), sh(2026, 11, 30, 9, 0)),
    ("month 1 09:00 Asia/Shanghai", sh(2026, 11, 27, 8, 0), sh(2026, 12, 1, 9, 0)),
    ("quarter 1 09:00 Asia/Shanghai", sh(2026, 11, 27, 8, 0), sh(2027, 1, 1, 9, 0)),
])
def test_recurrence_kinds(text: str, after: datetime, expected: datetime) -> None:
    assert parse_recurrence(text).next(after) == expected


@pytest.mark.parametrize("text", ["1 Dec 09:00 Mars/Olympus", "1 Dec 25:00 UTC", "sometimes 09:00 UTC", "1 Dec"])
def test_bad_recurrences_are_refused(text: str) -> None:
    with pytest.raises(TimeSpecError):
        parse_recurrence(text)


def _walk(r: Any, at: datetime, step: int, limit: int) -> datetime | None:
    """The day-by-day walk `previous`/`next` jump over: every day `_occurrence_on` is asked."""
    d = at.astimezone(r.tz).date()
    for i in range(limit):
        occ = r._occurrence_on(d + timedelta(days=step * i))
        if occ is not None and (occ <= at if step < 0 else occ > at):
            return occ
    return None


@pytest.mark.parametrize("text", ["day 07:00 Asia/Shanghai", "monday 09:00 Asia/Shanghai", "sunday 23:30 America/New_York",
                                  "month 31 08:00 Europe/Berlin", "quarter 31 00:00 Asia/Shanghai",
                                  "29 Feb 10:00 UTC", "31 Mar 02:30 Europe/Berlin"])
def test_recurrence_jumps_to_the_occurrences_a_day_by_day_walk_finds(text: str) -> None:
    r = parse_recurrence(text)
    rng = random.Random(text)
    for _ in range(300):
        at = datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(60 * 24 * 365 * 5))
        if rng.random() < 0.3:  # exactly on an occurrence: previous includes it, next does not
            at = r.next(at)
        assert r.previous(at) == _walk(r, at, -1, 400), at
        assert r.next(at) == _walk(r, at, 1, 800), at
