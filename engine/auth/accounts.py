"""Accounts, passwords, personal API tokens, web sessions and the sign-in rate limit.

Every successful check returns a `Principal` built by `engine.auth.load_principal`: this module is
the only place that turns a secret (password, session cookie, bearer token) into an identity.
Secrets are never stored in clear: passwords as Argon2 hashes (argon2-cffi, rehashed when the
parameters change), tokens and session ids as SHA-256 of the random value the user holds.
Business time comes from the `Clock` handed in; this module never reads the wall clock.
It must never import HTTP, CLI or mail code.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, update
from sqlmodel import Session, select

from engine.auth.models import Account, ApiToken, SigninFailure, WebSession
from engine.auth.principal import OPERATOR_ROLE, Principal, UnknownEmployee, load_principal
from engine.clock import Clock, from_us, to_us
from engine.db import Database, retry_busy
from engine.errors import MCRError
from engine.i18n import t

LOCALES = ("zh-CN", "en")
TOKEN_PREFIX = "mcr_"


# ---------------------------------------------------------------------------------------------- errors


class AuthError(MCRError):
    """You are not signed in."""

    code = "unauthenticated"
    status = 401


class BadCredentials(AuthError):
    """Wrong employee number or password."""

    code = "bad_credentials"


class AccountLocked(AuthError):
    """Too many failed sign-ins: locked for a while."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class AccountDisabled(AuthError):
    """The account is disabled."""

    code = "account_disabled"
    status = 403


class SessionExpired(AuthError):
    """The session has expired; sign in again."""

    code = "session_expired"


class BadToken(AuthError):
    """The API token is not valid or was revoked."""

    code = "bad_token"


class AccountError(MCRError):
    """The account could not be changed as asked."""

    code = "bad_input"
    status = 422


class UnknownAccount(AccountError):
    """That employee has no account."""

    code = "unknown_account"
    status = 404


class AccountExists(AccountError):
    """That employee already has an account."""

    code = "account_exists"
    status = 409


class WeakPassword(AccountError):
    """The password is too short."""

    code = "weak_password"


# ---------------------------------------------------------------------------------------------- settings


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        from engine.errors import ConfigError

        raise ConfigError(f"{name}={raw!r}: expected a whole number") from exc


@dataclass(frozen=True)
class AuthSettings:
    """How long sessions live and how sign-in failures are limited (environment, with defaults)."""

    session_idle: timedelta = timedelta(minutes=60)
    session_absolute: timedelta = timedelta(hours=12)
    max_failures: int = 5
    failure_window: timedelta = timedelta(minutes=15)
    min_password_length: int = 8

    @classmethod
    def from_env(cls) -> "AuthSettings":
        return cls(session_idle=timedelta(minutes=_env_int("MCR_SESSION_IDLE_MINUTES", 60)),
                   session_absolute=timedelta(hours=_env_int("MCR_SESSION_ABSOLUTE_HOURS", 12)),
                   max_failures=_env_int("MCR_SIGNIN_MAX_FAILURES", 5),
                   failure_window=timedelta(minutes=_env_int("MCR_SIGNIN_LOCK_MINUTES", 15)),
                   min_password_length=_env_int("MCR_PASSWORD_MIN_LENGTH", 8))


# ---------------------------------------------------------------------------------------------- views


@dataclass(frozen=True)
class AccountView:
    emp_no: str
    name: str
    disabled: bool
    operator: bool
    locale: Optional[str]
    created: datetime
    tokens: int


@dataclass(frozen=True)
class WebSessionView:
    """What a request learns about its session: who, the CSRF token, when it ends."""

    emp_no: str
    csrf_token: str
    expires: datetime


_hasher = PasswordHasher()


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _account(session: Session, emp_no: str) -> Optional[Account]:
    return session.exec(select(Account).where(Account.emp_no == emp_no)).first()


