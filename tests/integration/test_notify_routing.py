"""A step's notifications go to the channels rules/notify.yaml names for each recipient: mail, a team's
WeCom robot, a person's DingTalk robot — one outbox row per channel, the robot message addressed by
name, outside addresses only mailed; then delivered by the sender to a real loopback robot."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from engine.clock import FakeClock
from engine.db import Database
from engine.definition import load_definitions
from engine.rules import PRODUCT_ROOT
from engine.runtime import Runtime
from tests.conftest import TEST_FLOWS
from tests.support.accounts import load_org
from tests.support.webhook import RecordingRobotServer

NOTIFY = """\
robots:
  sz-wecom: {kind: wecom, url_env: MCR_TEST_SZ_WECOM_URL}
  boss-dingtalk: {kind: dingtalk, url_env: MCR_TEST_BOSS_URL, secret_env: MCR_TEST_BOSS_SECRET}
default: [mail]
units:
  OFF-SZ: [mail, sz-wecom]
employees:
  SZ-AM2: [boss-dingtalk]
"""


@pytest.fixture
def rules_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "rules"
    shutil.copytree(PRODUCT_ROOT / "rules", folder)
    (folder / "notify.yaml").write_text(NOTIFY, encoding="utf-8")
    monkeypatch.setenv("MCR_RULES_DIR", str(folder))
    return folder


@pytest.fixture
def robot() -> Iterator[RecordingRobotServer]:
    server = RecordingRobotServer(secret="SECboss").start()
    yield server
    server.stop()


@pytest.fixture
def wecom() -> Iterator[RecordingRobotServer]:
    server = RecordingRobotServer().start()
    yield server
    server.stop()


def outbox(db: Database, iid: int) -> list[tuple]:
    with db.read() as tx:
        return [tuple(r) for r in tx.all(
            "SELECT channel, target, recipient, dedupe_key IS NOT NULL FROM outbox WHERE instance_id = :i ORDER BY id",
            {"i": iid})]


def test_each_recipient_gets_the_channels_of_their_rules_entry(db: Database, clock: FakeClock, rules_dir: Path,
                                                               robot: RecordingRobotServer,
                                                               wecom: RecordingRobotServer) -> None:
    rt = Runtime(db, load_definitions(TEST_FLOWS), clock=clock, worker_id="w1")
    rt.register_definitions()
    load_org(db, clock)
    # SZ-AM1 (team T-SZ1 under office OFF-SZ): mail + the office's WeCom group; SZ-AM2: DingTalk only
    # (own entry); an outside address: mail only.
    iid = rt.start("ticket", {"summary": "打印机"}, actor="alice").instance_id
    rt.send(iid, "assign", actor="alice",
            payload={"assignee": ["sz-am1@example.com", "sz-am2@example.com", "guest@customer.example"]})
    rows = outbox(db, iid)
    assert sorted(rows) == sorted([
        ("mail", None, "sz-am1@example.com", False),
        ("mail", None, "guest@customer.example", False),
        ("wecom", "sz-wecom", "李经理", False),
        ("dingtalk", "boss-dingtalk", "陈经理", False),
    ])
    with db.read() as tx:
        body = tx.one("SELECT body FROM outbox WHERE channel = 'wecom' AND instance_id = :i", {"i": iid})[0]
    assert body.startswith(f"#### 工单 #{iid} 已分派给您\n\n") and body.endswith("> @李经理")

    from engine.notify import OutboxSender
    from engine.mailers import MemoryMailer
    from engine.channels.rules import NotifyRules, robots_from_rules
    from engine.rules import load_rules

    env = {"MCR_TEST_SZ_WECOM_URL": wecom.url, "MCR_TEST_BOSS_URL": robot.url, "MCR_TEST_BOSS_SECRET": "SECboss"}
    robots = robots_from_rules(load_rules("notify.yaml", NotifyRules), clock=clock, environ=env)
    mailer = MemoryMailer()
    report = OutboxSender(db, mailer, clock, worker_id="w1", robots=robots).deliver_due_sync()
    assert report.sent == 4 and len(mailer.sent) == 2
    [signed] = robot.received
    assert signed.signature_ok is True and signed.body["markdown"]["text"].endswith("> @陈经理")
    [plain] = wecom.received
    assert plain.body == {"msgtype": "markdown", "markdown": {"content": body}}


def test_recipients_of_one_call_sharing_a_robot_get_one_group_message(db: Database, clock: FakeClock,
                                                                      rules_dir: Path) -> None:
    rt = Runtime(db, load_definitions(TEST_FLOWS), clock=clock, worker_id="w1")
    rt.register_definitions()
    load_org(db, clock)
    iid = rt.start("ticket", {"summary": "打印机"}, actor="alice").instance_id
    rt.send(iid, "assign", actor="alice", payload={"assignee": ["sz-h1@example.com", "sz-h2@example.com"]})
    rows = outbox(db, iid)
    assert sorted(rows) == sorted([("mail", None, "sz-h1@example.com", False),
                                   ("mail", None, "sz-h2@example.com", False),
                                   ("wecom", "sz-wecom", "王工、赵工", False)])


def test_without_routing_rules_every_notification_is_mail(db: Database, clock: FakeClock) -> None:
    rt = Runtime(db, load_definitions(TEST_FLOWS), clock=clock, worker_id="w1")
    rt.register_definitions()
    iid = rt.start("ticket", {"summary": "x"}, actor="alice").instance_id
    rt.send(iid, "assign", actor="alice", payload={"assignee": "bob@example.com"})
    assert outbox(db, iid) == [("mail", None, "bob@example.com", False)]
