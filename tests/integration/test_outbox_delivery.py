"""Outbox rows delivered as e-mail, against real parts: the SQLite file and PostgreSQL (`db`),
a real aiosmtpd server on loopback (`smtp_server`), a real folder. Exactly once per row in the
table, retries with backoff, `failed` after the attempt budget, leases respected."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from engine import sql
from engine.clock import FakeClock, from_us, to_us
from engine.db import Database
from engine.definition import load_definitions
from engine.mailers import FolderMailer, MailRefused, MailServerUnreachable, MemoryMailer, SmtpMailer
from engine.notify import (DeliveryReport, OutboxRowNotFailed, OutboxSender, UnknownOutboxRow, UnknownOutboxStatus,
                           list_outbox, message_id_for, retry_failed)
from engine.runtime import Runtime
from tests.conftest import TEST_FLOWS
from tests.support.smtp import RecordingSMTPServer, free_port

SENDER = "MCR 通知 <notify@crm.example.com>"


def smtp_mailer(server: RecordingSMTPServer) -> SmtpMailer:
    return SmtpMailer("127.0.0.1", server.port, timeout=5)


def sender_for(db: Database, mailer: object, clock: FakeClock, **kw: object) -> OutboxSender:
    kw.setdefault("worker_id", "w1")
    return OutboxSender(db, mailer, clock, sender_address=SENDER, **kw)  # type: ignore[arg-type]


def queue(db: Database, clock: FakeClock, n: int, *, recipient: str = "user{i}@example.com") -> list[int]:
    """n outbox rows written with the runtime's own INSERT, due now; returns their ids."""
    now = to_us(clock.now())
    with db.tx() as tx:
        before = tx.one("SELECT COALESCE(MAX(id), 0) FROM outbox")[0]
        tx.many(sql.INSERT_OUTBOX, [
            {"instance_id": None, "dedupe_key": None, "template": "t", "locale": "zh-CN",
             "recipient": recipient.format(i=i), "subject": f"提醒 {i}", "body": f"正文 {i}\n", "now": now}
            for i in range(n)])
        return [r[0] for r in tx.all("SELECT id FROM outbox WHERE id > :b ORDER BY id", {"b": before})]


def row(db: Database, row_id: int) -> dict[str, object]:
    with db.read() as tx:
        r = tx.one("SELECT status, attempts, last_error, next_attempt_us, sent_us, claimed_by, claimed_until_us "
                   "FROM outbox WHERE id = :i", {"i": row_id})
    keys = ("status", "attempts", "last_error", "next_attempt_us", "sent_us", "claimed_by", "claimed_until_us")
    return dict(zip(keys, r))


@pytest.fixture
def rt(db: Database, clock: FakeClock) -> Runtime:
    runtime = Runtime(db, load_definitions(TEST_FLOWS), clock=clock, worker_id="w1")
    runtime.register_definitions()
    return runtime


def assign_ticket(rt: Runtime) -> int:
    iid = rt.start("ticket", {"summary": "打印机着火了"}, actor="a").instance_id
    res = rt.send(iid, "assign", actor="a", payload={"assignee": "bob@example.com"})
    assert res.mails == 1
    return iid


# --------------------------------------------------------------------------- delivery via SMTP


def test_mail_queued_by_a_step_is_delivered_with_chinese_subject_and_stable_message_id(
        rt: Runtime, db: Database, clock: FakeClock, smtp_server: RecordingSMTPServer) -> None:
    iid = assign_ticket(rt)
    (view,) = list_outbox(db)
    assert view.status == "pending"

    report = sender_for(db, smtp_mailer(smtp_server), clock).deliver_due_sync()

    assert report == DeliveryReport(sent=1)
    (msg,) = smtp_server.messages
    assert msg["Subject"] == f"工单 #{iid} 已分派给您"
    assert msg["To"] == "bob@example.com"
    assert msg["From"].addresses[0].addr_spec == "notify@crm.example.com"
    assert msg["Message-ID"] == message_id_for(view.id, to_us(view.created), SENDER)
    assert msg["Message-ID"].endswith("@crm.example.com>")
    assert msg["X-MCR-Outbox-Id"] == str(view.id)
    assert msg["X-MCR-Instance-Id"] == str(iid)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    body = msg.get_content()
    assert f"工单 #{iid}（测试工单）已分派给您：打印机着火了" in body
    assert smtp_server.envelopes == [("notify@crm.example.com", ["bob@example.com"])]
    after = row(db, view.id)
    assert after["status"] == "sent" and after["sent_us"] == to_us(clock.now())
    assert after["claimed_by"] is None and after["attempts"] == 0


