"""Business time for SLAs and deadlines: working hours, public holidays, China's 调休, time zones.

A `BusinessCalendar` answers "is this a working day?", "when is N business days / hours after
this instant?" and "how much business time lies between these two instants?" for one office
(代表处). Its data comes from three layers, the later winning:

1. the weekend (Sat/Sun unless the office says otherwise);
2. public holidays and make-up workdays (调休补班) from packages — `chinese_calendar` for China
   in the years it ships (2004–2026 in 1.11), the `holidays` package for every other country and
   for the years `chinese_calendar` does not know yet;
3. company overrides (`extra_holidays` / `extra_workdays`) from `rules/calendars/*.yaml`.

Calendars are loaded once from YAML (`load_calendars`) and are immutable afterwards; package
data is looked up once per (country, year) and cached, so run-time arithmetic costs no I/O.

This module never reads the clock (that is `engine/clock.py`): every function takes the
instants it needs. It accepts aware datetimes only — a naive one is refused with
`NaiveDatetimeError` — and returns aware datetimes in UTC.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
import holidays as holidays_pkg
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator,
                      model_validator)

from engine.errors import CalendarError, InvalidRules, Problem
from engine.yamlsrc import YamlSyntaxError, line_of, load_yaml, validation_problems

__all__ = [
    "BusinessCalendar",
    "BusinessTimeError",
    "CalendarError",
    "CalendarRegistry",
    "CalendarSpec",
    "CoverageGap",
    "InvalidCalendarFile",
    "NaiveDatetimeError",
    "WorkingHours",
    "builtin_registry",
    "coverage_gaps",
    "load_calendars",
]

_ONE_DAY = timedelta(days=1)
# A calendar that yields no working day for this long is misconfigured (e.g. every day an
# extra holiday); searching further would only hang the caller.
_MAX_IDLE_DAYS = 3660
_SUBSTITUTED_FROM = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")


class BusinessTimeError(CalendarError, ValueError):
    """An argument to a business-time function is not usable."""


class NaiveDatetimeError(BusinessTimeError):
    """A naive datetime (without time zone) was given; business time needs aware datetimes."""


class InvalidCalendarFile(CalendarError, InvalidRules):
    """A calendar file in rules/calendars is not valid."""


# --------------------------------------------------------------------------- config models


_TIME_RANGE = re.compile(r"^\s*(\d{1,2}:\d{2}(?::\d{2})?)\s*-\s*(\d{1,2}:\d{2}(?::\d{2})?)\s*$")


class WorkingHours(BaseModel):
    """One working interval of a day in office-local wall-clock time, e.g. 09:00-12:00.

    In YAML write it as a string `"09:00-12:00"` or as `{start: "09:00", end: "12:00"}`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            m = _TIME_RANGE.match(value)
            if not m:
                raise ValueError(f"'{value}' is not a working interval; write it like '09:00-12:00'")
            return {"start": m[1], "end": m[2]}
        return value

    @field_validator("start", "end", mode="before")
    @classmethod
    def _no_sexagesimal(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 13:30 as the base-60 integer 810; say so instead of
        # letting pydantic guess a meaning for the number.
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(f"got the number {value}: quote times in YAML, e.g. \"13:30\" "
                             "(unquoted, YAML reads 13:30 as 810)")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("working hours are office-local wall-clock times; leave out the offset")
        if self.start >= self.end:
            raise ValueError(f"start {self.start:%H:%M} must be before end {self.end:%H:%M} "
                             "(intervals cannot cross midnight)")
        return self

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _not_also_holidays(workdays: list[date], info: ValidationInfo) -> list[date]:
    both = sorted(set(workdays) & set(info.data.get("extra_holidays") or ()))
    if both:
        raise ValueError("listed both as extra holiday and extra workday: "
                         + ", ".join(d.isoformat() for d in both))
    return workdays


def _default_hours() -> list[WorkingHours]:
    return [WorkingHours(start=time(9, 0), end=time(12, 0)),
            WorkingHours(start=time(13, 30), end=time(18, 0))]


class CalendarSpec(BaseModel):
    """One office's calendar as configured in `rules/calendars/<file>.yaml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    timezone: str
    country: str
    subdivision: str | None = None
    hours: list[WorkingHours] = Field(default_factory=_default_hours)
    weekend: list[int] = Field(default_factory=lambda: [5, 6])
    # Names of package holidays the office works on anyway (e.g. New York state holidays a
    # private office ignores); matched case-insensitively, "(observed)" days included.
    working_holidays: list[str] = Field(default_factory=list)
    extra_holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_is_plain(cls, value: str) -> str:
        if value != value.strip() or "\n" in value:
            raise ValueError("the name must not start or end with spaces")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone '{value}' (e.g. 'Asia/Shanghai', "
                             "'Europe/Berlin', 'America/New_York')") from None
        return value

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in _supported_countries():
            raise ValueError(f"unknown country code '{value}' (ISO 3166 alpha-2, e.g. CN, DE, US)")
        return code

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if value is None or country is None:
            return value
        known = _supported_countries()[country]
        if value not in known:
            hint = ", ".join(known[:20]) + (" …" if len(known) > 20 else "") if known else "none"
            raise ValueError(f"unknown subdivision '{value}' of {country} (known: {hint})")
        return value

    @field_validator("hours")
    @classmethod
    def _hours_disjoint(cls, value: list[WorkingHours]) -> list[WorkingHours]:
        if not value:
            raise ValueError("at least one working interval is needed")
        ordered = sorted(value, key=lambda h: h.start)
        for before, after in zip(ordered, ordered[1:]):
            if after.start < before.end:
                raise ValueError(f"working intervals {before} and {after} overlap")
        return ordered

    @field_validator("weekend")
    @classmethod
    def _weekend_days(cls, value: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in value):
            raise ValueError("weekend days are numbers 0-6 (Monday=0 … Sunday=6)")
        if len(set(value)) == 7:
            raise ValueError("a weekend of all seven days leaves no working day")
        return sorted(set(value))

    @field_validator("working_holidays")
    @classmethod
    def _working_holidays_not_cn(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("country") == "CN":
            # chinese_calendar names its days differently from `holidays`, and 调休 makes a
            # name-based opt-out ambiguous; dated overrides are the honest tool there.
            raise ValueError("not supported for CN calendars; list the dates in extra_workdays")
        return value

    @field_validator("extra_workdays")
    @classmethod
    def _no_day_both_ways(cls, value: list[date], info: ValidationInfo) -> list[date]:
        return _not_also_holidays(value, info)


class _CalendarFile(CalendarSpec):
    """A calendar file: a `CalendarSpec` plus file-level markers."""

    kind: Literal["calendar"] = "calendar"
    default: bool = False
    description: str | None = None


class _OverridesFile(BaseModel):
    """A company-overrides file (`kind: overrides`), e.g. cn-workdays.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["overrides"]
    description: str | None = None
    country: str | None = None          # applies to every calendar of this country …
    calendars: list[str] = Field(default_factory=list)  # … and/or to these calendars by name
    extra_holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list)

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.strip().upper() if value is not None else None

    @field_validator("extra_workdays")
    @classmethod
    def _no_day_both_ways(cls, value: list[date], info: ValidationInfo) -> list[date]:
        return _not_also_holidays(value, info)

    @model_validator(mode="after")
    def _has_target(self) -> _OverridesFile:
        if self.country is None and not self.calendars:
            raise ValueError("say what the overrides apply to: 'country: CN' and/or "
                             "'calendars: [name, …]'")
        return self


