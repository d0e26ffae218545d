"""Accounts on real databases: Argon2 passwords, the sign-in rate limit per account and per address,
sessions that expire (idle and absolute), tokens shown once and revocable, disabled accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from engine.auth import accounts
from engine.auth.accounts import (AccountDisabled, AccountExists, AccountLocked, AuthSettings, BadCredentials, BadToken,
                                  SessionExpired, WeakPassword)
from engine.auth.principal import UnknownEmployee
from engine.clock import FakeClock
from engine.db import Database
from tests.support.accounts import PASSWORD, add_accounts, load_org

SETTINGS = AuthSettings()


@pytest.fixture
def org(db: Database, clock: FakeClock) -> Database:
    load_org(db, clock)
    add_accounts(db, clock, "SZ-H1", "SZ-AM1")
    return db


def test_password_is_stored_as_argon2_hash_and_signs_in(org: Database, clock: FakeClock) -> None:
    with org.read() as tx:
        stored = tx.one("SELECT password_hash FROM auth_account WHERE emp_no = 'SZ-H1'")[0]
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    principal = accounts.authenticate(org, "SZ-H1", PASSWORD, address="10.0.0.1", clock=clock)
    assert principal.emp_no == "SZ-H1" and principal.via == "web" and "issue_handler" in principal.roles


def test_account_for_unknown_employee_is_refused(org: Database, clock: FakeClock) -> None:
    with pytest.raises(UnknownEmployee, match="NOBODY"):
        accounts.add_account(org, "NOBODY", PASSWORD, clock=clock)
    with pytest.raises(AccountExists):
        accounts.add_account(org, "SZ-H1", PASSWORD, clock=clock)
    with pytest.raises(WeakPassword):
        accounts.add_account(org, "SZ-H2", "short", clock=clock)


def test_hash_with_old_parameters_is_rehashed_at_sign_in(org: Database, clock: FakeClock) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192).hash(PASSWORD)
    with org.tx() as tx:
        tx.execute("UPDATE auth_account SET password_hash = :h WHERE emp_no = 'SZ-H1'", {"h": weak})
    accounts.authenticate(org, "SZ-H1", PASSWORD, address="10.0.0.1", clock=clock)
    with org.read() as tx:
        assert tx.one("SELECT password_hash FROM auth_account WHERE emp_no = 'SZ-H1'")[0] != weak


def test_five_failures_lock_the_account_for_fifteen_minutes(org: Database, clock: FakeClock) -> None:
    for i in range(5):
        with pytest.raises(BadCredentials):
            accounts.authenticate(org, "SZ-H1", "wrong", address=f"10.0.0.{i}", clock=clock, settings=SETTINGS)
    # Even the right password is refused while locked, with the time to wait.
    with pytest.raises(AccountLocked, match="15 分钟") as locked:
        accounts.authenticate(org, "SZ-H1", PASSWORD, address="10.0.0.9", clock=clock, settings=SETTINGS)
    assert locked.value.retry_after == 15 * 60
    clock.advance(timedelta(minutes=15, seconds=1))
    assert accounts.authenticate(org, "SZ-H1", PASSWORD, address="10.0.0.9", clock=clock).emp_no == "SZ-H1"


def test_five_failures_from_one_address_lock_that_address_for_every_account(org: Database, clock: FakeClock) -> None:
    for emp in ("A1", "A2", "A3", "A4", "SZ-AM1"):
        with pytest.raises(BadCredentials):
            accounts.authenticate(org, emp, "wrong", address="192.0.2.7", clock=clock, settings=SETTINGS)
    with pytest.raises(AccountLocked):
        accounts.authenticate(org, "SZ-H1", PASSWORD, address="192.0.2.7", clock=clock, settings=SETTINGS)
    assert accounts.authenticate(org, "SZ-H1", PASSWORD, address="192.0.2.8", clock=clock).emp_no == "SZ-H1"


def test_lock_message_in_english_for_an_english_request(org: Database, clock: FakeClock) -> None:
    for _ in range(5):
        with pytest.raises(BadCredentials, match="wrong employee number or password"):
            accounts.authenticate(org, "SZ-H1", "x", address="a", clock=clock, locale="en")
    with pytest.raises(AccountLocked, match="try again in 15 minute"):
        accounts.authenticate(org, "SZ-H1", PASSWORD, address="a", clock=clock, locale="en")


def test_disabled_account_cannot_sign_in_and_its_sessions_end(org: Database, clock: FakeClock) -> None:
    principal = accounts.authenticate(org, "SZ-H1", PASSWORD, address="a", clock=clock)
    sid, _ = accounts.open_session(org, principal, clock=clock)
    accounts.set_disabled(org, "SZ-H1")
    with pytest.raises(AccountDisabled):
        accounts.authenticate(org, "SZ-H1", PASSWORD, address="a", clock=clock)
    with pytest.raises(SessionExpired):
        accounts.session_principal(org, sid, clock=clock)


def test_session_expires_when_idle_and_at_its_absolute_limit(org: Database, clock: FakeClock) -> None:
    settings = AuthSettings(session_idle=timedelta(minutes=30), session_absolute=timedelta(hours=2))
    principal = accounts.authenticate(org, "SZ-H1", PASSWORD, address="a", clock=clock)
    sid, view = accounts.open_session(org, principal, clock=clock, settings=settings)
    with org.read() as tx:
        assert tx.one("SELECT count(*) FROM auth_session WHERE id_hash = :s", {"s": sid})[0] == 0  # only the hash
    # Used every 20 minutes: the idle limit slides, the absolute one does not.
    for _ in range(5):
        clock.advance(timedelta(minutes=20))
        found, again = accounts.session_principal(org, sid, clock=clock, settings=settings)
        assert found.emp_no == "SZ-H1" and again.csrf_token == view.csrf_token
    clock.advance(timedelta(minutes=20))
    with pytest.raises(SessionExpired):
        accounts.session_principal(org, sid, clock=clock, settings=settings)
    sid2, _ = accounts.open_session(org, principal, clock=clock, settings=settings)
    clock.advance(timedelta(minutes=31))
    with pytest.raises(SessionExpired, match="登录已过期"):
        accounts.session_principal(org, sid2, clock=clock, settings=settings)


def test_password_change_checks_the_current_one_and_ends_other_sessions(org: Database, clock: FakeClock) -> None:
    principal = accounts.authenticate(org, "SZ-H1", PASSWORD, address="a", clock=clock)
    mine, _ = accounts.open_session(org, principal, clock=clock)
    other, _ = accounts.open_session(org, principal, clock=clock)
    with pytest.raises(BadCredentials):
        accounts.change_password(org, principal, "not it", "new password 1", "new password 1", clock=clock)
    accounts.change_password(org, principal, PASSWORD, "new password 1", "new password 1", clock=clock,
                             keep_session=mine)
    accounts.session_principal(org, mine, clock=clock)
    with pytest.raises(SessionExpired):
        accounts.session_principal(org, other, clock=clock)
    assert accounts.authenticate(org, "SZ-H1", "new password 1", address="a", clock=clock).emp_no == "SZ-H1"


def test_token_is_stored_hashed_records_last_use_and_can_be_revoked(org: Database, clock: FakeClock) -> None:
    token = accounts.issue_token(org, "SZ-AM1", clock=clock)
    with org.read() as tx:
        assert tx.one("SELECT count(*) FROM auth_token WHERE token_hash = :t", {"t": token})[0] == 0
    principal = accounts.token_principal(org, token, clock=clock)
    assert principal.emp_no == "SZ-AM1" and principal.via == "api"
    with org.read() as tx:
        assert tx.one("SELECT last_used_us FROM auth_token WHERE emp_no = 'SZ-AM1'")[0] is not None
    assert accounts.list_accounts(org, emp_no="SZ-AM1")[0].tokens == 1
    assert accounts.revoke_tokens(org, "SZ-AM1", clock=clock) == 1
    with pytest.raises(BadToken):
        accounts.token_principal(org, token, clock=clock)


def test_operator_account_carries_the_operator_role_under_its_own_number(db: Database, clock: FakeClock) -> None:
    load_org(db, clock)
    add_accounts(db, clock, "HQ-SM", operator=True)
    principal = accounts.authenticate(db, "HQ-SM", PASSWORD, address="a", clock=clock)
    assert principal.is_operator and principal.actor == "operator HQ-SM"


def test_sign_in_attempts_are_in_the_audit_log_refused_ones_included(org: Database, clock: FakeClock) -> None:
    with pytest.raises(BadCredentials):
        accounts.authenticate(org, "SZ-H1", "wrong", address="10.0.0.1", clock=clock)
    accounts.authenticate(org, "SZ-H1", PASSWORD, address="10.0.0.1", clock=clock)
    with org.read() as tx:
        rows = tx.all("SELECT actor, action, entity, entity_key, allowed FROM masterdata_audit "
                      "WHERE action = 'signin' ORDER BY id")
    assert [tuple(r) for r in rows] == [("SZ-H1", "signin", "account", "SZ-H1", False),
                                        ("SZ-H1", "signin", "account", "SZ-H1", True)]


def test_concurrent_calls_with_one_token_all_succeed(org: Database, clock: FakeClock) -> None:
    # Each call reads the token, then writes its last use: on SQLite a neighbour's write in between
    # made the read-then-write fail with "database is locked" until it was retried like sign-in.
    from concurrent.futures import ThreadPoolExecutor

    token = accounts.issue_token(org, "SZ-AM1", clock=clock)
    with ThreadPoolExecutor(16) as pool:
        principals = list(pool.map(lambda _: accounts.token_principal(org, token, clock=clock), range(64)))
    assert {p.emp_no for p in principals} == {"SZ-AM1"} and len(principals) == 64
