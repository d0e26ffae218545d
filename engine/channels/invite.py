"""Calendar invitations (.ics, RFC 5545) carried by reminder mails, so a visit, a deadline or a
callback lands in the recipient's calendar (Outlook, Foxmail, any iTIP client).

A flow attaches one or more `Invite`s to a mail (`ctx.mail(..., invite=Invite(...))`, or
`invite: {key: …, due: data.…}` on a definition's `mail:` action). The runtime stores them as JSON
on the outbox row (`outbox.invite`), with the organisation's time zone; the mail channel turns them
into a `text/calendar; method=REQUEST` part when it builds the message.

Stable by construction: the UID comes from the reminder's own key (not from the row), so the next
reminder of the same visit or deadline *updates* the calendar entry instead of adding a second one;
SEQUENCE and DTSTAMP come from the row's creation instant, so a later reminder outranks an earlier
one, and a retried row yields byte-identical text. No wall clock is read here.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Optional, Union
from zoneinfo import ZoneInfo

import icalendar
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

PRODID = "-//mcr//notifications//EN"
# SEQUENCE must fit a signed 32-bit integer; minutes since this epoch do until the year 6000.
_SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)
_UID_SAFE = re.compile(r"[^A-Za-z0-9._:\-]+")


class Invite(BaseModel):
    """One calendar entry: a timed slot (aware `start`) or an all-day item (a `date`).

    `key` identifies the reminded thing (`kit-deadline:42`, `care-visit:E1:C7:2026-12-07`): it is the
    UID, so every reminder of the same thing updates one entry. `summary` and `description` default
    to the mail's subject and text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    start: Union[datetime, date]
    end: Optional[Union[datetime, date]] = None
    summary: Optional[str] = None
    description: Optional[str] = None
    location: Optional[str] = None

    @field_validator("key")
    @classmethod
    def _key_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("an invitation needs a non-empty key (its calendar UID)")
        return v.strip()

    @model_validator(mode="after")
    def _consistent(self) -> "Invite":
        timed = isinstance(self.start, datetime)
        if timed and self.start.tzinfo is None:  # type: ignore[union-attr]
            raise ValueError("an invitation's start must be an aware datetime (or a date for an all-day item)")
        if self.end is not None:
            if isinstance(self.end, datetime) != timed:
                raise ValueError("an invitation's start and end must both be datetimes or both dates")
            if self.end < self.start:  # type: ignore[operator]
                raise ValueError("an invitation cannot end before it starts")
        return self

    @classmethod
    def due_by(cls, key: str, due: datetime, *, minutes: int = 30, **kw: Any) -> "Invite":
        """A slot that ends at a deadline (a callback to make, a kit to submit by 18:00)."""
        return cls(key=key, start=due - timedelta(minutes=minutes), end=due, **kw)

    @classmethod
    def all_day(cls, key: str, day: date, **kw: Any) -> "Invite":
        return cls(key=key, start=day, **kw)


def invites_json(invites: Iterable[Invite], tz: str) -> str | None:
    """What goes into `outbox.invite`: the events with the time zone their times are shown in."""
    items = []
    for inv in invites:
        item: dict[str, Any] = {"key": inv.key, "tz": tz}
        for name in ("start", "end"):
            value = getattr(inv, name)
            if value is not None:
                item[name] = value.isoformat()
        for name in ("summary", "description", "location"):
            if getattr(inv, name):
                item[name] = getattr(inv, name)
        items.append(item)
    return json.dumps(items, ensure_ascii=False, sort_keys=True) if items else None


def _when(text: str, tz: ZoneInfo) -> datetime | date:
    if "T" in text:
        return datetime.fromisoformat(text).astimezone(tz)  # DTSTART in the organisation's zone
    return date.fromisoformat(text)


def uid_for(key: str, domain: str) -> str:
    return f"mcr-{_UID_SAFE.sub('-', key).strip('-')}@{domain}"


def ics_text(stored: str, *, organizer: str, attendee: str, domain: str, created_us: int,
             subject: str, body: str) -> str:
    """The VCALENDAR (METHOD:REQUEST) for a row's stored invitations; the same row gives the same text."""
    created = datetime.fromtimestamp(created_us / 1_000_000, tz=timezone.utc).replace(microsecond=0)
    sequence = max(0, int((created - _SEQUENCE_EPOCH).total_seconds() // 60))
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "REQUEST")
    for item in json.loads(stored):
        tz = ZoneInfo(item.get("tz") or "UTC")
        start = _when(item["start"], tz)
        if item.get("end"):
            end = _when(item["end"], tz)
        elif isinstance(start, datetime):
            end = start + timedelta(minutes=30)
        else:
            end = start + timedelta(days=1)  # DTEND of an all-day item is exclusive
        ev = icalendar.Event()
        ev.add("uid", uid_for(item["key"], domain))
        ev.add("sequence", sequence)
        ev.add("dtstamp", created)
        ev.add("dtstart", start)
        ev.add("dtend", end)
        ev.add("summary", item.get("summary") or subject)
        ev.add("description", item.get("description") or body)
        if item.get("location"):
            ev.add("location", item["location"])
        ev.add("status", "CONFIRMED")
        ev.add("transp", "TRANSPARENT" if not isinstance(start, datetime) else "OPAQUE")
        org = icalendar.vCalAddress(f"mailto:{organizer}")
        ev.add("organizer", org)
        att = icalendar.vCalAddress(f"mailto:{attendee}")
        att.params["ROLE"] = "REQ-PARTICIPANT"
        att.params["PARTSTAT"] = "NEEDS-ACTION"
        att.params["RSVP"] = "FALSE"  # a reminder: no reply expected back into the engine
        ev.add("attendee", att)
        cal.add_component(ev)
    cal.add_missing_timezones()
    return cal.to_ical().decode("utf-8")