def _require_account(session: Session, emp_no: str, locale: Optional[str] = None) -> Account:
    account = _account(session, emp_no)
    if account is None:
        raise UnknownAccount(t("engine.auth.no_account", locale, emp=emp_no))
    return account


def _check_password_strength(password: str, settings: AuthSettings, locale: Optional[str] = None) -> None:
    if len(password) < settings.min_password_length:
        raise WeakPassword(t("engine.auth.weak_password", locale, n=settings.min_password_length))


def _check_locale(value: Optional[str]) -> Optional[str]:
    if value is not None and value not in LOCALES:
        raise AccountError(t("engine.auth.bad_locale", value=value))
    return value


def _principal(session: Session, account: Account, via: str) -> Principal:
    principal = load_principal(session, account.emp_no, via=via, locale=account.locale)
    if account.operator:
        # An administrator's account: the operator role, recorded under their own number.
        principal = replace(principal, roles=principal.roles | {OPERATOR_ROLE}, operator=account.emp_no)
    return principal


# ---------------------------------------------------------------------------------------------- accounts


def add_account(db: Database, emp_no: str, password: str, *, clock: Clock, operator: bool = False,
                locale: Optional[str] = None, settings: AuthSettings | None = None) -> AccountView:
    """Create the account of an employee of the master data (one per employee)."""
    settings = settings or AuthSettings.from_env()
    _check_locale(locale)
    _check_password_strength(password, settings)
    now = to_us(clock.now())
    with db.session() as session:
        try:
            load_principal(session, emp_no)
        except UnknownEmployee as exc:
            raise UnknownEmployee(t("engine.auth.unknown_employee", emp=emp_no)) from exc
        if _account(session, emp_no) is not None:
            raise AccountExists(t("engine.auth.account_exists", emp=emp_no))
        session.add(Account(emp_no=emp_no, password_hash=_hasher.hash(password), operator=operator, locale=locale,
                            created_us=now, password_changed_us=now))
        session.commit()
    return get_account(db, emp_no)


def get_account(db: Database, emp_no: str) -> AccountView:
    found = list_accounts(db, emp_no=emp_no)
    if not found:
        raise UnknownAccount(t("engine.auth.no_account", emp=emp_no))
    return found[0]


def list_accounts(db: Database, *, emp_no: Optional[str] = None) -> list[AccountView]:
    from engine.masterdata.models import Employee

    with db.session() as session:
        live = (select(ApiToken.emp_no, func.count()).where(ApiToken.revoked_us.is_(None))  # type: ignore[union-attr]
                .group_by(ApiToken.emp_no))
        tokens = {e: n for e, n in session.exec(live).all()}
        query = select(Account, Employee.name).join(Employee, Employee.emp_no == Account.emp_no)  # type: ignore[arg-type]
        if emp_no is not None:
            query = query.where(Account.emp_no == emp_no)
        rows = session.exec(query.order_by(Account.emp_no)).all()
    return [AccountView(emp_no=a.emp_no, name=name, disabled=a.disabled, operator=a.operator, locale=a.locale,
                        created=from_us(a.created_us), tokens=tokens.get(a.emp_no, 0)) for a, name in rows]


def set_password(db: Database, emp_no: str, password: str, *, clock: Clock,
                 settings: AuthSettings | None = None, keep_session: Optional[str] = None) -> None:
    """Set a new password; every session of that person ends (but `keep_session`, a cookie value)."""
    settings = settings or AuthSettings.from_env()
    with db.session() as session:
        account = _require_account(session, emp_no)
        _check_password_strength(password, settings, account.locale)
        account.password_hash = _hasher.hash(password)
        account.password_changed_us = to_us(clock.now())
        session.add(account)
        ends = delete(WebSession).where(WebSession.emp_no == emp_no)  # type: ignore[arg-type]
        if keep_session:
            ends = ends.where(WebSession.id_hash != _sha256(keep_session))  # type: ignore[arg-type]
        session.exec(ends)  # type: ignore[call-overload]
        session.commit()


