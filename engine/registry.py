"""Named guards, actions and launchers that flow definitions refer to.

A definition says `guard: is_urgent` or `actions: [assign_handler]`; Python code registers
the function under that name with the decorators below. The validator refuses a definition
that names something not registered, so a typo fails at load time, not at 3 a.m.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Registry:
    def __init__(self) -> None:
        self.guards: dict[str, Callable[..., bool]] = {}
        self.actions: dict[str, Callable[..., Any]] = {}
        self.launchers: dict[str, Callable[..., Any]] = {}

    def _add(self, table: dict[str, Callable[..., Any]], kind: str, name: str | None) -> Callable[[F], F]:
        def register(fn: F) -> F:
            key = name or fn.__name__
            existing = table.get(key)
            # The same function loaded again (a reload, or a flow folder copied for a new
            # version) replaces itself; two different functions under one name are a mistake.
            if existing is not None and existing is not fn and existing.__qualname__ != fn.__qualname__:
                raise ValueError(f"{kind} '{key}' is registered twice "
                                 f"({existing.__module__} and {fn.__module__})")
            table[key] = fn
            return fn
        return register

    def guard(self, name: str | None = None) -> Callable[[F], F]:
        """Register `fn(ctx) -> bool` as a guard."""
        return self._add(self.guards, "guard", name)

    def action(self, name: str | None = None) -> Callable[[F], F]:
        """Register `fn(ctx, **params) -> None` as an action run inside the step's transaction."""
        return self._add(self.actions, "action", name)

    def launcher(self, name: str | None = None) -> Callable[[F], F]:
        """Register `fn(ctx) -> int` as the body of a recurring launch (returns instances started)."""
        return self._add(self.launchers, "launcher", name)


registry = Registry()
guard = registry.guard
action = registry.action
launcher = registry.launcher