def test_delivering_twice_sends_each_mail_once(rt: Runtime, db: Database, clock: FakeClock,
                                               smtp_server: RecordingSMTPServer) -> None:
    assign_ticket(rt)
    sender = sender_for(db, smtp_mailer(smtp_server), clock)
    assert sender.deliver_due_sync() == DeliveryReport(sent=1)
    clock.advance(timedelta(hours=1))
    assert sender.deliver_due_sync() == DeliveryReport()
    assert len(smtp_server.messages) == 1


def test_mail_rejected_with_451_is_retried_with_backoff(rt: Runtime, db: Database, clock: FakeClock,
                                                        smtp_server: RecordingSMTPServer) -> None:
    assign_ticket(rt)
    (view,) = list_outbox(db)
    sender = sender_for(db, smtp_mailer(smtp_server), clock, backoff_base=timedelta(seconds=30))
    smtp_server.fail_next = 1

    assert sender.deliver_due_sync() == DeliveryReport(retried=1)

    r = row(db, view.id)
    assert r["status"] == "pending" and r["attempts"] == 1
    assert "451" in str(r["last_error"]) and "\n" not in str(r["last_error"])
    assert r["next_attempt_us"] == to_us(clock.now() + timedelta(seconds=30))
    assert r["claimed_by"] is None and smtp_server.messages == []
    # Not due yet: nothing happens.
    clock.advance(timedelta(seconds=29))
    assert sender.deliver_due_sync() == DeliveryReport()
    # Due: sent, once.
    clock.advance(timedelta(seconds=1))
    assert sender.deliver_due_sync() == DeliveryReport(sent=1)
    assert len(smtp_server.messages) == 1 and row(db, view.id)["status"] == "sent"


def test_unreachable_smtp_server_retries_with_backoff_then_fails_and_retry_failed_brings_mail_back(
        db: Database, clock: FakeClock, smtp_server: RecordingSMTPServer) -> None:
    ids = queue(db, clock, 3)
    down = SmtpMailer("127.0.0.1", free_port(), timeout=2)  # nothing listens there
    sender = sender_for(db, down, clock, max_attempts=4, backoff_base=timedelta(seconds=30))

    waits = []
    for attempt in range(1, 4):
        assert sender.deliver_due_sync() == DeliveryReport(retried=3)
        r = row(db, ids[0])
        assert r["status"] == "pending" and r["attempts"] == attempt
        assert "cannot reach SMTP server 127.0.0.1" in str(r["last_error"])
        waits.append(from_us(r["next_attempt_us"]) - clock.now())  # type: ignore[arg-type]
        clock.set(from_us(r["next_attempt_us"]))  # type: ignore[arg-type]
    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]

    assert sender.deliver_due_sync() == DeliveryReport(failed=3)
    failed = list_outbox(db, "failed")
    assert sorted(v.id for v in failed) == ids  # nothing lost
    assert all(v.attempts == 4 and "cannot reach SMTP server" in (v.last_error or "") for v in failed)
    # A failed row is never picked up again by itself.
    clock.advance(timedelta(days=2))
    assert sender.deliver_due_sync() == DeliveryReport()

    assert retry_failed(db, clock) == 3
    assert list_outbox(db, "failed") == []
    assert all(v.status == "pending" and v.attempts == 0 for v in list_outbox(db))
    fixed = sender_for(db, smtp_mailer(smtp_server), clock)
    assert fixed.deliver_due_sync() == DeliveryReport(sent=3)
    assert sorted(m["To"] for m in smtp_server.messages) == [f"user{i}@example.com" for i in range(3)]


def test_retry_failed_with_ids_puts_back_only_those_failed_rows(db: Database, clock: FakeClock) -> None:
    ids = queue(db, clock, 3)
    mailer = MemoryMailer(fail_next=3)
    sender = sender_for(db, mailer, clock, max_attempts=1)
    assert sender.deliver_due_sync() == DeliveryReport(failed=3)

    with pytest.raises(UnknownOutboxRow, match="#999999"):  # all or nothing: a typo is not a success
        retry_failed(db, clock, [ids[1], 999_999])
    assert list_outbox(db, "pending") == []
    assert retry_failed(db, clock, [ids[1], ids[1]]) == 1
    assert [v.id for v in list_outbox(db, "pending")] == [ids[1]]
    assert sender.deliver_due_sync() == DeliveryReport(sent=1)
    with pytest.raises(OutboxRowNotFailed, match="sent"):  # sent rows are not failed rows
        retry_failed(db, clock, [ids[1]])


