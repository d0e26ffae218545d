"""The notification channel port: where one queued notice (an outbox row) goes.

An outbox row names its channel: `mail` (the `Mailer` port of engine/mailers.py, through
`MailChannel`) or a robot configured in `rules/notify.yaml` — a WeCom (企业微信) group robot or a
DingTalk (钉钉) custom robot (engine/channels/webhook.py). The sender (engine/notify.py) claims rows
under a lease, groups them by channel and hands each group to its `Channel`; this package knows
nothing of the database, leases or retries.

A channel answers per notice, in order: `None` (delivered) or the exception saying why not, and
calls `on_accepted(i)` the moment notice `i` is delivered, before offering the next one, so the
sender can mark that row `sent` at once. A `DeliveryRefused` with `permanent=True` (a webhook's
4xx, a JSON `errcode` the robot will never accept) ends the row as `failed` at once instead of
spending the retry budget.

It must never raise for a refused notice, never read the wall clock (DingTalk's signature takes
its timestamp from the sender's `Clock`), and never log a webhook key or secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from engine.errors import MailError

MAIL = "mail"

# Called with the index of a notice as soon as it is delivered; quick, never raises.
OnAccepted = Optional[Callable[[int], None]]


@dataclass(frozen=True)
class Notice:
    """One claimed outbox row, channel-neutral: what is needed to deliver it (identically on every attempt)."""

    id: int
    instance_id: int | None
    template: str
    locale: str
    recipient: str
    subject: str
    body: str
    attempts: int
    created_us: int
    channel: str = MAIL
    target: str | None = None  # the robot's name for a webhook channel
    invite: str | None = None  # JSON list of calendar events (engine/channels/invite.py), mail only


class DeliveryRefused(MailError):
    """The channel did not take this notice."""

    def __init__(self, message: str | None = None, *, permanent: bool = False, code: int | None = None) -> None:
        self.permanent = permanent  # True: retrying cannot help (bad request, unknown robot, bad key)
        self.code = code
        super().__init__(message)


class Channel(Protocol):
    async def deliver(self, notices: list[Notice], on_accepted: OnAccepted = None) -> list[Exception | None]:
        """Deliver each notice; one result per notice, in order: None = delivered."""
        ...


def one_line(text: object, limit: int = 500) -> str:
    """An error as a single line (it goes into `outbox.last_error` and a CLI table)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
