"""The mailers and the message builder, without a database: configuration from the
environment, the folder sink on a real folder, the memory mailer, the e-mail built from an
outbox row, the backoff schedule, and the examples of docs/mail.md."""

from __future__ import annotations

import asyncio
import doctest
import email
import email.policy
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from engine.clock import to_us
from engine.errors import ConfigError, MailError
from engine.mailers import (DEFAULT_MAIL_DIR, FolderMailer, MailRefused, MemoryMailer, SmtpMailer,
                            mailer_from_env)
from engine.notify import OutboxRow, OutboxSender, backoff_delay, build_message, message_id_for
from tests.conftest import ROOT

CREATED = to_us(datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc))


def outbox_row(row_id: int = 42, **kw: object) -> OutboxRow:
    fields: dict[str, object] = dict(id=row_id, instance_id=7, template="assigned", locale="zh-CN",
                                     recipient="bob@example.com", subject="工单 #7 已分派给您",
                                     body="您好，\n\n工单 #7 已分派给您。\n", attempts=0, created_us=CREATED)
    fields.update(kw)
    return OutboxRow(**fields)  # type: ignore[arg-type]


def parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


# ------------------------------------------------------------------------------ configuration


def test_smtp_url_with_credentials_and_starttls_configures_an_smtp_mailer() -> None:
    mailer = mailer_from_env({"MCR_SMTP_URL": "smtp://ops%40crm:p%3Ass@mail.example.com:2525?starttls=1"})
    assert isinstance(mailer, SmtpMailer)
    assert (mailer.host, mailer.port, mailer.username, mailer.password) == (
        "mail.example.com", 2525, "ops@crm", "p:ss")
    assert (mailer.starttls, mailer.use_tls, mailer.timeout) == (True, False, 10)


@pytest.mark.parametrize("url, port, use_tls, starttls", [
    ("smtp://relay", 25, False, False),
    ("smtp://relay?starttls=1", 587, False, True),
    ("smtps://relay", 465, True, False),
    ("smtps://relay:2465?timeout=3.5", 2465, True, False),
])
def test_smtp_url_default_ports_follow_the_tls_mode(url: str, port: int, use_tls: bool, starttls: bool) -> None:
    mailer = mailer_from_env({"MCR_SMTP_URL": url})
    assert isinstance(mailer, SmtpMailer)
    assert (mailer.port, mailer.use_tls, mailer.starttls) == (port, use_tls, starttls)


def test_without_smtp_url_mail_goes_to_the_folder_sink(tmp_path: Path) -> None:
    default = mailer_from_env({})
    assert isinstance(default, FolderMailer) and default.directory == Path(DEFAULT_MAIL_DIR)
    mailer = mailer_from_env({"MCR_SMTP_URL": "  ", "MCR_MAIL_DIR": str(tmp_path / "box")})
    assert isinstance(mailer, FolderMailer) and mailer.directory == tmp_path / "box"


@pytest.mark.parametrize("url, reason", [
    ("mail.example.com:25", "scheme must be smtp:// or smtps://"),
    ("http://mail.example.com", "scheme must be smtp:// or smtps://"),
    ("smtp://", "no host name"),
    ("smtp://user:secret@host:port", "Port could not be cast"),
    ("smtp://host:99999", "out of range"),
    ("smtp://host/inbox", "unexpected path"),
    ("smtp://host?starttls=maybe", "starttls='maybe'"),
    ("smtp://host?tls=1", "unknown option(s) tls"),
    ("smtp://host?timeout=soon", "not a number of seconds"),
    ("smtps://host?starttls=1", "smtps:// is already TLS"),
])
def test_malformed_smtp_url_is_a_one_line_config_error_naming_the_variable(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        mailer_from_env({"MCR_SMTP_URL": url})
    message = str(info.value)
    assert message.startswith("MCR_SMTP_URL=") and reason in message
    assert "\n" not in message and "secret" not in message


def test_an_smtp_mailer_never_shows_its_password() -> None:
    mailer = SmtpMailer("mail.example.com", 587, "ops", "s3cret", starttls=True)
    assert "s3cret" not in repr(mailer) and "ops:***@" in repr(mailer)


def test_smtps_and_starttls_together_are_refused() -> None:
    with pytest.raises(ConfigError, match="not both"):
        SmtpMailer("h", 465, starttls=True, use_tls=True)


# ------------------------------------------------------------------------------ the message


def test_message_of_a_row_keeps_chinese_subject_body_and_headers() -> None:
    msg = build_message(outbox_row(), "MCR 通知 <notify@crm.example.com>")
    wire = msg.as_bytes(policy=email.policy.SMTP)
    assert b"\xe5" not in wire.split(b"\r\n\r\n", 1)[0]  # headers are 7-bit: Chinese is RFC 2047-encoded
    back = parse(msg.as_bytes())
    assert back["Subject"] == "工单 #7 已分派给您"
    assert back["To"] == "bob@example.com"
    assert back["From"].addresses[0].display_name == "MCR 通知"
    assert back["Message-ID"] == f"<mcr-outbox-42.{CREATED}@crm.example.com>"
    assert back["X-MCR-Outbox-Id"] == "42" and back["X-MCR-Instance-Id"] == "7"
    assert back["Date"].datetime == datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc)
    assert back.get_content() == "您好，\n\n工单 #7 已分派给您。\n"