# --------------------------------------------------------------------------- package data


@dataclass(frozen=True)
class _YearData:
    """Statutory days of one year from the packages, before weekend and company overrides."""

    days_off: Mapping[date, str]       # public holidays and substituted days off, with names
    makeup_workdays: frozenset[date]   # weekend days that are working days (调休补班)
    source: Literal["chinese_calendar", "holidays"]


@lru_cache(maxsize=1)
def _supported_countries() -> dict[str, list[str]]:
    return {code: list(subdivs) for code, subdivs in holidays_pkg.list_supported_countries().items()}


@lru_cache(maxsize=2048)
def _package_entries(country: str, subdivision: str | None, year: int) -> tuple[dict[date, str], frozenset[date]]:
    """All entries the `holidays` package gives for one requested year, in English."""
    try:
        # en_US keeps names comparable across countries (and parseable, see below); a
        # country without that translation falls back to its English source names.
        table = holidays_pkg.country_holidays(country, subdiv=subdivision, years=year,
                                              language="en_US")
        entries = dict(table.items())
    except (NotImplementedError, ValueError, KeyError) as exc:
        raise CalendarError(f"the holidays package has no data for {country} {year}: {exc}") from exc
    makeup: set[date] = set(getattr(table, "weekend_workdays", ()) or ())
    # `holidays` names a substituted day off "Day off (substituted from 02/14/2026)": the
    # date in the name is the make-up workday. Reading it keeps us independent of whether a
    # given package version also fills `weekend_workdays`.
    for name in entries.values():
        for month, day, yr in _SUBSTITUTED_FROM.findall(name):
            makeup.add(date(int(yr), int(month), int(day)))
    return entries, frozenset(makeup)


