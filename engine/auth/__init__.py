"""Who is asking: authenticated principals, accounts, sessions and tokens.

`Principal` is the one object every service function receives instead of a free-text name.
The web app builds it from a session cookie or a bearer token, the CLI from the operator running
it (`--as EMP` to act for an employee), the engine from its own timers (`Principal.engine()`).
"""

from engine.auth.principal import OPERATOR_ROLE, Principal, UnknownEmployee, load_principal

__all__ = ["OPERATOR_ROLE", "Principal", "UnknownEmployee", "load_principal"]
