"""The crawl process's end of the requisite fetcher (crawler.requisite_fetcher): start the process, hand it
jobs, and hear its outcomes on the reactor thread, where Twisted wakes us when the pipe has something.

No thread of our own reads the pipe: the index is used from the reactor thread only (SQLite), and an
outcome is handled where the rest of the crawl's state lives. At the crawl's close the pipe is read
synchronously until the fetcher has closed its file (``stop``).
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from twisted.internet import reactor
from twisted.internet.interfaces import IReadDescriptor
from zope.interface import implementer

from crawler.requisite_fetcher import FetcherConfig, FetchJob, FindJob, ResourceJob, serve

__all__ = ["RequisiteProcess"]

logger = logging.getLogger(__name__)


@implementer(IReadDescriptor)
class _PipeReader:
    """The pipe's end as Twisted's reactor watches a socket."""

    def __init__(self, fd: int, on_read: Callable[[], None]) -> None:
        self._fd = fd
        self._on_read = on_read

    def fileno(self) -> int:
        return self._fd

    def doRead(self) -> None:  # noqa: N802 - Twisted's name
        self._on_read()

    def connectionLost(self, reason: Any) -> None:  # noqa: N802 - Twisted's name
        pass

    def logPrefix(self) -> str:  # noqa: N802 - Twisted's name
        return "requisite fetcher"


class RequisiteProcess:
    """``submit`` jobs; ``on_result`` gets each Fetched / FetchFailed / HandBack, ``on_sync`` is asked to
    commit the index before the fetcher closes a file, ``on_lost`` hears that the process died."""

    def __init__(self, config: FetcherConfig, *, on_result: Callable[[Any], None],
                 on_sync: Callable[[], None], on_lost: Callable[[], None],
                 after_batch: Callable[[], None] | None = None) -> None:
        self.config = config
        self.on_result = on_result
        self.on_sync = on_sync
        self.on_lost = on_lost
        self.after_batch = after_batch
        self.conn: Connection | None = None
        self.process: Any = None
        self._reader: _PipeReader | None = None
        # sent together, once the current reactor callback returns
        self._outbox: list[FetchJob | FindJob | ResourceJob] = []
        self._stopping = False

    @property
    def running(self) -> bool:
        return self.conn is not None

    def start(self) -> None:
        context = multiprocessing.get_context("forkserver")
        ours, theirs = context.Pipe()
        self.process = context.Process(target=serve, args=(theirs, self.config), daemon=True,
                                       name="morgue requisite fetcher")
        self.process.start()
        theirs.close()
        self.conn = ours
        self._reader = _PipeReader(ours.fileno(), self._read)
        reactor.addReader(self._reader)  # type: ignore[attr-defined]

    def submit(self, job: FetchJob | FindJob | ResourceJob) -> bool:
        """Queue a job for the fetcher: the jobs of one reactor turn (a page's requisites) go in one
        message, so a page costs the crawl process one pipe write, not one per requisite. False once the
        fetcher is told to stop (or gone): the caller does the job another way."""
        if self.conn is None or self._stopping:
            return False
        if not self._outbox:
            reactor.callLater(0, self.flush)  # type: ignore[attr-defined]
        self._outbox.append(job)
        return True

    def flush(self) -> None:
        if not self._outbox or self.conn is None:
            return
        batch, self._outbox = self._outbox, []
        try:
            self.conn.send(("batch", batch))
        except OSError:
            self._outbox = batch + self._outbox
            self._lost()

    def _dispatch(self, message: tuple[str, Any]) -> bool:
        """Handle one message (a batch of outcomes); False once the fetcher said its last (``closed``)."""
        kind, batch = message
        going_on = True
        for item in batch if kind == "results" else ():
            if not isinstance(item, tuple):
                self.on_result(item)
            elif item[0] == "sync":
                self.on_sync()
                assert self.conn is not None
                self.conn.send(("synced", item[1]))
            elif item[0] == "closed":
                going_on = False
        return going_on

    def _read(self) -> None:
        conn = self.conn
        if conn is None:
            return
        try:
            while conn.poll():
                self._dispatch(conn.recv())
        except (EOFError, OSError):
            self._lost()
        if self.after_batch is not None:
            self.after_batch()

    def _lost(self) -> None:
        if self.conn is None:
            return
        logger.error("the requisite fetcher process ended unexpectedly (exit code %s); its requisites "
                     "are fetched through Scrapy", getattr(self.process, "exitcode", None))
        self._detach()
        self.on_lost()

    def _detach(self) -> None:
        if self._reader is not None:
            reactor.removeReader(self._reader)  # type: ignore[attr-defined]
            self._reader = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def stop(self, timeout: float) -> None:
        """Let the fetches in flight finish (their outcomes handled here), drop the queued jobs, and wait
        for the fetcher to close its WARC file; its process is ended after ``timeout`` seconds if need be."""
        conn = self.conn
        if conn is None:
            return
        if self._reader is not None:
            reactor.removeReader(self._reader)  # type: ignore[attr-defined]
            self._reader = None
        self.flush()
        self._stopping = True  # what the outcomes drained below would ask for is done another way
        try:
            conn.send(("stop", None))
            while conn.poll(timeout):
                if not self._dispatch(conn.recv()):
                    break
            else:
                logger.error("the requisite fetcher did not stop within %.0f s; ended", timeout)
        except (EOFError, OSError) as exc:
            logger.error("the requisite fetcher ended before closing its file (%s); the next crawl's "
                         "recovery repairs it", exc)
        self.conn = None
        conn.close()
        if self.process is not None:
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)
