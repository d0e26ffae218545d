"""Parsing and evaluating the time expressions of flow definitions.

Three small languages, each parsed once when a definition loads (a bad expression is an
`InvalidDefinition` naming file and line) and evaluated many times at run time:

* durations  — `after: 2 business days`, `after: 1 hour`, `every: 30 minutes`
* anchors    — `at: 31 Mar`, `at: 1 day before anniversary of contact.birthday 10:00`,
               `at: 14 days before data.deadline`
* recurrences — `every: 1 Dec 09:00 Asia/Shanghai`, `every: day 08:00 Asia/Shanghai`,
               `every: monday 09:00 UTC`, `every: month 1 09:00 UTC`, `every: quarter 1 09:00 UTC`

Timers also carry a `when:` condition (`Condition`: `data.major`, `not data.x`, `data.x == v`) and may
fill their texts from the instance's pinned rules (`timer_text`: `rules.survey.project_callback.due`,
`{rules.x.y}` and a list timer's `{item}`), resolved when armed.

Business units need a calendar; evaluation takes one (see engine/calendar.py) and never reads
the clock itself.
"""

from __future__ import annotations

import calendar as _cal
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterator, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class TimeSpecError(ValueError):
    """A time expression could not be understood."""


class CalendarLike(Protocol):
    tz: ZoneInfo

    def add_business_days(self, start: datetime, days: int) -> datetime: ...

    def add_business_hours(self, start: datetime, hours: float) -> datetime: ...

    def roll_to_workday(self, d: date, direction: Literal["forward", "backward"]) -> date: ...


MONTHS = {m.lower(): i for i, m in enumerate(_cal.month_abbr) if m}
MONTHS.update({m.lower(): i for i, m in enumerate(_cal.month_name) if m})
WEEKDAYS = {d.lower(): i for i, d in enumerate(_cal.day_name)}
WEEKDAYS.update({d.lower(): i for i, d in enumerate(_cal.day_abbr)})

_UNITS = {
    "minute": ("minutes", False), "minutes": ("minutes", False), "min": ("minutes", False),
    "hour": ("hours", False), "hours": ("hours", False),
    "day": ("days", False), "days": ("days", False),
    "week": ("weeks", False), "weeks": ("weeks", False),
}
_DURATION_RE = re.compile(
    r"^\s*(?P<n>\d+(?:\.\d+)?)\s+(?P<biz>business\s+|working\s+)?(?P<unit>[a-z]+)\s*$", re.I)
_TIME_RE = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})$")


@dataclass(frozen=True)
class Duration:
    amount: float
    unit: Literal["minutes", "hours", "days", "weeks"]
    business: bool
    text: str

    def add_to(self, start: datetime, cal: CalendarLike | None) -> datetime:
        if not self.business:
            return (start + timedelta(**{self.unit: self.amount})).astimezone(timezone.utc)
        if cal is None:
            raise TimeSpecError(f"'{self.text}' needs a business calendar")
        if self.unit == "days":
            return cal.add_business_days(start, int(self.amount))
        if self.unit == "weeks":
            return cal.add_business_days(start, int(self.amount) * 5)
        hours = self.amount if self.unit == "hours" else self.amount / 60
        return cal.add_business_hours(start, hours)

    def subtract_from(self, anchor: datetime, cal: CalendarLike | None) -> datetime:
        """The instant `self` before `anchor` (for `N days before X`)."""
        if not self.business:
            return (anchor - timedelta(**{self.unit: self.amount})).astimezone(timezone.utc)
        if cal is None:
            raise TimeSpecError(f"'{self.text}' needs a business calendar")
        if self.unit not in ("days", "weeks"):
            raise TimeSpecError(f"'{self.text} before' supports business days only")
        local = anchor.astimezone(cal.tz)
        d = local.date()
        n = int(self.amount) * (5 if self.unit == "weeks" else 1)
        while n > 0:
            d = cal.roll_to_workday(d - timedelta(days=1), "backward")
            n -= 1
        return datetime.combine(d, local.timetz().replace(tzinfo=None), cal.tz).astimezone(timezone.utc)


def parse_duration(text: str) -> Duration:
    m = _DURATION_RE.match(str(text))
    if not m:
        raise TimeSpecError(
            f"bad duration '{text}': write '<number> [business] minutes|hours|days|weeks', "
            "e.g. '2 business days' or '1 hour'")
    unit = _UNITS.get(m["unit"].lower())
    if unit is None:
        raise TimeSpecError(f"bad duration '{text}': unknown unit '{m['unit']}' "
                            "(use minutes, hours, days or weeks)")
    amount = float(m["n"])
    if amount <= 0:
        raise TimeSpecError(f"bad duration '{text}': must be greater than zero")
    business = bool(m["biz"])
    if business and unit[0] in ("days", "weeks") and amount != int(amount):
        raise TimeSpecError(f"bad duration '{text}': business days must be a whole number")
    return Duration(amount, unit[0], business, str(text).strip())  # type: ignore[arg-type]


