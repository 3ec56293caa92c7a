"""Page requisites fetched in a process of their own, on kept-alive connections, into a WARC file of its own.

A requisite costs Scrapy's request path ~5-6 CPU-ms in the crawl process (scheduler, middlewares, Twisted's
HTTP client, signals), which halves a crawl's articles per second when each article names 2-3 of them
(benchmarks/bench_crawl.py --requisites). Here it costs a GET on a kept-alive ``http.client`` connection and
its WARC records, in a second process that the crawl process only hands jobs to and hears outcomes from.

What needs the crawl's judgment stays there (crawler.requisites): robots.txt (asked of Scrapy's own
middleware before a job is sent), which URLs to fetch and how often, pageinfo, the summary, the index.
What Scrapy does better is handed back (``HandBack``) without archiving anything, and the crawl process
fetches it through Scrapy as before: a redirect (its chain, robots.txt on the new host, off-site rules),
a status Scrapy retries and backs off on (429, 5xx), a truncated body (archived with its dataloss note).

Each job is fetched on a thread of its host (``concurrency`` per host, ``delay`` seconds apart), retried
once on a connection failure or time-out, capped at its ``max_size`` while streaming, and archived as
received (Content-Encoding kept) or as a revisit of its archived capture (archive.exchange_capture). The
file's records are indexed by the crawl process, which commits their rows before this process closes or
rotates the file (the ``sync`` message), so a crash leaves only ``.open`` files, which recovery re-indexes.
If the crawl process dies, the connection's end stops this one at once, its file left ``.open``. No Scrapy.
"""

from __future__ import annotations

import email.parser
import http.client
import os
import queue
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

from archive.exchange_capture import archive_exchange
from archive.records import HttpExchange, header_value
from archive.requisites import Requisite, not_an_image, page_requisites
from archive.warc_reader import decode_content_encoding
from archive.warc_writer import WarcWriter

__all__ = ["FetcherConfig", "FetchJob", "FindJob", "ResourceJob", "Written", "Found", "Fetched",
           "FetchFailed", "HandBack", "serve", "ACCEPT_ENCODING", "parse_headers_quickly"]

#: What this process can undo when it reads a style sheet or checks an image (archive.warc_reader).
ACCEPT_ENCODING = "gzip, deflate, br"
_REDIRECTS = {301, 302, 303, 307, 308}
_SYNC_WAIT = 60.0  # seconds a file's close waits for the crawl process to commit its rows


@dataclass(frozen=True)
class FetcherConfig:
    """What the fetcher process needs of the crawl: where to write, how politely to fetch."""

    warc_dir: str
    writer: dict[str, Any]  # WarcWriter's keyword arguments (prefix, max_size, gzip_level, warcinfo)
    site: str | None
    crawl_id: int | None
    timeout: float = 60.0  # DOWNLOAD_TIMEOUT, for the whole exchange
    delay: float = 0.0  # DOWNLOAD_DELAY between two requests to one host
    concurrency: int = 6  # connections per host
    retries: int = 1
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504, 522, 524, 408})
    # a host answering one of those is slowed down as crawler.backoff slows Scrapy's slots (0: not at all)
    backoff_base: float = 1.0
    backoff_max: float = 120.0


@dataclass(frozen=True)
class FetchJob:
    key: int
    url: str
    headers: tuple[tuple[str, str], ...]
    resource_type: str
    max_size: int
    known: dict[str, Any] | None = None  # the URL's archived capture (session.known), for revisits
    accept_304: bool = False  # validators were sent: a 304 confirms ``known``
    want_body: bool = False  # a style sheet: its decoded text comes back, for what it names


@dataclass(frozen=True)
class FindJob:
    """A page to find the requisites of (archive.requisites.page_requisites): parsing it costs the crawl
    process ~0.5 CPU-ms on a small page, ~5 on a news site's. Its body comes along (reading the page back
    from its record cost this process more than finding what it names)."""

    key: int
    url: str
    body: bytes
    encoding: str
    scripts: bool