@lru_cache(maxsize=2048)
def _holidays_package_year(country: str, subdivision: str | None, year: int) -> _YearData:
    days_off: dict[date, str] = {}
    makeup: set[date] = set()
    # Observed days and 调休 can cross New Year (e.g. a Dec 31 day off for Jan 1, a late-
    # December make-up day for the Spring Festival), so the neighbours are read too.
    for y in (year - 1, year, year + 1):
        entries, extra = _package_entries(country, subdivision, y)
        for d, name in entries.items():
            if d.year == year:
                days_off.setdefault(d, name)
        makeup.update(d for d in extra if d.year == year)
    return _YearData(days_off, frozenset(makeup), "holidays")


@lru_cache(maxsize=256)
def _china_year(year: int) -> _YearData:
    try:
        # Probe: chinese_calendar raises NotImplementedError for years it does not ship.
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return _holidays_package_year("CN", None, year)
    days_off = {d: str(getattr(name, "value", name)) for d, name in chinese_calendar.holidays.items()
                if d.year == year}
    makeup = frozenset(d for d in chinese_calendar.workdays if d.year == year)
    return _YearData(days_off, makeup, "chinese_calendar")


def china_official_through() -> int:
    """The last year whose official schedule (holidays and 调休) the installed chinese_calendar knows."""
    return max(d.year for d in chinese_calendar.holidays)


def _holiday_names(country: str, subdivision: str | None) -> set[str]:
    """Holiday names the package uses for a place (casefolded), to catch typos at load time.

    Names are stable across years, so a fixed window of years is enough; a window derived
    from "now" would make loading depend on the clock.
    """
    names: set[str] = set()
    for year in range(2015, 2036):
        for name in _package_entries(country, subdivision, year)[0].values():
            for part in name.split(";"):
                names.add(part.strip().casefold().removesuffix(" (observed)"))
    return names


def _statutory_year(country: str, subdivision: str | None, year: int) -> _YearData:
    if country == "CN":
        return _china_year(year)
    return _holidays_package_year(country, subdivision, year)


# --------------------------------------------------------------------------- the calendar


