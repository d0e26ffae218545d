"""The only place in mcr that reads the wall clock.

Everything that needs "now" takes a `Clock`. Production uses `SystemClock`; tests, replays
and simulations use `FakeClock`, which only moves when told to.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that stands still until advanced; thread-safe so a scheduler thread can read it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (with a time zone)")
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("FakeClock.set needs an aware datetime (with a time zone)")
        with self._lock:
            self._now = when.astimezone(timezone.utc)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

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