@dataclass(frozen=True)
class ResourceJob:
    """A ``resource`` record to write (a page's pageinfo: crawler.pageinfo), off the crawl process; its
    ``Written`` answer tells the crawl it is in the file (until then the crawl keeps it, to write itself
    if this process dies)."""

    key: int
    uri: str
    content: bytes
    content_type: str
    date: str
    extra: dict[str, str]


@dataclass
class Written:
    key: int


@dataclass
class Found:
    key: int
    named: list[Requisite]
    favicon: Requisite | None
    error: str | None = None


@dataclass
class Fetched:
    """A response archived (any status): its row, the counts it adds, and what the crawl reads of it."""

    key: int
    status: int
    mime: str
    row: dict[str, Any]
    counts: list[str] = field(default_factory=list)
    stats: list[str] = field(default_factory=list)
    body: bytes | None = None  # decoded, for a style sheet with ``want_body``
    image_problem: str | None = None  # archive.requisites.not_an_image, for an image answered with 200
    ok: bool = True  # 2xx, or a 304 that confirms the archived copy; else an HTTP error answer


@dataclass
class FetchFailed:
    """Nothing archived: ``kind`` as crawler.faults names it (timeout, connection_refused, too_large…)."""

    key: int
    kind: str
    detail: str


@dataclass
class HandBack:
    """Not archived here: for Scrapy to fetch (``reason``: redirect, retry, truncated)."""

    key: int
    reason: str


_HEADER_NAME = re.compile(r"[\041-\071\073-\176]+")  # what email.feedparser takes for a header's name


def parse_headers_quickly(fp: Any, _class: type = http.client.HTTPMessage) -> http.client.HTTPMessage:
    """``http.client.parse_headers`` without ``email.parser`` (a quarter of a requisite's CPU here): the
    same message for the headers servers send; anything unusual (a folded line, a line that is no header)
    is left to the standard parser, whose handling of it is the reference."""
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]
    pairs: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.decode("iso-8859-1").rstrip("\r\n")
        if not line:
            break
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))
        pairs.append((name, value.lstrip(" \t")))
    message = _class()
    message._headers = pairs  # type: ignore[attr-defined] - email.message.Message's own list
    return message


class _TooLarge(Exception):
    pass


class _Truncated(Exception):
    pass


def _fault_kind(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, (ConnectionError, http.client.HTTPException)):
        return "connection_lost"
    return "connection_failed"


def _mime(headers: list[tuple[str, str]]) -> str:
    return (header_value(headers, "content-type") or "").split(";")[0].strip().lower()


