"""What each page needed and what of it the crawl archived, as Browsertrix writes it: one ``resource``
record ``urn:pageinfo:<page url>`` (``application/json``) per archived page (capture) whose requisites
were fetched: a URL archived twice has two.

The JSON is Browsertrix's (``src/util/recorder.ts:writePageInfoRecord``): ``{pageid, url, ts, urls:
{<url>: {status, mime, type[, error]}}, counts}``, with ``type`` in Chrome's resource-type words
(Document, Stylesheet, Image, Font, Script) and ``pageid`` the id the WACZ export gives the page in
``pages.jsonl`` (its capture id). The record's ``WARC-Refers-To`` names the page's response record, so an
export that carries the page carries its pageinfo too.

A requisite shared by many pages is fetched once; every page that names it lists it with that one
outcome. Fonts and images named by a style sheet belong to every page that uses the style sheet. A page's
record is written once all of its requisites have an outcome; what is still unanswered when the crawl
goes idle (a request a middleware dropped) is listed with an ``error``. A crawl stopped before (Ctrl-C,
SIGTERM, a page limit) lists its waiting pages in ``pages_awaiting_requisites`` with what it knew of their
requisites: the next crawl of the site (resumed or not) finishes their records (crawler.spiders.news).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scrapy.crawler import Crawler
from scrapy.http import Response

from archive.records import warc_date
from archive.requisites import FONT, IMAGE, OTHER, PAGEINFO_PREFIX, SCRIPT, STYLESHEET
from crawler.session import session_for

__all__ = ["PageInfoLog", "PAGEINFO_PREFIX", "FINDING", "resource_type_name", "resource_type_of"]

#: What a page waits for while the requisite fetcher finds its requisites (crawler.requisites.for_page):
#: not a URL; a page stopped while waiting for it is listed for the next crawl, which finds them again.
FINDING = "\0finding"

logger = logging.getLogger(__name__)

_TYPE_NAMES = {STYLESHEET: "Stylesheet", IMAGE: "Image", FONT: "Font", SCRIPT: "Script"}
_TYPES_BY_NAME = {name: kind for kind, name in _TYPE_NAMES.items()}


def resource_type_name(resource_type: str | None) -> str:
    """Chrome's (and so Browsertrix's) word for a requisite's kind."""
    return _TYPE_NAMES.get(resource_type or "", "Other")


def resource_type_of(name: str | None) -> str:
    """The requisite kind that ``resource_type_name`` calls ``name`` (a pageinfo record's ``type``)."""
    return _TYPES_BY_NAME.get(name or "", OTHER)


def _mime(response: Response) -> str:
    value = response.headers.get(b"Content-Type") or b""
    return value.decode("latin-1").split(";")[0].strip().lower()


@dataclass
class _Page:
    url: str
    pageid: str
    ts: str
    record_id: str
    document: dict[str, Any]
    urls: dict[str, str] = field(default_factory=dict)  # requisite URL -> type name, in the page's order
    waiting: set[str] = field(default_factory=set)


