"""WeCom and DingTalk robot messages delivered from the outbox, against real parts: the SQLite file and
PostgreSQL (`db`), a real HTTP server on loopback playing the robot (tests/support/webhook.py), and
aiosmtpd for the mail with its calendar invitation. Same rows, leases and exactly-once marks as mail."""

from __future__ import annotations

import email
import email.policy
import json
from datetime import date, datetime, timedelta
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import icalendar
import pytest

from engine import sql
from engine.channels.invite import Invite, invites_json
from engine.channels.rules import NotifyRules, robots_from_rules
from engine.channels.webhook import DingTalkRobot, WeComRobot, dingtalk_sign
from engine.clock import FakeClock, to_us
from engine.db import Database
from engine.mailers import SmtpMailer
from engine.notify import OutboxSender, list_outbox
from tests.support.smtp import RecordingSMTPServer
from tests.support.webhook import RecordingRobotServer

SENDER = "MCR 通知 <notify@crm.example.com>"
SECRET = "SECtest0123456789abcdef"
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def robot() -> Iterator[RecordingRobotServer]:
    server = RecordingRobotServer().start()
    yield server
    server.stop()


@pytest.fixture
def signed_robot() -> Iterator[RecordingRobotServer]:
    server = RecordingRobotServer(secret=SECRET).start()
    yield server
    server.stop()


def queue(db: Database, clock: FakeClock, n: int = 1, *, channel: str = "wecom", target: str | None = "team",
          recipient: str = "张三", invite: str | None = None, body: str = "#### 提醒\n\n请提交计划 {i}") -> list[int]:
    """n outbox rows written with the runtime's own INSERT, due now; returns their ids."""
    now = to_us(clock.now())
    with db.tx() as tx:
        before = tx.one("SELECT COALESCE(MAX(id), 0) FROM outbox")[0]
        tx.many(sql.INSERT_OUTBOX_NOTICE, [
            {"instance_id": None, "dedupe_key": None, "template": "kit_reminder", "locale": "zh-CN",
             "recipient": recipient, "subject": f"提醒 {i}", "body": body.format(i=i), "now": now,
             "channel": channel, "target": target, "invite": invite}
            for i in range(n)])
        return [r[0] for r in tx.all("SELECT id FROM outbox WHERE id > :b ORDER BY id", {"b": before})]


def row(db: Database, row_id: int) -> dict[str, Any]:
    with db.read() as tx:
        r = tx.one("SELECT status, attempts, last_error, claimed_by FROM outbox WHERE id = :i", {"i": row_id})
    return dict(zip(("status", "attempts", "last_error", "claimed_by"), r))


def sender(db: Database, clock: FakeClock, robots: dict[str, Any], **kw: Any) -> OutboxSender:
    return OutboxSender(db, SmtpMailer("127.0.0.1", 9, timeout=1), clock, sender_address=SENDER,
                        worker_id="w1", robots=robots, **kw)


def test_wecom_row_is_posted_once_as_markdown_and_never_again(db: Database, clock: FakeClock,
                                                               robot: RecordingRobotServer) -> None:
    [rid] = queue(db, clock, body="#### 提醒\n\n打开 [计划](http://x/kits/1)\n\n> @张三")
    s = sender(db, clock, {"team": WeComRobot("team", robot.url, timeout=5)})
    assert s.deliver_due_sync().sent == 1
    assert robot.bodies() == [{"msgtype": "markdown",
                               "markdown": {"content": "#### 提醒\n\n打开 [计划](http://x/kits/1)\n\n> @张三"}}]
    assert row(db, rid)["status"] == "sent"
    clock.advance(timedelta(hours=1))
    assert s.deliver_due_sync().claimed == 0
    assert len(robot.received) == 1
    [view] = list_outbox(db)
    assert view.channel == "wecom" and view.where == "wecom team → 张三"