class _Host:
    """One host's jobs, fetched by up to ``concurrency`` threads, each on its own kept-alive connection."""

    def __init__(self, fetcher: _Fetcher, scheme: str, netloc: str) -> None:
        self.fetcher = fetcher
        self.scheme = scheme
        self.netloc = netloc
        self.jobs: queue.SimpleQueue[FetchJob | None] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.idle = 0  # threads waiting for a job that no submit has promised them yet
        self.lock = threading.Lock()
        self.next_at = 0.0
        self.penalty = 0.0  # seconds added to the delay after a 429 / 5xx, halved by each success

    def submit(self, job: FetchJob) -> None:
        """Queue a job; a new connection only when every open one is busy (on a fast host one or two keep
        up, and each more thread costs CPU in switching between them)."""
        with self.lock:
            if self.idle > 0:
                self.idle -= 1  # a thread waiting for work takes it
            elif len(self.threads) < self.fetcher.config.concurrency:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"requisites {self.netloc} {len(self.threads)}")
                self.threads.append(thread)
                thread.start()
        self.jobs.put(job)

    def stop(self) -> None:
        for _ in self.threads:
            self.jobs.put(None)

    def _connection(self) -> http.client.HTTPConnection:
        timeout = self.fetcher.config.timeout
        if self.scheme == "https":
            # Scrapy does not verify certificates either: an archive keeps what a reader's browser got
            return http.client.HTTPSConnection(self.netloc, timeout=timeout,
                                               context=ssl._create_unverified_context())  # noqa: S323
        return http.client.HTTPConnection(self.netloc, timeout=timeout)

    def slow_down(self) -> None:
        """The host asked us to slow down (429, 5xx): double its extra delay, within the back-off bounds."""
        config = self.fetcher.config
        with self.lock:
            self.penalty = min(max(self.penalty * 2, config.backoff_base), config.backoff_max)

    def answered(self) -> None:
        if self.penalty:
            with self.lock:
                self.penalty = self.penalty / 2 if self.penalty / 2 >= 0.05 else 0.0

    def _polite(self) -> None:
        delay = self.fetcher.config.delay + self.penalty
        if delay <= 0:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_at)
            self.next_at = start + delay
        if start > now:
            time.sleep(start - now)

    def _work(self) -> None:
        conn = self._connection()
        while True:
            job = self.jobs.get()
            if job is None:
                break
            if self.fetcher.stopping.is_set():
                continue  # queued when the crawl stopped: its page stays waiting, listed for the next crawl
            conn = self.fetcher.fetch(self, conn, job)
            with self.lock:
                self.idle += 1
        conn.close()


