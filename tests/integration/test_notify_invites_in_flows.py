"""The reminders of visits, deadlines and callbacks carry a calendar invitation: the care digest (one
entry per visit due), the planning kit's deadline reminders (one UID per kit: every reminder updates
the same entry) and the activity callback reminder (a slot ending at the callback's due time)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import icalendar
import pytest

from engine.app import build_runtime
from engine.channels.invite import ics_text
from engine.clock import FakeClock
from engine.db import Database
from flows.planning.care import run_care_scan
from flows.planning.kit import issue_kit
from flows.planning.sample import planning_runtime
from flows.survey import service
from flows.survey.fixtures import insert_org, standard_org
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))


def invites(db: Database, template: str) -> list[tuple[str, list[dict[str, Any]] | None]]:
    with db.read() as tx:
        rows = tx.all("SELECT recipient, invite FROM outbox WHERE template = :t ORDER BY id", {"t": template})
    return [(r[0], json.loads(r[1]) if r[1] else None) for r in rows]


def event(stored: list[dict[str, Any]], created_us: int = 1_800_000_000_000_000) -> icalendar.Event:
    cal = icalendar.Calendar.from_ical(ics_text(json.dumps(stored), organizer="mcr@corp.example",
                                                attendee="x@corp.example", domain="corp.example",
                                                created_us=created_us, subject="s", body="b"))
    [ev] = cal.walk("VEVENT")
    return ev


def test_kit_deadline_reminders_invite_every_team_member_to_one_calendar_entry(
        db: Database, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_KIT_DIR", str(tmp_path / "kits"))
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
    rt = planning_runtime(db, clock)
    issue_kit(rt, "T-SZ-OP", 2027)
    for day in (17, 24):
        clock.set(datetime(2027, 3, day, 9, 0, tzinfo=SH))
        rt.sweep()
    rows = invites(db, "kit_reminder")
    assert len(rows) == 6  # 2 reminders × 3 team members
    keys = {stored[0]["key"] for _, stored in rows if stored}
    assert len(keys) == 1 and next(iter(keys)).startswith("kit-deadline:")
    ev = event(rows[0][1])  # type: ignore[arg-type]
    assert ev.decoded("DTEND") == datetime(2027, 3, 31, 18, 0, tzinfo=SH)  # ends at the deadline
    assert ev["DTEND"].params["TZID"] == "Asia/Shanghai"
    assert "2027" in str(ev["SUMMARY"])


def test_activity_callback_reminder_invites_the_inviter_to_call_by_the_due_time(db: Database,
                                                                               clock: FakeClock) -> None:
    rt = build_runtime(db, clock=clock, migrate=False)
    insert_org(db, standard_org())
    clock.set(datetime(2026, 11, 19, 10, 30, tzinfo=timezone.utc))
    out = service.activity_ended(rt, "A1", principal=principal_of(rt, "E6"))
    clock.set(datetime(2026, 11, 23, 9, 59, tzinfo=timezone.utc))
    rt.sweep()
    [(recipient, stored)] = invites(db, "activity_callback_reminder")
    assert recipient == "e6@corp.example" and stored is not None
    ev = event(stored)
    assert ev.decoded("DTEND") == datetime.fromisoformat(out["due_at"])  # 2026-11-23 18:00 +08:00
    assert ev.decoded("DTEND") - ev.decoded("DTSTART") == timedelta(minutes=30)
    assert stored[0]["key"].startswith("activity_callback:") and stored[0]["key"].endswith(":callback")


def test_care_digest_invites_the_owner_to_each_visit_due(db: Database, clock: FakeClock) -> None:
    clock.set(datetime(2027, 1, 10, 7, 0, tzinfo=SH))
    rt = planning_runtime(db, clock)
    run_care_scan(rt, date(2027, 1, 10))  # the first scan starts every cadence clock (no first-day flood)
    clock.set(datetime(2027, 1, 18, 7, 0, tzinfo=SH))
    run_care_scan(rt, date(2027, 1, 18))  # K001 (tier S, every 7 days) was due on 17 Jan
    rows = dict(invites(db, "care_digest"))
    stored = rows["e101@example.com"]
    assert stored is not None
    [visit] = [s for s in stored if s["key"] == "care:visit:K001:2027-01-17"]
    assert visit["start"] == "2027-01-18"  # overdue: in today's calendar, all day
    ev = event([visit])
    assert ev.decoded("DTSTART") == date(2027, 1, 18)
    assert str(ev["SUMMARY"]).startswith("拜访 ")
