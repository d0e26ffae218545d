"""Principals for tests: an employee of the fixture's master data, as an authenticated caller would be."""

from __future__ import annotations

from typing import Any, Optional

from engine.auth.principal import Principal, load_principal


ENGINE = Principal.engine("test")  # reads that check what happened, whoever may see it


def principal_of(db_or_session: Any, emp_no: str, *, operator: Optional[str] = None) -> Principal:
    """The principal of `emp_no` read from a `Runtime`, a `Database` or an open session (roles and tree as now)."""
    if hasattr(db_or_session, "runtime") or hasattr(db_or_session, "definitions"):
        db_or_session = db_or_session.db
    if hasattr(db_or_session, "exec"):
        return load_principal(db_or_session, emp_no, operator=operator, via="cli")
    with db_or_session.session() as session:
        return load_principal(session, emp_no, operator=operator, via="cli")
