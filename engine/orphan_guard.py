"""Stops a child process once the process that started it is gone, even after `kill -9`.

Why: `mcr serve` / `mcr worker` start Prefect's local API as a subprocess (engine/prefect_local.py).
Prefect stops it at a normal exit (atexit) and a service manager's SIGTERM to the process group
stops it too, but a `kill -9` of the engine alone, or an OOM kill, left the API running, holding
its port and its SQLite file, for as long as the machine ran. The guard is a second tiny process
(stdlib only, no imports of mcr or Prefect) that watches its own parent: when it is re-parented,
the engine died, and the guard stops the child — SIGTERM, then SIGKILL after a grace period.

    python -m engine.orphan_guard PARENT_PID CHILD_PID
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_S = 0.5
GRACE_S = 5.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process took the number: not ours any more
        return False
    return True


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def watch(parent: int, child: int) -> int:
    """Return when the child has ended, by itself or stopped here after the parent died."""
    while os.getppid() == parent:
        if not _alive(child):
            return 0
        time.sleep(POLL_S)
    _stop(child)
    return 0


def guard(child_pid: int) -> subprocess.Popen[bytes]:
    """Start a guard for `child_pid`, a child of this process. It ends with the child."""
    return subprocess.Popen([sys.executable, "-m", "engine.orphan_guard", str(os.getpid()), str(child_pid)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            close_fds=True)


if __name__ == "__main__":
    sys.exit(watch(int(sys.argv[1]), int(sys.argv[2])))
