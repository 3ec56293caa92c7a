"""Page requisites as Scrapy requests: what ``archive.requisites`` finds in a page or style sheet becomes
requests that go through the same capture path as pages (crawler.capture), with their own limits.

Requisites may live on other hosts (CDNs): they pass the offsite filter (``allow_offsite``) but not
robots.txt, which Scrapy's middleware applies per host, as Heritrix does. Each one is fetched once per
crawl; one archived by an earlier crawl is asked for with its validators, so an unchanged one costs a 304
(a revisit record). What could not be archived is reported by URL in the crawl summary.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from archive.ingest import REQUISITE
from archive.requisites import (
    IMAGE,
    SCRIPT,
    STYLESHEET,
    PageRequisites,
    Requisite,
    css_requisites,
    not_an_image,
    page_requisites,
)
from crawler.capture import file_capture
from crawler.faults import fault_kind, report_fault
from crawler.incremental import KnownPage, archived_copy, discovery_validators
from crawler.pageinfo import FINDING, PageInfoLog, resource_type_of
from crawler.requisite_fetcher import (
    ACCEPT_ENCODING,
    Fetched,
    FetcherConfig,
    FetchFailed,
    FetchJob,
    FindJob,
    Found,
    HandBack,
    ResourceJob,
)
from crawler.requisite_process import RequisiteProcess
from crawler.robots import note_blocked
from crawler.session import session_for

__all__ = ["RequisitePlanner", "note_problem", "MAX_LISTED"]

logger = logging.getLogger(__name__)

#: How many requisite problems (and robots.txt refusals) a crawls row lists; the counts are complete.
MAX_LISTED = 200

_ACCEPT = {
    STYLESHEET: "text/css,*/*;q=0.1",
    IMAGE: "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    SCRIPT: "*/*",
}


def note_problem(crawler: Crawler, url: str, problem: str, detail: str) -> None:
    """One requisite that is missing or damaged, for the summary (``problem`` is a short kind)."""
    session = session_for(crawler)
    session.count(f"requisite_problem/{problem}")
    crawler.stats.inc_value(f"morgue/requisites/problem/{problem}")
    if len(session.requisite_problems) < MAX_LISTED:
        session.requisite_problems.append({"url": url, "problem": problem, "detail": detail})
    logger.warning("requisite %s: %s (%s)", problem, url, detail)


@dataclass(frozen=True)
class _Job:
    """A requisite to fetch, and what its outcome is filed with."""

    requisite: Requisite
    chain: tuple[str, ...]  # the style sheets that led to it
    page: KnownPage | None  # its archived copy (for a conditional GET)
    referrer: str
    implicit_favicon: bool = False


class RequisitePlanner:
    """Which requisites of a page or style sheet to request, within the crawl's limits."""

    def __init__(self, crawler: Crawler, mode: str, *, per_page: int, max_size: int, max_depth: int,
                 concurrency: int | None = None) -> None:
        self.crawler = crawler
        self.concurrency = concurrency
        self._slots: set[str] = set()
        self.mode = mode
        self.per_page = per_page
        self.max_size = max_size
        self.max_depth = max_depth
        self.seen: set[str] = set()
        self.pageinfo = PageInfoLog(crawler)
        self.process: RequisiteProcess | None = None  # the fetcher process (MORGUE_REQUISITES_FETCHER)
        self.jobs: dict[int, _Job] = {}  # handed to the fetcher process, not answered yet
        self.finding: dict[int, TextResponse] = {}  # pages whose requisites the fetcher process finds
        self._robots: Any = None
        self._base_headers: dict[str, str] = {}
        self._keys = 0
        self.closing = False
        self._handlers: tuple[Any, Any] | None = None  # the spider's callback and errback for requisites
        self._known: dict[str, KnownPage] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler, mode: str) -> RequisitePlanner:
        settings = crawler.settings
        planner = cls(crawler, mode, per_page=settings.getint("MORGUE_REQUISITES_PER_PAGE"),
                      max_size=settings.getint("MORGUE_REQUISITES_MAX_SIZE"),
                      max_depth=settings.getint("MORGUE_REQUISITES_DEPTH"),
                      concurrency=settings.getint("MORGUE_REQUISITES_CONCURRENCY") or None)
        if mode != "none":
            crawler.signals.connect(planner.opened, signal=signals.spider_opened)
            crawler.signals.connect(planner.idle, signal=signals.spider_idle)
            # connected with the spider, before crawler.capture's handler closes the WARC file and index
            crawler.signals.connect(planner.closed, signal=signals.spider_closed)
        return planner

    # -- the fetcher process --------------------------------------------------------------------------
    def opened(self) -> None:
        """Start the requisite fetcher (crawler.requisite_fetcher) unless the crawl asks for Scrapy's
        downloader, or has no index of its own (a cluster worker: its requests share the cluster's host
        slots and queue, which only Scrapy's path goes through)."""
        settings = self.crawler.settings
        session = session_for(self.crawler)
        if settings.get("MORGUE_REQUISITES_FETCHER", "process") != "process" or session.index is None:
            return
        writer = session.writer
        config = FetcherConfig(
            warc_dir=str(writer.directory),
            writer={"prefix": writer.prefix, "max_size": writer.max_size, "gzip_level": writer.gzip_level,
                    "warcinfo": dict(writer.warcinfo), "host": writer.host},
            site=session.site, crawl_id=session.crawl_id,
            timeout=settings.getfloat("DOWNLOAD_TIMEOUT"), delay=settings.getfloat("DOWNLOAD_DELAY"),
            concurrency=self.concurrency or settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN") or 1,
            retry_statuses=frozenset(int(c) for c in settings.getlist("RETRY_HTTP_CODES")))
        self.process = RequisiteProcess(config, on_result=self._outcome, on_sync=self._commit,
                                        on_lost=self._fetcher_lost, after_batch=self._maybe_idle)
        self.process.start()
        self.pageinfo.write_resource = self._write_in_fetcher
        headers = {"User-Agent": settings.get("USER_AGENT") or ""}
        for name, value in (settings.getdict("DEFAULT_REQUEST_HEADERS") or {}).items():
            headers[str(name)] = str(value)
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        self._base_headers = headers
        self.crawler.stats.set_value("morgue/requisites/fetcher", "process")

    def idle(self) -> None:
        """The crawl has nothing left in Scrapy: it waits for the fetcher's jobs; then pages still waiting
        are written (what never got an answer is listed with an error)."""
        if self.jobs or self.finding:
            raise DontCloseSpider
        self.pageinfo.flush()

    def closed(self, reason: str) -> None:
        """The fetches in flight finish and are filed; what was still queued stays waiting, and so do
        their pages, listed for the next crawl (PageInfoLog.close)."""
        self.closing = True
        if self.process is not None:
            self.process.stop(self.crawler.settings.getfloat("DOWNLOAD_TIMEOUT") + 10)
            self.process = None
            self.pageinfo.write_resource = None
            if self.jobs:
                self.crawler.stats.set_value("morgue/requisites/left_queued", len(self.jobs))
        self.pageinfo.close(reason)

    @property
    def stopping(self) -> bool:
        """Whether the crawl is closing: Scrapy's engine starts new downloads no more, nor do we."""
        slot = getattr(self.crawler.engine, "_slot", None)
        return self.closing or (slot is not None and slot.closing is not None)

    def _maybe_idle(self) -> None:
        """After a batch of outcomes: with no job left, let Scrapy see at once whether the crawl is done
        (it looks every 5 s otherwise)."""
        slot = getattr(self.crawler.engine, "_slot", None)
        if not self.jobs and not self.finding and slot is not None and not self.stopping:
            slot.nextcall.schedule()

    def _write_in_fetcher(self, uri: str, content: bytes, content_type: str, *, date: str,
                          extra: dict[str, str]) -> None:
        """A pageinfo record, written by the fetcher process beside the requisites it describes."""
        if self.process is not None and self.process.running:
            self.process.submit(ResourceJob(uri, content, content_type, date, extra))
        else:
            writer = session_for(self.crawler).writer
            writer.write_resource(uri, content, content_type, date=date, extra=extra)

    def _commit(self) -> None:
        index = session_for(self.crawler).index
        if index is not None:
            index.commit()

    def _fetcher_lost(self) -> None:
        """The fetcher process died: what it was given is fetched (and found) through Scrapy instead."""
        self.process = None
        self.pageinfo.write_resource = None
        self.crawler.stats.inc_value("morgue/requisites/fetcher_lost")
        jobs, self.jobs = self.jobs, {}
        for job in jobs.values():
            self._to_scrapy(job)
        finding, self.finding = self.finding, {}
        for response in finding.values():
            for request in self._found(response, page_requisites(
                    response.body, response.url, encoding=response.encoding, scripts=self.mode == "all")):
                self._crawl(request)

    def _crawl(self, request: Request) -> None:
        """Schedule a request found outside a Scrapy callback; none once the crawl closes (the page
        stays waiting for it, listed for the next crawl)."""
        if not self.stopping and self.crawler.engine is not None:
            self.crawler.engine.crawl(request)

    def _to_scrapy(self, job: _Job, *, retried: bool = False) -> None:
        if self.stopping or self.crawler.engine is None or self._handlers is None:
            return  # its page stays waiting, listed for the next crawl
        request = self._request(job, *self._handlers)
        if retried:
            request.meta["retry_times"] = 1  # the fetcher's answer was the first try
        self.crawler.stats.inc_value("morgue/requisites/handed_to_scrapy")
        self._crawl(request)

    def _hand_over(self, job: _Job) -> bool:
        """Give a requisite to the fetcher process, after robots.txt (the parsers of Scrapy's middleware,
        which the pages share); False to leave it to Scrapy: no fetcher, or a host whose robots.txt Scrapy
        has not read yet (its request fetches it first)."""
        if self.process is None or not self.process.running or self.stopping:
            return False
        url = job.requisite.url
        robots = self._robots_middleware()
        if robots is not None:
            parser = robots._parsers.get(urlsplit(url).netloc, Deferred)
            if parser is Deferred or isinstance(parser, Deferred):
                return False
            agent = robots._robotstxt_useragent or self._base_headers["User-Agent"]
            if parser is not None and not parser.allowed(url, agent):
                self.crawler.stats.inc_value("robotstxt/forbidden")
                note_blocked(self.crawler, url, requisite=True)
                self.pageinfo.settled(url, {"status": 0, "error": "blocked"})
                return True
        kind = job.requisite.resource_type
        headers = {**self._base_headers, "Accept": _ACCEPT.get(kind, "*/*")}
        validators = discovery_validators(job.page)
        headers.update(validators)
        if job.referrer and not (job.referrer.startswith("https:") and url.startswith("http:")):
            headers["Referer"] = job.referrer.split("#")[0]
        self._keys += 1
        self.process.submit(FetchJob(
            key=self._keys, url=url, headers=tuple(headers.items()), resource_type=kind,
            max_size=self.max_size, known=session_for(self.crawler).known.get(url),
            accept_304=bool(validators), want_body=kind == STYLESHEET))
        self.jobs[self._keys] = job
        return True

    def _robots_middleware(self) -> Any:
        if not self.crawler.settings.getbool("ROBOTSTXT_OBEY"):
            return None
        if self._robots is None:
            engine = self.crawler.engine
            middlewares = engine.downloader.middleware.middlewares if engine is not None else ()
            self._robots = next((m for m in middlewares if isinstance(m, RobotsTxtMiddleware)), False)
        return self._robots or None

    def _outcome(self, result: Found | Fetched | FetchFailed | HandBack) -> None:
        """One job's outcome from the fetcher process, filed as Scrapy's path files its responses."""
        if isinstance(result, Found):
            response = self.finding.pop(result.key, None)
            if response is not None:
                if result.error:
                    logger.warning("%s: its requisites could not be found (%s)", response.url, result.error)
                for request in self._found(response, PageRequisites(result.named, result.favicon)):
                    self._crawl(request)
            return
        job = self.jobs.pop(result.key, None)
        if job is None:
            return
        if isinstance(result, HandBack):
            self._to_scrapy(job, retried=result.reason == "retry")
            return
        url = job.requisite.url
        if isinstance(result, FetchFailed):
            if result.kind == "too_large":
                report_fault(self.crawler, "download_too_large", url, result.detail)
                note_problem(self.crawler, url, "too_large",
                             f"larger than the {self.max_size:,} byte cap (MORGUE_REQUISITES_MAX_SIZE); "
                             "not archived")
            else:
                report_fault(self.crawler, result.kind, url, result.detail)
                note_problem(self.crawler, url, result.kind, result.detail)
            self.pageinfo.settled(url, {"status": 0, "error": result.kind})
            return
        session = session_for(self.crawler)
        for key in result.counts:
            session.count(key)
        for key in result.stats:
            self.crawler.stats.inc_value(key)
        file_capture(self.crawler, session, result.row, requisite=True)
        # counted as Scrapy counts the responses it receives (the summary's pages leave requisites out)
        self.crawler.stats.inc_value("response_received_count")
        self.crawler.stats.inc_value("morgue/requisites/responses")
        if not result.ok:
            if job.implicit_favicon:  # a host without /favicon.ico (its 404 is archived) lacks nothing
                self.crawler.stats.inc_value("morgue/requisites/implicit_favicon_absent")
            else:
                note_problem(self.crawler, url, "http_error",
                             f"HTTP {result.status}; the error response is archived")
        elif job.requisite.resource_type == STYLESHEET:
            text = self._stylesheet_text(job, result)
            if text is not None and self._handlers is not None:
                for follow in self._stylesheet_named(url, text, (*job.chain, url), self._known,
                                                     *self._handlers):
                    self._crawl(follow)
        elif result.image_problem and job.implicit_favicon:
            self.crawler.stats.inc_value("morgue/requisites/implicit_favicon_absent")
        elif result.image_problem:
            note_problem(self.crawler, url, "not_an_image", result.image_problem)
        self.pageinfo.settled(url, {"status": result.status, "mime": result.mime})

    def _stylesheet_text(self, job: _Job, result: Fetched) -> str | None:
        """A style sheet's text: as fetched, or after a 304 its archived copy's."""
        body = result.body
        if result.status == 304:
            try:
                warc_dir = session_for(self.crawler).data.warc_dir
                body = archived_copy(warc_dir, job.page)[0] if job.page else None
            except Exception as exc:  # noqa: BLE001 - a damaged old record must not stop the crawl
                logger.warning("%s: not modified, but its archived copy is unreadable (%s)",
                               job.requisite.url, exc)
                self.crawler.stats.inc_value("morgue/discovery/archived_copy_unreadable")
                return None
        if body is None:
            return None
        mime = str(result.row.get("content_type") or "")
        charset = mime.split("charset=", 1)[1].split(";")[0].strip().strip('"') if "charset=" in mime else ""
        try:
            return body.decode(charset or "utf-8", "replace")
        except LookupError:
            return body.decode("utf-8", "replace")

    def wants(self, role: str) -> bool:
        """Whether pages of this role (article, section) get their requisites fetched."""
        if self.mode == "none":
            return False
        return role == "article" or self.mode in ("all-pages", "all")

    def for_page(self, response: TextResponse, known: dict[str, KnownPage], callback: Any,
                 errback: Any, *, at_once: bool = False) -> list[Request]:
        """Requests for what the page needs; with the fetcher process running (and not ``at_once``) its
        requisites are found there, and the page waits in its pageinfo until they are."""
        self._handlers, self._known = (callback, errback), known
        if not at_once and self.process is not None and self.process.running and not self.stopping:
            self._keys += 1
            self.finding[self._keys] = response
            capture = response.meta.get("morgue_capture") or {}
            record = None
            if capture.get("record_type") == "response" and capture.get("warc_file"):
                # just written: the fetcher reads it back, which costs less here than sending its body
                record = (str(capture["warc_file"]), int(capture["warc_offset"]))
            self.process.submit(FindJob(self._keys, response.url, None if record else response.body,
                                        response.encoding, self.mode == "all", record))
            self.pageinfo.page(response, {}, finding=True)
            return []
        return self._found(response, page_requisites(response.body, response.url, encoding=response.encoding,
                                                     scripts=self.mode == "all"))

    def _found(self, response: TextResponse, named: PageRequisites) -> list[Request]:
        assert self._handlers is not None
        callback, errback = self._handlers
        known = self._known
        found = self._capped(response.url, named.named)
        requests = self._requests(found, (), known, callback, errback, response.url)
        if named.favicon is not None:
            # the /favicon.ico a browser asks a host for when its page names no icon: once per host (it is
            # a URL like any other here), outside the page's cap and its pageinfo (the page does not name
            # it), and a host without one is no problem (crawler.requisites.RequisitePlanner.failed)
            requests.extend(self._requests([named.favicon], (), known, callback, errback, response.url,
                                           implicit_favicon=True))
        self.pageinfo.page(response, {r.url: r.resource_type for r in found})
        return requests

    def still_waiting(self, record_id: str, known: dict[str, KnownPage], callback: Any,
                      errback: Any) -> list[Request]:
        """Requests for what a page listed by a stopped crawl (its response record's id) still waits for
        and this crawl has not asked for (what its style sheets named, which a resumed queue holds
        already, a fresh one does not)."""
        page = self.pageinfo.pages.get(record_id)
        if page is None:
            return []
        self._handlers, self._known = (callback, errback), known
        found = [Requisite(url, resource_type_of(page.urls.get(url))) for url in sorted(page.waiting)
                 if url != FINDING]
        return self._requests(found, (), known, callback, errback, page.url)

    def for_stylesheet(self, response: Response, body: bytes, known: dict[str, KnownPage], callback: Any,
                       errback: Any) -> list[Request]:
        chain: tuple[str, ...] = (*response.meta.get("morgue_requisite_chain", ()), response.url)
        text = response.text if isinstance(response, TextResponse) and body is response.body else \
            body.decode("utf-8", "replace")
        requests = self._stylesheet_named(response.url, text, chain, known, callback, errback)
        self.pageinfo.response(response)  # after what it names: its pages wait for both
        return requests

    def _stylesheet_named(self, url: str, text: str, chain: tuple[str, ...], known: dict[str, KnownPage],
                          callback: Any, errback: Any) -> list[Request]:
        """The requisites a style sheet names (``@import``, fonts, backgrounds) that are fetched: not one
        that imports a sheet of its own chain, nor past MORGUE_REQUISITES_DEPTH."""
        found = css_requisites(text, url)
        fresh = []
        for requisite in found:
            if requisite.resource_type == STYLESHEET and requisite.url in chain:
                loop = " -> ".join((*chain[chain.index(requisite.url):], requisite.url))
                note_problem(self.crawler, requisite.url, "import_loop",
                             f"@import loop {loop}; each style sheet archived once")
            elif len(chain) > self.max_depth:
                note_problem(self.crawler, requisite.url, "too_deep",
                             f"named by {url}, {len(chain)} style sheets deep "
                             f"(MORGUE_REQUISITES_DEPTH = {self.max_depth})")
            else:
                fresh.append(requisite)
        fresh = self._capped(url, fresh)
        requests = self._requests(fresh, chain, known, callback, errback, url)
        self.pageinfo.named_by_stylesheet(url, {r.url: r.resource_type for r in fresh})
        return requests

    def _capped(self, referrer: str, found: Sequence[Requisite]) -> Sequence[Requisite]:
        if len(found) > self.per_page:
            note_problem(self.crawler, referrer, "over_page_cap",
                         f"names {len(found)} requisites; the first {self.per_page} were fetched "
                         "(MORGUE_REQUISITES_PER_PAGE)")
            self.crawler.stats.inc_value("morgue/requisites/over_cap", len(found) - self.per_page)
            found = found[: self.per_page]
        return found

    def _requests(self, found: Sequence[Requisite], chain: tuple[str, ...], known: dict[str, KnownPage],
                  callback: Any, errback: Any, referrer: str, *, implicit_favicon: bool = False
                  ) -> list[Request]:
        """Requests for what has not been asked for in this crawl yet; those the fetcher process takes
        (``_hand_over``) are not among them."""
        requests = []
        for requisite in found:
            if requisite.url in self.seen:
                self.crawler.stats.inc_value("morgue/requisites/shared")
                continue
            self.seen.add(requisite.url)
            if implicit_favicon:
                self.crawler.stats.inc_value("morgue/requisites/implicit_favicon")
            job = _Job(requisite, chain, known.get(requisite.url), referrer, implicit_favicon)
            if not self._hand_over(job):
                requests.append(self._request(job, callback, errback))
        return requests

    def _request(self, job: _Job, callback: Any, errback: Any) -> Request:
        requisite, page = job.requisite, job.page
        meta: dict[str, Any] = {
            "morgue_role": REQUISITE, "morgue_resource_type": requisite.resource_type,
            "morgue_requisite_chain": job.chain, "allow_offsite": True,
            "download_maxsize": self.max_size, "download_warnsize": 0, "max_retry_times": 1,
            # A download slot of their own per host, as a browser fetches a page's requisites beside the
            # page: they do not queue behind the articles (nor these behind them); the host's delay and
            # concurrency apply to each slot.
            "download_slot": self._slot(urlsplit(requisite.url).hostname or ""),
        }
        if job.implicit_favicon:
            meta["morgue_implicit_favicon"] = True
        headers = {"Accept": _ACCEPT.get(requisite.resource_type, "*/*")}
        validators = discovery_validators(page)
        if validators:
            headers.update(validators)
            meta["morgue_archived_page"] = page
            meta["handle_httpstatus_list"] = [304]
        # Just above articles: a page's requisites are fetched close in time to the page.
        return Request(requisite.url, callback=callback, errback=errback, meta=meta, headers=headers,
                       priority=1)

    def _slot(self, host: str) -> str:
        """The host's requisites slot, with MORGUE_REQUISITES_CONCURRENCY connections: a page names 2-3
        or more requisites for each article, so at the pages' concurrency they would take 2-3 times as long
        as the pages; a browser opens up to 6 connections per host for them."""
        key = f"{host} requisites"
        if key not in self._slots and self.concurrency:
            self._slots.add(key)
            engine = self.crawler.engine
            if engine is not None:
                engine.downloader.per_slot_settings.setdefault(key, {"concurrency": self.concurrency})
        return key

    def check(self, response: Response) -> None:
        """Report an image whose bytes are not an image (archived as received all the same)."""
        if response.meta.get("morgue_resource_type") == IMAGE and response.status == 200:
            problem = not_an_image(response.body, _header(response, b"Content-Type"))
            if problem and response.meta.get("morgue_implicit_favicon"):
                # a site's "not found" page answered with 200: it has no favicon, which is no problem
                self.crawler.stats.inc_value("morgue/requisites/implicit_favicon_absent")
            elif problem:
                note_problem(self.crawler, response.url, "not_an_image", problem)
        self.pageinfo.response(response)

    def failed(self, failure: Failure) -> Iterable[Request]:
        """A requisite that could not be fetched: name it (robots.txt refusals are listed apart)."""
        exc = failure.value
        request = getattr(failure, "request", None)
        url = request.url if request is not None else "?"
        if isinstance(exc, HttpError):
            response = exc.response
            self.pageinfo.response(response)
            if request is not None and request.meta.get("morgue_implicit_favicon"):
                # no page named it: a host without /favicon.ico (its 404 is archived) lacks nothing
                self.crawler.stats.inc_value("morgue/requisites/implicit_favicon_absent")
                return ()
            note_problem(self.crawler, response.url, "http_error",
                         f"HTTP {response.status}; the error response is archived")
            return ()
        if isinstance(exc, IgnoreRequest):
            kind = "blocked"  # robots.txt (counted by crawler.robots) or an offsite redirect
        elif type(exc).__name__ == "DownloadCancelledError":
            kind = "too_large"
            note_problem(self.crawler, url, kind,
                         f"larger than the {self.max_size:,} byte cap (MORGUE_REQUISITES_MAX_SIZE); "
                         "not archived")
        else:
            kind = fault_kind(exc)
            note_problem(self.crawler, url, kind, f"{type(exc).__name__}: {str(exc)[:160]}")
        self.pageinfo.settled(url, {"status": 0, "error": kind})
        return ()


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
