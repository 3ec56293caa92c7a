"""Page requisites as Scrapy requests: what ``archive.requisites`` finds in a page or style sheet becomes
requests that go through the same capture path as pages (crawler.capture), with their own limits.

Requisites may live on other hosts (CDNs): they pass the offsite filter (``allow_offsite``) but not
robots.txt, which Scrapy's middleware applies per host, as Heritrix does. Each one is fetched once per
crawl; one archived by an earlier crawl is asked for with its validators, so an unchanged one costs a 304
(a revisit record). What could not be archived is reported by URL in the crawl summary.

A crawl with an index of its own hands them to a fetcher process (crawler.requisite_handoff,
crawler.requisite_fetcher), which also finds a page's requisites: Scrapy's request path costs the crawl
process ~6 CPU-ms per requisite, the hand-over well under 1. What it hands back goes through Scrapy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from archive.ingest import REQUISITE
from archive.requisites import (
    IMAGE,
    STYLESHEET,
    PageRequisites,
    Requisite,
    css_requisites,
    not_an_image,
)
from crawler.faults import fault_kind
from crawler.incremental import KnownPage, discovery_validators
from crawler.pageinfo import FINDING, PageInfoLog, resource_type_of
from crawler.requisite_fetcher import FindJob, ResourceJob
from crawler.requisite_handoff import ACCEPT_BY_TYPE, MAX_LISTED, FetcherHandoff, RequisiteJob, note_problem
from crawler.requisite_process import RequisiteProcess

__all__ = ["RequisitePlanner", "note_problem", "MAX_LISTED"]


class RequisitePlanner(FetcherHandoff):
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
        self.jobs: dict[int, RequisiteJob] = {}  # handed to the fetcher process, not answered yet
        self.finding: dict[int, TextResponse] = {}  # pages whose requisites the fetcher process finds
        self.unwritten: dict[int, ResourceJob] = {}  # pageinfo records the fetcher has not confirmed yet
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
            if self.process.submit(FindJob(self._keys + 1, response.url, response.body, response.encoding,
                                           self.mode == "all")):
                self._keys += 1
                self.finding[self._keys] = response
                self.pageinfo.page(response, {}, finding=True)
                return []
        return self._found(response, self._find_here(response))

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
            job = RequisiteJob(requisite, chain, known.get(requisite.url), referrer, implicit_favicon)
            if not self._hand_over(job):
                requests.append(self._request(job, callback, errback))
        return requests

    def _request(self, job: RequisiteJob, callback: Any, errback: Any) -> Request:
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
        headers = {"Accept": ACCEPT_BY_TYPE.get(requisite.resource_type, "*/*")}
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
            self.note_too_large(url)
        else:
            kind = fault_kind(exc)
            note_problem(self.crawler, url, kind, f"{type(exc).__name__}: {str(exc)[:160]}")
        self.pageinfo.settled(url, {"status": 0, "error": kind})
        return ()


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None