def test_dingtalk_signed_request_carries_the_signature_dingtalk_checks(db: Database, clock: FakeClock,
                                                                        signed_robot: RecordingRobotServer) -> None:
    [rid] = queue(db, clock, channel="dingtalk", target="hq")
    s = sender(db, clock, {"hq": DingTalkRobot("hq", signed_robot.url, secret=SECRET, clock=clock, timeout=5)})
    assert s.deliver_due_sync().sent == 1
    [got] = signed_robot.received
    assert got.signature_ok is True
    assert got.query["access_token"] == "test-token"
    assert got.query["timestamp"] == str(to_us(clock.now()) // 1000)  # ms, from the sender's clock
    assert got.body["msgtype"] == "markdown" and got.body["markdown"]["title"] == "提醒 0"
    assert row(db, rid)["status"] == "sent"


def test_dingtalk_with_a_wrong_secret_fails_at_once_with_the_robots_words(db: Database, clock: FakeClock,
                                                                          signed_robot: RecordingRobotServer) -> None:
    [rid] = queue(db, clock, channel="dingtalk", target="hq")
    s = sender(db, clock, {"hq": DingTalkRobot("hq", signed_robot.url, secret="SECwrong", clock=clock, timeout=5)})
    report = s.deliver_due_sync()
    assert (report.sent, report.failed) == (0, 1)
    r = row(db, rid)
    assert r["status"] == "failed" and r["attempts"] == 1
    assert r["last_error"] == "dingtalk robot hq refused the message: errcode 310000 sign not match"
    [failed] = list_outbox(db, "failed")
    assert failed.id == rid and "errcode 310000" in (failed.last_error or "")


def test_webhook_answering_500_then_ok_is_delivered_once(db: Database, clock: FakeClock,
                                                         robot: RecordingRobotServer) -> None:
    [rid] = queue(db, clock)
    robot.script = ["500"]
    s = sender(db, clock, {"team": WeComRobot("team", robot.url, timeout=5)}, backoff_base=timedelta(seconds=30))
    first = s.deliver_due_sync()
    assert (first.sent, first.retried) == (0, 1)
    r = row(db, rid)
    assert r["status"] == "pending" and r["attempts"] == 1 and "HTTP 500" in r["last_error"]
    assert r["claimed_by"] is None
    assert s.deliver_due_sync().claimed == 0  # not before its backoff
    clock.advance(timedelta(seconds=31))
    assert s.deliver_due_sync().sent == 1
    clock.advance(timedelta(hours=7))
    assert s.deliver_due_sync().claimed == 0
    assert [r.answer for r in robot.received] == ["500", "ok"]  # one delivery, one refused attempt
    assert row(db, rid)["status"] == "sent"


def test_webhook_that_times_out_is_retried_and_delivered_once(db: Database, clock: FakeClock,
                                                              robot: RecordingRobotServer) -> None:
    [rid] = queue(db, clock)
    robot.script = ["timeout"]
    s = sender(db, clock, {"team": WeComRobot("team", robot.url, timeout=0.3)})
    assert s.deliver_due_sync().retried == 1
    assert "no answer within 0.3 s" in row(db, rid)["last_error"]
    clock.advance(timedelta(minutes=1))
    assert s.deliver_due_sync().sent == 1
    clock.advance(timedelta(hours=7))
    assert s.deliver_due_sync().claimed == 0
    # Two posts arrived: the one that timed out (the robot may have shown it: the documented
    # duplicate window) and the retry; no third one, ever.
    assert len(robot.received) == 2
    assert robot.bodies()[0] == robot.bodies()[1]


def test_a_4xx_answer_fails_the_row_at_once_and_the_rest_of_the_batch_still_goes(
        db: Database, clock: FakeClock, robot: RecordingRobotServer) -> None:
    ids = queue(db, clock, 3)
    robot.script = ["ok", "400"]
    s = sender(db, clock, {"team": WeComRobot("team", robot.url, timeout=5)})
    report = s.deliver_due_sync()
    assert (report.sent, report.failed, report.retried) == (2, 1, 0)
    assert [row(db, i)["status"] for i in ids] == ["sent", "failed", "sent"]
    assert row(db, ids[1])["last_error"].startswith("wecom robot team refused the message: HTTP 400")


def test_a_robot_that_is_down_is_not_hammered_for_the_rest_of_its_batch(db: Database, clock: FakeClock,
                                                                        robot: RecordingRobotServer) -> None:
    ids = queue(db, clock, 3)
    robot.script = ["503"]
    s = sender(db, clock, {"team": WeComRobot("team", robot.url, timeout=5)})
    assert s.deliver_due_sync().retried == 3
    assert len(robot.received) == 1
    assert all(row(db, i)["status"] == "pending" for i in ids)
    assert "not offered" in row(db, ids[2])["last_error"]


def test_a_rate_limited_robot_is_retried_not_failed(db: Database, clock: FakeClock,
                                                    robot: RecordingRobotServer) -> None:
    [rid] = queue(db, clock)
    robot.script = ["errcode:45009"]
    s = sender(db, clock, {"team": WeComRobot("team", robot.url, timeout=5)})
    assert s.deliver_due_sync().retried == 1
    clock.advance(timedelta(minutes=1))
    assert s.deliver_due_sync().sent == 1
    assert row(db, rid)["status"] == "sent"


def test_robot_without_its_environment_variable_fails_rows_naming_the_variable(db: Database,
                                                                               clock: FakeClock) -> None:
    rules = NotifyRules.model_validate({"robots": {"team": {"kind": "wecom", "url_env": "MCR_WECOM_TEAM_URL"}},
                                        "units": {"T1": ["team"]}})
    [rid] = queue(db, clock)
    s = sender(db, clock, robots_from_rules(rules, clock=clock, environ={}))
    assert s.deliver_due_sync().failed == 1
    assert row(db, rid)["last_error"] == ("robot team: environment variable MCR_WECOM_TEAM_URL "
                                          "(its webhook URL) is not set")


def test_mail_and_robot_rows_of_one_round_go_out_side_by_side(db: Database, clock: FakeClock,
                                                              robot: RecordingRobotServer,
                                                              smtp_server: RecordingSMTPServer) -> None:
    queue(db, clock, 2)
    queue(db, clock, 2, channel="mail", target=None, recipient="a@example.com", body="正文 {i}")
    s = OutboxSender(db, SmtpMailer("127.0.0.1", smtp_server.port, timeout=5), clock, sender_address=SENDER,
                     worker_id="w1", robots={"team": WeComRobot("team", robot.url, timeout=5)})
    assert s.deliver_due_sync().sent == 4
    assert len(robot.received) == 2 and len(smtp_server.messages) == 2


def _calendar_of(msg: email.message.EmailMessage) -> tuple[icalendar.Calendar, str]:
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1, [p.get_content_type() for p in msg.walk()]
    assert parts[0].get_param("method") == "REQUEST"
    return icalendar.Calendar.from_ical(parts[0].get_content()), parts[0].get_content()


def test_reminder_mail_carries_an_ics_invitation_that_a_later_reminder_updates(
        db: Database, clock: FakeClock, smtp_server: RecordingSMTPServer) -> None:
    visit = Invite(key="care-visit:E1:C7:2026-12-07", start=datetime(2026, 12, 7, 9, 0, tzinfo=SHANGHAI),
                   end=datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI), summary="拜访 王总")
    stored = invites_json([visit], "Asia/Shanghai")
    [first] = queue(db, clock, channel="mail", target=None, recipient="zhang@example.com", invite=stored)
    s = OutboxSender(db, SmtpMailer("127.0.0.1", smtp_server.port, timeout=5), clock, sender_address=SENDER,
                     worker_id="w1", robots={})
    assert s.deliver_due_sync().sent == 1
    clock.advance(timedelta(days=1))
    queue(db, clock, channel="mail", target=None, recipient="zhang@example.com", invite=stored)
    assert s.deliver_due_sync().sent == 1

    events = []
    for msg in smtp_server.messages:
        cal, _ = _calendar_of(msg)
        assert str(cal["METHOD"]) == "REQUEST"
        [ev] = cal.walk("VEVENT")
        events.append(ev)
        assert ev.decoded("DTSTART") == datetime(2026, 12, 7, 9, 0, tzinfo=SHANGHAI)
        assert ev["DTSTART"].params["TZID"] == "Asia/Shanghai"  # in the organisation's zone
        assert str(ev["SUMMARY"]) == "拜访 王总"
        assert str(ev["ORGANIZER"]) == "mailto:notify@crm.example.com"
        assert str(ev["ATTENDEE"]) == "mailto:zhang@example.com"
        assert [c.name for c in cal.subcomponents if c.name == "VTIMEZONE"] == ["VTIMEZONE"]
        attachments = [p.get_filename() for p in msg.walk() if p.get_filename()]
        assert attachments == ["invite.ics"]
    # Same UID: the second reminder updates the calendar entry; a higher SEQUENCE says it is newer.
    assert str(events[0]["UID"]) == str(events[1]["UID"]) == "mcr-care-visit:E1:C7:2026-12-07@crm.example.com"
    assert int(events[1]["SEQUENCE"]) > int(events[0]["SEQUENCE"])
    assert row(db, first)["status"] == "sent"


