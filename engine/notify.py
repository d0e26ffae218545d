"""Delivers outbox rows — mail, WeCom and DingTalk robot messages: claim due rows under a lease,
send, record the outcome.

The runtime only ever INSERTs outbox rows, inside the step's transaction; this module is the
one that delivers them, each through the `Channel` its row names (engine/channels: mail through
the `Mailer`, robots through their webhooks). One `deliver_due` round is three short steps:

1. claim up to `limit` due rows in one transaction (a lease: `claimed_by`/`claimed_until_us`;
   `FOR UPDATE SKIP LOCKED` on PostgreSQL so several senders take disjoint rows);
2. group the rows by channel and hand each group to its channel, the groups side by side — no
   transaction open while a channel talks to its server; each message a server accepts is marked
   `sent` in its own short transaction at once (only if still `pending`: exactly once in the table);
3. in one transaction, give each refused row a retry time with exponential backoff, or
   `failed` — at once when the refusal is permanent (a robot's 4xx or errcode) — and mark any
   accepted row whose immediate mark did not get through.

A crash (even `kill -9`) in the middle of 2 resends only the message in flight — accepted by
the server, not yet marked — when its lease runs out; a mail carries the same `Message-ID`
(derived from the row), so a receiver can drop the copy (docs/mail.md).

This module must never hold a database transaction open across network I/O, never read the
wall clock (the `Clock` says what time it is, backoff included), and never talk SMTP or HTTP
itself (engine/mailers.py, engine/channels/).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

from engine.channels import MAIL, Channel, Notice
from engine.channels.mail import MailChannel, build_message, message_id_for  # noqa: F401 - re-exported
from engine.channels.rules import NOTIFY_RULES_FILE, NotifyRules, UnconfiguredRobot, robots_from_rules
from engine.clock import Clock, from_us, to_us
from engine.db import Database
from engine.errors import MCRError
from engine.i18n import t
from engine.mailers import Mailer, one_line
from engine.sql import hot_only, with_archive

log = logging.getLogger("mcr.mail")

OUTBOX_STATUSES = ("pending", "sent", "failed")
MAX_BACKOFF = timedelta(hours=6)

# --- the sender's SQL ------------------------------------------------------------------------
# Same conventions as engine/sql.py: `:name` parameters (translated for psycopg by engine.db),
# instants as integer microseconds UTC, valid on SQLite 3.35+ and PostgreSQL.

# Claim due rows with a lease. A row whose lease ran out (its sender died mid-batch) is due
# again. The inner SELECT walks the partial index ix_outbox_pending (status = 'pending').
CLAIM_DUE_OUTBOX_SQLITE = """
UPDATE outbox SET claimed_by = :worker, claimed_until_us = :lease_until
WHERE id IN (
    SELECT id FROM outbox
    WHERE status = 'pending' AND next_attempt_us <= :now
      AND (claimed_until_us IS NULL OR claimed_until_us < :now)
    ORDER BY next_attempt_us, id LIMIT :limit)
RETURNING id, instance_id, template, locale, recipient, subject, body, attempts, created_us,
          channel, target, invite
"""

# PostgreSQL: SKIP LOCKED lets several senders claim disjoint batches without waiting for each
# other (SQLite needs no such thing: BEGIN IMMEDIATE already serialises the claimers).
CLAIM_DUE_OUTBOX_PG = """
UPDATE outbox SET claimed_by = :worker, claimed_until_us = :lease_until
WHERE id IN (
    SELECT id FROM outbox
    WHERE status = 'pending' AND next_attempt_us <= :now
      AND (claimed_until_us IS NULL OR claimed_until_us < :now)
    ORDER BY next_attempt_us, id LIMIT :limit
    FOR UPDATE SKIP LOCKED)
RETURNING id, instance_id, template, locale, recipient, subject, body, attempts, created_us,
          channel, target, invite
