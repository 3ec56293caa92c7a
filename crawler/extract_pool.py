"""Article extraction off the reactor thread: a pool of processes sized to the CPU cores.

trafilatura costs tens of milliseconds of CPU per page; Scrapy's reactor is one thread. Running extraction
in other processes lets a crawl use every core. This module imports no Scrapy, so workers start light.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from archive.forkserver import forkserver_context
from archive.ingest import extract_body, unextractable

__all__ = ["ExtractionCrashed", "ExtractionPool", "unextractable"]


class ExtractionCrashed(RuntimeError):
    """A worker process died (killed, out of memory, a crash in C code) while extracting a page."""


def _warm_up() -> None:
    import extract  # noqa: F401 - import trafilatura & co once per worker, not on the first page


class _InlineExecutor(Executor):
    """Runs work in the calling thread: for MORGUE_EXTRACT_WORKERS=0 and for debugging."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(exc)
        return future


def _deferred(future: Future[Any]) -> Any:
    """A Twisted Deferred fired in the reactor thread when a concurrent.futures Future completes, so the
    pool works under any reactor (morgue crawls on Twisted's default one: see crawler/settings.py).
    Twisted is imported here, not at the top: extraction workers import this module and need none of it."""
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

    result: Deferred[Any] = Deferred()

    def settle(done: Future[Any]) -> None:
        error = done.exception()
        if error is not None:
            reactor.callFromThread(result.errback, Failure(error))  # type: ignore[attr-defined]
        else:
            reactor.callFromThread(result.callback, done.result())  # type: ignore[attr-defined]

    future.add_done_callback(settle)
    return result


TASKS_PER_WORKER = 0  # 0: never replace the pool (see ExtractionPool._recycle for the measurements)


class ExtractionPool:
    """``await pool.extract(...)`` from a coroutine in a Scrapy component (pipelines, extensions)."""

    def __init__(self, workers: int | None = None, tasks_per_worker: int = TASKS_PER_WORKER) -> None:
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.tasks_per_worker = max(0, tasks_per_worker)
        self._executor: Executor | None = None
        self._submitted = 0
        self._slots: Any = None  # twisted DeferredSemaphore: pages handed to the workers at once

    def _get(self) -> Executor:
        if self._executor is None:
            if self.workers <= 0:
                self._executor = _InlineExecutor()
            else:
                context = forkserver_context()
                self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_warm_up)
                self._submitted = 0
        return self._executor

    def _recycle(self) -> None:
        """Start a fresh pool every ``tasks_per_worker`` pages per worker; the old one finishes what it has
        and exits (a guard against a leak in the extractor's C code). Not ``max_tasks_per_child``: on
        Python 3.11 a pool whose workers all retired that way stopped taking work (a crawl hung after
        2 x 1,000 pages). Off by default: over one 20,000-page crawl the workers' RSS stays flat without it
        (228-252 MiB), and replacing them every 1,000 pages per worker raised the peak of the process tree
        (561 MiB vs 470 MiB; the old and new workers overlap for a moment)."""
        due = self.tasks_per_worker and self._submitted >= self.tasks_per_worker * self.workers
        if self.workers > 0 and due and self._executor:
            old, self._executor = self._executor, None
            old.shutdown(wait=False)
        self._submitted += 1

    async def extract(self, body: bytes, url: str, content_type: str | None, rules: Mapping[str, Any] | None,
                      known_repeated: Collection[str],
                      template: Mapping[str, Any] | Callable[[], Mapping[str, Any] | None] | None = None,
                      learn: bool | Callable[[], bool] = False) -> dict[str, Any] | None:
        """The page's article as a plain dict, or None: the same extraction reindex and import run.

        ``template`` and ``learn`` may be callables, asked when the page gets a worker: a fast crawl
        fetches pages faster than they are extracted, and a page that waits for a worker then gets the
        site template learned meanwhile instead of the full pipeline (and a re-extraction at the end)."""
        await self._acquire()
        try:
            chosen = template() if callable(template) else template
            teach = learn() if callable(learn) else learn
            return await self.run(extract_body, body, url, content_type, rules, frozenset(known_repeated),
                                  chosen, teach)
        finally:
            self._release()

    async def _acquire(self) -> None:
        """Wait until fewer than 2 pages per worker are with the workers (one running, one queued)."""
        if self.workers <= 0:
            return
        if self._slots is None:
            from twisted.internet.defer import DeferredSemaphore

            self._slots = DeferredSemaphore(2 * self.workers)
        from scrapy.utils.defer import maybe_deferred_to_future

        await maybe_deferred_to_future(self._slots.acquire())

    def _release(self) -> None:
        """Free the slot on the reactor's next turn: the caller first files the page and counts it
        (which may learn the template), so the page let in next sees what this one taught."""
        if self._slots is not None:
            from twisted.internet import reactor

            reactor.callLater(0, self._slots.release)  # type: ignore[attr-defined]

    async def run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` in a worker. A dead worker breaks the whole executor: it is replaced by a fresh
        one, so the page in hand fails (ExtractionCrashed) and the crawl goes on extracting."""
        self._recycle()
        executor = self._get()
        try:
            from scrapy.utils.defer import maybe_deferred_to_future

            return await maybe_deferred_to_future(_deferred(executor.submit(fn, *args)))
        except BrokenProcessPool as exc:
            if self._executor is executor:
                self._executor = None
                executor.shutdown(wait=False, cancel_futures=True)
            raise ExtractionCrashed(f"an extraction worker died: {exc}") from exc

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