class _RefusingHandler:
    """A real SMTP server's handler that refuses one mailbox with 550 and keeps the rest."""

    def __init__(self) -> None:
        self.received: list[str] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.received.extend(envelope.rcpt_tos)
        return "250 OK"


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts SMTP connections opened (a spy: the real connect still runs)."""
    opened: list[int] = []
    real_connect = aiosmtplib.SMTP.connect

    async def counting_connect(self: aiosmtplib.SMTP, *a: object, **kw: object) -> object:
        opened.append(1)
        return await real_connect(self, *a, **kw)

    monkeypatch.setattr(aiosmtplib.SMTP, "connect", counting_connect)
    return opened


def test_a_550_for_one_message_does_not_stop_the_rest_of_the_batch(connections: list[int]) -> None:
    from aiosmtpd.controller import Controller

    handler = _RefusingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        messages = [_plain_message(0), _plain_message(1, to="nobody@example.com"), _plain_message(2)]
        ok, refused, after = asyncio.run(SmtpMailer("127.0.0.1", port, timeout=5).send_many(messages))
    finally:
        controller.stop()
    assert ok is None and after is None
    assert isinstance(refused, MailRefused) and refused.code == 550
    assert "550 5.1.1 no such user" in str(refused) and "nobody@example.com" in str(refused)
    assert handler.received == ["u0@example.com", "u2@example.com"]
    assert len(connections) == 1  # one connection for the whole batch


def test_a_451_for_one_message_does_not_stop_the_rest_of_the_batch(
        smtp_server: RecordingSMTPServer, connections: list[int]) -> None:
    smtp_server.fail_next = 1  # the first DATA of the batch is answered 451
    results = asyncio.run(smtp_mailer(smtp_server).send_many([_plain_message(i) for i in range(3)]))
    assert isinstance(results[0], MailRefused) and results[0].code == 451
    assert results[1:] == [None, None]
    assert [m["X-MCR-Outbox-Id"] for m in smtp_server.messages] == ["1", "2"]
    assert len(connections) == 1


def test_unreachable_smtp_server_fails_every_message_of_the_batch_with_a_clear_error() -> None:
    port = free_port()
    results = asyncio.run(SmtpMailer("127.0.0.1", port, timeout=2).send_many(
        [_plain_message(i) for i in range(3)]))
    assert len(results) == 3
    assert all(isinstance(r, MailServerUnreachable) for r in results)
    assert str(results[0]).startswith(f"cannot reach SMTP server 127.0.0.1:{port}: ")


def test_a_recipient_with_a_header_injection_is_retried_alone_and_the_batch_is_sent(
        db: Database, clock: FakeClock, smtp_server: RecordingSMTPServer) -> None:
    good = queue(db, clock, 2)
    (bad,) = queue(db, clock, 1, recipient="bob@example.com\nBcc: everyone@example.com")
    report = sender_for(db, smtp_mailer(smtp_server), clock).deliver_due_sync()
    assert report == DeliveryReport(sent=2, retried=1)
    assert [row(db, i)["status"] for i in good] == ["sent", "sent"]
    assert row(db, bad)["status"] == "pending"
    assert str(row(db, bad)["last_error"]).startswith("cannot build the message: ")
    assert all(m["Bcc"] is None for m in smtp_server.messages)


def test_a_crash_after_sending_resends_with_the_same_message_id(
        db: Database, clock: FakeClock, smtp_server: RecordingSMTPServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    (row_id,) = queue(db, clock, 1)
    crashing = sender_for(db, smtp_mailer(smtp_server), clock, worker_id="dies", lease=timedelta(seconds=60))

    def crash(*_a: object, **_kw: object) -> None:
        raise KeyboardInterrupt("power cut between SMTP accept and the database update")

    monkeypatch.setattr(crashing, "_mark_sent", crash)
    with pytest.raises(KeyboardInterrupt):
        crashing.deliver_due_sync()
    assert row(db, row_id)["claimed_by"] == "dies" and row(db, row_id)["status"] == "pending"

    survivor = sender_for(db, smtp_mailer(smtp_server), clock, worker_id="lives")
    assert survivor.deliver_due_sync() == DeliveryReport()  # the dead sender's lease still holds
    clock.advance(timedelta(seconds=61))
    assert survivor.deliver_due_sync() == DeliveryReport(sent=1)

    first, second = smtp_server.messages
    assert first["Message-ID"] == second["Message-ID"]  # a receiver can drop the second copy
    assert first.as_bytes() == second.as_bytes()


# --------------------------------------------------------------------------------- leases


def test_a_lease_held_by_another_worker_is_respected(db: Database, clock: FakeClock) -> None:
    ids = queue(db, clock, 2)
    with db.tx() as tx:
        tx.execute("UPDATE outbox SET claimed_by = 'other', claimed_until_us = :u WHERE id = :i",
                   {"u": to_us(clock.now() + timedelta(seconds=30)), "i": ids[0]})
    mailer = MemoryMailer()
    sender = sender_for(db, mailer, clock)

    assert sender.deliver_due_sync() == DeliveryReport(sent=1)
    assert [m["X-MCR-Outbox-Id"] for m in mailer.sent] == [str(ids[1])]
    assert row(db, ids[0])["claimed_by"] == "other"
    clock.advance(timedelta(seconds=30))
    assert sender.deliver_due_sync() == DeliveryReport()  # still held at its last microsecond
    clock.advance(timedelta(microseconds=1))
    assert sender.deliver_due_sync() == DeliveryReport(sent=1)  # the other worker died: taken over
    assert sorted(m["X-MCR-Outbox-Id"] for m in mailer.sent) == sorted(str(i) for i in ids)


def test_a_late_failure_report_does_not_overwrite_a_row_another_worker_took_over(
        db: Database, clock: FakeClock) -> None:
    (row_id,) = queue(db, clock, 1)
    slow = sender_for(db, MemoryMailer(fail_next=1), clock, worker_id="slow")
    rows = slow._claim(10)
    # The slow sender's lease runs out; another sender takes the row and sends it.
    clock.advance(timedelta(seconds=61))
    assert sender_for(db, MemoryMailer(), clock, worker_id="fast").deliver_due_sync() == DeliveryReport(sent=1)
    slow._record(rows, {row_id: MailRefused("451 late")})
    r = row(db, row_id)
    assert r["status"] == "sent" and r["attempts"] == 0 and r["last_error"] is None


class _SlowMailer:
    """Takes longer than the lease; halfway it lets a rival sender try to claim the same rows."""

    def __init__(self, rival: OutboxSender, clock: FakeClock) -> None:
        self.rival, self.clock = rival, clock
        self.rival_got: list[object] | None = None

    async def send_many(self, messages: list[EmailMessage], on_accepted: object = None) -> list[Exception | None]:
        first = await asyncio.to_thread(_leases, self.rival.db)
        # Past half of the 200 ms lease on the sender's own clock: it renews (no real time passes).
        self.clock.advance(timedelta(milliseconds=150))
        for _ in range(10_000):  # wait for the renewal itself (a bounded wait, not a guessed delay)
            if await asyncio.to_thread(_leases, self.rival.db) != first:
                break
            await asyncio.sleep(0)
        else:
            raise AssertionError("the sender did not renew its lease when its clock passed half of it")
        self.clock.advance(timedelta(milliseconds=150))  # now past the lease first taken
        self.rival_got = await asyncio.to_thread(self.rival._claim, 10)
        return [None for _ in messages]


def _leases(db: Database) -> list[tuple]:
    with db.read() as tx:
        return [tuple(r) for r in tx.all("SELECT id, claimed_until_us FROM outbox ORDER BY id")]


def test_a_slow_batch_renews_its_lease_so_no_other_sender_takes_its_rows(
        db: Database, clock: FakeClock) -> None:
    queue(db, clock, 2)
    rival = sender_for(db, MemoryMailer(), clock, worker_id="rival")
    slow = _SlowMailer(rival, clock)
    sender = sender_for(db, slow, clock, worker_id="slow", lease=timedelta(milliseconds=200))
    assert sender.deliver_due_sync() == DeliveryReport(sent=2)
    assert slow.rival_got == []


def test_rows_another_sender_took_over_before_they_went_out_are_not_sent_again(db: Database, clock: FakeClock) -> None:
    from engine.notify import _LOST, CHUNK

    ids = queue(db, clock, CHUNK + 5)
    mailer = MemoryMailer()
    slow = sender_for(db, mailer, clock, worker_id="slow", lease=timedelta(seconds=60))
    rows = slow._claim(100)
    clock.advance(timedelta(seconds=61))  # the slow sender stalled past its lease …
    rival = sender_for(db, MemoryMailer(), clock, worker_id="rival")
    assert [r.id for r in rival._claim(CHUNK + 1)] == ids[:CHUNK + 1]  # … and a rival took part of its batch
    outcomes = asyncio.run(slow._deliver_group(slow.mail_channel, rows, lambda row_id: None))
    assert outcomes[:CHUNK] == [_LOST] * CHUNK          # the first chunk is the rival's now: not sent
    assert outcomes[CHUNK] is _LOST                     # nor the rival's row in the second chunk
    assert outcomes[CHUNK + 1:] == [None] * 4           # the rest were still the slow sender's: sent
    assert [int(m["X-MCR-Outbox-Id"]) for m in mailer.sent] == ids[CHUNK + 1:]


def test_two_senders_at_once_deliver_every_row_exactly_once(db: Database, clock: FakeClock) -> None:
    ids = queue(db, clock, 120)
    mailers = [MemoryMailer(), MemoryMailer()]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        sender = sender_for(db, mailers[n], clock, worker_id=f"w{n}")
        try:
            while sender.deliver_due_sync(limit=7).claimed:
                pass
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    delivered = [int(m["X-MCR-Outbox-Id"]) for mailer in mailers for m in mailer.sent]
    assert sorted(delivered) == ids  # every row once, none twice
    assert {v.status for v in list_outbox(db, limit=500)} == {"sent"}


# --------------------------------------------------------------------------------- folder sink


def test_folder_sink_writes_one_parseable_eml_per_row_and_never_twice(
        rt: Runtime, db: Database, clock: FakeClock, tmp_path: Path) -> None:
    iid = assign_ticket(rt)
    ids = [v.id for v in list_outbox(db)] + queue(db, clock, 2)
    folder = tmp_path / "mail"
    sender = sender_for(db, FolderMailer(folder), clock)

    assert sender.deliver_due_sync() == DeliveryReport(sent=3)
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted(f"{i}.eml" for i in ids)  # no temp files left behind
    msg = email.message_from_bytes((folder / f"{ids[0]}.eml").read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == f"工单 #{iid} 已分派给您" and msg["To"] == "bob@example.com"
    assert "已分派给您" in msg.get_content()

    # Even if the rows were delivered again (a crash before the update), no second file appears.
    with db.tx() as tx:
        tx.execute("UPDATE outbox SET status = 'pending', sent_us = NULL")
    stamp = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert sender.deliver_due_sync() == DeliveryReport(sent=3)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamp


# ------------------------------------------------------------------------------- operator view


def test_list_outbox_shows_rows_newest_first_with_aware_times(db: Database, clock: FakeClock) -> None:
    ids = queue(db, clock, 3)
    clock.advance(timedelta(minutes=5))
    sender_for(db, MemoryMailer(), clock).deliver_due_sync(limit=1)
    views = list_outbox(db)
    assert [v.id for v in views] == ids[::-1]
    sent = [v for v in views if v.status == "sent"]
    assert [v.id for v in sent] == [ids[0]] and sent[0].sent == clock.now()
    assert views[0].created.tzinfo is not None and views[0].subject == "提醒 2"
    assert [v.id for v in list_outbox(db, "pending", limit=1)] == [ids[2]]
    with pytest.raises(UnknownOutboxStatus, match="可用：pending, sent, failed"):
        list_outbox(db, "lost")


# --------------------------------------------------------------------- one contract, all adapters


@pytest.fixture(params=["memory", "folder", "smtp"])
def any_mailer(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    if request.param == "memory":
        mailer = MemoryMailer()
        return mailer, lambda: mailer.sent
    if request.param == "folder":
        folder = tmp_path / "out"
        return FolderMailer(folder), lambda: [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(folder.glob("*.eml"))]
    server = request.getfixturevalue("smtp_server")
    return smtp_mailer(server), lambda: server.messages


def test_every_mailer_accepts_a_batch_and_keeps_subject_recipient_and_message_id(any_mailer: object) -> None:
    mailer, received = any_mailer  # type: ignore[misc]
    messages = [_plain_message(i) for i in range(3)]
    assert asyncio.run(mailer.send_many(messages)) == [None, None, None]
    assert asyncio.run(mailer.send_many([])) == []
    got = sorted(received(), key=lambda m: m["X-MCR-Outbox-Id"])
    assert [(m["Subject"], m["To"], m["Message-ID"]) for m in got] == [
        (f"你好 {i}", f"u{i}@example.com", f"<m{i}@example.com>") for i in range(3)]


def _plain_message(i: int, to: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "mcr@example.com"
    msg["To"] = to or f"u{i}@example.com"
    msg["Subject"] = f"你好 {i}"
    msg["Message-ID"] = f"<m{i}@example.com>"
    msg["X-MCR-Outbox-Id"] = str(i)
    msg.set_content(f"正文 {i}\n", charset="utf-8")
    return msg