"""

# Keep our lease alive while a slow batch is still being sent, so no other sender takes (and
# resends) rows we are working on. Only rows still pending and still ours.
RENEW_OUTBOX_LEASE = """
UPDATE outbox SET claimed_until_us = :lease_until
WHERE claimed_by = :worker AND status = 'pending' AND claimed_until_us IS NOT NULL
"""

# Before each small chunk of a batch goes out: confirm (and extend) the claim on exactly those
# rows. A row whose lease ran out and was claimed by another sender is dropped here, so two senders
# never both send it — the window for a duplicate shrinks from a whole batch to one chunk in flight.
# (`ids` is expanded to :i0, :i1, … by `_confirm`.)
CONFIRM_OUTBOX_CLAIM = """
UPDATE outbox SET claimed_until_us = :lease_until
WHERE id IN ({ids}) AND claimed_by = :worker AND status = 'pending'
RETURNING id
"""

# Exactly once in the table: only the update that moves the row out of 'pending' counts; a
# second sender that (after a lost lease) also got it accepted changes nothing here. It is not
# conditioned on the claim: the server accepted the mail, and that is what must be recorded.
MARK_OUTBOX_SENT = """
UPDATE outbox SET status = 'sent', sent_us = :now, claimed_by = NULL, claimed_until_us = NULL
WHERE id = :id AND status = 'pending'
"""

# A refused attempt: count it, keep the reason, set the next try (or give up: status 'failed').
# Only while we still hold the claim — if our lease ran out, the row's new holder decides.
MARK_OUTBOX_RETRY = """
UPDATE outbox SET status = :status, attempts = :attempts, last_error = :error,
                  next_attempt_us = :next_attempt, claimed_by = NULL, claimed_until_us = NULL
WHERE id = :id AND status = 'pending' AND claimed_by = :worker
"""

# The operator's "try these again": back to pending, due now, with a fresh attempt budget.
# last_error is kept so the reason stays visible until the mail actually goes out.
RETRY_FAILED_OUTBOX = """
UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_us = :now,
                  claimed_by = NULL, claimed_until_us = NULL
WHERE status = 'failed'
"""
RETRY_FAILED_OUTBOX_ONE = RETRY_FAILED_OUTBOX + " AND id = :id"

SELECT_OUTBOX_VIEW = """
SELECT id, status, recipient, subject, attempts, last_error, created_us, sent_us, next_attempt_us,
       instance_id, template, channel, target
