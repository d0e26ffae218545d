"""The authenticated principal: an employee of the master data (or the operator, or the engine).

Every service call that reads or acts takes a `Principal`; permission and visibility are checked
in the service from it, once, for the CLI, the pages and the API alike. A principal is built only
by code that has authenticated someone (a password, a session, a token, the operator's own shell)
— never from a name typed by a user. This module must never import HTTP, CLI or mail code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from engine.errors import MCRError

OPERATOR_ROLE = "operator"      # administrators: accounts, imports, database; not a business role
ENGINE_ID = "engine"            # the engine itself: timers, launches, scheduled scans


class UnknownEmployee(MCRError):
    """No employee with that number exists in the master data."""


@dataclass(frozen=True)
class Principal:
    """Who is asking, as the services see them.

    `emp_no` is the employee whose rights apply. `operator` is set when an administrator acts for
    that employee from the CLI (`--as`): both are recorded ("operator root for E00012"). `below`
    is everyone under `emp_no` in the supervisor tree (上级可以看下级), loaded with the principal.
    """

    emp_no: str
    name: str
    roles: frozenset[str] = frozenset()
    unit_code: Optional[str] = None
    below: frozenset[str] = frozenset()
    locale: str = "zh-CN"
    operator: Optional[str] = None
    via: str = "cli"                      # web | api | cli | engine | step (an employee named by internal code)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    # ------------------------------------------------------------------ identity for audit and history
    @property
    def actor(self) -> str:
        """The name written to history and audit rows."""
        if self.is_operator:
            return f"operator {self.operator}"
        if self.operator and self.operator != self.emp_no:
            return f"operator {self.operator} for {self.emp_no}"
        return self.emp_no

    @property
    def is_engine(self) -> bool:
        return self.via == "engine"

    @property
    def is_operator(self) -> bool:
        """An administrator acting as themselves (not for an employee)."""
        return OPERATOR_ROLE in self.roles

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def is_sales_management(self) -> bool:
        return "sales_management" in self.roles

    @property
    def is_qa(self) -> bool:
        return "qa" in self.roles

    # ------------------------------------------------------------------ the visibility rule's questions
    def covers(self, emp_no: Optional[str]) -> bool:
        """True for the principal themselves and anyone under them in the supervisor tree."""
        return emp_no is not None and (emp_no == self.emp_no or emp_no in self.below)

    def supervises(self, emp_no: Optional[str]) -> bool:
        return emp_no is not None and emp_no in self.below

    # ------------------------------------------------------------------ the two principals not from master data
    @classmethod
    def engine(cls, what: str = ENGINE_ID) -> "Principal":
        """The engine acting on its own (a timer, a launch, a scan); never built from user input."""
        return cls(emp_no=what, name=what, roles=frozenset({ENGINE_ID}), via="engine")

    @classmethod
    def operator_only(cls, os_user: str) -> "Principal":
        """The administrator running the CLI, acting as themselves (no `--as`)."""
        return cls(emp_no=f"operator:{os_user}", name=os_user, roles=frozenset({OPERATOR_ROLE}),
                   operator=os_user, via="cli")


_BELOW = """
WITH RECURSIVE sub(emp_no) AS (
    SELECT emp_no FROM employee WHERE supervisor_emp_no = :e
    UNION
    SELECT e.emp_no FROM employee e JOIN sub ON e.supervisor_emp_no = sub.emp_no
)
SELECT emp_no FROM sub
"""


def load_principal(session: Any, emp_no: str, *, operator: Optional[str] = None, via: str = "web",
                   locale: Optional[str] = None) -> Principal:
    """The principal for `emp_no`, with roles and the people below them read from master data.

    Call this only after authenticating (password, session, token) or for the CLI operator's
    `--as`. Raises `UnknownEmployee` when the master data has no such employee.
    """
    from sqlmodel import select

    from sqlalchemy import text

    from engine.masterdata.models import Employee

    employee = session.exec(select(Employee).where(Employee.emp_no == emp_no)).first()
    if employee is None:
        from engine.i18n import t

        raise UnknownEmployee(t("engine.unknown_employee", emp=emp_no))
    # Everyone below, walked by the database (UNION drops repeats, so bad data with a loop still ends):
    # a page loads its principal on every request, and the whole tree of a large company costs ms.
    found = {r[0] for r in session.connection().execute(text(_BELOW), {"e": emp_no})} - {emp_no}
    return Principal(emp_no=employee.emp_no, name=employee.name, roles=frozenset(employee.role_set),
                     unit_code=employee.unit_code, below=frozenset(found),
                     locale=locale or employee.locale or "zh-CN", operator=operator, via=via)


def principal_in_tx(tx: Any, emp_no: str, *, via: str = "step") -> Principal | None:
    """`load_principal` for code holding a raw `Tx` (a flow step): None when `emp_no` is no employee."""
    from engine.masterdata.visibility import below

    row = tx.one("SELECT emp_no, name, roles, unit_code, locale FROM employee WHERE emp_no = :e", {"e": emp_no})
    if row is None:
        return None
    tree = {e: s for e, s in tx.all("SELECT emp_no, supervisor_emp_no FROM employee")}
    return Principal(emp_no=row[0], name=row[1], roles=frozenset(r for r in (row[2] or "").split(",") if r),
                     unit_code=row[3], below=frozenset(below(tree, emp_no)), locale=row[4] or "zh-CN", via=via)


def os_user() -> str:
    """The operating-system account running the CLI: the operator the audit names."""
    import getpass

    return getpass.getuser()


def cli_principal(source: Any, as_emp: Optional[str] = None, *, operator: Optional[str] = None,
                  command: Optional[str] = None) -> Principal:
    """The principal of one CLI command: the operator alone, or the operator acting for `--as EMP`.

    `source` is an open session or a `Database`. An unknown `EMP` raises `UnknownEmployee` (one
    line, exit 1) before anything is read or done. `command` (e.g. "issue escalate") names a business
    action that needs an employee: the operator alone is refused.
    """
    user = operator or os_user()
    if as_emp is None:
        principal = Principal.operator_only(user)
    elif hasattr(source, "exec"):
        principal = load_principal(source, as_emp, operator=user, via="cli")
    else:
        with source.session() as session:
            principal = load_principal(session, as_emp, operator=user, via="cli")
    if command is not None:
        require_employee(principal, f"mcr {command}")
    return principal


def require_employee(principal: Principal, what: str) -> None:
    """Refuse a business action by the operator alone (no `--as`): it needs an employee's identity."""
    if principal.is_operator:
        from engine.errors import NotPermitted
        from engine.i18n import t

        raise NotPermitted(t("engine.needs_as", what=what, operator=principal.operator))