class PageInfoLog:
    """Collects each page's requisites and their outcomes; writes a page's record once it is complete."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.pages: dict[str, _Page] = {}  # pages still waiting, by their response record's id
        self.outcomes: dict[str, dict[str, Any]] = {}  # requisite URL -> {status, mime[, error]}
        self.children: dict[str, dict[str, str]] = {}  # style sheet URL -> what it names (URL -> type)
        # requisite URL -> pages waiting for it (record ids: one URL archived twice, say by a stopped crawl
        # and again by this one after an edit, is two pages, each with its own pageinfo record)
        self.waiters: dict[str, set[str]] = {}
        self.written = 0
        self.awaited: set[str] = set()  # capture ids of pages a killed or stopped crawl left waiting
        # where records are written: the crawl's WARC writer, or the requisite fetcher's
        # (set by crawler.requisite_handoff)
        self.write_resource: Callable[..., Any] | None = None

    def page(self, response: Response, requisites: dict[str, str | None], *, finding: bool = False) -> None:
        """A page whose requisites (URL -> resource type, fetched now or earlier in the crawl) it needs;
        ``finding``: they are still being found, and the page waits for them (the next call names them)."""
        capture = response.meta.get("morgue_capture") or {}
        if not capture.get("record_id"):
            return  # not archived by this process (nothing to refer to)
        page = _Page(url=response.url, pageid=str(capture.get("id") or ""),
                     ts=str(capture.get("captured_at") or ""), record_id=str(capture["record_id"]),
                     document={"status": response.status, "mime": _mime(response), "type": "Document"})
        page = self.pages.setdefault(page.record_id, page)
        if finding:
            page.waiting.add(FINDING)
            return
        page.waiting.discard(FINDING)
        self._add(page, {url: resource_type_name(kind) for url, kind in requisites.items()})
        self._maybe_write(page)

    def named_by_stylesheet(self, stylesheet: str, found: dict[str, str | None]) -> None:
        """What a fetched style sheet names (``@import``, fonts, images): needed by its pages too."""
        named = {url: resource_type_name(kind) for url, kind in found.items()}
        self.children.setdefault(stylesheet, {}).update(named)
        for record_id in list(self.waiters.get(stylesheet, ())):
            self._add(self.pages[record_id], named)

    def settled(self, url: str, outcome: dict[str, Any]) -> None:
        """A requisite's outcome (its response's status and type, or an ``error``)."""
        self.outcomes.setdefault(url, outcome)
        for record_id in self.waiters.pop(url, set()):
            page = self.pages.get(record_id)
            if page is not None:
                page.waiting.discard(url)
                self._maybe_write(page)

    def response(self, response: Response) -> None:
        self.settled(response.url, {"status": response.status, "mime": _mime(response)})
        redirected = response.meta.get("redirect_urls") or ()
        for earlier in redirected:  # the page named the first URL of the redirect chain
            self.settled(earlier, {"status": response.status, "mime": _mime(response)})

    def flush(self) -> None:
        """Write every page still waiting: what never got an answer is listed with an error."""
        for page in list(self.pages.values()):
            for url in sorted(page.waiting - {FINDING}):
                self.outcomes.setdefault(url, {"status": 0, "error": "no answer before the crawl ended"})
                self.waiters.get(url, set()).discard(page.record_id)
            page.waiting.clear()
            self._maybe_write(page)

    def close(self, reason: str) -> None:
        """At the crawl's close (before the index is released): pages still waiting are listed for the
        next crawl, with the outcomes and style sheet contents known so far, which its resumed queue and
        duplicate filter would not give again; without an index (a cluster worker) they are written now."""
        if not self.pages:
            return
        session = session_for(self.crawler)
        if session.index is None or session.crawl_id is None:
            self.flush()
            return
        rows = [{"id": page.pageid, "site": session.site, "url": page.url, "crawl_id": session.crawl_id,
                 "requisites": json.dumps(self._known(page), ensure_ascii=False)}
                for page in self.pages.values() if page.pageid]
        session.index.save_waiting_pages(rows)
        self.crawler.stats.set_value("morgue/requisites/pages_left_waiting", len(rows))
        logger.warning("%d archived page(s) still wait for requisites (crawl %s); the next crawl of %s "
                       "writes their pageinfo records", len(rows), reason, session.site)

    def _known(self, page: _Page) -> dict[str, Any]:
        children = {url: self.children[url] for url in page.urls if url in self.children}
        outcomes = {url: self.outcomes[url] for url in page.urls if url in self.outcomes}
        return {"outcomes": outcomes, "children": children}

    def resume(self, known: dict[str, Any]) -> set[str]:
        """What a stopped crawl knew of a listed page's requisites (``_known``); the URLs answered."""
        for url, named in (known.get("children") or {}).items():
            self.children.setdefault(url, {}).update(named)
        answered = set()
        for url, outcome in (known.get("outcomes") or {}).items():
            self.outcomes.setdefault(url, outcome)
            answered.add(url)
        return answered

    def _add(self, page: _Page, named: dict[str, str]) -> None:
        pending = list(named.items())
        while pending:  # a style sheet that was fetched already brings what it names along
            url, kind = pending.pop(0)
            if url in page.urls or url == page.url:
                continue
            page.urls[url] = kind
            if url not in self.outcomes:
                page.waiting.add(url)
                self.waiters.setdefault(url, set()).add(page.record_id)
            pending.extend(self.children.get(url, {}).items())

    def _maybe_write(self, page: _Page) -> None:
        if page.waiting or self.pages.get(page.record_id) is not page:
            return
        del self.pages[page.record_id]
        urls: dict[str, dict[str, Any]] = {page.url: page.document}
        for url, kind in page.urls.items():
            urls[url] = {**self.outcomes.get(url, {}), "type": kind}
        info = {"pageid": page.pageid, "url": page.url, "ts": page.ts, "urls": urls,
                "counts": {"jsErrors": 0}}
        session = session_for(self.crawler)
        # a page an earlier crawl left waiting leaves the awaiting list once its record is written, so that
        # record is written here and now, not queued for the requisite fetcher (a kill would lose it)
        queued = self.write_resource if page.pageid not in self.awaited else None
        write = queued or session.writer.write_resource
        write(PAGEINFO_PREFIX + page.url, json.dumps(info, ensure_ascii=False).encode("utf-8"),
              "application/json", date=warc_date(datetime.now(UTC)),
              extra={"WARC-Refers-To": page.record_id, "WARC-Refers-To-Target-URI": page.url})
        self.written += 1
        self.crawler.stats.inc_value("morgue/requisites/pageinfo")
        if page.pageid in self.awaited:  # a page an earlier crawl left waiting: it waits no longer
            self.awaited.discard(page.pageid)
            if session.index is not None:
                session.index.requisites_done(page.pageid)
            self.crawler.stats.inc_value("morgue/requisites/recovered_pages")
