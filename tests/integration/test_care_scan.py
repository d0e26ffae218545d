"""The daily care scan against real databases: birthdays (29 Feb on 28 Feb in common years) naming
the paired sponsor, festivals computed from lunar dates, visit cadences (a logged visit resets the
clock; owner first, supervisor after the grace), rotation flags — ONE digest per person per day,
and no reminder ever sent twice."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.clock import FakeClock
from engine.db import Database
from engine.errors import MCRError
from engine.launches import run_due_launches
from flows.planning.care import care_items, log_visit, run_care_scan, set_coverage
from flows.planning.sample import planning_runtime
from tests.support.principals import principal_of

SH = timezone(timedelta(hours=8))


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Any:
    clock.set(datetime(2027, 1, 10, 7, 0, tzinfo=SH))
    return planning_runtime(db, clock)


def items_for(rt: Any, day: date) -> list[Any]:
    with rt.db.session() as session:
        return care_items(session, day)


def digests(db: Database) -> list[tuple[str, str]]:
    with db.read() as tx:
        return [(r[0], r[1]) for r in tx.all("SELECT recipient, dedupe_key FROM outbox WHERE template = 'care_digest' "
                                             "ORDER BY id")]


def test_a_29_february_birthday_is_reminded_on_27_february_naming_the_sponsor(rt: Any) -> None:
    [item] = [i for i in items_for(rt, date(2027, 2, 27)) if i.kind == "birthday"]
    assert (item.recipient, item.contact, item.day) == ("E101", "K001", "2027-02-28")
    assert item.sponsors == ["李总裁(E010)"]
    assert not [i for i in items_for(rt, date(2027, 2, 28)) if i.kind == "birthday"]
    leap = [i for i in items_for(rt, date(2028, 2, 28)) if i.kind == "birthday"]
    assert [(i.contact, i.day) for i in leap] == [("K001", "2028-02-29")]


def test_only_key_contacts_of_cared_tiers_get_birthday_care(rt: Any) -> None:
    # K005 (B) is cared for, K006 (C, no birthday anyway) is coverage only
    assert [i.contact for i in items_for(rt, date(2027, 11, 30)) if i.kind == "birthday"] == ["K005"]


def test_festivals_come_from_lunar_dates_for_every_owner(rt: Any) -> None:
    fest = [i for i in items_for(rt, date(2027, 2, 3)) if i.kind == "festival"]  # Spring Festival 6 Feb 2027
    assert {i.recipient for i in fest} == {"E101", "E102", "E201", "E301"}
    assert {i.day for i in fest} == {"2027-02-06"} and all(i.title == "春节" for i in fest)
    mid = [i for i in items_for(rt, date(2026, 9, 22)) if i.kind == "festival"]  # Mid-Autumn 25 Sep 2026
    assert mid and mid[0].day == "2026-09-25"


def test_one_digest_per_person_per_day_and_nothing_is_sent_twice(rt: Any, db: Database) -> None:
    expected = items_for(rt, date(2027, 2, 3))  # Spring Festival for 4 owners, plus visits overdue since 17 Jan
    people = {i.recipient for i in expected}
    first = run_care_scan(rt, date(2027, 2, 3))
    assert (first.people, first.items, first.mails) == (len(people), len(expected), len(people))
    again = run_care_scan(rt, date(2027, 2, 3))
    assert (again.people, again.items, again.mails) == (0, 0, 0)
    sent = digests(db)
    assert len(sent) == len(set(sent)) == len(people)
    assert ("e101@example.com", "care-digest:E101:2027-02-03:e101@example.com") in sent
    with db.read() as tx:
        body = tx.one("SELECT body FROM outbox WHERE recipient = 'e101@example.com' AND template = 'care_digest'")[0]
    assert "春节" in body and "黄总" in body


def test_overdue_visits_remind_the_owner_then_the_supervisor_and_a_visit_resets_the_clock(
        rt: Any, db: Database, clock: FakeClock) -> None:
    # Tracking of the sample contacts began on 10 Jan (their import, seen by that day's scan); C001 is
    # S: a visit every 7 days.
    run_care_scan(rt, date(2027, 1, 10))
    assert not [i for i in items_for(rt, date(2027, 1, 17)) if i.contact == "K001" and i.kind == "visit"]
    [owner] = [i for i in items_for(rt, date(2027, 1, 18)) if i.contact == "K001" and i.kind == "visit"]
    assert (owner.recipient, owner.day, owner.overdue_days) == ("E101", "2027-01-17", 1)
    esc = [i for i in items_for(rt, date(2027, 1, 25)) if i.contact == "K001" and i.kind == "visit_escalation"]
    assert [(i.recipient, i.owner) for i in esc] == [("E100", "E101")]
    clock.set(datetime(2027, 1, 26, 9, 0, tzinfo=SH))
    out = log_visit(db, clock, "K001", principal=principal_of(db, "E101"), on=date(2027, 1, 26))
    assert out["next_due"] == "2027-02-02"
    assert not [i for i in items_for(rt, date(2027, 2, 2)) if i.contact == "K001" and i.kind.startswith("visit")]
    assert [i.day for i in items_for(rt, date(2027, 2, 3)) if i.contact == "K001" and i.kind == "visit"] == \
        ["2027-02-02"]


def test_a_visit_cannot_be_logged_in_the_future_or_by_an_outsider(rt: Any, db: Database, clock: FakeClock) -> None:
    with pytest.raises(MCRError):
        log_visit(db, clock, "K001", principal=principal_of(db, "E101"), on=date(2027, 1, 11))
    with pytest.raises(MCRError):
        log_visit(db, clock, "K001", principal=principal_of(db, "X999"), on=date(2027, 1, 9))
    with pytest.raises(MCRError):
        log_visit(db, clock, "K001", principal=principal_of(db, "E020"), on=date(2027, 1, 9), kind="sponsor_meeting")  # E010 sponsors K001
    log_visit(db, clock, "K001", principal=principal_of(db, "E010"), on=date(2027, 1, 9), kind="sponsor_meeting")


def test_overdue_sponsor_meetings_remind_sponsor_and_owner(rt: Any) -> None:
    # E010 sponsors K001 monthly (30 days from 10 Jan → due 9 Feb), E020 sponsors K003 bimonthly (11 Mar).
    run_care_scan(rt, date(2027, 1, 10))  # the first scan starts the clocks at the pairing (10 Jan)
    spon = [i for i in items_for(rt, date(2027, 2, 10)) if i.kind == "sponsor"]
    assert sorted(i.recipient for i in spon) == ["E010", "E101"] and spon[0].day == "2027-02-09"


def test_rotation_is_flagged_to_the_supervisor_a_quarter_before_four_years(rt: Any, db: Database,
                                                                          clock: FakeClock) -> None:
    set_coverage(db, clock, "C001", "E101", date(2023, 6, 1), principal=principal_of(db, "E002"))
    assert not [i for i in items_for(rt, date(2027, 3, 1)) if i.kind == "rotation"]
    [flag] = [i for i in items_for(rt, date(2027, 3, 2)) if i.kind == "rotation"]
    assert (flag.recipient, flag.owner, flag.customer, flag.day) == ("E100", "E101", "C001", "2027-06-01")
    run_care_scan(rt, date(2027, 3, 2))
    assert not [p for p in run_care_scan(rt, date(2027, 3, 3)).digests]  # flagged once, not every day after


def test_the_daily_launch_runs_the_scan_at_seven(rt: Any, db: Database, clock: FakeClock) -> None:
    clock.set(datetime(2027, 2, 3, 7, 0, tzinfo=SH))
    people = {i.recipient for i in items_for(rt, date(2027, 2, 3))}
    outcomes = {o.launch: o for o in run_due_launches(rt)}
    assert outcomes["care_digest:daily_scan"].status == "done"
    assert outcomes["care_digest:daily_scan"].started == len(people) == len(digests(db))
