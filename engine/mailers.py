"""The Mailer port and its adapters: where a finished `EmailMessage` goes.

* `SmtpMailer` — a real SMTP server, through aiosmtplib, ONE connection per batch (a connection
  per message measured ~2x slower, docs/mail.md);
* `FolderMailer` — one `<outbox-id>.eml` file per message in a folder; the default sink when no
  SMTP server is configured, so the embedded engine works offline;
* `MemoryMailer` — a list, for the tests of other modules.

A mailer answers per message: `None` (accepted) or the exception that says why not. It never
raises for a refused message, so one bad address cannot sink a batch. It also calls
`on_accepted(i)` the moment message `i` is accepted, before offering the next one, so the caller
can record each delivery at once: a crash mid-batch then leaves at most the one message in
flight unrecorded (docs/mail.md). This module knows
nothing of the database, the outbox table, retries or the clock (engine/notify.py does); it
must never use the blocking `smtplib`, and never print or log a password.
"""

from __future__ import annotations

import asyncio
import email.policy
import os
import re
import tempfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Callable, Mapping, Optional, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from engine.errors import ConfigError, MailError
from engine.paths import safe_join

DEFAULT_MAIL_DIR = "./mail-outbox"
OUTBOX_ID_HEADER = "X-MCR-Outbox-Id"


class MailRefused(MailError):
    """The mail server did not accept this message."""

    def __init__(self, message: str | None = None, *, code: int | None = None) -> None:
        self.code = code  # the SMTP reply code (451, 550 ...) when the server gave one
        super().__init__(message)


class MailServerUnreachable(MailError):
    """The mail server could not be reached (or the connection dropped); this message was not sent."""


# Called with the index of a message as soon as it is accepted (the server said 250, the file is
# published); it must be quick and must not raise (the sender records the row and swallows errors).
OnAccepted = Optional[Callable[[int], None]]


class Mailer(Protocol):
    async def send_many(self, messages: list[EmailMessage], on_accepted: OnAccepted = None) -> list[Exception | None]:
        """Send each message; one result per message, in order: None = accepted."""
        ...


def one_line(text: object, limit: int = 500) -> str:
    """An error as a single line (it goes into `outbox.last_error` and a CLI table)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --------------------------------------------------------------------------------------- SMTP


class SmtpMailer:
    """Delivers a batch over one SMTP connection (aiosmtplib)."""

    def __init__(self, host: str, port: int, username: str | None = None, password: str | None = None,
                 starttls: bool = False, use_tls: bool = False, timeout: float = 10) -> None:
        if starttls and use_tls:
            raise ConfigError("SMTP: use either implicit TLS (smtps://) or STARTTLS, not both")
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.use_tls = use_tls
        self.timeout = timeout

    def __repr__(self) -> str:  # never shows the password
        scheme = "smtps" if self.use_tls else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        tls = "?starttls=1" if self.starttls else ""
        return f"SmtpMailer({scheme}://{user}{self.host}:{self.port}{tls})"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def send_many(self, messages: list[EmailMessage], on_accepted: OnAccepted = None) -> list[Exception | None]:
        if not messages:
            return []
        smtp = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, username=self.username, password=self.password,
            use_tls=self.use_tls,
            # False, not None: aiosmtplib's None means "upgrade if offered", which silently
            # changes behaviour with the server; here TLS is what the URL says, nothing else.
            start_tls=True if self.starttls else False,
            timeout=self.timeout)
        try:
            await smtp.connect()  # also does STARTTLS and AUTH when configured
        except Exception as exc:
            err = MailServerUnreachable(f"cannot reach SMTP server {self.where}: {_describe(exc)}")
            err.__cause__ = exc
            return [err for _ in messages]
        results: list[Exception | None] = []
        try:
            for i, message in enumerate(messages):
                try:
                    await smtp.send_message(message)
                except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, ConnectionError) as exc:
                    # The connection is gone: this message's fate is unknown (it is retried, with
                    # the same Message-ID), and the rest were never offered.
                    err = MailServerUnreachable(f"connection to SMTP server {self.where} lost: {_describe(exc)}")
                    err.__cause__ = exc
                    results.extend(err for _ in messages[i:])
                    break
                except Exception as exc:
                    # A refusal of this one message (451, 550, a bad address): aiosmtplib has
                    # already sent RSET, so the same connection carries on with the next one.
                    results.append(_refusal(exc))
                else:
                    results.append(None)
                    if on_accepted is not None:
                        on_accepted(i)
        finally:
            try:
                await smtp.quit()
            except Exception:  # the messages were accepted before QUIT; a failing QUIT changes nothing
                smtp.close()
        return results


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return one_line(f"{exc.code} {exc.message}")
    return one_line(str(exc) or type(exc).__name__)


def _refusal(exc: Exception) -> MailRefused:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        err = MailRefused(one_line(f"{first.code} {first.message} (recipient {first.recipient})"), code=first.code)
    elif isinstance(exc, aiosmtplib.SMTPResponseException):
        err = MailRefused(one_line(f"{exc.code} {exc.message}"), code=exc.code)
    else:
        err = MailRefused(one_line(f"{type(exc).__name__}: {exc}"))
    err.__cause__ = exc
    return err


# ------------------------------------------------------------------------------------- folder

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class FolderMailer:
    """Writes each message to `<directory>/<outbox-id>.eml`, once: an existing file is never replaced."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"FolderMailer({str(self.directory)!r})"

    async def send_many(self, messages: list[EmailMessage], on_accepted: OnAccepted = None) -> list[Exception | None]:
        if not messages:
            return []
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            err = MailServerUnreachable(f"cannot create mail folder {self.directory}: {one_line(exc)}")
            return [err for _ in messages]
        results: list[Exception | None] = []
        for i, message in enumerate(messages):
            # Disk writes and fsyncs block; keep them off the event loop. One message at a time,
            # so each file is durable (and reported) before the next one is written.
            result = await asyncio.to_thread(self._write_durably, message)
            results.append(result)
            if result is None and on_accepted is not None:
                on_accepted(i)
        return results

    def path_for(self, message: EmailMessage) -> Path:
        """The file a message goes to, named by its outbox id (else by its Message-ID)."""
        key = str(message.get(OUTBOX_ID_HEADER) or "").strip()
        if not key:
            key = str(message.get("Message-ID") or "").strip().strip("<>")
        name = _SAFE_NAME.sub("_", key).strip("._")
        if not name:
            raise MailRefused(f"message has neither an {OUTBOX_ID_HEADER} nor a Message-ID header")
        return safe_join(self.directory, f"{name}.eml")

    def _write_durably(self, message: EmailMessage) -> Exception | None:
        try:
            self._write_once(message)
        except MailError as exc:
            return exc
        except Exception as exc:
            err = MailRefused(f"cannot write {self.directory}: {one_line(exc)}")
            err.__cause__ = exc
            return err
        _fsync_dir(self.directory)
        return None

    def _write_once(self, message: EmailMessage) -> None:
        final = self.path_for(message)
        if final.exists():
            return  # already delivered under this outbox id: exactly once by file name
        # RFC 2047-encoded headers (7-bit, as on the wire) and the platform's usual LF line ends,
        # which every mail program and e-mail library reads.
        data = message.as_bytes(policy=email.policy.default)
        # Temp file in the same folder (same file system, so publishing is atomic), with a name
        # no reader of *.eml picks up half-written.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".eml.part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                # link() publishes atomically AND refuses to overwrite: if two senders raced on
                # the same outbox id, the second one finds the first one's file and stops.
                os.link(tmp, final)
            except FileExistsError:
                pass
            except OSError:
                # File systems without hard links: os.replace is still atomic; the exists()
                # check above plus the sender's lease keep it to one writer per outbox id.
                if not final.exists():
                    os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _fsync_dir(directory: Path) -> None:
    # The new directory entries must survive a power cut before the row is marked sent.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # not supported on this platform / file system
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------- memory


