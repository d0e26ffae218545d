"""Batch work items: how a launcher fans out over teams, people or customers, whoever runs it.

A launcher (engine/launches.py) that has many independent, idempotent pieces of work hands them to
`ctx.runner.each(what, items, fn)` instead of looping itself. The runner decides how they run:

* `DirectRunner` (here, no dependency): one after the other in the calling thread — tests, the
  `--direct` CLI paths and an engine started with MCR_PREFECT=off;
* `PrefectRunner` (engine/prefect_runs.py): one Prefect task per item, with retries, each task's
  state visible in the Prefect UI and reported to `on_state`.

Either way every item is tried, a failing item does not stop the others, and the outcome is the
same `BatchResult`: the launcher decides what a failure means (the launch helpers raise
`BatchFailed` so that the launch is recorded as failed and run again at the next rescan; the items
are idempotent, so a re-run does only what is missing). Progress lines ("[3/12] T-SZ-FI: issued …")
go to the `progress` callback once; Prefect's own log carries them to its UI, not twice to the console.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Optional, Protocol, Sequence, TypeVar

from engine import i18n
from engine.errors import MCRError

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("mcr.batch")

# on_state(key, state, *, result=None, runs=None, message=None); state: running | completed | failed
StateHook = Callable[..., None]
Progress = Callable[[str], None]


class BatchFailed(MCRError):
    """Some items of a batch failed; the others are done and a re-run does only the rest."""


@dataclass
class BatchResult(Generic[T, R]):
    what: str
    done: list[tuple[T, R]] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def results(self) -> list[R]:
        return [r for _, r in self.done]

    def raise_failures(self) -> None:
        """`BatchFailed` naming every failed item, if any failed."""
        if self.failures:
            raise BatchFailed(i18n.t("engine.batch.failed_items", what=self.what, n=len(self.failures),
                                     items="; ".join(f"{k}: {e}" for k, e in self.failures.items())))


class BatchRunner(Protocol):
    def each(self, what: str, items: Sequence[T], fn: Callable[[T], R], *,
             key: Callable[[T], str] = str, describe: Optional[Callable[[R], str]] = None) -> BatchResult[T, R]:
        """Run `fn(item)` for every item (`key` names it in progress, states and failures;
        `describe` turns a result into the progress line's outcome)."""
        ...


def progress_line(i: int, n: int, key: str, outcome: str) -> str:
    return i18n.t("engine.batch.progress", i=i, n=n, item=key, outcome=outcome)


def failure_text(error: str) -> str:
    return i18n.t("engine.batch.item_failed", error=error)


def error_text(exc: BaseException) -> str:
    """One line for a failed item: a user error's message, else the exception's type and message."""
    text = str(exc) if isinstance(exc, MCRError) else f"{type(exc).__name__}: {exc}"
    return text.splitlines()[0][:500] if text else type(exc).__name__


def started_text(result: tuple[int, bool]) -> str:
    """The progress outcome of an item that starts a flow instance (`start_and_kick`'s (id, new))."""
    return i18n.t("engine.batch.started" if result[1] else "engine.batch.exists", id=result[0])


def start_each(runner: Optional["BatchRunner"], what: str, records: Sequence[T],
               start: Callable[[T], tuple[int, bool]], *, key: Callable[[T], str] = str) -> list[int]:
    """A launcher's usual batch: `start(record) -> (instance id, new)` for every record; the ids of the
    new instances. Raises `BatchFailed` after all were tried if any failed (the launch runs again)."""
    batch = (runner or DirectRunner()).each(what, records, start, key=key, describe=started_text)
    batch.raise_failures()
    return [iid for iid, new in batch.results if new]


@dataclass
class DirectRunner:
    """Items one after the other in this thread; failures collected, never retried here (the launch is)."""

    progress: Optional[Progress] = None
    on_state: Optional[StateHook] = None

    def each(self, what: str, items: Sequence[T], fn: Callable[[T], R], *,
             key: Callable[[T], str] = str, describe: Optional[Callable[[R], str]] = None) -> BatchResult[T, R]:
        out: BatchResult[T, R] = BatchResult(what)
        for i, item in enumerate(items, start=1):
            name = key(item)
            self._state(name, "running", runs=1)
            try:
                result = fn(item)
            except Exception as exc:  # one failing item must not stop the others; the launch records it
                if not isinstance(exc, MCRError):
                    log.exception("%s %s failed", what, name)
                out.failures[name] = error_text(exc)
                self._state(name, "failed", message=out.failures[name])
                text = failure_text(out.failures[name])
            else:
                out.done.append((item, result))
                self._state(name, "completed", result=result)
                text = describe(result) if describe else str(result)
            if self.progress is not None:
                self.progress(progress_line(i, len(items), name, text))
        return out

    def _state(self, name: str, state: str, **info: Any) -> None:
        if self.on_state is not None:
            self.on_state(name, state, **info)
