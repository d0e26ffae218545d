"""`mcr user add|passwd|disable|enable|list|token`: accounts for the employees of the master data.

A password is read from a hidden prompt (asked twice) or from standard input with
`--password-stdin` — never from an argument, which would land in the shell history and in `ps`.
No rule lives here: engine/auth/accounts.py decides; its errors become one line and exit 1.
"""

from __future__ import annotations

import sys

import typer

from engine.clock import SystemClock
from engine.i18n import t

user_app = typer.Typer(help="账号 / accounts (sign-in for the web app and the API)", no_args_is_help=True)

_STDIN = typer.Option(False, "--password-stdin", help="read the password from standard input (first line)")


def _database():  # type: ignore[no-untyped-def]
    from engine.db import Database

    db = Database(create=False)  # a typo in the path must not create an empty database
    db.check()
    db.upgrade()
    return db


def _password(from_stdin: bool) -> str:
    from engine.auth.accounts import AccountError

    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise AccountError(t("cli.user.password_stdin_empty"))
        return line
    return str(typer.prompt(t("cli.user.password_prompt"), hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(emp_no: str = typer.Argument(..., help="employee number (工号) of the master data"),
             operator: bool = typer.Option(False, "--operator", help="administrator account (运维管理员)"),
             locale: str = typer.Option(None, "--locale", help="zh-CN or en (default: the employee's)"),
             password_stdin: bool = _STDIN) -> None:
    """Create the account of an employee."""
    from engine.auth import accounts
    from engine.auth.principal import UnknownEmployee

    db = _database()
    try:
        # Refuse an unknown employee before asking for a password nobody will use.
        with db.session() as session:
            from engine.auth.principal import load_principal

            try:
                load_principal(session, emp_no)
            except UnknownEmployee as exc:
                raise UnknownEmployee(t("engine.auth.unknown_employee", emp=emp_no)) from exc
        view = accounts.add_account(db, emp_no, _password(password_stdin), clock=SystemClock(), operator=operator,
                                    locale=locale)
        typer.echo(t("cli.user.user_added", emp=view.emp_no, name=view.name))
    finally:
        db.dispose()


@user_app.command("passwd")
def user_passwd(emp_no: str, password_stdin: bool = _STDIN) -> None:
    """Set a new password for EMP (their signed-in sessions end)."""
    from engine.auth import accounts

    db = _database()
    try:
        accounts.get_account(db, emp_no)
        accounts.set_password(db, emp_no, _password(password_stdin), clock=SystemClock())
        typer.echo(t("cli.user.password_set", emp=emp_no))
    finally:
        db.dispose()


@user_app.command("disable")
def user_disable(emp_no: str) -> None:
    """Disable EMP's account: sessions end, tokens stop working."""
    from engine.auth import accounts

    db = _database()
    try:
        accounts.set_disabled(db, emp_no, True)
        typer.echo(t("cli.user.user_disabled", emp=emp_no))
    finally:
        db.dispose()


@user_app.command("enable")
def user_enable(emp_no: str) -> None:
    """Enable a disabled account again."""
    from engine.auth import accounts

    db = _database()
    try:
        accounts.set_disabled(db, emp_no, False)
        typer.echo(emp_no)
    finally:
        db.dispose()


@user_app.command("list")
def user_list() -> None:
    """List the accounts: number, name, operator, disabled, language, live tokens."""
    from engine.auth import accounts

    db = _database()
    try:
        for a in accounts.list_accounts(db):
            flags = ",".join(f for f, on in (("operator", a.operator), ("disabled", a.disabled)) if on) or "-"
            typer.echo(f"{a.emp_no}\t{a.name}\t{flags}\t{a.locale or '-'}\ttokens {a.tokens}")
    finally:
        db.dispose()


@user_app.command("token")
def user_token(emp_no: str, revoke: bool = typer.Option(False, "--revoke", help="revoke every token of EMP")) -> None:
    """Print a new personal API token for EMP (shown once), or revoke their tokens."""
    from engine.auth import accounts

    db = _database()
    try:
        if revoke:
            typer.echo(t("cli.user.tokens_revoked", emp=emp_no, n=accounts.revoke_tokens(db, emp_no, clock=SystemClock())))
            return
        token = accounts.issue_token(db, emp_no, clock=SystemClock())
        typer.echo(t("cli.user.token_issued", emp=emp_no), err=True)
        typer.echo(token)
    finally:
        db.dispose()


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
