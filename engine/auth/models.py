"""Tables of sign-in: accounts, personal API tokens, web sessions and failed sign-in attempts.

Secrets are never stored: a password as its Argon2 hash, a token and a session id as the SHA-256
of the random value the user holds. Instants are integer microseconds UTC (`*_us`).
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.columns import flag_col as _flag, text_col as _text, us_col as _us


class Account(SQLModel, table=True):
    """One account per employee of the master data (账号)."""

    __tablename__ = "auth_account"
    __table_args__ = (UniqueConstraint("emp_no", name="uq_auth_account_emp_no"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    emp_no: str = Field(sa_column=_text(False, fk="employee.emp_no"))
    password_hash: str = Field(sa_column=_text(False))
    disabled: bool = Field(default=False, sa_column=_flag())
    operator: bool = Field(default=False, sa_column=_flag())
    locale: Optional[str] = Field(default=None, sa_column=_text(), description="zh-CN / en; None = employee's")
    created_us: int = Field(sa_column=_us())
    password_changed_us: int = Field(sa_column=_us())


class ApiToken(SQLModel, table=True):
    """A personal API token: shown once, stored as its SHA-256, revocable."""

    __tablename__ = "auth_token"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_auth_token_hash"),
                      Index("ix_auth_token_emp_no", "emp_no"))

    id: Optional[int] = Field(default=None, primary_key=True)
    emp_no: str = Field(sa_column=_text(False, fk="employee.emp_no"))
    token_hash: str = Field(sa_column=_text(False))
    prefix: str = Field(sa_column=_text(False), description="first characters, to tell tokens apart")
    created_us: int = Field(sa_column=_us())
    last_used_us: Optional[int] = Field(default=None, sa_column=_us(True))
    revoked_us: Optional[int] = Field(default=None, sa_column=_us(True))


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random id, the row its SHA-256."""

    __tablename__ = "auth_session"
    __table_args__ = (UniqueConstraint("id_hash", name="uq_auth_session_id_hash"),
                      Index("ix_auth_session_emp_no", "emp_no"))

    id: Optional[int] = Field(default=None, primary_key=True)
    id_hash: str = Field(sa_column=_text(False))
    emp_no: str = Field(sa_column=_text(False, fk="employee.emp_no"))
    csrf_token: str = Field(sa_column=_text(False))
    address: Optional[str] = Field(default=None, sa_column=_text())
    created_us: int = Field(sa_column=_us())
    last_seen_us: int = Field(sa_column=_us())
    expires_us: int = Field(sa_column=_us(), description="absolute expiry; idle expiry is last_seen + idle")


class SigninFailure(SQLModel, table=True):
    """A failed sign-in, counted per account and per client address for the rate limit."""

    __tablename__ = "auth_signin_failure"
    __table_args__ = (Index("ix_auth_signin_failure_emp_at", "emp_no", "at_us"),
                      Index("ix_auth_signin_failure_address_at", "address", "at_us"))

    id: Optional[int] = Field(default=None, primary_key=True)
    emp_no: str = Field(sa_column=_text(False), description="as typed; may name no employee")
    address: str = Field(sa_column=_text(False))
    at_us: int = Field(sa_column=_us())
