"""Requisites handed to the fetcher process (crawler.requisite_fetcher) and their outcomes filed: the
part of ``RequisitePlanner`` that talks to it. What Scrapy's path would do with a response is done here
with the fetcher's outcome (the capture's index row, the summary's counts and problems, pageinfo, a style
sheet's own requisites); what it hands back, and everything once it is gone, goes through Scrapy.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import DontCloseSpider
from scrapy.http import TextResponse
from twisted.internet.defer import Deferred

from archive.ingest import charset_of
from archive.requisites import IMAGE, SCRIPT, STYLESHEET, PageRequisites, Requisite, page_requisites
from crawler.capture import file_capture
from crawler.faults import report_fault
from crawler.incremental import KnownPage, archived_copy, discovery_validators
from crawler.pageinfo import PageInfoLog
from crawler.requisite_fetcher import (
    ACCEPT_ENCODING,
    Fetched,
    FetcherConfig,
    FetchFailed,
    FetchJob,
    Found,
    HandBack,
    ResourceJob,
    Written,
)
from crawler.requisite_process import RequisiteProcess
from crawler.robots import note_blocked
from crawler.session import session_for

__all__ = ["FetcherHandoff", "RequisiteJob", "note_problem", "MAX_LISTED", "ACCEPT_BY_TYPE"]

logger = logging.getLogger("crawler.requisites")  # the requisites' one logger, wherever they are handled

#: How many requisite problems (and robots.txt refusals) a crawls row lists; the counts are complete.
MAX_LISTED = 200

ACCEPT_BY_TYPE = {
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
class RequisiteJob:
    """A requisite to fetch, and what its outcome is filed with."""

    requisite: Requisite
    chain: tuple[str, ...]  # the style sheets that led to it
    page: KnownPage | None  # its archived copy (for a conditional GET)
    referrer: str
    implicit_favicon: bool = False


class FetcherHandoff:
    """Mixed into ``RequisitePlanner``: its fetcher process, the jobs given to it, their outcomes."""

    crawler: Crawler
    mode: str
    max_size: int
    concurrency: int | None
    pageinfo: PageInfoLog
    process: RequisiteProcess | None
    jobs: dict[int, RequisiteJob]
    finding: dict[int, TextResponse]
    unwritten: dict[int, ResourceJob]
    closing: bool
    _keys: int
    _robots: Any
    _base_headers: dict[str, str]
    _handlers: tuple[Any, Any] | None
    _known: dict[str, KnownPage]

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
            retry_statuses=frozenset(int(c) for c in settings.getlist("RETRY_HTTP_CODES")),
            backoff_base=(settings.getfloat("MORGUE_BACKOFF_BASE")
                          if settings.getbool("MORGUE_BACKOFF_ENABLED") else 0.0),
            backoff_max=settings.getfloat("MORGUE_BACKOFF_MAX"))
        process = RequisiteProcess(config, on_result=self._outcome, on_sync=self._commit,
                                   on_lost=self._fetcher_lost, after_batch=self._maybe_idle)
        try:
            process.start()
        except (OSError, RuntimeError) as exc:  # no process to be had: Scrapy fetches them, as before
            logger.warning("the requisite fetcher process could not start (%s); requisites are fetched "
                           "through Scrapy", exc)
            return
        self.process = process
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
            unwritten, self.unwritten = list(self.unwritten.values()), {}
            self._write_here(unwritten)
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
        self._keys += 1
        record = ResourceJob(self._keys, uri, content, content_type, date, extra)
        if self.process is not None and self.process.submit(record):
            self.unwritten[record.key] = record
        else:
            self._write_here([record])

    def _write_here(self, records: list[ResourceJob]) -> None:
        """Records the fetcher did not write (not given, or not confirmed before it stopped or died)."""
        writer = session_for(self.crawler).writer
        for record in records:
            writer.write_resource(record.uri, record.content, record.content_type, date=record.date,
                                  extra=record.extra)

    def _commit(self) -> None:
        index = session_for(self.crawler).index
        if index is not None:
            index.commit()

    def _fetcher_lost(self) -> None:
        """The fetcher process died: what it was given is fetched (and found) through Scrapy instead."""
        self.process = None
        self.pageinfo.write_resource = None
        self.crawler.stats.inc_value("morgue/requisites/fetcher_lost")
        unwritten, self.unwritten = list(self.unwritten.values()), {}
        self._write_here(unwritten)
        jobs, self.jobs = self.jobs, {}
        for job in jobs.values():
            self._to_scrapy(job)
        finding, self.finding = self.finding, {}
        for response in finding.values():
            for request in self._found(response, self._find_here(response)):
                self._crawl(request)

    def _find_here(self, response: TextResponse) -> PageRequisites:
        """A page's requisites found in the crawl process (no fetcher, or it could not)."""
        return page_requisites(response.body, response.url, encoding=response.encoding,
                               scripts=self.mode == "all")

    def _crawl(self, request: Request) -> None:
        """Schedule a request found outside a Scrapy callback; none once the crawl closes (the page
        stays waiting for it, listed for the next crawl)."""
        if not self.stopping and self.crawler.engine is not None:
            self.crawler.engine.crawl(request)

    def _to_scrapy(self, job: RequisiteJob, *, retried: bool = False) -> None:
        if self.stopping or self.crawler.engine is None or self._handlers is None:
            return  # its page stays waiting, listed for the next crawl
        request = self._request(job, *self._handlers)
        if retried:
            request.meta["retry_times"] = 1  # the fetcher's answer was the first try
        self.crawler.stats.inc_value("morgue/requisites/handed_to_scrapy")
        self._crawl(request)

    def _hand_over(self, job: RequisiteJob) -> bool:
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
        headers = {**self._base_headers, "Accept": ACCEPT_BY_TYPE.get(kind, "*/*")}
        validators = discovery_validators(job.page)
        headers.update(validators)
        if job.referrer and not (job.referrer.startswith("https:") and url.startswith("http:")):
            headers["Referer"] = job.referrer.split("#")[0]
        self._keys += 1
        if not self.process.submit(FetchJob(
                key=self._keys, url=url, headers=tuple(headers.items()), resource_type=kind,
                max_size=self.max_size, known=session_for(self.crawler).known.get(url),
                accept_304=bool(validators), want_body=kind == STYLESHEET)):
            return False
        self.jobs[self._keys] = job
        return True

    def note_too_large(self, url: str) -> None:
        """A requisite past MORGUE_REQUISITES_MAX_SIZE, whichever downloader gave it up."""
        note_problem(self.crawler, url, "too_large",
                     f"larger than the {self.max_size:,} byte cap (MORGUE_REQUISITES_MAX_SIZE); not archived")

    def _robots_middleware(self) -> Any:
        if not self.crawler.settings.getbool("ROBOTSTXT_OBEY"):
            return None
        if self._robots is None:
            engine = self.crawler.engine
            middlewares = engine.downloader.middleware.middlewares if engine is not None else ()
            self._robots = next((m for m in middlewares if isinstance(m, RobotsTxtMiddleware)), False)
        return self._robots or None

    def _outcome(self, result: Written | Found | Fetched | FetchFailed | HandBack) -> None:
        """One job's outcome from the fetcher process, filed as Scrapy's path files its responses."""
        if isinstance(result, Written):
            self.unwritten.pop(result.key, None)
            return
        if isinstance(result, Found):
            response = self.finding.pop(result.key, None)
            if response is not None:
                named = PageRequisites(result.named, result.favicon)
                if result.error:  # e.g. lxml failed on it there: the body is still here
                    logger.warning("%s: the fetcher could not find its requisites (%s); found here",
                                   response.url, result.error)
                    named = self._find_here(response)
                for request in self._found(response, named):
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
                self.note_too_large(url)
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

    def _stylesheet_text(self, job: RequisiteJob, result: Fetched) -> str | None:
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
        charset = charset_of(result.row.get("content_type"))
        try:
            return body.decode(charset or "utf-8", "replace")
        except LookupError:
            return body.decode("utf-8", "replace")