def change_password(db: Database, principal: Principal, current: str, new: str, confirm: str, *, clock: Clock,
                    settings: AuthSettings | None = None, keep_session: Optional[str] = None) -> None:
    """The signed-in person changes their own password (修改密码): the current one is checked first."""
    with db.session() as session:
        account = _require_account(session, principal.emp_no, principal.locale)
        if not _verify(account.password_hash, current):
            raise BadCredentials(t("engine.auth.bad_credentials", principal.locale))
    if new != confirm:
        raise AccountError(t("engine.auth.password_mismatch", principal.locale))
    set_password(db, principal.emp_no, new, clock=clock, settings=settings, keep_session=keep_session)
    record_attempt(db, clock, actor=principal.actor, action="password_changed", key=principal.emp_no, allowed=True)


def set_disabled(db: Database, emp_no: str, disabled: bool = True) -> None:
    """Disable (or enable) an account; a disabled account's sessions end and its tokens stop working."""
    with db.session() as session:
        account = _require_account(session, emp_no)
        account.disabled = disabled
        session.add(account)
        if disabled:
            session.exec(delete(WebSession).where(WebSession.emp_no == emp_no))  # type: ignore[call-overload, arg-type]
        session.commit()


def set_locale(db: Database, emp_no: str, locale: Optional[str]) -> None:
    with db.session() as session:
        account = _require_account(session, emp_no)
        account.locale = _check_locale(locale)
        session.add(account)
        session.commit()


def record_attempt(db: Database, clock: Clock, *, actor: str, action: str, key: str, allowed: bool,
                   **detail: object) -> None:
    """One row of the audit log (masterdata_audit, shown on the audit page) for a sign-in or a refused
    request, in its own transaction so that it stays even though the request is refused."""
    from engine.masterdata import audit

    with db.session() as session:
        audit.record(session, clock, actor=actor, action=action, entity="account", key=key, allowed=allowed, **detail)
        session.commit()


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------------------------------------- sign-in


def _audit_signin(session: Session, clock: Clock, emp_no: str, allowed: bool, **detail: object) -> None:
    from engine.masterdata import audit

    # The number as typed (at most 64 characters): a failed attempt may name nobody.
    audit.record(session, clock, actor=emp_no[:64] or "-", action="signin", entity="account", key=emp_no[:64] or "-",
                 allowed=allowed, **detail)