def _aware(value: Any, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise BusinessTimeError(f"{what} must be an aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(f"{what} {value.isoformat()} has no time zone; pass an aware "
                                 "datetime (e.g. with tzinfo=ZoneInfo('Asia/Shanghai'))")
    return value.astimezone(timezone.utc)


class BusinessCalendar:
    """Working days and working hours of one office, in the office's time zone."""

    spec: CalendarSpec
    tz: ZoneInfo

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self.tz = ZoneInfo(spec.timezone)
        self._hours = tuple((h.start, h.end) for h in spec.hours)
        self._weekend = frozenset(spec.weekend)
        self._extra_off = frozenset(spec.extra_holidays)
        self._extra_on = frozenset(spec.extra_workdays)
        self._working_names = frozenset(n.casefold() for n in spec.working_holidays)
        # Filled lazily; concurrent first use may compute a year twice, which is harmless
        # because the result is the same immutable set.
        self._off_by_year: dict[int, frozenset[date]] = {}

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.spec.name!r}, {self.spec.timezone}, {self.spec.country})"

    @property
    def name(self) -> str:
        return self.spec.name

    # ------------------------------------------------------------------ days

    def _is_worked_holiday(self, name: str) -> bool:
        if not self._working_names:
            return False
        # One date can carry several names ("A; B"); it is worked only if all of them are.
        parts = (p.strip().casefold() for p in name.split(";"))
        return all(p in self._working_names or p.removesuffix(" (observed)") in self._working_names
                   for p in parts)

    def _off_days(self, year: int) -> frozenset[date]:
        cached = self._off_by_year.get(year)
        if cached is not None:
            return cached
        data = _statutory_year(self.spec.country, self.spec.subdivision, year)
        holidays_off = {d for d, name in data.days_off.items() if not self._is_worked_holiday(name)}
        off: set[date] = set()
        d = date(year, 1, 1)
        while d.year == year:
            if d in self._extra_on:
                pass  # company overrides win over packages and weekend
            elif (d in self._extra_off or d in holidays_off
                  or (d.weekday() in self._weekend and d not in data.makeup_workdays)):
                off.add(d)
            d += _ONE_DAY
        result = frozenset(off)
        self._off_by_year[year] = result
        return result

    def has_overrides_in(self, year: int) -> bool:
        """True when rules/calendars lists at least one extra holiday or workday in `year` for this calendar."""
        return any(d.year == year for d in self._extra_off | self._extra_on)

    def holiday_source(self, year: int) -> Literal["chinese_calendar", "holidays"]:
        """Which package supplies `year`'s holidays — "holidays" for China means projected data."""
        source = _statutory_year(self.spec.country, self.spec.subdivision, year).source
        return "chinese_calendar" if source == "chinese_calendar" else "holidays"

    def _local_date(self, d: Any, what: str = "d") -> date:
        if isinstance(d, datetime):
            return _aware(d, what).astimezone(self.tz).date()
        if isinstance(d, date):
            return d
        raise BusinessTimeError(f"{what} must be a date, got {type(d).__name__}")

    def is_workday(self, d: date) -> bool:
        """True if `d` is a working day of this office (an aware datetime counts by its local date)."""
        day = self._local_date(d)
        return day not in self._off_days(day.year)

    def next_workday(self, d: date) -> date:
        """`d` itself if it is a working day, else the first working day after it."""
        return self.roll_to_workday(d, "forward")

    def roll_to_workday(self, d: date, direction: Literal["forward", "backward"]) -> date:
        """`d` if it is a working day, else the nearest working day after/before it."""
        if direction not in ("forward", "backward"):
            raise BusinessTimeError(f"direction must be 'forward' or 'backward', not {direction!r}")
        day = self._local_date(d)
        step = _ONE_DAY if direction == "forward" else -_ONE_DAY
        for _ in range(_MAX_IDLE_DAYS):
            if day not in self._off_days(day.year):
                return day
            day += step
        raise CalendarError(f"calendar '{self.spec.name}' has no working day within "
                            f"{_MAX_IDLE_DAYS} days {'after' if step > timedelta(0) else 'before'} {d}")

    def _workday_after(self, d: date) -> date:
        return self.roll_to_workday(d + _ONE_DAY, "forward")

    # ------------------------------------------------------------------ instants

    def _intervals(self, d: date) -> list[tuple[datetime, datetime]]:
        """Working intervals of local day `d` as UTC instants (empty on a day off)."""
        if d in self._off_days(d.year):
            return []
        out = []
        for start, end in self._hours:
            s = datetime.combine(d, start, self.tz).astimezone(timezone.utc)
            e = datetime.combine(d, end, self.tz).astimezone(timezone.utc)
            if e > s:  # a DST jump can swallow an interval set in the small hours
                out.append((s, e))
        return out

    def _next_working_instant(self, at: datetime) -> datetime:
        d = at.astimezone(self.tz).date()
        for _ in range(_MAX_IDLE_DAYS):
            for s, e in self._intervals(d):
                if at < e:
                    return max(at, s)
            d += _ONE_DAY
        raise CalendarError(f"calendar '{self.spec.name}' has no working time within "
                            f"{_MAX_IDLE_DAYS} days after {at.isoformat()}")

    def next_working_instant(self, at: datetime) -> datetime:
        """`at` if the office is working then, else the start of its next working interval (UTC).

        The end of an interval (18:00) is not a working instant: it rolls to the next start.
        """
        return self._next_working_instant(_aware(at, "at"))

    def is_working_instant(self, at: datetime) -> bool:
        """True if `at` lies inside a working interval of a working day (start in, end out)."""
        utc = _aware(at, "at")
        return any(s <= utc < e for s, e in self._intervals(utc.astimezone(self.tz).date()))

    def add_business_days(self, start: datetime, days: int) -> datetime:
        """The instant `days` working days after `start` ("due in N business days"), in UTC.

        Rule: first `start` is moved to the next working instant (unchanged if the office is
        working then; otherwise the start of the next working interval — work that arrives
        on Friday at 20:00 is treated as arriving on Monday at 09:00). Then the local date is
        moved forward by `days` working days, keeping that local time of day. So Friday 15:00
        + 2 = Tuesday 15:00, Friday 20:00 + 1 = Tuesday 09:00, 12:30 in the lunch break + 1 =
        next working day 13:30. `days=0` gives the normalised start itself.
        """
        if isinstance(days, bool) or not isinstance(days, int):
            raise BusinessTimeError(f"days must be a whole number, got {days!r}")
        if days < 0:
            raise BusinessTimeError(f"days must not be negative, got {days}")
        begin = self._next_working_instant(_aware(start, "start"))
        local = begin.astimezone(self.tz)
        d = local.date()
        for _ in range(days):
            d = self._workday_after(d)
        due = datetime.combine(d, local.time(), self.tz).astimezone(timezone.utc)
        # Only if working hours include a wall-clock time skipped by a DST jump can `due`
        # fall outside them; rolling forward keeps "always a working instant" true.
        return self._next_working_instant(due)

    def add_business_hours(self, start: datetime, hours: float) -> datetime:
        """The instant when `hours` of working time have passed since `start`, in UTC.

        Only time inside working intervals of working days counts, measured in real elapsed
        time (so a DST switch changes nothing). Running out exactly at an interval's end
        gives that end (Friday 17:00 + 1 h = Friday 18:00, not Monday 09:00). `hours=0`
        returns `start` unchanged. Minutes are fractions: 30 minutes is `hours=0.5`.
        """
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours):
            raise BusinessTimeError(f"hours must be a finite number, got {hours!r}")
        if hours < 0:
            raise BusinessTimeError(f"hours must not be negative, got {hours}")
        cur = _aware(start, "start")
        remaining = timedelta(seconds=hours * 3600)
        if not remaining:
            return cur
        d = cur.astimezone(self.tz).date()
        idle = 0
        while idle < _MAX_IDLE_DAYS:
            intervals = self._intervals(d)
            idle = 0 if intervals else idle + 1
            for s, e in intervals:
                if e <= cur:
                    continue
                s = max(s, cur)
                if remaining <= e - s:
                    return s + remaining
                remaining -= e - s
                cur = e
            d += _ONE_DAY
        raise CalendarError(f"calendar '{self.spec.name}' has no working time within "
                            f"{_MAX_IDLE_DAYS} days after {cur.isoformat()}")

    def business_seconds_between(self, a: datetime, b: datetime) -> float:
        """Seconds of working time in [a, b); negative if `b` is before `a`."""
        start, end = _aware(a, "a"), _aware(b, "b")
        if end < start:
            return -self.business_seconds_between(b, a)
        total = timedelta(0)
        d = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while d <= last:
            for s, e in self._intervals(d):
                lo, hi = max(s, start), min(e, end)
                if hi > lo:
                    total += hi - lo
            d += _ONE_DAY
        return total.total_seconds()