FROM {outbox}
"""

# When the scheduler should next wake up for mail.
NEXT_DUE_OUTBOX = "SELECT MIN(next_attempt_us) FROM outbox WHERE status = 'pending'"


# --- records ---------------------------------------------------------------------------------


class UnknownOutboxStatus(MCRError):
    """That is not an outbox status; use pending, sent or failed."""


class UnknownOutboxRow(MCRError):
    """No outbox row has that id."""


class OutboxRowNotFailed(MCRError):
    """Only failed mail can be put back in the queue."""


# A claimed row: what its channel needs to deliver it (engine/channels).
OutboxRow = Notice


@dataclass(frozen=True)
class OutboxView:
    """One outbox row as an operator sees it (`mcr outbox list`)."""

    id: int
    status: str
    recipient: str
    subject: str
    attempts: int
    last_error: str | None
    created: datetime
    sent: datetime | None
    next_attempt: datetime
    instance_id: int | None
    template: str
    channel: str = MAIL
    target: str | None = None

    @property
    def where(self) -> str:
        """The recipient as an operator reads it: the address, or `wecom east-sales → 张三`."""
        return self.recipient if self.channel == MAIL else f"{self.channel} {self.target} → {self.recipient}"


@dataclass(frozen=True)
class DeliveryReport:
    """What one `deliver_due` round did: accepted, to be tried again, given up."""

    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def claimed(self) -> int:
        return self.sent + self.retried + self.failed


# --- retries ---------------------------------------------------------------------------------


def backoff_delay(failed_attempts_before: int, base: timedelta, cap: timedelta = MAX_BACKOFF) -> timedelta:
    """Wait before the next try: base, 2·base, 4·base … (`failed_attempts_before` = 0, 1, 2 …), capped."""
    # Double step by step and stop at the cap: base * 2**n for a long-failing row would
    # overflow timedelta.
    delay = base
    for _ in range(failed_attempts_before):
        if delay >= cap:
            break
        delay *= 2
    return min(delay, cap)


# --- the sender ------------------------------------------------------------------------------


# Rows sent between two confirmations of the claim (see CONFIRM_OUTBOX_CLAIM).
CHUNK = 20
_LOST = object()  # a row's outcome when another sender took it over before it went out


class OutboxSender:
    """Claims due outbox rows, delivers each through its channel, records sent / retry / failed.

    `mailer` carries the mail rows; `robots` (by name) the WeCom/DingTalk rows — by default the
    robots of rules/notify.yaml, their URLs and secrets read from the environment now."""

    def __init__(self, db: Database, mailer: Mailer, clock: Clock, *, sender_address: str | None = None,
                 worker_id: str, lease: timedelta = timedelta(seconds=60), max_attempts: int = 8,
                 backoff_base: timedelta = timedelta(seconds=30),
                 robots: Mapping[str, Channel] | None = None) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        self.db = db
        self.mailer = mailer
        self.clock = clock
        self.sender_address = sender_address or os.environ.get("MCR_MAIL_FROM") or "mcr@localhost"
        self.mail_channel = MailChannel(mailer, self.sender_address)
        if robots is None:
            from engine.rules import load_rules

            # Validated here too, so a broken notify.yaml stops `mcr serve` at start (file:line).
            robots = robots_from_rules(load_rules(NOTIFY_RULES_FILE, NotifyRules), clock=clock)
        self.robots = dict(robots)
        # Must be unique among senders running at the same time: the lease is by this name.
        self.worker_id = worker_id
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base

    def deliver_due_sync(self, limit: int = 200) -> DeliveryReport:
        """`deliver_due` for a thread without an event loop (the scheduler's)."""
        return asyncio.run(self.deliver_due(limit))

    async def deliver_due(self, limit: int = 200) -> DeliveryReport:
        """One round: claim up to `limit` due rows, deliver them per channel, record each outcome.

        The database steps are short but blocking: run this on a loop of its own (the
        scheduler thread, through `deliver_due_sync`), not on a web server's event loop.
        """
        rows = self._claim(limit)
        if not rows:
            return DeliveryReport()
        groups: dict[tuple[str, str | None], list[OutboxRow]] = {}
        for row in rows:
            groups.setdefault((row.channel, row.target if row.channel != MAIL else None), []).append(row)
        marked: set[int] = set()
        errors: dict[int, Exception] = {}

        def accepted(row_id: int) -> None:
            # Record this delivery now, not at the end of the batch: a crash later in the batch
            # must not make this message go out again.
            try:
                self._mark_sent(row_id)
            except Exception:  # e.g. a busy database: `_record` marks it with the rest
                log.warning("could not mark outbox row #%s sent yet; will retry at the end of the batch",
                            row_id, exc_info=True)
            else:
                marked.add(row_id)

        keeper = asyncio.create_task(self._keep_lease())
        try:
            # Channels side by side: a slow robot does not hold up the mail, nor the mail a robot.
            outcomes = await asyncio.gather(*(self._deliver_group(self._channel(key), group, accepted)
                                              for key, group in groups.items()))
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        lost: set[int] = set()
        for group, results in zip(groups.values(), outcomes):
            for row, result in zip(group, results):
                if result is _LOST:
                    lost.add(row.id)
                elif result is not None:
                    errors[row.id] = result  # type: ignore[assignment]
        # A row another sender took over is theirs to record.
        return self._record([r for r in rows if r.id not in lost], errors, already_marked=marked)

    # -- steps

    def _channel(self, key: tuple[str, str | None]) -> Channel:
        kind, target = key
        if kind == MAIL:
            return self.mail_channel
        robot = self.robots.get(target or "")
        if robot is None:
            return UnconfiguredRobot(str(target), f"{kind} robot {target!r} is not in rules/notify.yaml "
                                                  "(any more): nowhere to post this message")
        return robot

    async def _deliver_group(self, channel: Channel, rows: list[OutboxRow],
                             accepted: Callable[[int], None]) -> list[Any]:
        """Each row's outcome: None (delivered), an exception (refused), or `_LOST` (another sender
        holds it now). Sent in chunks, each confirmed as still ours just before it goes out."""
        out: list[Any] = []
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            try:
                mine = await asyncio.to_thread(self._confirm, [r.id for r in chunk])
            except Exception as exc:  # cannot tell: send nothing of this chunk now, retry later
                out += [exc for _ in chunk]
                continue
            held = [r for r in chunk if r.id in mine]
            results = await self._deliver_chunk(channel, held, accepted) if held else []
            by_id = dict(zip((r.id for r in held), results))
            out += [by_id[r.id] if r.id in by_id else _LOST for r in chunk]
        return out

    async def _deliver_chunk(self, channel: Channel, rows: list[OutboxRow],
                             accepted: Callable[[int], None]) -> list[Exception | None]:
        try:
            results = await channel.deliver(list(rows), lambda i: accepted(rows[i].id))
        except Exception as exc:
            # A channel bug must not leave rows claimed until the lease expires: count it as a
            # failed attempt for each (they are retried; a message that did go out is deduped).
            log.exception("channel %r raised instead of answering per message", channel)
            return [exc for _ in rows]
        if len(results) != len(rows):
            err = RuntimeError(f"channel {channel!r} answered {len(results)} results for {len(rows)} messages")
            return [err for _ in rows]
        return list(results)

    def _confirm(self, ids: list[int]) -> set[int]:
        marks = ", ".join(f":i{n}" for n in range(len(ids)))
        params: dict[str, Any] = {f"i{n}": i for n, i in enumerate(ids)}
        params.update(worker=self.worker_id, lease_until=to_us(self.clock.now() + self.lease))
        with self.db.tx() as tx:
            return {int(r[0]) for r in tx.all(CONFIRM_OUTBOX_CLAIM.format(ids=marks), params)}

    def _claim(self, limit: int) -> list[OutboxRow]:
        now = self.clock.now()
        with self.db.tx() as tx:
            found = tx.all(CLAIM_DUE_OUTBOX_PG if self.db.is_pg else CLAIM_DUE_OUTBOX_SQLITE,
                           {"worker": self.worker_id, "now": to_us(now),
                            "lease_until": to_us(now + self.lease), "limit": limit})
        return sorted((OutboxRow(*r) for r in found), key=lambda r: r.id)

    async def _keep_lease(self) -> None:
        # Renew at half the lease (as APScheduler does), on the sender's clock — the one the lease
        # itself is written in (real time in production; a test moves a FakeClock instead of sleeping).
        while True:
            await self.clock.sleep(self.lease.total_seconds() / 2)
            try:
                await asyncio.to_thread(self._renew_lease)
            except Exception:  # a missed renewal only risks a duplicate, which receivers drop
                log.warning("could not renew the outbox lease of %s", self.worker_id, exc_info=True)

    def _renew_lease(self) -> None:
        with self.db.tx() as tx:
            tx.execute(RENEW_OUTBOX_LEASE, {"worker": self.worker_id,
                                            "lease_until": to_us(self.clock.now() + self.lease)})

    def _mark_sent(self, row_id: int) -> None:
        with self.db.tx() as tx:
            tx.execute(MARK_OUTBOX_SENT, {"id": row_id, "now": to_us(self.clock.now())})

    def _record(self, rows: Sequence[OutboxRow], errors: dict[int, Exception],
                already_marked: set[int] | frozenset[int] = frozenset()) -> DeliveryReport:
        now = self.clock.now()
        sent = 0
        sent_rows: list[dict[str, Any]] = []
        retry_rows: list[dict[str, Any]] = []
        retried = failed = 0
        for row in rows:
            exc = errors.get(row.id)
            if exc is None:
                sent += 1
                if row.id not in already_marked:
                    sent_rows.append({"id": row.id, "now": to_us(now)})
                continue
            attempts = row.attempts + 1
            # A permanent refusal (a robot's 4xx / errcode, an unconfigured robot) cannot get better
            # by waiting: failed now, with the reason, for the operator (`mcr outbox list --failed`).
            give_up = attempts >= self.max_attempts or bool(getattr(exc, "permanent", False))
            next_attempt = now + backoff_delay(row.attempts, self.backoff_base)
            error = one_line(str(exc) or type(exc).__name__)
            retry_rows.append({"id": row.id, "worker": self.worker_id, "attempts": attempts,
                               "status": "failed" if give_up else "pending", "error": error,
                               "next_attempt": to_us(next_attempt)})
            if give_up:
                failed += 1
                log.error("%s #%s to %s failed after %d attempt(s), giving up: %s",
                          row.channel, row.id, row.recipient, attempts, error)
            else:
                retried += 1
                log.warning("%s #%s to %s not sent (attempt %d of %d), next try at %s: %s",
                            row.channel, row.id, row.recipient, attempts, self.max_attempts,
                            next_attempt.isoformat(), error)
        if sent_rows or retry_rows:
            with self.db.tx() as tx:
                tx.many(MARK_OUTBOX_SENT, sent_rows)
                tx.many(MARK_OUTBOX_RETRY, retry_rows)
        return DeliveryReport(sent=sent, retried=retried, failed=failed)

    def next_due(self) -> datetime | None:
        """When the earliest pending mail is due (for the scheduler's wake-up), or None."""
        return next_outbox_due(self.db)


# --- for the CLI -----------------------------------------------------------------------------


def next_outbox_due(db: Database) -> datetime | None:
    with db.read() as tx:
        row = tx.one(NEXT_DUE_OUTBOX)
    return from_us(row[0]) if row and row[0] is not None else None


def list_outbox(db: Database, status: str | None = None, limit: int = 50) -> list[OutboxView]:
    """The newest outbox rows, optionally only those with `status` (pending, sent, failed)."""
    if status is not None and status not in OUTBOX_STATUSES:
        raise UnknownOutboxStatus(t("engine.outbox.unknown_status", status=status, allowed=", ".join(OUTBOX_STATUSES)))
    params: dict[str, Any] = {"limit": limit}
    where = ""
    if status is not None:
        where = " WHERE status = :status"
        params["status"] = status
    # Sent mail of archived instances (mcr archive) is listed too; pending and failed mail is never archived.
    select = SELECT_OUTBOX_VIEW + where
    query = (with_archive(select) if status in (None, "sent") else hot_only(select)) + " ORDER BY id DESC LIMIT :limit"
    with db.read() as tx:
        rows = tx.all(query, params)
    return [OutboxView(id=r[0], status=r[1], recipient=r[2], subject=r[3], attempts=r[4], last_error=r[5],
                       created=from_us(r[6]), sent=from_us(r[7]) if r[7] is not None else None,
                       next_attempt=from_us(r[8]), instance_id=r[9], template=r[10], channel=r[11], target=r[12])
            for r in rows]


def retry_failed(db: Database, clock: Clock, ids: list[int] | None = None) -> int:
    """Put failed rows (all, or those of `ids`) back to pending, due now, attempts reset; returns how many.

    Named ids are all-or-nothing: an id that does not exist (`UnknownOutboxRow`) or a row that is
    not failed (`OutboxRowNotFailed`, naming its status) refuses the whole request — a typo must
    not look like success."""
    now = to_us(clock.now())
    with db.tx() as tx:
        if ids is None:
            return int(tx.execute(RETRY_FAILED_OUTBOX, {"now": now}).rowcount)
        wanted = list(dict.fromkeys(ids))  # a repeated id is put back once
        found: dict[int, str] = {}
        for row_id in wanted:
            row = tx.one("SELECT status FROM outbox WHERE id = :id", {"id": row_id})
            if row is not None:
                found[row_id] = row[0]
        unknown = [i for i in wanted if i not in found]
        if unknown:
            raise UnknownOutboxRow(t("engine.outbox.unknown_ids", ids=", ".join(f"#{i}" for i in unknown)))
        not_failed = [f"#{i} ({found[i]})" for i in wanted if found[i] != "failed"]
        if not_failed:
            raise OutboxRowNotFailed(t("engine.outbox.not_failed", rows=", ".join(not_failed)))
        count = 0
        for row_id in wanted:
            count += int(tx.execute(RETRY_FAILED_OUTBOX_ONE, {"now": now, "id": row_id}).rowcount)
        return count