def _locked_for(session: Session, emp_no: str, address: str, now_us: int, settings: AuthSettings) -> int:
    """Seconds until the account or the address may try again (0: not locked)."""
    since = now_us - int(settings.failure_window.total_seconds() * 1_000_000)
    worst = 0
    for column, value in ((SigninFailure.emp_no, emp_no), (SigninFailure.address, address)):
        # Both lookups use an index on (column, at_us); they read at most the window's rows.
        rows = session.exec(select(SigninFailure.at_us).where(column == value, SigninFailure.at_us > since)  # type: ignore[arg-type]
                            .order_by(SigninFailure.at_us.desc()).limit(settings.max_failures)).all()  # type: ignore[union-attr]
        if len(rows) >= settings.max_failures:
            oldest = rows[-1]
            worst = max(worst, (oldest - since + 999_999) // 1_000_000)
    return worst


def _authenticate_once(db: Database, emp_no: str, password: str, *, address: str, clock: Clock,
                 settings: AuthSettings | None = None, locale: Optional[str] = None, via: str = "web") -> Principal:
    """Check a password. Raises `AccountLocked` (per account and per client address, before the
    password is even checked), `BadCredentials` (the same for an unknown employee, so that numbers
    cannot be probed) or `AccountDisabled`. A failure is recorded; a success clears the account's."""
    settings = settings or AuthSettings.from_env()
    emp_no = emp_no.strip()
    now_us = to_us(clock.now())
    with db.session() as session:
        wait = _locked_for(session, emp_no, address, now_us, settings)
        if wait:
            _audit_signin(session, clock, emp_no, False, reason="locked", address=address, via=via)
            raise AccountLocked(t("engine.auth.locked", locale, minutes=max(1, (wait + 59) // 60)), retry_after=wait)
        account = _account(session, emp_no)
        if account is None or not _verify(account.password_hash, password):
            # Failures older than the window count for nothing: drop this account's and address's (indexed).
            since = now_us - int(settings.failure_window.total_seconds() * 1_000_000)
            for column, value in ((SigninFailure.emp_no, emp_no), (SigninFailure.address, address)):
                session.exec(delete(SigninFailure).where(column == value, SigninFailure.at_us <= since))  # type: ignore[call-overload, arg-type]
            session.add(SigninFailure(emp_no=emp_no, address=address, at_us=now_us))
            _audit_signin(session, clock, emp_no, False, reason="bad_credentials", address=address, via=via)
            session.commit()
            raise BadCredentials(t("engine.auth.bad_credentials", locale))
        if account.disabled:
            _audit_signin(session, clock, emp_no, False, reason="disabled", address=address, via=via)
            session.commit()
            raise AccountDisabled(t("engine.auth.disabled", locale, emp=emp_no))
        _audit_signin(session, clock, emp_no, True, address=address, via=via)
        if _hasher.check_needs_rehash(account.password_hash):
            account.password_hash = _hasher.hash(password)
            session.add(account)
        session.exec(delete(SigninFailure).where(SigninFailure.emp_no == emp_no))  # type: ignore[call-overload, arg-type]
        session.commit()
        return _principal(session, account, via)


# ---------------------------------------------------------------------------------------------- web sessions


def _open_session_once(db: Database, principal: Principal, *, clock: Clock, address: Optional[str] = None,
                 settings: AuthSettings | None = None) -> tuple[str, WebSessionView]:
    """Start a web session for an authenticated principal; returns the cookie value (never stored)."""
    settings = settings or AuthSettings.from_env()
    sid = secrets.token_urlsafe(32)
    now = clock.now()
    row = WebSession(id_hash=_sha256(sid), emp_no=principal.emp_no, csrf_token=secrets.token_urlsafe(32),
                     address=address, created_us=to_us(now), last_seen_us=to_us(now),
                     expires_us=to_us(now + settings.session_absolute))
    with db.session() as session:
        # This person's sessions past their absolute expiry are dead rows: drop them (indexed by emp_no).
        session.exec(delete(WebSession).where(WebSession.emp_no == principal.emp_no,  # type: ignore[call-overload, arg-type]
                                              WebSession.expires_us <= to_us(now)))
        session.add(row)
        session.commit()
    return sid, WebSessionView(emp_no=row.emp_no, csrf_token=row.csrf_token, expires=from_us(row.expires_us))


def _session_principal_once(db: Database, sid: str, *, clock: Clock,
                      settings: AuthSettings | None = None) -> tuple[Principal, WebSessionView]:
    """The principal of a session cookie; raises `SessionExpired` when unknown, idle too long, past
    its absolute expiry, or its account is disabled. Each use slides the idle expiry."""
    settings = settings or AuthSettings.from_env()
    now_us = to_us(clock.now())
    idle_us = int(settings.session_idle.total_seconds() * 1_000_000)
    with db.session() as session:
        row = session.exec(select(WebSession).where(WebSession.id_hash == _sha256(sid))).first()
        account = _account(session, row.emp_no) if row is not None else None
        if row is None or account is None or account.disabled or now_us >= row.expires_us \
                or now_us - row.last_seen_us >= idle_us:
            if row is not None:
                session.delete(row)
                session.commit()
            raise SessionExpired(t("engine.auth.session_expired", account.locale if account else None))
        # Touch at most once a minute: a page with many requests should not write on every one.
        if now_us - row.last_seen_us > 60_000_000:
            session.exec(update(WebSession).where(WebSession.id == row.id).values(last_seen_us=now_us))  # type: ignore[call-overload, arg-type]
            session.commit()
        view = WebSessionView(emp_no=row.emp_no, csrf_token=row.csrf_token,
                              expires=from_us(min(row.expires_us, max(row.last_seen_us, now_us) + idle_us)))
        return _principal(session, account, "web"), view


def close_session(db: Database, sid: str) -> None:
    """Sign out: the session row is deleted, the cookie value is worth nothing afterwards."""
    with db.session() as session:
        session.exec(delete(WebSession).where(WebSession.id_hash == _sha256(sid)))  # type: ignore[call-overload, arg-type]
        session.commit()


# ---------------------------------------------------------------------------------------------- API tokens


def issue_token(db: Database, emp_no: str, *, clock: Clock) -> str:
    """A new personal API token for `emp_no`; the value is returned once and only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        _require_account(session, emp_no)
        session.add(ApiToken(emp_no=emp_no, token_hash=_sha256(token), prefix=token[:10], created_us=to_us(clock.now())))
        session.commit()
    return token


def revoke_tokens(db: Database, emp_no: str, *, clock: Clock) -> int:
    """Revoke every live token of `emp_no`; returns how many."""
    with db.session() as session:
        _require_account(session, emp_no)
        result = session.exec(update(ApiToken).where(ApiToken.emp_no == emp_no, ApiToken.revoked_us.is_(None))  # type: ignore[call-overload, arg-type, union-attr]
                              .values(revoked_us=to_us(clock.now())))
        session.commit()
        return int(result.rowcount or 0)


def token_principal(db: Database, token: str, *, clock: Clock) -> Principal:
    """The principal of a bearer token; raises `BadToken` when unknown, revoked or its account disabled.

    It reads, then writes `last_used_us`: run again when SQLite was busy (see below)."""
    return retry_busy(lambda: _token_principal_once(db, token, clock=clock))


def _token_principal_once(db: Database, token: str, *, clock: Clock) -> Principal:
    with db.session() as session:
        row = session.exec(select(ApiToken).where(ApiToken.token_hash == _sha256(token))).first()
        account = _account(session, row.emp_no) if row is not None else None
        if row is None or row.revoked_us is not None or account is None or account.disabled:
            raise BadToken(t("engine.auth.bad_token", account.locale if account else None))
        session.exec(update(ApiToken).where(ApiToken.id == row.id).values(last_used_us=to_us(clock.now())))  # type: ignore[call-overload, arg-type]
        session.commit()
        return _principal(session, account, "api")


# ---------------------------------------------------------------------------------------------- busy SQLite
# Each of these reads, then writes (a failure row, a session row, a sliding expiry). On SQLite a
# read that turns into a write fails at once when another connection wrote in between (WAL's busy
# snapshot), so the whole transaction is run again by `retry_busy` instead of showing a 500.


def authenticate(db: Database, emp_no: str, password: str, *, address: str, clock: Clock,
                 settings: AuthSettings | None = None, locale: Optional[str] = None, via: str = "web") -> Principal:
    """Check a password (see `_authenticate_once`), again when the database was busy."""
    return retry_busy(lambda: _authenticate_once(db, emp_no, password, address=address, clock=clock,
                                                 settings=settings, locale=locale, via=via))


def open_session(db: Database, principal: Principal, *, clock: Clock, address: Optional[str] = None,
                 settings: AuthSettings | None = None) -> tuple[str, WebSessionView]:
    """Start a web session for an authenticated principal; returns the cookie value (never stored)."""
    return retry_busy(lambda: _open_session_once(db, principal, clock=clock, address=address, settings=settings))


def session_principal(db: Database, sid: str, *, clock: Clock,
                      settings: AuthSettings | None = None) -> tuple[Principal, WebSessionView]:
    """The principal of a session cookie (see `_session_principal_once`), again when the database was busy."""
    return retry_busy(lambda: _session_principal_once(db, sid, clock=clock, settings=settings))
