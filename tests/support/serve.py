"""Waiting on a real `mcr serve` subprocess in the crash drills."""

from __future__ import annotations

import subprocess
import time
from typing import Callable


def wait_for(predicate: Callable[[], bool], proc: subprocess.Popen, *, timeout: float = 60,
             poll: float = 0.1) -> None:
    """Until `predicate()` holds; fails with the server's output if it exits first, or on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise AssertionError(f"mcr serve exited with {proc.returncode}:\n{out}")
        time.sleep(poll)
    raise AssertionError("timed out waiting for mcr serve")
