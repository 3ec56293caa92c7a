"""The crawl process's end of the requisite fetcher (crawler.requisite_fetcher): start the process, hand it
jobs, and hear its outcomes on the reactor thread, where Twisted wakes us when the pipe has something.

No thread of our own reads the pipe: the index is used from the reactor thread only (SQLite), and an
outcome is handled where the rest of the crawl's state lives. Jobs go down a pipe of their own, written
without blocking (``_PipeWriter``: what the pipe cannot take yet waits here until it can), so a page's body
sent for finding never stalls the crawl while the fetcher is busy. At the crawl's close the pipe is read
synchronously until the fetcher has closed its file (``stop``).
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

from twisted.internet import reactor
from twisted.internet.interfaces import IReadDescriptor, IWriteDescriptor
from zope.interface import implementer

from archive.forkserver import forkserver_context
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
        # A pipe whose writer died reports a hang-up without data (a socket would be readable): the
        # reactor drops the reader and says so here. Reading now finds the end (or what is left).
        self._on_read()

    def logPrefix(self) -> str:  # noqa: N802 - Twisted's name
        return "requisite fetcher"


@implementer(IWriteDescriptor)
class _PipeWriter:
    """The jobs pipe's end, written as ``Connection.send`` frames its messages (a 4-byte length, then the
    pickle), but never blocking: what the pipe cannot take now is kept and written when the reactor says
    the pipe is writable again."""

    def __init__(self, conn: Connection, on_lost: Callable[[], None]) -> None:
        self._conn = conn
        self._fd = conn.fileno()
        os.set_blocking(self._fd, False)
        self._buffer = bytearray()
        self._on_lost = on_lost
        self._watched = False

    def fileno(self) -> int:
        return self._fd

    def send(self, message: Any) -> None:
        data = bytes(ForkingPickler.dumps(message))
        self._buffer += struct.pack("!i", len(data)) + data
        if not self._watched:
            self.doWrite()

    def doWrite(self) -> None:  # noqa: N802 - Twisted's name
        try:
            while self._buffer:
                written = os.write(self._fd, self._buffer)
                del self._buffer[:written]
        except BlockingIOError:
            pass
        except OSError:
            self._buffer.clear()
            self._unwatch()
            self._on_lost()
            return
        if self._buffer and not self._watched:
            reactor.addWriter(self)  # type: ignore[attr-defined]
            self._watched = True
        elif not self._buffer:
            self._unwatch()

    def drain(self) -> None:
        """Write what waits, blocking (the crawl's close, which then waits for the fetcher anyway)."""
        self._unwatch()
        os.set_blocking(self._fd, True)
        data, self._buffer = bytes(self._buffer), bytearray()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def close(self) -> None:
        self._unwatch()
        self._conn.close()

    def _unwatch(self) -> None:
        if self._watched:
            reactor.removeWriter(self)  # type: ignore[attr-defined]
            self._watched = False

    def connectionLost(self, reason: Any) -> None:  # noqa: N802 - Twisted's name
        # the reactor saw the pipe fail while we waited to write (the fetcher gone) and dropped us
        self._watched = False
        self._buffer.clear()
        self._on_lost()

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
        self.conn: Connection | None = None  # outcomes from the fetcher
        self._jobs: _PipeWriter | None = None  # jobs to it
        self.process: Any = None
        self._reader: _PipeReader | None = None
        # sent together, once the current reactor callback returns
        self._outbox: list[FetchJob | FindJob | ResourceJob] = []
        self._stopping = False

    @property
    def running(self) -> bool:
        return self.conn is not None

    def start(self) -> None:
        context = forkserver_context()
        jobs_in, jobs_out = context.Pipe(duplex=False)
        results_in, results_out = context.Pipe(duplex=False)
        self.process = context.Process(target=serve, args=(jobs_in, results_out, self.config), daemon=True,
                                       name="morgue requisite fetcher")
        self.process.start()
        jobs_in.close()
        results_out.close()
        self.conn = results_in
        self._jobs = _PipeWriter(jobs_out, self._lost)
        self._reader = _PipeReader(results_in.fileno(), self._read)
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
        assert self._jobs is not None
        self._jobs.send(("batch", batch))

    def _dispatch(self, message: tuple[str, Any]) -> bool:
        """Handle one message (a batch of outcomes); False once the fetcher said its last (``closed``)."""
        kind, batch = message
        going_on = True
        for item in batch if kind == "results" else ():
            if not isinstance(item, tuple):
                self.on_result(item)
            elif item[0] == "sync":
                self.on_sync()
                if self._jobs is not None:  # (None: the fetcher was lost meanwhile)
                    self._jobs.send(("synced", item[1]))
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
        if self._jobs is not None:
            self._jobs.close()
            self._jobs = None

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
        jobs = self._jobs
        assert jobs is not None
        try:
            jobs.send(("stop", None))
            jobs.drain()
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
        self._jobs = None
        jobs.close()
        if self.process is not None:
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)
