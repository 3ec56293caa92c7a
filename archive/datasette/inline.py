"""Run a short read on the event loop's own thread, and only a long one on datasette's SQL threads.

Every ``execute_fn`` hands its work to a thread and waits to be woken with the result: two wake-ups, which
on a loaded machine (benchmarks/bench_search.py at load ~8) cost more than a rare word's whole query. A
read that finishes within ``BUDGET_MS`` is answered here, on a read-only connection of this thread made
as datasette makes its own (``mode=ro``, the plugin's ``PRAGMA query_only``); one that takes longer is
interrupted at the budget and run again on datasette's threads, so the loop, which serves every other
visitor, is never held for longer than the budget.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["BUDGET_MS", "quick_first"]

BUDGET_MS = 1.5  # CPU time (this thread's) a read may take on the event loop before it goes to a SQL thread
_EVERY = 500  # SQLite virtual machine steps between looks at the clock

T = TypeVar("T")
_CONNECTIONS: dict[tuple[int, str, int], sqlite3.Connection] = {}  # (room, database, thread) -> conn


class _OverBudget(Exception):
    """The read took longer than the budget (it was interrupted; nothing is lost, it only read)."""


def _connection(datasette: Any, db: Any) -> sqlite3.Connection:
    key = (id(datasette), db.name, threading.get_ident())
    conn = _CONNECTIONS.get(key)
    if conn is None:
        conn = db.connect()
        datasette._prepare_connection(conn, db.name)  # row factory and the plugin's prepare_connection
        _CONNECTIONS[key] = conn
    return conn


def _within_budget(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    deadline = time.thread_time() + BUDGET_MS / 1000
    stopped = False

    def over() -> bool:
        nonlocal stopped
        stopped = time.thread_time() > deadline
        return stopped

    conn.set_progress_handler(over, _EVERY)
    try:
        return fn(conn)
    except sqlite3.OperationalError:
        if stopped:
            raise _OverBudget from None
        raise
    finally:
        conn.set_progress_handler(None, _EVERY)
        if conn.in_transaction:  # an interrupted read leaves nothing to keep
            conn.rollback()


async def quick_first(datasette: Any, db: Any, fn: Callable[[sqlite3.Connection], T]) -> T:
    """``fn(conn)`` here if it is done within the budget, else on datasette's SQL threads. ``fn`` must only
    read (it may run twice)."""
    try:
        return _within_budget(_connection(datasette, db), fn)
    except _OverBudget:
        return await db.execute_fn(fn)