def test_the_same_row_always_gives_the_same_message() -> None:
    first = build_message(outbox_row(attempts=0), "notify@crm.example.com")
    again = build_message(outbox_row(attempts=5), "notify@crm.example.com")
    assert first.as_bytes() == again.as_bytes()


def test_message_id_differs_between_databases_that_reuse_an_id() -> None:
    one = message_id_for(1, CREATED, "mcr@example.com")
    other = message_id_for(1, CREATED + 1, "mcr@example.com")
    assert one != other
    assert message_id_for(1, CREATED, "nobody") == f"<mcr-outbox-1.{CREATED}@localhost>"
    assert message_id_for(1, CREATED, "mcr@例子.公司").endswith("@xn--fsqu00a.xn--55qx5d>")


def test_a_recipient_with_a_line_break_cannot_build_a_message() -> None:
    with pytest.raises(ValueError):
        build_message(outbox_row(recipient="a@example.com\nBcc: all@example.com"), "mcr@example.com")


def test_sender_address_comes_from_mcr_mail_from(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCR_MAIL_FROM", "crm@example.com")
    assert OutboxSender(None, MemoryMailer(), None, worker_id="w").sender_address == "crm@example.com"  # type: ignore[arg-type]
    monkeypatch.delenv("MCR_MAIL_FROM")
    assert OutboxSender(None, MemoryMailer(), None, worker_id="w").sender_address == "mcr@localhost"  # type: ignore[arg-type]


def test_backoff_doubles_from_the_base_and_stops_at_six_hours() -> None:
    base = timedelta(seconds=30)
    assert [backoff_delay(n, base).total_seconds() for n in range(8)] == [30, 60, 120, 240, 480, 960, 1920, 3840]
    assert backoff_delay(10, base) == timedelta(hours=6)
    assert backoff_delay(10_000, base) == timedelta(hours=6)  # no overflow however long it failed
    assert backoff_delay(10_000, timedelta(days=1)) == timedelta(hours=6)


# ----------------------------------------------------------------------------- folder sink


def test_folder_sink_writes_each_message_as_its_outbox_id_eml(tmp_path: Path) -> None:
    folder = tmp_path / "not-yet-there"
    messages = [build_message(outbox_row(i), "mcr@example.com") for i in (1, 2)]
    assert asyncio.run(FolderMailer(folder).send_many(messages)) == [None, None]
    assert sorted(p.name for p in folder.iterdir()) == ["1.eml", "2.eml"]
    back = parse((folder / "2.eml").read_bytes())
    assert back["Subject"] == "工单 #7 已分派给您" and back["X-MCR-Outbox-Id"] == "2"
    assert back.get_content() == "您好，\n\n工单 #7 已分派给您。\n"


def test_folder_sink_never_writes_the_same_outbox_id_twice(tmp_path: Path) -> None:
    mailer = FolderMailer(tmp_path)
    asyncio.run(mailer.send_many([build_message(outbox_row(5, subject="第一次"), "mcr@example.com")]))
    again = build_message(outbox_row(5, subject="第二次"), "mcr@example.com")
    assert asyncio.run(mailer.send_many([again, again])) == [None, None]
    assert [p.name for p in tmp_path.iterdir()] == ["5.eml"]  # no second file, no temp file left
    assert parse((tmp_path / "5.eml").read_bytes())["Subject"] == "第一次"


def test_folder_sink_names_a_message_without_outbox_id_by_its_message_id_safely(tmp_path: Path) -> None:
    msg = EmailMessage()
    msg["Message-ID"] = "<../../etc/passwd@evil>"
    msg.set_content("x")
    bare = EmailMessage()
    bare.set_content("y")
    ok, refused = asyncio.run(FolderMailer(tmp_path).send_many([msg, bare]))
    assert ok is None and isinstance(refused, MailRefused) and isinstance(refused, MailError)
    assert [p.name for p in tmp_path.iterdir()] == ["etc_passwd_evil.eml"]


def test_folder_sink_that_cannot_create_its_folder_fails_every_message(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    results = asyncio.run(FolderMailer(blocker / "box").send_many(
        [build_message(outbox_row(i), "mcr@example.com") for i in (1, 2)]))
    assert all(isinstance(r, MailError) and "cannot create mail folder" in str(r) for r in results)


# ---------------------------------------------------------------------------- memory mailer


def test_memory_mailer_keeps_what_it_accepts_and_can_refuse_the_next_ones() -> None:
    mailer = MemoryMailer(fail_next=1)
    messages = [build_message(outbox_row(i), "mcr@example.com") for i in (1, 2)]
    refused, ok = asyncio.run(mailer.send_many(messages))
    assert isinstance(refused, MailRefused) and refused.code == 451 and ok is None
    assert mailer.sent == [messages[1]] and mailer.fail_next == 0


# ------------------------------------------------------------------------------------ docs


def test_docs_mail_examples_run() -> None:
    result = doctest.testfile(str(ROOT / "docs" / "mail.md"), module_relative=False,
                              optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 4