def _parse_hhmm(token: str, text: str) -> time:
    m = _TIME_RE.match(token)
    if not m or int(m["h"]) > 23 or int(m["m"]) > 59:
        raise TimeSpecError(f"bad time of day '{token}' in '{text}' (use HH:MM)")
    return time(int(m["h"]), int(m["m"]))


def _parse_day_month(day: str, month: str, text: str) -> tuple[int, int]:
    if not day.isdigit() or month.lower() not in MONTHS:
        raise TimeSpecError(f"bad date '{day} {month}' in '{text}' (write e.g. '31 Mar')")
    d, mo = int(day), MONTHS[month.lower()]
    if not 1 <= d <= (29 if mo == 2 else _cal.monthrange(2001, mo)[1]):
        raise TimeSpecError(f"bad date '{day} {month}' in '{text}': no such day")
    return d, mo


_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class Anchor:
    """`at:` — an instant computed from a fixed day of the year or a date in the instance's data."""

    text: str
    offset: Duration | None
    direction: Literal["before", "after"]
    kind: Literal["day_of_year", "path", "anniversary"]
    day: int = 0
    month: int = 0
    path: str = ""
    at_time: time = time(9, 0)
    on_workday: bool = False  # "…, on a workday": a day off moves to the workday before (after for 'after')

    def resolve(self, data: dict[str, Any], reference: datetime, cal: CalendarLike | None,
                tz: ZoneInfo) -> datetime | None:
        """The due instant, or None when the data field it hangs on is empty."""
        ref_local = reference.astimezone(tz).date()
        instant: datetime | None = None
        if self.kind == "day_of_year":
            target = next_day_of_year(self.day, self.month, ref_local)
        else:
            raw = lookup_path(data, self.path)
            if raw in (None, ""):
                return None
            instant = coerce_instant(raw) if self.kind == "path" else None
            if instant is not None:  # a full timestamp in the data is used as it is
                anchor = instant
            else:
                value = coerce_date(raw, self.path)
                target = next_anniversary(value, ref_local) if self.kind == "anniversary" else value
        if self.kind == "day_of_year" or instant is None:
            anchor = datetime.combine(target, self.at_time, tz)
        if self.offset is None:
            due = anchor.astimezone(timezone.utc)
        elif self.direction == "before":
            due = self.offset.subtract_from(anchor, cal)
        else:
            due = self.offset.add_to(anchor, cal)
        if not self.on_workday:
            return due
        if cal is None:
            raise TimeSpecError(f"'{self.text}' needs a business calendar")
        local = due.astimezone(cal.tz)
        day = cal.roll_to_workday(local.date(), "backward" if self.direction == "before" else "forward")
        return datetime.combine(day, local.timetz().replace(tzinfo=None), cal.tz).astimezone(timezone.utc)


def lookup_path(data: dict[str, Any], path: str) -> Any:
    node: Any = data
    parts = path.split(".")
    if parts[0] == "data":
        parts = parts[1:]
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def coerce_instant(raw: Any) -> datetime | None:
    """An aware timestamp if `raw` is one (datetime or ISO text with a time and offset), else None."""
    if isinstance(raw, datetime):
        return raw if raw.tzinfo else None
    text = str(raw)
    if len(text) <= 10:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else None


def coerce_date(raw: Any, path: str) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError as exc:
        raise TimeSpecError(f"{path} = {raw!r} is not a date (YYYY-MM-DD)") from exc


def next_day_of_year(day: int, month: int, on_or_after: date) -> date:
    for year in (on_or_after.year, on_or_after.year + 1, on_or_after.year + 2):
        d = _clamped(year, month, day)
        if d >= on_or_after:
            return d
    raise AssertionError("unreachable")


def next_anniversary(original: date, on_or_after: date) -> date:
    """Next anniversary; a 29 Feb date is remembered on 28 Feb in common years."""
    return next_day_of_year(original.day, original.month, on_or_after)


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, _cal.monthrange(year, month)[1]))


_ON_WORKDAY_RE = re.compile(r",?\s+on\s+a\s+workday\s*$", re.I)