# --------------------------------------------------------------------------- registry


class CalendarRegistry:
    """The calendars of all offices by name, with one default for offices that name none."""

    def __init__(self, calendars: Iterable[BusinessCalendar], default_name: str) -> None:
        self._calendars: dict[str, BusinessCalendar] = {}
        for cal in calendars:
            if cal.spec.name in self._calendars:
                raise CalendarError(f"calendar '{cal.spec.name}' is defined twice")
            self._calendars[cal.spec.name] = cal
        if default_name not in self._calendars:
            raise CalendarError(f"default calendar '{default_name}' is not among the calendars "
                                f"({', '.join(sorted(self._calendars)) or 'none'})")
        self.default_name = default_name

    @property
    def names(self) -> list[str]:
        return sorted(self._calendars)

    def get(self, name: str | None) -> BusinessCalendar:
        """The calendar called `name`; `None` gives the default calendar."""
        if name is None:
            return self._calendars[self.default_name]
        try:
            return self._calendars[name]
        except KeyError:
            raise CalendarError(f"unknown calendar '{name}'; known calendars: "
                                f"{', '.join(self.names)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._calendars

    def __len__(self) -> int:
        return len(self._calendars)

    def __repr__(self) -> str:
        return f"CalendarRegistry({self.names}, default={self.default_name!r})"


def _located(path: Path, raw: Any, exc: ValidationError) -> list[Problem]:
    # validation_problems keeps the order of exc.errors(), so each problem has its loc.
    return [Problem(p.file, line_of(raw, tuple(err["loc"])) or 1,
                    # pydantic prefixes our validators' messages with "Value error, "
                    p.message.replace("Value error, ", ""))
            for p, err in zip(validation_problems(path, raw, exc), exc.errors())]


def load_calendars(directory: Path) -> CalendarRegistry:
    """Read every `*.yaml` in `directory` (calendars and overrides) into a registry.

    All problems of all files are collected and raised together as `InvalidCalendarFile`
    (a `CalendarError`), one `file:line: message` per problem.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise CalendarError(f"{directory}: calendar folder does not exist")
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise CalendarError(f"{directory}: no *.yaml calendar files")
    # Keyed by the folder and every file's bytes: an edited, added or removed file is read afresh,
    # an unchanged folder costs a hash instead of a YAML parse of every file (≈27 ms, paid by each
    # visit logged). The registry is never changed after it is built, so sharing it is safe.
    key = (str(directory.resolve()), tuple((p.name, hashlib.sha256(p.read_bytes()).digest()) for p in files))
    hit = _loaded.get(key)
    if hit is None:
        hit = _read_calendars(directory, files)
        if len(_loaded) >= _LOADED_MAX:  # tests build many folders: keep the newest few
            _loaded.pop(next(iter(_loaded)))
        _loaded[key] = hit
    return hit


_loaded: dict[tuple[str, tuple[tuple[str, bytes], ...]], CalendarRegistry] = {}
_LOADED_MAX = 16


def _read_calendars(directory: Path, files: list[Path]) -> CalendarRegistry:
    problems: list[Problem] = []
    specs: list[tuple[Path, Any, _CalendarFile]] = []
    overrides: list[tuple[Path, Any, _OverridesFile]] = []
    for path in files:
        try:
            raw = load_yaml(path)
        except YamlSyntaxError as exc:
            problems.append(exc.problem)
            continue
        if not isinstance(raw, dict):
            problems.append(Problem(str(path), getattr(raw, "line", 1) or 1,
                                    "expected a mapping of calendar fields (name:, timezone:, …)"))
            continue
        kind = raw.get("kind", "calendar")
        model: type[BaseModel]
        if kind == "overrides":
            model = _OverridesFile
        elif kind == "calendar":
            model = _CalendarFile
        else:
            problems.append(Problem(str(path), line_of(raw, ("kind",)),
                                    f"kind: must be 'calendar' or 'overrides', not {kind!r}"))
            continue
        try:
            parsed = model.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_located(path, raw, exc))
            continue
        if isinstance(parsed, _OverridesFile):
            overrides.append((path, raw, parsed))
        else:
            assert isinstance(parsed, _CalendarFile)
            specs.append((path, raw, parsed))

    by_name: dict[str, tuple[Path, Any, _CalendarFile]] = {}
    for path, raw, spec in specs:
        if spec.name in by_name:
            problems.append(Problem(str(path), line_of(raw, ("name",)),
                                    f"name: calendar '{spec.name}' is already defined in "
                                    f"{by_name[spec.name][0]}"))
            continue
        by_name[spec.name] = (path, raw, spec)

    defaults = [(p, raw, s) for p, raw, s in by_name.values() if s.default]
    if len(defaults) > 1:
        for path, raw, spec in defaults[1:]:
            problems.append(Problem(str(path), line_of(raw, ("default",)),
                                    f"default: '{spec.name}' is marked default, but so is "
                                    f"'{defaults[0][2].name}' ({defaults[0][0]}); keep one"))
    elif not defaults and len(by_name) > 1:
        problems.append(Problem(str(directory), 0, "no calendar is marked 'default: true'; "
                                f"mark one of {', '.join(sorted(by_name))}"))
    elif not by_name and not problems:
        problems.append(Problem(str(directory), 0, "no calendar files (only overrides)"))

    for name, (path, raw, spec) in by_name.items():
        if not spec.working_holidays:
            continue
        known_names = _holiday_names(spec.country, spec.subdivision)
        for i, wanted in enumerate(spec.working_holidays):
            if wanted.casefold() not in known_names:
                problems.append(Problem(str(path), line_of(raw, ("working_holidays", i)),
                                        f"working_holidays.{i}: the holidays package has no holiday "
                                        f"'{wanted}' for {spec.country}"
                                        f"{'-' + spec.subdivision if spec.subdivision else ''}"))

    extra_off: dict[str, set[date]] = {name: set(s.extra_holidays) for name, (_, _, s) in by_name.items()}
    extra_on: dict[str, set[date]] = {name: set(s.extra_workdays) for name, (_, _, s) in by_name.items()}
    for path, raw, ov in overrides:
        targets = [name for name, (_, _, s) in by_name.items() if s.country == ov.country]
        if ov.country is not None and not targets:
            problems.append(Problem(str(path), line_of(raw, ("country",)),
                                    f"country: no calendar has country {ov.country}"))
        for i, name in enumerate(ov.calendars):
            if name not in by_name:
                problems.append(Problem(str(path), line_of(raw, ("calendars", i)),
                                        f"calendars.{i}: unknown calendar '{name}'; known calendars: "
                                        f"{', '.join(sorted(by_name))}"))
            elif name not in targets:
                targets.append(name)
        for name in targets:
            extra_off[name].update(ov.extra_holidays)
            extra_on[name].update(ov.extra_workdays)
    for name in by_name:
        clash = sorted(extra_off[name] & extra_on[name])
        if clash:
            path = by_name[name][0]
            problems.append(Problem(str(path), 1, f"calendar '{name}': after applying overrides, "
                                    "these days are both extra holiday and extra workday: "
                                    + ", ".join(d.isoformat() for d in clash)))

    if problems:
        raise InvalidCalendarFile(problems)

    calendars = []
    for name, (_, _, spec) in by_name.items():
        fields = {f: getattr(spec, f) for f in CalendarSpec.model_fields}
        fields["extra_holidays"] = sorted(extra_off[name])
        fields["extra_workdays"] = sorted(extra_on[name])
        calendars.append(BusinessCalendar(CalendarSpec.model_validate(fields)))
    default_name = defaults[0][2].name if defaults else next(iter(by_name))
    return CalendarRegistry(calendars, default_name)


# --------------------------------------------------------------------------- coverage

# Countries whose days off are decreed anew each year (China's State Council notice, with 调休):
# a projection from rules is not the real schedule. Elsewhere the package's rules are the law.
ANNUAL_SCHEDULE_COUNTRIES = frozenset({"CN"})


@dataclass(frozen=True)
class CoverageGap:
    """A year a calendar will compute with projected days off: no official data, no override."""

    calendar: str
    country: str
    year: int


def coverage_gaps(registry: CalendarRegistry, today: date, weeks: int) -> list[CoverageGap]:
    """Every (calendar, year) from `today` to `weeks` ahead that has neither official data (for
    China: a chinese_calendar that knows the year) nor any override in rules/calendars."""
    horizon = today + timedelta(weeks=weeks)
    gaps: list[CoverageGap] = []
    for name in registry.names:
        cal = registry.get(name)
        if cal.spec.country not in ANNUAL_SCHEDULE_COUNTRIES:
            continue
        for year in range(today.year, horizon.year + 1):
            if cal.holiday_source(year) != "chinese_calendar" and not cal.has_overrides_in(year):
                gaps.append(CoverageGap(name, cal.spec.country, year))
    return gaps


@lru_cache(maxsize=1)
def builtin_registry() -> CalendarRegistry:
    """One default calendar "CN" (Asia/Shanghai, default hours, no overrides) — no files read.

    Shared between callers (a registry is immutable), so its year cache stays warm.
    """
    spec = CalendarSpec(name="CN", timezone="Asia/Shanghai", country="CN")
    return CalendarRegistry([BusinessCalendar(spec)], "CN")
