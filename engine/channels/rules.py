"""rules/notify.yaml: which channel carries each person's notifications, and the robots behind them.

```yaml
robots:
  east-wecom: {kind: wecom, url_env: MCR_WECOM_EAST_URL}
  hq-dingtalk: {kind: dingtalk, url_env: MCR_DINGTALK_HQ_URL, secret_env: MCR_DINGTALK_HQ_SECRET}
default: [mail]
units:        # a team, office or region code: applies to everyone below it
  SH: [mail, east-wecom]
employees:    # one person, over any unit rule
  E1001: [hq-dingtalk]
```

The most specific entry wins: the employee's own, then the nearest unit upwards from theirs, then
`default`. A recipient the master data does not know (an outside address, a customer's contact) is
only ever mailed: an internal group robot is no place for their messages. Webhook URLs and secrets are never in the file, only the *names* of the environment variables
holding them; the file is checked at load (`file:line` messages, engine/rules.py) and again when the
sender starts (a robot whose variable is unset fails its rows with a message naming the variable).
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from engine.channels import MAIL, Channel, DeliveryRefused, Notice, OnAccepted

NOTIFY_RULES_FILE = "notify.yaml"
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class Robot(BaseModel):
    """A group robot: its kind and where its URL (and DingTalk secret) are found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["wecom", "dingtalk"]
    url_env: str = Field(description="environment variable holding the webhook URL (it contains the robot's key)")
    secret_env: Optional[str] = Field(default=None, description="DingTalk 加签 secret's environment variable")
    timeout_s: float = Field(default=10.0, gt=0, le=120)

    @field_validator("url_env", "secret_env")
    @classmethod
    def _env_name(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return v
        if "://" in v or "key=" in v or "access_token" in v or v.startswith("SEC"):
            raise ValueError("write the NAME of an environment variable here, never the URL or secret itself")
        if not _ENV_NAME.match(v):
            raise ValueError(f"'{v}' is not an environment variable name (A-Z, 0-9, _; e.g. MCR_WECOM_EAST_URL)")
        return v

    @model_validator(mode="after")
    def _secret_only_for_dingtalk(self) -> "Robot":
        if self.secret_env is not None and self.kind != "dingtalk":
            raise ValueError("secret_env is for DingTalk robots (WeCom robots are not signed)")
        return self


class NotifyRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    robots: dict[str, Robot] = Field(default_factory=dict)
    default: list[str] = Field(default_factory=lambda: [MAIL])
    units: dict[str, list[str]] = Field(default_factory=dict)
    employees: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _channels_exist(self) -> "NotifyRules":
        errors: list[InitErrorDetails] = []
        if MAIL in self.robots:
            errors.append(_err(("robots", MAIL), "'mail' is the mail channel; give the robot another name", MAIL))

        def check(loc: tuple[Any, ...], names: list[str]) -> None:
            if not names:
                errors.append(_err(loc, "name at least one channel (mail or a robot of 'robots')", names))
            seen: set[str] = set()
            for i, name in enumerate(names):
                if name != MAIL and name not in self.robots:
                    known = ", ".join([MAIL, *sorted(self.robots)])
                    errors.append(_err((*loc, i), f"unknown channel '{name}' (known: {known})", name))
                elif name in seen:
                    errors.append(_err((*loc, i), f"channel '{name}' is listed twice", name))
                seen.add(name)

        check(("default",), self.default)
        for section in ("units", "employees"):
            for key, names in getattr(self, section).items():
                check((section, key), names)
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @property
    def routes_by_person(self) -> bool:
        """False when everything goes by mail: the runtime then skips the master-data lookup."""
        return bool(self.units or self.employees) or self.default != [MAIL]

    def channels_for(self, emp_no: str | None, unit_path: list[str]) -> list[str]:
        """The channels of a person (`unit_path`: their unit first, then upwards)."""
        if emp_no is not None and emp_no in self.employees:
            return self.employees[emp_no]
        for code in unit_path:
            if code in self.units:
                return self.units[code]
        return self.default


def _err(loc: tuple[Any, ...], message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("notify_channel", message), loc=loc, input=value)


# --- the robots the sender posts to ----------------------------------------------------------


class UnconfiguredRobot:
    """A robot named by a row that the running configuration cannot reach: each row fails with why."""

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        self.why = why

    def __repr__(self) -> str:
        return f"UnconfiguredRobot({self.name!r})"

    async def deliver(self, notices: list[Notice], on_accepted: OnAccepted = None) -> list[Exception | None]:
        return [DeliveryRefused(self.why, permanent=True) for _ in notices]


def robots_from_rules(rules: NotifyRules, *, clock: Any, environ: Mapping[str, str] | None = None,
                      transport: Any = None) -> dict[str, Channel]:
    """One channel per robot of the rules, its URL and secret read from the environment now."""
    from engine.channels.webhook import DingTalkRobot, WeComRobot

    env = os.environ if environ is None else environ
    out: dict[str, Channel] = {}
    for name, robot in rules.robots.items():
        url = (env.get(robot.url_env) or "").strip()
        if not url:
            out[name] = UnconfiguredRobot(name, f"robot {name}: environment variable {robot.url_env} "
                                                "(its webhook URL) is not set")
            continue
        if not url.startswith(("https://", "http://")):
            out[name] = UnconfiguredRobot(name, f"robot {name}: {robot.url_env} does not hold an http(s) URL")
            continue
        if robot.kind == "wecom":
            out[name] = WeComRobot(name, url, timeout=robot.timeout_s, clock=clock, transport=transport)
            continue
        secret = None
        if robot.secret_env:
            secret = (env.get(robot.secret_env) or "").strip()
            if not secret:
                out[name] = UnconfiguredRobot(name, f"robot {name}: environment variable {robot.secret_env} "
                                                    "(its signing secret) is not set")
                continue
        out[name] = DingTalkRobot(name, url, secret=secret, timeout=robot.timeout_s, clock=clock, transport=transport)
    return out