class _Fetcher:
    def __init__(self, inbox: Connection, outbox: Connection, config: FetcherConfig) -> None:
        self.inbox = inbox  # jobs from the crawl process
        self.outbox = outbox  # outcomes to it
        self.config = config
        self.outgoing = threading.Condition()
        self.pending: list[Any] = []
        self.write_lock = threading.Lock()
        self.hosts: dict[tuple[str, str], _Host] = {}
        self.stopping = threading.Event()
        self.sent = 0  # results sent, numbered: a ``sync`` names the last one its rows are in
        self.synced = threading.Condition()
        self.synced_upto = -1
        self.writer = WarcWriter(config.warc_dir, **config.writer)
        self.writer.before_close = self._sync
        # pageinfo records are written on a thread of their own, never on the main thread: a write can
        # rotate the file, which waits for the crawl's ``synced``, which only the main thread reads; and a
        # fetch thread rotating the file holds the writer's lock while it waits for that same answer
        self.resources: queue.SimpleQueue[ResourceJob | None] = queue.SimpleQueue()

    # -- talking to the crawl process ----------------------------------------------------------------
    def send(self, message: Any) -> None:
        """Queue a message for the crawl process; the sender thread sends what gathered meanwhile in one
        write (a requisite's outcome each would cost the crawl process a read and a wake-up each)."""
        with self.outgoing:
            self.pending.append(message)
            if not isinstance(message, tuple):
                self.sent += 1
            self.outgoing.notify()

    def _sender(self) -> None:
        while True:
            with self.outgoing:
                self.outgoing.wait_for(lambda: bool(self.pending))
                batch, self.pending = self.pending, []
            try:
                self.outbox.send(("results", batch))
            except OSError:
                os._exit(0)  # the crawl process is gone (see run)
            if any(isinstance(m, tuple) and m[0] == "closed" for m in batch):
                return

    def _sync(self) -> None:
        """Before a file is closed (rotated or at the end): the crawl process commits the rows of every
        record in it, so the file is never final with records the index lacks."""
        with self.outgoing:
            upto = self.sent
        self.send(("sync", upto))
        if threading.current_thread() is threading.main_thread():
            while self.synced_upto < upto:  # at the stop, no other thread reads the connection
                self._handle(self.inbox.recv())
            return
        with self.synced:
            if not self.synced.wait_for(lambda: self.synced_upto >= upto, timeout=_SYNC_WAIT):
                raise RuntimeError("the crawl process did not commit this file's index rows")

    def _handle(self, message: tuple[str, Any]) -> bool:
        kind, value = message
        if kind == "batch":
            for item in value:
                if isinstance(item, FindJob):
                    self._find(item)
                elif isinstance(item, ResourceJob):
                    self.resources.put(item)
                else:
                    self._submit(item)
        elif kind == "synced":
            with self.synced:
                self.synced_upto = max(self.synced_upto, value)
                self.synced.notify_all()
        elif kind == "stop":
            return False
        return True

    def _write_resources(self) -> None:
        while (item := self.resources.get()) is not None:
            try:
                with self.write_lock:
                    self.writer.write_resource(item.uri, item.content, item.content_type, date=item.date,
                                               extra=item.extra)
            except Exception:  # noqa: BLE001 - unconfirmed: the crawl process writes it itself
                continue
            self.send(Written(item.key))

    def _submit(self, job: FetchJob) -> None:
        parts = urlsplit(job.url)
        host = self.hosts.get((parts.scheme, parts.netloc))
        if host is None:
            host = self.hosts[(parts.scheme, parts.netloc)] = _Host(self, parts.scheme, parts.netloc)
        host.submit(job)

    def _find(self, job: FindJob) -> None:
        try:
            named = page_requisites(job.body, job.url, encoding=job.encoding, scripts=job.scripts)
        except Exception as exc:  # noqa: BLE001 - the crawl process then finds them itself
            self.send(Found(job.key, [], None, f"{type(exc).__name__}: {exc}"[:200]))
            return
        self.send(Found(job.key, list(named.named), named.favicon))

    # -- one requisite -------------------------------------------------------------------------------
    def fetch(self, host: _Host, conn: http.client.HTTPConnection, job: FetchJob
              ) -> http.client.HTTPConnection:
        """Fetch, archive and report one job; the connection to go on with (a new one after an error)."""
        attempts = 0
        while True:
            reused = conn.sock is not None
            host._polite()
            try:
                self._exchange(host, conn, job)
                return conn
            except _TooLarge as exc:
                conn.close()
                self.send(FetchFailed(job.key, "too_large", str(exc)))
                return conn
            except _Truncated:
                conn.close()
                self.send(HandBack(job.key, "truncated"))
                return conn
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                stale = reused and isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError,
                                                    ConnectionResetError))
                if stale:  # a kept-alive connection the server had closed meanwhile: not a failure
                    reused = False
                    continue
                if attempts < self.config.retries:
                    attempts += 1
                    continue
                kind = _fault_kind(exc)
                detail = (f"no whole answer within {self.config.timeout:g} s (DOWNLOAD_TIMEOUT), "
                          f"{attempts + 1} tries" if kind == "timeout" else f"{type(exc).__name__}: {exc}")
                self.send(FetchFailed(job.key, kind, detail[:200]))
                return conn
            except Exception as exc:  # noqa: BLE001 - the crawl process must hear of every job
                conn.close()
                self.send(FetchFailed(job.key, "archive_failed", f"{type(exc).__name__}: {exc}"[:200]))
                return conn

    def _exchange(self, host: _Host, conn: http.client.HTTPConnection, job: FetchJob) -> None:
        parts = urlsplit(job.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        deadline = time.monotonic() + self.config.timeout
        conn.putrequest("GET", target, skip_accept_encoding=True)
        for name, value in job.headers:
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        headers = list(response.msg.items())
        if response.status in _REDIRECTS and header_value(headers, "location"):
            response.read()
            self.send(HandBack(job.key, "redirect"))
            return
        if response.status in self.config.retry_statuses:
            response.read()
            host.slow_down()
            self.send(HandBack(job.key, "retry"))
            return
        host.answered()
        body = self._body(response, job.max_size, deadline)
        declared = header_value(headers, "content-length")
        if declared and declared.strip().isdigit() and len(body) < int(declared):
            raise _Truncated()
        ip = conn.sock.getpeername()[0] if conn.sock is not None else None
        request_headers = [("Host", parts.netloc), *job.headers]
        exchange = HttpExchange(
            url=job.url, status=response.status, response_headers=headers, body=body,
            request_headers=request_headers, protocol="HTTP/1.0" if response.version == 10 else "HTTP/1.1",
            reason=response.reason or "", captured_at=datetime.now(UTC), ip_address=ip,
            resource_type=job.resource_type)
        with self.write_lock:
            archived = archive_exchange(self.writer, exchange, job.known, site=self.config.site,
                                        crawl_id=self.config.crawl_id)
        ok = 200 <= response.status < 300 or (response.status == 304 and job.accept_304)
        result = Fetched(job.key, response.status, _mime(headers), archived.row, archived.counts,
                         archived.stats, ok=ok)
        if ok and response.status == 200:
            self._read_body(result, body, headers, job)
        self.send(result)

    @staticmethod
    def _body(response: http.client.HTTPResponse, max_size: int, deadline: float) -> bytes:
        declared = response.getheader("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > max_size:
            raise _TooLarge(f"declares {int(declared):,} bytes, over the {max_size:,} byte cap")
        chunks = []
        size = 0
        while True:
            try:
                chunk = response.read(65536)
            except http.client.IncompleteRead as exc:
                raise _Truncated() from exc
            if not chunk:
                break
            size += len(chunk)
            if size > max_size:
                raise _TooLarge(f"larger than the {max_size:,} byte cap")
            if time.monotonic() > deadline:
                raise TimeoutError("the response took longer than the download time-out")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _read_body(result: Fetched, body: bytes, headers: list[tuple[str, str]], job: FetchJob) -> None:
        """What the crawl reads of a 200: a style sheet's text; whether an image's bytes are an image."""
        encoding = header_value(headers, "content-encoding")
        try:
            decoded = decode_content_encoding(body, encoding, limit=job.max_size)
        except Exception as exc:  # noqa: BLE001 - archived as received; the crawl says what is wrong
            if job.resource_type == "image":
                result.image_problem = f"its {encoding} Content-Encoding cannot be undone ({exc})"
            return
        if job.want_body:
            result.body = decoded
        elif job.resource_type == "image":
            result.image_problem = not_an_image(decoded, header_value(headers, "content-type"))

    # -- the process ---------------------------------------------------------------------------------
    def run(self) -> None:
        self.sender = threading.Thread(target=self._sender, daemon=True, name="requisites sender")
        resource_writer = threading.Thread(target=self._write_resources, daemon=True,
                                           name="requisites pageinfo")
        resource_writer.start()
        self.sender.start()
        try:
            while self._handle(self.inbox.recv()):
                pass
        except (EOFError, OSError):
            os._exit(0)  # the crawl process is gone: leave the file .open, recovery re-indexes it
        self.stopping.set()
        self.resources.put(None)  # after what the crawl gave before ``stop``, which is still written
        for host in self.hosts.values():
            host.stop()
        # the fetches in flight finish (each within its time-out); a file they fill is rotated meanwhile,
        # which waits for the crawl process's answer to its ``sync``: read the connection while waiting
        give_up = time.monotonic() + self.config.timeout + 5
        threads = [resource_writer, *(thread for host in self.hosts.values() for thread in host.threads)]
        while any(thread.is_alive() for thread in threads) and time.monotonic() < give_up:
            if self.inbox.poll(0.05):
                self._handle(self.inbox.recv())
        self.writer.close()
        self.send(("closed", None))
        self.sender.join()


def serve(inbox: Connection, outbox: Connection, config: FetcherConfig) -> None:
    """The fetcher process's main: take jobs until told to stop, then close the WARC file."""
    http.client.parse_headers = parse_headers_quickly  # this process's own http.client only
    _Fetcher(inbox, outbox, config).run()
