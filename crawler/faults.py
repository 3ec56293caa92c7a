"""Name every way a fetch can fail, so the crawl summary says what went wrong and how often.

Scrapy logs a failed download and moves on; an archive's operator wants counts by kind in the crawl's
row (``crawls.errors_by_kind``) and in the CLI summary. Three places see the failures:

* ``FaultReport`` (a downloader middleware next to the engine) sees each request's final exception, after
  RetryMiddleware gave up: timeouts, refused or dropped connections, data loss.
* ``ReportingHttpCompression`` / ``ReportingRedirect`` replace Scrapy's own middlewares to name the
  responses they refuse (a gzip bomb past DOWNLOAD_MAXSIZE, too many redirects).
* ``request_dropped`` (connected by FaultReport) catches a redirect back to a URL already requested: the
  duplicate filter drops it silently, which is how Scrapy ends a redirect loop.

Every response is archived by crawler.capture before any of this runs.
"""

from __future__ import annotations

import logging

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from crawler.session import session_for

__all__ = ["FaultReport", "ReportingHttpCompression", "ReportingRedirect", "fault_kind", "report_fault"]

logger = logging.getLogger(__name__)

_KINDS = {
    "TimeoutError": "timeout",
    "DownloadTimeoutError": "timeout",
    "TCPTimedOutError": "timeout",
    "_DataLoss": "dataloss",
    "ConnectionRefusedError": "connection_refused",
    "ConnectionLost": "connection_lost",
    "ConnectionDone": "connection_lost",
    "ResponseNeverReceived": "no_response",
    "ResponseFailed": "connection_lost",
    "DNSLookupError": "dns",
    "ConnectError": "connection_failed",
    "DownloadCancelledError": "download_too_large",  # past DOWNLOAD_MAXSIZE (or a request's download_maxsize)
}


def fault_kind(exc: BaseException) -> str:
    """A short name for a download exception (wrapped Twisted failures are looked through)."""
    name = type(exc).__name__
    if name in ("ResponseNeverReceived", "ResponseFailed"):
        reasons = getattr(exc, "reasons", None) or []
        for reason in reasons:
            inner = getattr(reason, "value", None)
            if inner is not None:
                kind = _KINDS.get(type(inner).__name__)
                if kind:
                    return kind
    return _KINDS.get(name, name.lower())


def report_fault(crawler: Crawler, kind: str, url: str, detail: str = "") -> None:
    """Count one problem of ``kind`` in the crawl's summary and in Scrapy's stats."""
    session_for(crawler).error(kind)
    crawler.stats.inc_value(f"morgue/faults/{kind}")
    logger.warning("%s: %s%s", kind, url, f" ({detail})" if detail else "")


class FaultReport:
    """Counts each request's final download failure by kind (after retries)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FaultReport:
        middleware = cls(crawler)
        crawler.signals.connect(middleware.request_dropped, signal=signals.request_dropped)
        return middleware

    def process_exception(self, request: Request, exception: BaseException, spider: Spider | None = None
                          ) -> None:
        if isinstance(exception, IgnoreRequest):
            return None  # robots.txt, offsite, or reported where it was raised
        report_fault(self.crawler, fault_kind(exception), request.url, str(exception)[:200])
        return None

    def request_dropped(self, request: Request, spider: Spider) -> None:
        earlier = request.meta.get("redirect_urls") or []
        if request.url in earlier:
            report_fault(self.crawler, "redirect_loop", earlier[0],
                         f"redirected back to {request.url} after {len(earlier)} hop(s)")


class ReportingHttpCompression(HttpCompressionMiddleware):
    """Scrapy's decompression, with a body that inflates past DOWNLOAD_MAXSIZE counted as
    ``decompression_too_large`` (the compressed bytes are archived already)."""

    _crawler: Crawler | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ReportingHttpCompression:
        middleware = super().from_crawler(crawler)
        middleware._crawler = crawler
        return middleware

    def process_response(self, request: Request, response: Response, spider: Spider | None = None
                         ) -> Request | Response:
        try:
            return super().process_response(request, response)
        except IgnoreRequest as exc:
            if self._crawler is not None:
                report_fault(self._crawler, "decompression_too_large", response.url, str(exc)[:200])
            raise


class ReportingRedirect(RedirectMiddleware):
    """Scrapy's redirects, with a chain past REDIRECT_MAX_TIMES counted as ``redirect_loop``."""

    def process_response(self, request: Request, response: Response, spider: Spider | None = None
                         ) -> Request | Response:
        try:
            return super().process_response(request, response)
        except IgnoreRequest as exc:
            urls = request.meta.get("redirect_urls") or [request.url]
            report_fault(self.crawler, "redirect_loop", urls[0], str(exc)[:200])
            raise
