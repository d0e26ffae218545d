"""The mail adapter of the channel port: an outbox row becomes an `EmailMessage` for a `Mailer`
(SMTP, the folder sink, memory — engine/mailers.py), with a calendar invitation part when the row
carries one (engine/channels/invite.py)."""

from __future__ import annotations

import email.utils
import os
from email.message import EmailMessage

from engine.channels import Notice, OnAccepted, one_line
from engine.channels.invite import ics_text
from engine.clock import from_us
from engine.mailers import OUTBOX_ID_HEADER, Mailer, MailRefused


def message_id_for(row_id: int, created_us: int, sender_address: str) -> str:
    """The row's Message-ID: the same on every attempt, so a receiver can drop a resent copy.

    `created_us` is in it because outbox ids restart with a new database (a test install, a
    restore): a bare id could make a receiver drop a *different* mail as a duplicate.
    """
    return f"<mcr-outbox-{row_id}.{created_us}@{domain_of(sender_address)}>"


def domain_of(sender_address: str) -> str:
    address = email.utils.parseaddr(sender_address)[1]
    domain = address.rpartition("@")[2].strip().lower() if "@" in address else ""
    if not domain:
        return "localhost"
    try:
        return domain.encode("idna").decode("ascii")  # Message-ID must be ASCII
    except UnicodeError:
        return "localhost"


def build_message(row: Notice, sender_address: str) -> EmailMessage:
    """The e-mail for one outbox row; the same row always gives the same message."""
    msg = EmailMessage()
    msg["From"] = sender_address
    msg["To"] = row.recipient
    msg["Subject"] = row.subject  # non-ASCII (Chinese) is RFC 2047-encoded by the email package
    # The time the mail was queued (the business event), not the attempt: a retried copy stays
    # byte-identical to the first one.
    msg["Date"] = email.utils.format_datetime(from_us(row.created_us))
    msg["Message-ID"] = message_id_for(row.id, row.created_us, sender_address)
    msg[OUTBOX_ID_HEADER] = str(row.id)
    if row.instance_id is not None:
        msg["X-MCR-Instance-Id"] = str(row.instance_id)
    msg["X-MCR-Template"] = row.template
    # RFC 3834: a notification, so vacation responders do not answer it.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row.body, subtype="plain", charset="utf-8")
    if row.invite:
        ics = ics_text(row.invite, organizer=email.utils.parseaddr(sender_address)[1] or sender_address,
                       attendee=email.utils.parseaddr(row.recipient)[1] or row.recipient,
                       domain=domain_of(sender_address), created_us=row.created_us,
                       subject=row.subject, body=row.body)
        # Outlook and Foxmail show the accept/calendar bar for a text/calendar alternative with
        # method=REQUEST; the same text as an invite.ics attachment serves clients that only
        # import attachments (this is what the big calendar services send too).
        msg.add_alternative(ics, subtype="calendar", charset="utf-8", params={"method": "REQUEST"})
        msg.add_attachment(ics.encode("utf-8"), maintype="application", subtype="ics", filename="invite.ics")
    return msg


class MailChannel:
    """Mail through a `Mailer`: the rows of one round as one batch (one SMTP connection)."""

    def __init__(self, mailer: Mailer, sender_address: str | None = None) -> None:
        self.mailer = mailer
        self.sender_address = sender_address or os.environ.get("MCR_MAIL_FROM") or "mcr@localhost"

    def __repr__(self) -> str:
        return f"MailChannel({self.mailer!r})"

    async def deliver(self, notices: list[Notice], on_accepted: OnAccepted = None) -> list[Exception | None]:
        results: list[Exception | None] = [None] * len(notices)
        messages: list[EmailMessage] = []
        built: list[int] = []  # index in `notices` of each message
        for i, notice in enumerate(notices):
            try:
                messages.append(build_message(notice, self.sender_address))
                built.append(i)
            except Exception as exc:  # e.g. a line break in the recipient: that row only
                results[i] = MailRefused(f"cannot build the message: {one_line(exc)}")
        if not messages:
            return results

        def accepted(index: int) -> None:
            if on_accepted is not None:
                on_accepted(built[index])

        answers = await self.mailer.send_many(messages, accepted)
        if len(answers) != len(messages):
            err = RuntimeError(f"mailer {self.mailer!r} answered {len(answers)} results for {len(messages)} messages")
            answers = [err for _ in messages]
        for index, answer in zip(built, answers):
            results[index] = answer
        return results
