"""The steps of one user action in ONE transaction (`one_transaction`): one commit — one fsync on
SQLite — for an action that takes several steps (submit a section and ask for its review; start an
instance and kick it), with each step in a savepoint so a refusal undoes that step alone."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Optional

from engine.db import Tx
from engine.errors import MCRError


class OneTransaction:
    """The steps of one user action written in ONE transaction: one commit (one fsync on SQLite) for the
    action instead of one per step.

    Each step runs in a savepoint. A step refused (or failing) is undone alone, what came before it in
    the action still commits — exactly what separate transactions would keep — no later step is sent,
    and after the commit the refusal is recorded (`flow_refusal`, as `Runtime.send` does) and raised.
    Use it through `one_transaction(rt)`; the caller's own rows go through `.tx`. With `keep_going` the
    steps are a batch of independent ones: a failure undoes that step alone and the next still runs."""

    def __init__(self, runtime: Any, tx: Tx, *, keep_going: bool = False) -> None:
        self.runtime = runtime
        self.tx = tx
        self.keep_going = keep_going
        self.done: list[Any] = []  # the StepResults to wake the scheduler for, after the commit
        self.failures: list[tuple[Optional[int], str, str, BaseException]] = []  # (instance, actor, event, error)

    def start(self, flow: str, data: dict[str, Any], *, actor: str, subject: Optional[str] = None,
              calendar: Optional[str] = None, locale: Optional[str] = None) -> Any:
        """`Runtime.start_in`; None when it failed (raised after the commit)."""
        return self._step(None, actor, "start", lambda: self.runtime.start_in(
            self.tx, flow, data, actor=actor, subject=subject, calendar=calendar, locale=locale))

    def send(self, instance_id: int, event: str, *, actor: str, payload: Optional[dict[str, Any]] = None,
             principal: Any = None, internal: bool = False, client_event_id: Optional[str] = None) -> Any:
        """`Runtime.send_in`, idempotent by `client_event_id` like `Runtime.send`; None when refused."""
        return self._step(instance_id, actor, event, lambda: self.runtime.send_in(
            self.tx, instance_id, event, actor=actor, payload=payload, principal=principal, internal=internal,
            client_event_id=client_event_id))

    def _step(self, instance_id: Optional[int], actor: str, event: str, work: Any) -> Any:
        if self.failures and not self.keep_going:
            return None
        try:
            with self.tx.savepoint():
                res = work()
        except Exception as exc:
            self.failures.append((instance_id, actor, event, exc))
            return None
        self.done.append(res)
        return res


@contextmanager
def one_transaction(runtime: Any, *, keep_going: bool = False) -> Iterator[OneTransaction]:
    """`with one_transaction(rt) as steps: steps.send(...)`: commits once; then wakes the scheduler for
    the steps applied and records and raises the step that failed (see `OneTransaction`).

    `keep_going`: the steps are independent of each other (a batch, e.g. the day's care digests): a
    failed one is undone alone and the later ones still run; after the commit every refusal is
    recorded and the first failure raised."""
    with runtime.db.tx() as tx:
        steps = OneTransaction(runtime, tx, keep_going=keep_going)
        yield steps
    for res in steps.done:
        runtime.wake(res)
    for instance_id, actor, event, exc in steps.failures:
        if isinstance(exc, MCRError):
            runtime.record_refusal(instance_id, actor, event, exc)
    if steps.failures:
        raise steps.failures[0][3]
