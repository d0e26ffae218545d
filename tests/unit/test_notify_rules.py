"""rules/notify.yaml is checked at load: every mistake named by file and line, no secret in the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.channels.rules import NotifyRules
from engine.errors import InvalidRules
from engine.rules import PRODUCT_ROOT, load_rules_file

GOOD = """\
robots:
  east-wecom: {kind: wecom, url_env: MCR_WECOM_EAST_URL}
  hq-dingtalk:
    kind: dingtalk
    url_env: MCR_DINGTALK_HQ_URL
    secret_env: MCR_DINGTALK_HQ_SECRET
default: [mail]
units:
  SH: [mail, east-wecom]
  HQ: [hq-dingtalk]
employees:
  E1001: [hq-dingtalk]
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "notify.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidRules) as err:
        load_rules_file(path, NotifyRules)
    return [f"{p.line}: {p.message}" for p in err.value.problems]


def test_shipped_notify_rules_are_valid_and_mail_everyone() -> None:
    rules = load_rules_file(PRODUCT_ROOT / "rules" / "notify.yaml", NotifyRules, missing_ok=False)
    assert rules.default == ["mail"] and not rules.routes_by_person


def test_most_specific_entry_wins(tmp_path: Path) -> None:
    path = tmp_path / "notify.yaml"
    path.write_text(GOOD, encoding="utf-8")
    rules = load_rules_file(path, NotifyRules)
    assert rules.channels_for("E1001", ["T1", "SH", "HQ"]) == ["hq-dingtalk"]  # the person's own
    assert rules.channels_for("E2", ["T1", "SH", "HQ"]) == ["mail", "east-wecom"]  # nearest unit upwards
    assert rules.channels_for("E3", ["BJ", "HQ"]) == ["hq-dingtalk"]
    assert rules.channels_for("E4", ["X"]) == ["mail"]  # default


def test_unknown_channel_is_named_with_its_line(tmp_path: Path) -> None:
    text = GOOD.replace("SH: [mail, east-wecom]", "SH: [mail, east-wechat]")
    assert problems(tmp_path, text) == [
        "9: units.SH.1: unknown channel 'east-wechat' (known: mail, east-wecom, hq-dingtalk)"]


def test_a_webhook_url_written_into_the_file_is_refused(tmp_path: Path) -> None:
    text = GOOD.replace("url_env: MCR_DINGTALK_HQ_URL",
                        "url_env: https://oapi.dingtalk.com/robot/send?access_token=abc")
    [msg] = problems(tmp_path, text)
    assert msg.startswith("5: robots.hq-dingtalk.url_env: ")
    assert "NAME of an environment variable" in msg


def test_secret_on_a_wecom_robot_and_unknown_kind_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace("{kind: wecom, url_env: MCR_WECOM_EAST_URL}",
                        "{kind: wecom, url_env: MCR_WECOM_EAST_URL, secret_env: MCR_X}")
    [msg] = problems(tmp_path, text)
    assert msg.startswith("2: robots.east-wecom") and "secret_env is for DingTalk" in msg
    text = GOOD.replace("kind: dingtalk", "kind: feishu")
    [msg] = problems(tmp_path, text)
    assert msg.startswith("4: robots.hq-dingtalk.kind: ")


def test_empty_channel_list_and_twice_listed_channel_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace("E1001: [hq-dingtalk]", "E1001: []").replace("HQ: [hq-dingtalk]", "HQ: [mail, mail]")
    assert problems(tmp_path, text) == ["10: units.HQ.1: channel 'mail' is listed twice",
                                        "12: employees.E1001: name at least one channel (mail or a robot of 'robots')"]
