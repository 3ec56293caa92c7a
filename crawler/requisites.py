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
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
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
    Requisite,
    css_requisites,
    not_an_image,
    page_requisites,
)
from crawler.capture import file_capture
from crawler.faults import fault_kind, report_fault
from crawler.incremental import KnownPage, archived_copy, discovery_validators
from crawler.pageinfo import PageInfoLog, resource_type_of
from crawler.requisite_fetcher import ACCEPT_ENCODING, Fetched, FetcherConfig, FetchFailed, FetchJob, HandBack
from crawler.requisite_process import RequisiteProcess
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
        self.jobs: dict[int, Request] = {}  # handed to the fetcher process, not answered yet
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
        self.crawler.stats.set_value("morgue/requisites/fetcher", "process")

    def idle(self) -> None:
        """The crawl has nothing left in Scrapy: it waits for the fetcher's jobs; then pages still waiting
        are written (what never got an answer is listed with an error)."""
        if self.jobs:
            raise DontCloseSpider
        self.pageinfo.flush()

    def closed(self, reason: str) -> None:
        """The fetches in flight finish and are filed; what was still queued stays waiting, and so do
        their pages, listed for the next crawl (PageInfoLog.close)."""
        self.closing = True
        if self.process is not None:
            self.process.stop(self.crawler.settings.getfloat("DOWNLOAD_TIMEOUT") + 10)
            self.process = None
            if self.jobs:
                self.crawler.stats.set_value("morgue/requisites/left_queued", len(self.jobs))
        self.pageinfo.close(reason)

    def _maybe_idle(self) -> None:
        """After a batch of outcomes: with no job left, let Scrapy see at once whether the crawl is done
        (it looks every 5 s otherwise)."""
        engine = self.crawler.engine
        slot = getattr(engine, "_slot", None)
        if not self.jobs and slot is not None and not self.closing:
            slot.nextcall.schedule()

    def _commit(self) -> None:
        index = session_for(self.crawler).index
        if index is not None:
            index.commit()

    def _fetcher_lost(self) -> None:
        self.process = None
        self.crawler.stats.inc_value("morgue/requisites/fetcher_lost")
        jobs, self.jobs = self.jobs, {}
        for request in jobs.values():
            self._to_scrapy(request)

    def _to_scrapy(self, request: Request) -> None:
        if self.closing or self.crawler.engine is None:
            return  # its page stays waiting, listed for the next crawl
        self.crawler.stats.inc_value("morgue/requisites/handed_to_scrapy")
        self.crawler.engine.crawl(request)

    def _hand_over(self, request: Request, referrer: str) -> bool:
        """Give a requisite to the fetcher process, after robots.txt (asked of Scrapy's middleware, whose
        parsers the pages share); False to leave it to Scrapy: no fetcher, or a host whose robots.txt
        Scrapy has not read yet (its request fetches it first)."""
        if self.process is None or not self.process.running or self.closing:
            return False
        robots = self._robots_middleware()
        if robots is not None:
            netloc = urlsplit(request.url).netloc
            parser = robots._parsers.get(netloc, Deferred)
            if parser is Deferred or isinstance(parser, Deferred):
                return False
            try:
                robots.process_request_2(parser, request)
            except IgnoreRequest:
                self.pageinfo.settled(request.url, {"status": 0, "error": "blocked"})
                return True
        self._keys += 1
        headers = self._job_headers(request, referrer)
        job = FetchJob(key=self._keys, url=request.url, headers=headers,
                       resource_type=request.meta["morgue_resource_type"], max_size=self.max_size,
                       known=session_for(self.crawler).known.get(request.url),
                       accept_304="morgue_archived_page" in request.meta,
                       want_body=request.meta["morgue_resource_type"] == STYLESHEET)
        if not self.process.submit(job):
            return False
        self.jobs[job.key] = request
        return True

    def _robots_middleware(self) -> Any:
        if not self.crawler.settings.getbool("ROBOTSTXT_OBEY"):
            return None
        cached = getattr(self, "_robots", None)
        if cached is None:
            from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware

            engine = self.crawler.engine
            middlewares = engine.downloader.middleware.middlewares if engine is not None else ()
            cached = next((m for m in middlewares if isinstance(m, RobotsTxtMiddleware)), False)
            self._robots = cached
        return cached or None

    def _job_headers(self, request: Request, referrer: str) -> tuple[tuple[str, str], ...]:
        """The request headers Scrapy's middlewares would send (user agent, default headers, Referer)."""
        settings = self.crawler.settings
        headers: dict[str, str] = {"User-Agent": settings.get("USER_AGENT") or ""}
        for name, value in (settings.getdict("DEFAULT_REQUEST_HEADERS") or {}).items():
            headers[str(name)] = str(value)
        for name, values in request.headers.items():
            headers[name.decode("latin-1")] = values[-1].decode("latin-1")
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        if referrer and not (referrer.startswith("https:") and request.url.startswith("http:")):
            headers["Referer"] = referrer.split("#")[0]
        return tuple(headers.items())

    def _outcome(self, result: Fetched | FetchFailed | HandBack) -> None:
        """One job's outcome from the fetcher process, filed as Scrapy's path files its responses."""
        request = self.jobs.pop(result.key, None)
        if request is None:
            return
        if isinstance(result, HandBack):
            if result.reason == "retry":
                request.meta["retry_times"] = 1  # the fetcher's answer was the first try
            self._to_scrapy(request)
            return
        url = request.url
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
        outcome = {"status": result.status, "mime": result.mime}
        implicit = bool(request.meta.get("morgue_implicit_favicon"))
        if not result.ok:
            if implicit:
                self.crawler.stats.inc_value("morgue/requisites/implicit_favicon_absent")
            else:
                note_problem(self.crawler, url, "http_error",
                             f"HTTP {result.status}; the error response is archived")
        elif request.meta["morgue_resource_type"] == STYLESHEET:
            text = self._stylesheet_text(request, result)
            if text is not None:
                chain = (*request.meta.get("morgue_requisite_chain", ()), url)
                assert self._handlers is not None
                for follow in self._stylesheet_named(url, text, chain, self._known, *self._handlers):
                    self._to_scrapy(follow)
        elif result.image_problem and implicit:
            self.crawler.stats.inc_value("morgue/requisites/implicit_favicon_absent")
        elif result.image_problem:
            note_problem(self.crawler, url, "not_an_image", result.image_problem)
        self.pageinfo.settled(url, outcome)

    def _stylesheet_text(self, request: Request, result: Fetched) -> str | None:
        """A style sheet's text: as fetched, or after a 304 its archived copy's."""
        body = result.body
        if result.status == 304:
            page = request.meta.get("morgue_archived_page")
            try:
                body = archived_copy(session_for(self.crawler).data.warc_dir, page)[0] if page else None
            except Exception as exc:  # noqa: BLE001 - a damaged old record must not stop the crawl
                logger.warning("%s: not modified, but its archived copy is unreadable (%s)", request.url, exc)
                self.crawler.stats.inc_value("morgue/discovery/archived_copy_unreadable")
                return None
        if body is None:
            return None
        charset = "utf-8"
        mime = result.row.get("content_type") or ""
        if "charset=" in mime:
            charset = mime.split("charset=", 1)[1].split(";")[0].strip().strip('"') or "utf-8"
        try:
            return body.decode(charset, "replace")
        except LookupError:
            return body.decode("utf-8", "replace")

    def wants(self, role: str) -> bool:
        """Whether pages of this role (article, section) get their requisites fetched."""
        if self.mode == "none":
            return False
        return role == "article" or self.mode in ("all-pages", "all")

    def for_page(self, response: TextResponse, known: dict[str, KnownPage], callback: Any,
                 errback: Any) -> list[Request]:
        self._handlers, self._known = (callback, errback), known
        named = page_requisites(response.body, response.url, encoding=response.encoding,
                                scripts=self.mode == "all")
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
        found = [Requisite(url, resource_type_of(page.urls.get(url))) for url in sorted(page.waiting)]
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
            request = self._request(requisite, chain, known.get(requisite.url), callback, errback)
            if implicit_favicon:
                request.meta["morgue_implicit_favicon"] = True
                self.crawler.stats.inc_value("morgue/requisites/implicit_favicon")
            if not self._hand_over(request, referrer):
                requests.append(request)
        return requests

    def _request(self, requisite: Requisite, chain: tuple[str, ...], page: KnownPage | None,
                 callback: Any, errback: Any) -> Request:
        meta: dict[str, Any] = {
            "morgue_role": REQUISITE, "morgue_resource_type": requisite.resource_type,
            "morgue_requisite_chain": chain, "allow_offsite": True,
            "download_maxsize": self.max_size, "download_warnsize": 0, "max_retry_times": 1,
            # A download slot of their own per host, as a browser fetches a page's requisites beside the
            # page: they do not queue behind the articles (nor these behind them); the host's delay and
            # concurrency apply to each slot.
            "download_slot": self._slot(urlsplit(requisite.url).hostname or ""),
        }
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