def parse_anchor(text: str) -> Anchor:
    raw = str(text).strip()
    on_workday = bool(_ON_WORKDAY_RE.search(raw))
    anchor = _parse_anchor(_ON_WORKDAY_RE.sub("", raw), raw)
    return replace(anchor, on_workday=True) if on_workday else anchor


def _parse_anchor(body: str, raw: str) -> Anchor:
    tokens = body.split()
    at_time = time(9, 0)
    if tokens and _TIME_RE.match(tokens[-1]):
        at_time = _parse_hhmm(tokens[-1], raw)
        tokens = tokens[:-1]
    offset: Duration | None = None
    direction: Literal["before", "after"] = "before"
    lowered = [t.lower() for t in tokens]
    for word in ("before", "after"):
        if word in lowered:
            i = lowered.index(word)
            offset = parse_duration(" ".join(tokens[:i]))
            direction = word  # type: ignore[assignment]
            tokens = tokens[i + 1:]
            break
    if not tokens:
        raise TimeSpecError(f"bad date expression '{raw}': nothing to anchor to")
    if len(tokens) == 2 and tokens[0].isdigit():
        d, mo = _parse_day_month(tokens[0], tokens[1], raw)
        return Anchor(raw, offset, direction, "day_of_year", day=d, month=mo, at_time=at_time)
    if len(tokens) == 3 and tokens[0].lower() == "anniversary" and tokens[1].lower() == "of":
        if not _PATH_RE.match(tokens[2]):
            raise TimeSpecError(f"bad field path '{tokens[2]}' in '{raw}'")
        return Anchor(raw, offset, direction, "anniversary", path=tokens[2], at_time=at_time)
    if len(tokens) == 1 and _PATH_RE.match(tokens[0]) and "." in tokens[0]:
        return Anchor(raw, offset, direction, "path", path=tokens[0], at_time=at_time)
    raise TimeSpecError(
        f"bad date expression '{raw}': write e.g. '31 Mar', 'data.deadline', "
        "'1 day before anniversary of contact.birthday' or '14 days before 31 Mar 09:00'")


