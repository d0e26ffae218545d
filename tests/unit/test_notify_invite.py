"""Calendar invitations: the model refuses what a calendar cannot show, a definition's `invite:` is
checked at load (file:line), and the same row always yields the same .ics text."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from pydantic import ValidationError

from engine.channels.invite import Invite, ics_text, invites_json
from engine.definition import load_definitions
from engine.errors import InvalidDefinition
from tests.conftest import TEST_FLOWS

SH = ZoneInfo("Asia/Shanghai")


def test_an_invitation_needs_an_aware_start_and_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValidationError, match="aware datetime"):
        Invite(key="k", start=datetime(2027, 3, 31, 18, 0))
    with pytest.raises(ValidationError, match="cannot end before it starts"):
        Invite(key="k", start=datetime(2027, 3, 31, 18, 0, tzinfo=SH), end=datetime(2027, 3, 31, 17, 0, tzinfo=SH))
    with pytest.raises(ValidationError, match="must both be datetimes or both dates"):
        Invite(key="k", start=date(2027, 3, 31), end=datetime(2027, 3, 31, 17, 0, tzinfo=SH))
    with pytest.raises(ValidationError, match="non-empty key"):
        Invite(key=" ", start=date(2027, 3, 31))


def test_the_same_row_gives_the_same_ics_and_times_are_shown_in_the_org_zone() -> None:
    due = datetime(2027, 3, 31, 10, 0, tzinfo=timezone.utc)  # 18:00 in Shanghai
    stored = invites_json([Invite.due_by("kit-deadline:7", due, minutes=60)], "Asia/Shanghai")
    assert stored is not None
    args = dict(organizer="mcr@corp.example", attendee="a@corp.example", domain="corp.example",
                created_us=1_800_000_000_000_000, subject="计划截止", body="请提交")
    first, again = ics_text(stored, **args), ics_text(stored, **args)
    assert first == again
    assert "DTEND;TZID=Asia/Shanghai:20270331T180000" in first.replace("\r\n", "\n")
    later = ics_text(stored, **{**args, "created_us": args["created_us"] + 60_000_000 * 60 * 24})
    [a] = icalendar.Calendar.from_ical(first).walk("VEVENT")
    [b] = icalendar.Calendar.from_ical(later).walk("VEVENT")
    assert a["UID"] == b["UID"] and int(b["SEQUENCE"]) > int(a["SEQUENCE"])
    assert str(a["SUMMARY"]) == "计划截止"  # the mail's subject unless the flow names one
    assert a.decoded("DTEND") - a.decoded("DTSTART") == timedelta(hours=1)


def test_a_bad_invite_on_a_mail_action_is_reported_at_its_line(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(TEST_FLOWS / "ticket", flows / "ticket")
    path = flows / "ticket" / "ticket.yaml"
    text = path.read_text(encoding="utf-8")
    anchor = "      - mail: assigned\n        to: payload.assignee\n"
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + "        invite: {key: visit}\n", 1), encoding="utf-8")
    line = text[: text.index(anchor)].count("\n") + 1
    with pytest.raises(InvalidDefinition) as err:
        load_definitions(flows)
    assert [f"{p.line}: {p.message}" for p in err.value.problems] == [
        f"{line}: mail action: write invite as {{key: NAME, due|at|on: data.FIELD[, minutes: N]}}"]
