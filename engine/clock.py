"""The only place in mcr that reads the wall clock.

Everything that needs "now" takes a `Clock`. Production uses `SystemClock`; tests, replays
and simulations use `FakeClock`, which only moves when told to.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time (here: real time)."""
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that stands still until advanced; thread-safe so a scheduler thread can read it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (with a time zone)")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()
        self._sleepers: list[tuple[datetime, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock.set needs an aware datetime (with a time zone)")
        with self._lock:
            self._now = when.astimezone(timezone.utc)
        self._wake()

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            now = self._now
        self._wake()
        return now

    async def sleep(self, seconds: float) -> None:
        """Wait until this clock has been moved `seconds` on (by `advance`/`set`, from any thread):
        code that waits on the clock is driven by the test, never by real time."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            target = self._now + timedelta(seconds=seconds)
            if target <= self._now:
                return
            entry = (target, loop, fut)
            self._sleepers.append(entry)
        try:
            await fut
        finally:  # woken, or cancelled (a lease keeper stops with its batch): forget the waiter
            with self._lock:
                if entry in self._sleepers:
                    self._sleepers.remove(entry)

    def _wake(self) -> None:
        with self._lock:
            due = [s for s in self._sleepers if s[0] <= self._now]
            self._sleepers = [s for s in self._sleepers if s[0] > self._now]
        for _, loop, fut in due:
            if not loop.is_closed():
                loop.call_soon_threadsafe(lambda f=fut: f.done() or f.set_result(None))

    def monotonic(self) -> float:
        return self.now().timestamp()


def to_us(when: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (how the store keeps instants)."""
    if when.tzinfo is None:
        raise ValueError(f"naive datetime {when.isoformat()} has no time zone")
    return int(round(when.timestamp() * 1_000_000))


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


def wall_time() -> float:
    """Seconds for measuring durations (benchmarks, backoff), never for business time."""
    return time.perf_counter()


def cpu_time() -> float:
    """This process's CPU seconds (benchmarks: work done, without the waits a busy disk adds)."""
    return time.process_time()


def clock_from_env() -> Clock:
    """The clock of a process built from the environment (`mcr serve`, the CLI).

    MCR_FAKE_NOW (an ISO date-time with its offset, e.g. 2026-11-26T09:00:00+08:00) is for tests
    only: it pins "now" so browser tests and screenshots do not depend on the day they run. It
    must never be set in production.
    """
    import os

    fixed = os.environ.get("MCR_FAKE_NOW")
    if not fixed:
        return SystemClock()
    when = datetime.fromisoformat(fixed)
    if when.tzinfo is None:
        raise ValueError(f"MCR_FAKE_NOW={fixed!r} needs a UTC offset, e.g. 2026-11-26T09:00:00+08:00")
    return FakeClock(when)
