"""The one exception tree of mcr.

Every error a user can cause is an `MCRError` subclass whose message is written for that
user: it names what is wrong and where (file, line, row, field, instance, state). The CLI
prints `str(error)` on one line and exits non-zero; it never shows a traceback for these.
A class's docstring is its default message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


class MCRError(Exception):
    """mcr could not do what was asked."""

    exit_code = 1

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


@dataclass(frozen=True)
class Problem:
    """One finding of a validator: where it is and what is wrong."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ProblemsError(MCRError):
    """Several problems were found; each is printed on its own line."""

    def __init__(self, problems: Iterable[Problem], header: str | None = None) -> None:
        self.problems = list(problems)
        lines = [str(p) for p in self.problems]
        if header:
            lines.insert(0, header)
        super().__init__("\n".join(lines))


class InvalidDefinition(ProblemsError):
    """A flow definition is not valid."""


class InvalidRules(ProblemsError):
    """A rules file is not valid."""


class ConfigError(MCRError):
    """The configuration (environment variables, URLs, paths) is not usable."""


class CalendarError(MCRError):
    """A business calendar is unknown or badly configured."""


class TemplateMissing(MCRError):
    """A mail template named by a flow does not exist."""


class UnknownFlow(MCRError):
    """No flow definition of that name (and version) is loaded."""


class TransitionRefused(MCRError):
    """The event was refused and nothing was changed."""

    code = "refused"

    def __init__(self, message: str, *, instance_id: int | None = None, event: str | None = None,
                 state: str | None = None) -> None:
        self.instance_id = instance_id
        self.event = event
        self.state = state
        super().__init__(message)


class UnknownInstance(TransitionRefused):
    """No flow instance has that id."""

    code = "unknown_instance"


class EventNotAllowed(TransitionRefused):
    """The event is not allowed in the instance's current state."""

    code = "not_allowed"


class InternalEventRefused(TransitionRefused):
    """The event is internal to its flow: only the engine (a timer, a launch) may send it."""

    code = "internal_event"


class StartedByServiceOnly(TransitionRefused):
    """The flow is started only by its family's service (which writes its domain rows in the same
    transaction), never directly with `mcr instances start`."""

    code = "started_by_service"


class GuardRejected(TransitionRefused):
    """A guard of the transition said no."""

    code = "guard_rejected"


class StaleVersion(TransitionRefused):
    """The instance changed since the caller read it (optimistic lock)."""

    code = "stale_version"


class ActionFailed(TransitionRefused):
    """A business rule inside an action refused the step."""

    code = "action_refused"


class ActionNotPermitted(ActionFailed):
    """The person acting may not take this step: their role or place in the organisation does not allow it."""

    code = "not_permitted"


class QuotaExceeded(ActionFailed):
    """The escalation would break the unit's self-resolution quota."""

    code = "quota_exceeded"


class ImportRejected(ProblemsError):
    """The file was not imported; nothing was written."""


class DatabaseFault(MCRError):
    """The database cannot be used (missing, not a database, read-only, busy, unreachable, too new)."""

    status = 503  # the server's condition, not the request's fault: the same request may succeed later


class DatabaseMissing(DatabaseFault):
    """There is no database at that place; `mcr init` creates it."""


class DatabaseBusy(DatabaseFault):
    """The database stayed busy (another process kept writing); nothing was changed."""


class SchemaTooNew(DatabaseFault):
    """The database was upgraded by a newer mcr than this one."""


class DatabaseInUse(DatabaseFault):
    """Another mcr server already runs on this SQLite file."""


class NotVisible(MCRError):
    """You may not see this record."""


class NotPermitted(MCRError):
    """You may not do this: your role or place in the organisation does not allow it."""


class MailError(MCRError):
    """A mail could not be delivered."""