def test_a_retried_invitation_mail_is_byte_identical(db: Database, clock: FakeClock,
                                                     smtp_server: RecordingSMTPServer) -> None:
    stored = invites_json([Invite.all_day("kit-deadline:7", date(2027, 3, 31))], "Asia/Shanghai")
    queue(db, clock, channel="mail", target=None, recipient="team@example.com", invite=stored)
    smtp_server.fail_next = 1
    s = OutboxSender(db, SmtpMailer("127.0.0.1", smtp_server.port, timeout=5), clock, sender_address=SENDER,
                     worker_id="w1", robots={})
    assert s.deliver_due_sync().retried == 1
    clock.advance(timedelta(minutes=5))
    assert s.deliver_due_sync().sent == 1
    [msg] = smtp_server.messages
    cal, text = _calendar_of(msg)
    [ev] = cal.walk("VEVENT")
    assert ev.decoded("DTSTART") == date(2027, 3, 31)  # an all-day deadline
    assert ev.decoded("DTEND") == date(2027, 4, 1)
    assert "DTSTAMP:" in text and json.loads(stored)[0]["key"] == "kit-deadline:7"


def test_dingtalk_sign_matches_the_documented_recipe() -> None:
    # The recipe of DingTalk's docs: HmacSHA256(secret, f"{timestamp}\n{secret}") → base64 → urlencode.
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote_plus

    ts = 1733300000000
    expected = quote_plus(base64.b64encode(hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(),
                                                    hashlib.sha256).digest()))
    assert dingtalk_sign(SECRET, ts) == expected