def parse_zone(name: str, text: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TimeSpecError(f"unknown time zone '{name}' in '{text}'") from exc


@dataclass(frozen=True)
class Recurrence:
    """`every:` of a recurring launch; `period_key` names one occurrence so it runs once."""

    text: str
    kind: Literal["yearly", "quarterly", "monthly", "weekly", "daily"]
    at_time: time
    tz: ZoneInfo
    month: int = 1
    day: int = 1
    weekday: int = 0

    def _occurrence_on(self, d: date) -> datetime | None:
        ok = {
            "daily": True,
            "weekly": d.weekday() == self.weekday,
            "monthly": d.day == min(self.day, _cal.monthrange(d.year, d.month)[1]),
            "quarterly": d.month in (1, 4, 7, 10) and d.day == min(self.day, _cal.monthrange(d.year, d.month)[1]),
            "yearly": d == _clamped(d.year, self.month, self.day),
        }[self.kind]
        return datetime.combine(d, self.at_time, self.tz).astimezone(timezone.utc) if ok else None

    def _days(self, d: date, step: int) -> Iterator[date]:
        """The days `_occurrence_on` accepts, from `d` on (step 1) or back (step -1), in that order —
        straight to each (a launch loop asks every launch at every clock move: walking a year day by
        day for a yearly one was most of the simulation's launch time)."""
        if self.kind == "daily":
            while True:
                yield d
                d += timedelta(days=step)
        if self.kind == "weekly":
            d += timedelta(days=(self.weekday - d.weekday()) % 7 if step > 0 else -((d.weekday() - self.weekday) % 7))
            while True:
                yield d
                d += timedelta(days=7 * step)
        year, month = d.year, d.month
        while True:
            if self.kind == "yearly":
                cand = _clamped(year, self.month, self.day)
                year += step
            else:
                cand = _clamped(year, month, self.day)
                year, month = (year + (month + step - 1) // 12, (month + step - 1) % 12 + 1)
            if (self.kind != "quarterly" or cand.month in (1, 4, 7, 10)) and (cand >= d if step > 0 else cand <= d):
                yield cand

    def previous(self, at: datetime) -> datetime | None:
        """The latest occurrence at or before `at` (within ~13 months), or None."""
        d = at.astimezone(self.tz).date()
        for day in self._days(d, -1):
            if (d - day).days >= 400:
                return None
            occ = datetime.combine(day, self.at_time, self.tz).astimezone(timezone.utc)
            if occ <= at:
                return occ
        raise AssertionError("unreachable")

    def next(self, after: datetime) -> datetime:
        """The first occurrence strictly after `after`."""
        d = after.astimezone(self.tz).date()
        for day in self._days(d, 1):
            occ = datetime.combine(day, self.at_time, self.tz).astimezone(timezone.utc)
            if occ > after:
                return occ
        raise AssertionError("unreachable")

    def period_key(self, occurrence: datetime) -> str:
        return occurrence.astimezone(self.tz).strftime("%Y-%m-%dT%H:%M")


def parse_recurrence(text: str) -> Recurrence:
    raw = str(text).strip()
    tokens = raw.split()
    if len(tokens) < 3:
        raise TimeSpecError(
            f"bad recurrence '{raw}': write e.g. '1 Dec 09:00 Asia/Shanghai', 'day 08:00 UTC', "
            "'monday 09:00 Asia/Shanghai', 'month 1 09:00 UTC' or 'quarter 1 09:00 UTC'")
    tz = parse_zone(tokens[-1], raw)
    at_time = _parse_hhmm(tokens[-2], raw)
    head = tokens[:-2]
    first = head[0].lower()
    if head == ["day"] or head == ["daily"]:
        return Recurrence(raw, "daily", at_time, tz)
    if len(head) == 1 and first in WEEKDAYS:
        return Recurrence(raw, "weekly", at_time, tz, weekday=WEEKDAYS[first])
    if len(head) == 2 and first in ("month", "quarter") and head[1].isdigit() and 1 <= int(head[1]) <= 31:
        return Recurrence(raw, "monthly" if first == "month" else "quarterly", at_time, tz, day=int(head[1]))
    if len(head) == 2:
        d, mo = _parse_day_month(head[0], head[1], raw)
        return Recurrence(raw, "yearly", at_time, tz, month=mo, day=d)
    raise TimeSpecError(f"bad recurrence '{raw}': cannot read '{' '.join(head)}'")


# ---------------------------------------------------------------------------------------------- timer texts

_RULES_REF = r"rules\.[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+"
_WHOLE_RULES_RE = re.compile(rf"^\s*({_RULES_REF})\s*$")
_PLACEHOLDER_RE = re.compile(rf"\{{({_RULES_REF}|item)\}}")


def rules_refs(text: str) -> list[str]:
    """The rules paths a timer text names: the whole text (`rules.survey.x.due`) or `{rules.x.y}` inside it."""
    whole = _WHOLE_RULES_RE.match(text)
    if whole:
        return [whole[1]]
    return [m[1] for m in _PLACEHOLDER_RE.finditer(text) if m[1] != "item"]


def has_rules_ref(text: str) -> bool:
    return bool(rules_refs(text)) or "{item}" in text


def timer_text(text: str, rules_value: Any, item: Any = None) -> str:
    """The text with its rules values and `{item}` filled in (`rules_value(path)` reads the rules)."""
    whole = _WHOLE_RULES_RE.match(text)
    if whole:
        return str(rules_value(whole[1]))

    def fill(m: re.Match[str]) -> str:
        return str(item) if m[1] == "item" else str(rules_value(m[1]))

    return _PLACEHOLDER_RE.sub(fill, text)


_CONDITION_RE = re.compile(
    r"^\s*(?P<not>not\s+)?(?P<path>data(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*(?:(?P<op>==|!=)\s*(?P<value>.+?))?\s*$")


@dataclass(frozen=True)
class Condition:
    """`when:` of a timer — `data.major`, `not data.paused`, `data.severity == urgent`."""

    text: str
    path: str
    negate: bool = False
    op: str | None = None
    value: Any = None

    def holds(self, data: dict[str, Any]) -> bool:
        found = lookup_path(data, self.path)
        if self.op is None:
            result = bool(found)
        elif self.op == "==":
            result = found == self.value or (found is not None and str(found) == str(self.value))
        else:
            result = not (found == self.value or (found is not None and str(found) == str(self.value)))
        return not result if self.negate else result


def parse_condition(text: str) -> Condition:
    m = _CONDITION_RE.match(str(text))
    if not m:
        raise TimeSpecError(f"bad condition '{text}': write 'data.major', 'not data.paused' or "
                            "'data.severity == urgent'")
    value: Any = None
    if m["op"]:
        raw = m["value"].strip()
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            value = raw[1:-1]
        elif raw in ("true", "false"):
            value = raw == "true"
        elif raw in ("null", "none"):
            value = None
        else:
            try:
                value = int(raw)
            except ValueError:
                try:
                    value = float(raw)
                except ValueError:
                    value = raw
    return Condition(str(text).strip(), m["path"], bool(m["not"]), m["op"], value)
