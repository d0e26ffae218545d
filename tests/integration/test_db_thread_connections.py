"""A long-running process whose threads come and go (an asyncio executor per mail round, a web
server's worker threads) does not pile up database connections: what an ended thread held is
closed when another thread opens its own."""

from __future__ import annotations

import threading

from engine.db import Database


def _count_in_new_thread(db: Database) -> None:
    def work() -> None:
        with db.read() as tx:
            tx.one("SELECT 1")

    t = threading.Thread(target=work)
    t.start()
    t.join()


def test_connections_of_ended_threads_are_closed_not_kept(db: Database) -> None:
    for _ in range(30):
        _count_in_new_thread(db)
    with db.read() as tx:  # this thread's own, opened after 30 threads ended
        tx.one("SELECT 1")
    held = db._held
    assert len(held) <= 2, f"{len(held)} connections held after 30 short-lived threads"
