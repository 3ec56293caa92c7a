"""Re-crawl policy: which already-archived articles to fetch again, and with which validators.

A long-running archive re-discovers the same article URLs on every crawl (sitemaps and feeds list them for
days). Fetching each again would hammer the site, so a known article is re-checked only while it is fresh
(published within the seed's ``recrawl_within``) or when its sitemap ``lastmod`` is newer than our copy,
and then with a conditional GET (If-None-Match / If-Modified-Since from the stored capture). Everything
else that is known is skipped without a request.

Known URLs are matched through what earlier crawls learned: a redirect's source maps to its target (the
``Location`` of the archived 3xx record) and a fetched URL to the article's canonical URL, so ``/old/x``
and ``/x?utm_source=rss`` are recognised as ``/x``. No Scrapy here: plain values in, plain values out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from archive.ingest import decoded_body
from archive.urls import normalize_url
from archive.warc_reader import read_record
from crawler.discovery import parse_date

__all__ = [
    "Decision", "KnownPage", "RecrawlPolicy", "load_known_pages", "conditional_headers",
    "discovery_validators", "archived_copy", "archived_response_at",
]

FETCH = "fetch"  # never archived (or last seen as an error): an ordinary GET
RECHECK = "recheck"  # archived and still fresh: a conditional GET
SKIP = "skip"  # archived and settled: no request at all


@dataclass(frozen=True)
class KnownPage:
    """The latest full response archived for a URL, and what the index knows of its article."""

    url: str
    status: int
    captured_at: datetime
    first_captured_at: datetime
    etag: str | None = None
    last_modified: str | None = None
    published: datetime | None = None  # from the extracted article, if it was one
    warc_file: str | None = None
    warc_offset: int | None = None
    crawl_id: int | None = None  # the crawl that captured it


@dataclass(frozen=True)
class Decision:
    """What to do with one discovered URL: FETCH, RECHECK (conditional) or SKIP, and the URL to request."""

    action: str
    url: str
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    published: datetime | None = None


def conditional_headers(page: KnownPage) -> dict[str, str]:
    """Validators from the stored capture; a server that honours them answers 304 instead of the page."""
    headers: dict[str, str] = {}
    if page.etag:
        headers["If-None-Match"] = page.etag
    if page.last_modified:
        headers["If-Modified-Since"] = page.last_modified
    return headers


def discovery_validators(page: KnownPage | None) -> dict[str, str]:
    """Validators for re-fetching a discovery page (sitemap, feed, section page) archived whole by an
    earlier crawl; none (an ordinary GET) when there is no such copy to fall back on after a 304."""
    if page is None or page.status != 200 or page.warc_file is None or page.warc_offset is None:
        return {}
    return conditional_headers(page)


def archived_copy(warc_dir: Path, page: KnownPage) -> tuple[bytes, list[tuple[str, str]]]:
    """The body (Content-Encoding undone) and HTTP headers of a page's archived response: what a 304
    confirmed is still current."""
    assert page.warc_file is not None and page.warc_offset is not None
    return archived_response_at(warc_dir, page.warc_file, page.warc_offset)


def archived_response_at(warc_dir: Path, warc_file: str, offset: int) -> tuple[bytes, list[tuple[str, str]]]:
    """The body (Content-Encoding undone) and HTTP headers of the response record at ``offset``, as a
    Scrapy response would carry them (no encoding or length headers the body no longer matches)."""
    record = read_record(warc_dir, warc_file, offset)
    dropped = ("content-encoding", "content-length", "transfer-encoding")
    headers = [(k, v) for k, v in record.http_headers if k.lower() not in dropped]
    return decoded_body(record), headers


class RecrawlPolicy:
    """Decides FETCH / RECHECK / SKIP for discovered URLs against what the archive already holds."""

    def __init__(self, pages: Mapping[str, KnownPage], *, within: timedelta, now: datetime,
                 fetched_for: Mapping[str, str] | None = None,
                 location_of: Callable[[KnownPage], str | None] | None = None) -> None:
        self.pages = pages
        self.within = within
        self.now = now
        self.fetched_for = dict(fetched_for or {})
        self.location_of = location_of or (lambda page: None)
        self._locations: dict[str, str | None] = {}

    @property
    def fresh_after(self) -> datetime:
        return self.now - self.within

    def resolve(self, url: str) -> KnownPage | None:
        """The archived page a URL stands for, following archived redirects (at most 5 hops)."""
        current = url
        for _ in range(6):
            page = self.pages.get(current)
            if page is None:
                canonical = self.fetched_for.get(current)
                page = self.pages.get(canonical) if canonical else None
                if page is None:
                    return None
            if not 300 <= page.status < 400:
                return page
            target = self._location(page)
            if target is None or target == current:
                return page
            current = target
        return None

    def _location(self, page: KnownPage) -> str | None:
        if page.url not in self._locations:
            raw = self.location_of(page)
            self._locations[page.url] = normalize_url(urljoin(page.url, raw)) if raw else None
        return self._locations[page.url]

    def decide(self, url: str, *, published: datetime | None = None,
               lastmod: datetime | None = None) -> Decision:
        """``published``/``lastmod`` are the dates the sitemap or feed gave for the URL, if any."""
        page = self.resolve(url)
        if page is None:
            return Decision(FETCH, url, "new", published=published)
        if page.status >= 400 or 300 <= page.status < 400:
            return Decision(FETCH, url, f"last answer was {page.status}", published=published)
        date = page.published or published or page.first_captured_at
        headers = conditional_headers(page)
        if date >= self.fresh_after:
            return Decision(RECHECK, page.url, "fresh", headers, date)
        if lastmod is not None and lastmod > page.captured_at:
            return Decision(RECHECK, page.url, "sitemap lastmod newer than our copy", headers, date)
        return Decision(SKIP, page.url, "archived, older than recrawl_within", published=date)

    def fresh_pages(self, urls: Iterable[str]) -> list[KnownPage]:
        """Those of ``urls`` (article URLs of a site) that are still due for a re-check."""
        out = []
        for url in urls:
            page = self.resolve(url)
            if page is not None and page.status < 300:
                date = page.published or page.first_captured_at
                if date >= self.fresh_after:
                    out.append(page)
        return out


def _when(text: Any) -> datetime | None:
    return parse_date(str(text)) if text else None


def archived_location(warc_dir: Path, log: logging.Logger | logging.LoggerAdapter[Any]
                      ) -> Callable[[KnownPage], str | None]:
    """``location_of`` for RecrawlPolicy: the Location header of a known page's archived redirect, read
    from its WARC record (an unreadable old record only costs a re-fetch)."""

    def location_of(page: KnownPage) -> str | None:
        if page.warc_file is None or page.warc_offset is None:
            return None
        try:
            return read_record(warc_dir, page.warc_file, page.warc_offset).http_header("Location")
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("cannot read the archived redirect of %s: %s", page.url, exc)
            return None

    return location_of


def load_known_pages(db: Any) -> tuple[dict[str, KnownPage], dict[str, str], dict[str, list[str]]]:
    """From an index database (sqlite-utils): known pages by URL, fetched URL → canonical article URL,
    and the article URLs of each site (for re-checks of articles that discovery no longer lists)."""
    published: dict[str, datetime | None] = {}
    fetched_for: dict[str, str] = {}
    by_site: dict[str, list[str]] = {}
    for row in db.query("SELECT url, fetched_url, site, published FROM articles WHERE latest = 1"):
        date = _when(row["published"])
        fetched = row["fetched_url"] or row["url"]
        published[fetched] = date
        if fetched != row["url"]:
            fetched_for[row["url"]] = fetched
        by_site.setdefault(row["site"] or "", []).append(fetched)
    pages: dict[str, KnownPage] = {}
    first: dict[str, datetime] = {}
    rows = db.query(
        "SELECT url, status, captured_at, etag, last_modified, warc_file, warc_offset, crawl_id "
        "FROM captures WHERE record_type = 'response' ORDER BY captured_at")
    for row in rows:
        captured = _when(row["captured_at"])
        if captured is None:
            continue
        first.setdefault(row["url"], captured)
        pages[row["url"]] = KnownPage(
            url=row["url"], status=int(row["status"] or 0), captured_at=captured,
            first_captured_at=first[row["url"]], etag=row["etag"], last_modified=row["last_modified"],
            published=published.get(row["url"]), warc_file=row["warc_file"], warc_offset=row["warc_offset"],
            crawl_id=row["crawl_id"])
    return pages, fetched_for, by_site
