"""Robot messages after a crash: `kill -9` of `mcr serve` while a robot holds its answer to a post.
Every message answered before the kill is already marked sent and never posted again; the one post in
flight — the robot got it, the sender never heard back — is posted once more after the restart (robot
webhooks take no idempotency key: the documented one-message window); nothing is posted a third time.
On a SQLite file and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest

from engine import sql
from engine.clock import SystemClock, to_us
from engine.db import Database
from engine.rules import PRODUCT_ROOT
from tests.conftest import ROOT, TEST_FLOWS
from tests.support.serve import wait_for
from tests.support.webhook import RecordingRobotServer

ROWS = 5


@pytest.fixture
def robot() -> Iterator[RecordingRobotServer]:
    server = RecordingRobotServer().start()
    yield server
    server.stop()


def _queue(db: Database) -> None:
    now = to_us(SystemClock().now())
    with db.tx() as tx:
        tx.many(sql.INSERT_OUTBOX_NOTICE, [
            {"instance_id": None, "dedupe_key": None, "template": "t", "locale": "zh-CN", "recipient": "张三",
             "subject": f"提醒 {i}", "body": f"#### 提醒 {i}", "now": now, "channel": "wecom", "target": "team",
             "invite": None} for i in range(ROWS)])


def _serve(db: Database, robot: RecordingRobotServer, tmp: Path) -> subprocess.Popen:
    rules = tmp / "rules"
    if not rules.exists():
        shutil.copytree(PRODUCT_ROOT / "rules", rules)
        (rules / "notify.yaml").write_text("robots:\n  team: {kind: wecom, url_env: MCR_TEST_TEAM_URL}\n",
                                           encoding="utf-8")
    env = dict(os.environ, MCR_DATABASE_URL=db.url, MCR_FLOWS_DIR=str(TEST_FLOWS), MCR_RULES_DIR=str(rules),
               MCR_TEST_TEAM_URL=robot.url, MCR_MAIL_DIR=str(tmp / "mail"), MCR_MAIL_LEASE_S="2",
               MCR_RESCAN_S="0.5", MCR_LOG_LEVEL="WARNING", PREFECT_HOME=str(tmp / "prefect"))
    env.pop("MCR_SMTP_URL", None)
    return subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _sent(db: Database) -> set[str]:
    with db.read() as tx:
        return {r[0] for r in tx.all("SELECT subject FROM outbox WHERE status = 'sent'")}


@pytest.mark.slow
def test_kill_9_while_a_robot_holds_its_answer_reposts_only_that_message_once(
        db: Database, robot: RecordingRobotServer, tmp_path: Path) -> None:
    _queue(db)
    robot.script = ["ok", "ok", "hold"]  # the third post is received, its answer never sent
    first = _serve(db, robot, tmp_path)
    try:
        wait_for(lambda: len(robot.received) >= 3, first, timeout=90, poll=0.02)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    robot.release.set()
    assert _sent(db) == {"提醒 0", "提醒 1"}  # answered before the kill: recorded at once

    second = _serve(db, robot, tmp_path)
    try:
        wait_for(lambda: len(_sent(db)) == ROWS, second, timeout=90, poll=0.05)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(second.pid, signal.SIGKILL)
    posts = Counter(b["markdown"]["content"] for b in robot.bodies())
    assert posts == {"#### 提醒 0": 1, "#### 提醒 1": 1, "#### 提醒 2": 2, "#### 提醒 3": 1, "#### 提醒 4": 1}
