"""Archive every HTTP exchange as received, before Scrapy decompresses it.

``response_downloaded`` fires before the downloader middlewares' process_response (so before
HttpCompressionMiddleware): the body here is still Content-Encoded, exactly as the server sent it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from archive.exchange_capture import archive_exchange
from archive.ingest import REQUISITE
from archive.records import HttpExchange
from crawler.session import ArchiveSession, close_session, session_for

__all__ = ["WarcCapture", "exchange_from_scrapy", "file_capture"]

logger = logging.getLogger(__name__)

#: Requisites' index rows committed together at most this many at a time (pages' rows commit each).
REQUISITE_ROW_BATCH = 50


def _header_list(headers: Any) -> list[tuple[str, str]]:
    """Every value of every header (repeated Set-Cookie kept), decoded as Latin-1 like HTTP/1.1."""
    pairs: list[tuple[str, str]] = []
    for key in headers.keys():
        name = key.decode("latin-1") if isinstance(key, bytes) else str(key)
        for value in headers.getlist(key):
            pairs.append((name, value.decode("latin-1") if isinstance(value, bytes) else str(value)))
    return pairs


def exchange_from_scrapy(response: Response, request: Request) -> HttpExchange:
    """Turn a downloaded Scrapy response and its request into plain values."""
    ip = getattr(response, "ip_address", None)
    return HttpExchange(
        url=response.url,
        status=response.status,
        response_headers=_header_list(response.headers),
        body=response.body,
        method=request.method,
        request_headers=_header_list(request.headers),
        request_body=request.body or b"",
        protocol=getattr(response, "protocol", None) or "HTTP/1.1",
        captured_at=datetime.now(UTC),
        ip_address=str(ip) if ip is not None else None,
        resource_type=request.meta.get("morgue_resource_type") if _is_requisite(request) else None,
    )


def _is_article(request: Request) -> bool:
    """Article pages count in a crawl's unchanged / not-modified totals; sitemaps, feeds and sections not."""
    return request.meta.get("morgue_role") == "article"


def _is_requisite(request: Request) -> bool:
    """A page's style sheet, image, font or script (crawler.requisites): archived, never extracted."""
    return request.meta.get("morgue_role") == REQUISITE


def _note(response: Response, request: Request) -> str | None:
    """The capture row's note: a truncated body (shorter than its Content-Length), or an article page
    (so that a crawl killed before extracting it can be finished by the next one: crawler.recovery)."""
    if "dataloss" in response.flags:
        expected = response.headers.get(b"Content-Length")
        declared = expected.decode("latin-1") if expected else "an unknown number of"
        return f"truncated: received {len(response.body)} of {declared} bytes"
    return "article" if _is_article(request) else None


def file_capture(crawler: Crawler, session: ArchiveSession, row: dict[str, Any], *, requisite: bool) -> None:
    """Index an archived capture's row and count it (the requisite fetcher's captures come here too)."""
    if session.index is not None:  # a cluster worker leaves indexing to `morgue index`
        # A page's row is committed at once (kill -9 safe); requisites' rows ride along with the next
        # commit (the next page's, at most REQUISITE_ROW_BATCH later, or before their WARC file is
        # closed): a commit each cost a requisite more than its index row. One lost to a crash sits
        # in the .open file, which recovery re-indexes.
        session.index.add_capture(row, batch=REQUISITE_ROW_BATCH if requisite else None)
    session.count("captures")
    if requisite:
        session.count("requisites")
    crawler.stats.inc_value("morgue/warc/records")


class WarcCapture:
    """Writes request + response (or a revisit) for every download, and indexes it as a capture."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.session: ArchiveSession | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> WarcCapture:
        if not crawler.settings.getbool("MORGUE_WARC_ENABLED"):
            raise NotConfigured("MORGUE_WARC_ENABLED is off")
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.response_downloaded, signal=signals.response_downloaded)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        self.session = session_for(self.crawler)

    def spider_closed(self, spider: Spider, reason: str) -> None:
        summary = close_session(self.crawler, reason)
        if summary is not None:
            self.crawler.stats.set_value("morgue/summary", summary)

    def response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        try:
            self._archive(response, request)
        except Exception as exc:
            # Scrapy would log a signal handler's error and crawl on; a crawl that cannot archive what it
            # fetches must stop instead, and say why.
            kind = "warc_write_failed" if isinstance(exc, OSError) else "archive_failed"
            logger.error("cannot archive %s: %s: %s; stopping the crawl",
                         response.url, type(exc).__name__, exc,
                         exc_info=not isinstance(exc, OSError))  # disk full needs no traceback
            self.crawler.stats.inc_value(f"morgue/{kind}")
            if self.crawler.stats.get_value("morgue/fatal") is None:
                self.crawler.stats.set_value("morgue/fatal", f"cannot archive {response.url}: {exc}")
            if self.session is not None:
                self.session.error(kind)
            if self.crawler.engine is not None and not getattr(self, "_stopping", False):
                self._stopping = True
                self.crawler.engine.close_spider(spider, kind)

    def _archive(self, response: Response, request: Request) -> None:
        session = self.session or session_for(self.crawler)
        exchange = exchange_from_scrapy(response, request)
        requisite = exchange.resource_type is not None
        archived = archive_exchange(session.writer, exchange, session.known.get(exchange.url),
                                    site=session.site, crawl_id=session.crawl_id,
                                    article=_is_article(request), note=_note(response, request))
        row = archived.row
        for key in archived.counts:
            session.count(key)
        for key in archived.stats:
            self.crawler.stats.inc_value(key)
        if archived.unchanged:
            request.meta["morgue_unchanged"] = True
        if (row.get("note") or "").startswith("truncated"):
            session.error("dataloss")
            self.crawler.stats.inc_value("morgue/faults/dataloss")
            logger.warning("dataloss: %s %s; archived as received, not extracted", exchange.url, row["note"])
        file_capture(self.crawler, session, row, requisite=requisite)
        request.meta["morgue_capture"] = row