@dataclass
class MemoryMailer:
    """Keeps every message it is given in `sent`; `fail_next = n` refuses the next n with a 451."""

    sent: list[EmailMessage] = field(default_factory=list)
    fail_next: int = 0

    async def send_many(self, messages: list[EmailMessage], on_accepted: OnAccepted = None) -> list[Exception | None]:
        results: list[Exception | None] = []
        for i, message in enumerate(messages):
            if self.fail_next > 0:
                self.fail_next -= 1
                results.append(MailRefused("451 4.3.0 try again later (MemoryMailer.fail_next)", code=451))
                continue
            self.sent.append(message)
            results.append(None)
            if on_accepted is not None:
                on_accepted(i)
        return results


# ---------------------------------------------------------------------------------- from env


def mailer_from_env(environ: Mapping[str, str] | None = None) -> Mailer:
    """The mailer the environment configures: MCR_SMTP_URL if set, else a folder (MCR_MAIL_DIR)."""
    env = os.environ if environ is None else environ
    url = (env.get("MCR_SMTP_URL") or "").strip()
    if not url:
        return FolderMailer(env.get("MCR_MAIL_DIR") or DEFAULT_MAIL_DIR)
    return smtp_mailer_from_url(url, variable="MCR_SMTP_URL")


def smtp_mailer_from_url(url: str, *, variable: str = "MCR_SMTP_URL") -> SmtpMailer:
    """Parse `smtp://[user[:pass]@]host[:port][?starttls=1&timeout=S]` or `smtps://…`."""
    shown = _mask_password(url)

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{variable}={shown!r} is not usable: {why} "
                           "(expected smtp://user:pass@host:port, smtps://... or ...?starttls=1)")

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise bad(one_line(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise bad(f"the scheme must be smtp:// or smtps://, not {parts.scheme + '://' if parts.scheme else 'none'}")
    if not parts.hostname:
        raise bad("no host name")
    if parts.path not in ("", "/"):
        raise bad(f"unexpected path {parts.path!r}")
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise bad(f"cannot read the query {parts.query!r}") from None
    unknown = sorted(set(query) - {"starttls", "timeout"})
    if unknown:
        raise bad(f"unknown option(s) {', '.join(unknown)}; known: starttls, timeout")
    starttls = False
    if "starttls" in query:
        flag = query["starttls"][-1].lower()
        if flag not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise bad(f"starttls={flag!r}: use 1 or 0")
        starttls = flag in ("1", "true", "yes", "on")
    use_tls = scheme == "smtps"
    if use_tls and starttls:
        raise bad("smtps:// is already TLS; starttls=1 only goes with smtp://")
    timeout = 10.0
    if "timeout" in query:
        try:
            timeout = float(query["timeout"][-1])
        except ValueError:
            raise bad(f"timeout={query['timeout'][-1]!r} is not a number of seconds") from None
        if timeout <= 0:
            raise bad("timeout must be positive")
    if port is None:
        port = 465 if use_tls else 587 if starttls else 25
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return SmtpMailer(parts.hostname, port, username, password, starttls=starttls, use_tls=use_tls,
                      timeout=timeout)


def _mask_password(url: str) -> str:
    # Error messages end up in logs and terminals; the password must not.
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)
