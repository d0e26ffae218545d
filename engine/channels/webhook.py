"""Group-robot adapters of the channel port: WeCom (企业微信群机器人) and DingTalk (钉钉自定义机器人).

Each posts one JSON markdown message per notice (the row's body is already robot markdown, rendered
when the row was queued: engine/templates.py) to the robot's webhook URL (httpx, async), one at a time —
the robots allow about 20 messages a minute — and reads the answer:

* HTTP 2xx with `{"errcode": 0}` → delivered;
* HTTP 5xx, 429, a timeout, a dropped connection, or a rate-limit errcode → a transient refusal:
  the row is retried with backoff, and the rest of this robot's batch is not offered this round
  (a robot that is down or throttling is not hammered);
* any other 4xx, or another `errcode` (a wrong key, a bad signature, a missing keyword) → a
  *permanent* refusal: the row is `failed` at once with the robot's words in `last_error`.

Neither robot API takes an idempotency key, so a post that timed out *after* the robot accepted it
is posted again on the retry — the one honest duplicate window (docs/mail.md). A row marked `sent`
is never posted again.

DingTalk's signed mode ("加签"): `timestamp` (ms, from the sender's clock) and
`sign = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))` as query
parameters. URLs and secrets come from environment variables named in rules/notify.yaml and are
never logged: a robot shows itself by its name only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import quote_plus

import httpx

from engine.channels import DeliveryRefused, Notice, OnAccepted, one_line
from engine.clock import Clock, to_us

# Rate limits: WeCom 45009 (api freq out of limit), DingTalk 130101 (send too fast) / 660026.
_TRANSIENT_ERRCODES = {-1, 45009, 130101, 660026}
WECOM_MAX_BYTES = 4096  # markdown.content
DINGTALK_MAX_BYTES = 20000


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature for `timestamp_ms`, already URL-encoded (the `sign` query parameter)."""
    to_sign = f"{timestamp_ms}\n{secret}".encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), to_sign, digestmod=hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def _clip(text: str, max_bytes: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return text
    return data[: max_bytes - 3].decode("utf-8", errors="ignore") + "…"


class WebhookRobot:
    """A group robot behind one webhook URL; subclasses say what to post and how to sign."""

    kind = "webhook"

    def __init__(self, name: str, url: str, *, timeout: float = 10.0, clock: Clock | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self._url = url
        self.timeout = timeout
        self.clock = clock
        self._transport = transport

    def __repr__(self) -> str:  # never shows the URL: it carries the robot's key
        return f"{type(self).__name__}({self.name!r})"

    def payload(self, notice: Notice) -> dict[str, Any]:
        raise NotImplementedError

    def url(self) -> str:
        return self._url

    async def deliver(self, notices: list[Notice], on_accepted: OnAccepted = None) -> list[Exception | None]:
        results: list[Exception | None] = []
        async with httpx.AsyncClient(timeout=self.timeout, transport=self._transport,
                                     follow_redirects=False) as client:
            for i, notice in enumerate(notices):
                outcome = await self._post(client, notice)
                results.append(outcome)
                if outcome is None:
                    if on_accepted is not None:
                        on_accepted(i)
                elif not getattr(outcome, "permanent", False):
                    # Down or throttling: do not offer the rest now; they keep their turn.
                    rest = DeliveryRefused(f"not offered: robot {self.name} refused an earlier message "
                                           f"of this round ({outcome})")
                    results.extend(rest for _ in notices[i + 1:])
                    break
        return results

    async def _post(self, client: httpx.AsyncClient, notice: Notice) -> Exception | None:
        try:
            body = self.payload(notice)
            url = self.url()
        except DeliveryRefused as exc:
            return exc
        try:
            resp = await client.post(url, content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        except httpx.TimeoutException:
            return DeliveryRefused(f"{self.kind} robot {self.name}: no answer within {self.timeout:g} s "
                                   "(it may have posted the message; retried)")
        except httpx.HTTPError as exc:
            return DeliveryRefused(f"{self.kind} robot {self.name} unreachable: {_describe(exc)}")
        return self._judge(resp)

    def _judge(self, resp: httpx.Response) -> Exception | None:
        status = resp.status_code
        if status >= 500 or status == 429:
            return DeliveryRefused(f"{self.kind} robot {self.name} answered HTTP {status}; retried", code=status)
        if status >= 300:
            return DeliveryRefused(f"{self.kind} robot {self.name} refused the message: HTTP {status} "
                                   f"{one_line(resp.text, 200)}", permanent=True, code=status)
        try:
            answer = resp.json()
            code = int(answer.get("errcode", 0))
        except (ValueError, AttributeError, TypeError):
            return DeliveryRefused(f"{self.kind} robot {self.name} answered HTTP {status} without a JSON "
                                   f"errcode: {one_line(resp.text, 200)}", permanent=True, code=status)
        if code == 0:
            return None
        words = one_line(answer.get("errmsg") or "", 200)
        if code in _TRANSIENT_ERRCODES:
            return DeliveryRefused(f"{self.kind} robot {self.name} is busy: errcode {code} {words}; retried", code=code)
        return DeliveryRefused(f"{self.kind} robot {self.name} refused the message: errcode {code} {words}",
                               permanent=True, code=code)


class WeComRobot(WebhookRobot):
    """企业微信群机器人: `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`, markdown messages."""

    kind = "wecom"

    def payload(self, notice: Notice) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": _clip(notice.body, WECOM_MAX_BYTES)}}


class DingTalkRobot(WebhookRobot):
    """钉钉自定义机器人: `https://oapi.dingtalk.com/robot/send?access_token=…`, markdown, signed when a secret is set."""

    kind = "dingtalk"

    def __init__(self, name: str, url: str, *, secret: str | None = None, **kw: Any) -> None:
        super().__init__(name, url, **kw)
        self._secret = secret

    def payload(self, notice: Notice) -> dict[str, Any]:
        return {"msgtype": "markdown",
                "markdown": {"title": notice.subject[:64] or notice.template,
                             "text": _clip(notice.body, DINGTALK_MAX_BYTES)}}

    def url(self) -> str:
        if not self._secret:
            return self._url
        if self.clock is None:
            raise DeliveryRefused(f"dingtalk robot {self.name}: signing needs the sender's clock", permanent=True)
        # DingTalk rejects a timestamp more than an hour off its own time: take it per attempt.
        timestamp = to_us(self.clock.now()) // 1000
        sep = "&" if "?" in self._url else "?"
        return f"{self._url}{sep}timestamp={timestamp}&sign={dingtalk_sign(self._secret, timestamp)}"


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    # httpx puts the URL in some messages; the URL holds the robot's key.
    return one_line(re.sub(r"https?://\S+", "<webhook>", text), 200)
