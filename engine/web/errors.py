"""How an `MCRError` becomes an HTTP answer: the status code, the machine code, the page or JSON.

One table for the pages and the API: 401 not signed in, 403 not visible / not yours, 404 unknown,
409 not allowed in this state, 422 bad input, 429 rate-limited, 503 the database cannot be used now. The message is the error's own
text, already in the user's language (services raise it with the principal's locale).
"""

from __future__ import annotations

import re
from typing import Any

from engine.errors import MCRError, NotVisible, ProblemsError, TransitionRefused

# Refusals that mean "this is not yours to do" whatever the state: 403 like NotVisible.
_FORBIDDEN_NAMES = {"NotSubmitter", "NotHandler", "NotQa", "NotInvited", "NotPermitted", "PermissionDenied",
                    "Forbidden", "InternalEventRefused", "CsrfRejected", "AccountDisabled"}
_BAD_INPUT_SUFFIXES = ("Missing", "OutOfRange", "UsageError", "Input", "Mismatch")


def _names(exc: BaseException) -> list[str]:
    return [k.__name__ for k in type(exc).__mro__ if issubclass(k, MCRError) and k is not MCRError]


def http_status(exc: MCRError) -> int:
    """The status for an error: its own `status` attribute if it declares one, else by kind."""
    for klass in type(exc).__mro__:
        if "status" in vars(klass):
            return int(vars(klass)["status"])
    names = _names(exc)
    if isinstance(exc, NotVisible) or _FORBIDDEN_NAMES.intersection(names):
        return 403
    if any(n.startswith("Unknown") for n in names):
        return 404
    if isinstance(exc, ProblemsError) or any(n.startswith("Invalid") or n.endswith(_BAD_INPUT_SUFFIXES) for n in names):
        return 422
    if isinstance(exc, TransitionRefused):
        return 409
    return 422


def error_code(exc: MCRError) -> str:
    """A stable machine code: the error's `code` attribute, else its class name in snake case."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()


def error_body(exc: MCRError) -> dict[str, Any]:
    return {"error": error_code(exc), "message": str(exc)}
