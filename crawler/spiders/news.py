"""The ``news`` spider: discovers a site's articles from its sitemaps, feeds and section pages.

Run by ``morgue crawl SEED`` or, from the project root, ``scrapy crawl news -a seed=SEED``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Headers, Response, TextResponse
from scrapy.responsetypes import responsetypes

from archive.urls import normalize_url
from archive.warc_reader import WarcReadError
from crawler.discovery import (
    Discovered,
    SitemapTooLarge,
    date_from_url,
    iter_sitemap,
    looks_like_article,
    parse_date,
    parse_feed,
)
from crawler.incremental import (
    RECHECK,
    SKIP,
    KnownPage,
    RecrawlPolicy,
    archived_copy,
    archived_location,
    archived_response_at,
    discovery_validators,
    load_known_pages,
)
from crawler.lastmod import SITEMAP_PRIORITY, LastmodGate, finished_crawls, priority
from crawler.requisites import RequisitePlanner
from crawler.session import session_for
from morgue.durations import format_duration
from morgue.seeds import Seed, load_seed

__all__ = ["NewsSpider"]

_HTML_TYPES = (b"text/html", b"application/xhtml+xml")


class NewsSpider(Spider):
    """One seed, one crawl: sitemaps, robots.txt Sitemap: lines, feeds and section pages."""

    name = "news"

    def __init__(self, seed: Seed | str | None = None, since: datetime | str | None = None,
                 seeds_dir: str = "seeds", **kwargs: Any) -> None:
        if seed is None:
            raise ValueError("the news spider needs a seed: scrapy crawl news -a seed=SITE_OR_FILE_OR_URL")
        self.seed = seed if isinstance(seed, Seed) else load_seed(seed, Path(seeds_dir))
        super().__init__(name=self.name, **kwargs)
        self.allowed_domains = self.seed.domains
        if isinstance(since, str):
            from morgue.durations import parse_since

            since = parse_since(since)
        self.since: datetime | None = since or self.seed.since
        self._sitemaps_seen: set[str] = set()
        self._decided: set[str] = set()
        self.policy: RecrawlPolicy | None = None
        self.gate: LastmodGate | None = None
        self._warc_dir: Path | None = None
        self.requisites: RequisitePlanner | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> NewsSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.robots_parsed, signal=signals.robots_parsed)
        crawler.signals.connect(spider._response_received, signal=signals.response_received)
        spider.requisites = RequisitePlanner.from_crawler(crawler, spider.seed.requisites)
        return spider

    def _response_received(self, response: Response, request: Request, spider: Spider) -> None:
        if request.meta.get("morgue_role") == "requisite":  # the summary counts pages without them
            self.crawler.stats.inc_value("morgue/requisites/responses")

    def _robots_from_middleware(self) -> bool:
        """With robots.txt obeyed through Protego (the default), the middleware's own fetch of robots.txt
        gives us its Sitemap: lines; fetching it a second time would be impolite and archive it twice."""
        parser = str(self.settings.get("ROBOTSTXT_PARSER") or "")
        return self.settings.getbool("ROBOTSTXT_OBEY") and parser.endswith("ProtegoRobotParser")

    def robots_parsed(self, robotparser: Any, request: Request) -> None:
        if not self._robots_from_middleware():
            return
        sitemaps = getattr(getattr(robotparser, "rp", None), "sitemaps", None)
        for url in sitemaps or ():
            url = url.strip()
            if url and url not in self._sitemaps_seen and urlsplit(url).hostname in self.allowed_domains:
                self.crawler.engine.crawl(self._sitemap_request(url))

    # -- start ----------------------------------------------------------------------------------------
    async def start(self) -> AsyncIterator[Request]:
        self.policy = self._load_policy()
        for request in self._awaited_requisites():
            yield request
        for request in self.start_requests_list():
            yield request
        for request in self._fresh_rechecks():
            yield request

    def _load_policy(self) -> RecrawlPolicy:
        """What the archive already holds, for deciding which known articles to fetch again."""
        session = session_for(self.crawler)
        seed = self.seed
        session.index.upsert_site(
            seed.name, source=seed.source, every=format_duration(seed.every),
            recrawl_within=format_duration(seed.recrawl_within), start_urls=json.dumps(seed.start_urls),
            sitemaps=json.dumps(seed.sitemaps), feeds=json.dumps(seed.feeds))
        return self._policy_from(load_known_pages(session.index.db), session.data.warc_dir,
                                 finished_crawls(session.index.db, seed.name))

    def _policy_from(self, known: tuple[dict[str, KnownPage], dict[str, str], dict[str, list[str]]],
                     warc_dir: Path, crawls: dict[int, datetime | None] | None = None) -> RecrawlPolicy:
        """The re-crawl policy over what ``load_known_pages`` read (this spider's and cluster workers'),
        and the lastmod gate for child sitemaps (``crawls``: this site's finished crawls and cut-offs)."""
        pages, fetched_for, by_site = known
        self._site_articles = by_site.get(self.seed.name, [])
        self._warc_dir = warc_dir
        policy = RecrawlPolicy(pages, within=self.seed.recrawl_within, now=datetime.now(UTC),
                               fetched_for=fetched_for, location_of=archived_location(warc_dir, self.logger))
        self.gate = self._gate(policy, crawls or {})
        return policy

    def _gate(self, policy: RecrawlPolicy, crawls: dict[int, datetime | None]) -> LastmodGate:
        def copy_of(url: str) -> tuple[datetime, int | None] | None:
            page = policy.pages.get(normalize_url(url))
            return (page.captured_at, page.crawl_id) if page is not None and page.status == 200 else None

        stats = self._stats()
        if self.since is not None and stats is not None:
            stats.set_value("morgue/since", self.since.isoformat())
        margin = timedelta(seconds=self.settings.getfloat("MORGUE_SITEMAP_LASTMOD_MARGIN", 2 * 86400))
        return LastmodGate(now=policy.now, since=self.since, margin=margin, within=policy.within,
                           copy_of=copy_of, crawls=crawls,
                           enabled=self.settings.getbool("MORGUE_SITEMAP_LASTMOD", True))

    def _fresh_rechecks(self) -> Iterable[Request]:
        """Known articles of this site still within recrawl_within, even if no sitemap lists them now:
        a stealth edit is most likely in the first days after publication."""
        assert self.policy is not None
        for page in self.policy.fresh_pages(self._site_articles):
            yield from self._article_requests([Discovered(page.url)], source="archive")

    def start_requests_list(self) -> list[Request]:
        requests: list[Request] = []
        for url in self.seed.sitemaps:
            requests.append(self._sitemap_request(url))
        seed_urls = (*self.seed.start_urls, *self.seed.sitemaps, *self.seed.feeds)
        for origin in sorted({_origin(u) for u in seed_urls}) if not self._robots_from_middleware() else ():
            requests.append(Request(origin + "/robots.txt", callback=self.parse_robots, priority=20,
                                    errback=self._ignore_error, meta={"dont_obey_robotstxt": True,
                                                                      "morgue_role": "robots"}))
        for url in self.seed.feeds:
            requests.append(self._discovery_request(url, self.parse_feed, 10, "feed"))
        for url in self.seed.start_urls:
            requests.append(self._discovery_request(url, self.parse_section, 5, "section"))
        return requests

    def _sitemap_request(self, url: str, *, lastmod: datetime | None = None, index: str | None = None
                         ) -> Request:
        """A sitemap; one listed by an index with a lastmod is queued by its recency (newest first)."""
        self._sitemaps_seen.add(url)
        self._count_sitemaps()
        rank = SITEMAP_PRIORITY if lastmod is None or self.gate is None else priority(lastmod, self.gate.now)
        request = self._discovery_request(url, self.parse_sitemap, rank, "sitemap")
        if index is not None:
            request.meta["morgue_index"] = index
            request.meta["morgue_listed_lastmod"] = lastmod.isoformat() if lastmod else None
        return request

    def _discovery_request(self, url: str, callback: Any, priority: int, role: str) -> Request:
        """A sitemap, feed or section page: conditional when an earlier crawl archived it whole, so an
        unchanged one costs the site a 304 (archived as a revisit) and its archived copy is read instead."""
        meta: dict[str, Any] = {"morgue_role": role}
        page = self.policy.pages.get(normalize_url(url)) if self.policy is not None else None
        headers = discovery_validators(page)
        if headers:
            meta["morgue_archived_page"] = page
            meta["handle_httpstatus_list"] = [304]
        return Request(url, callback=callback, priority=priority, meta=meta, headers=headers)

    def _current(self, response: Response) -> Response | None:
        """The response to parse: itself, or after a 304 the archived copy it confirmed (None, and a
        warning, if that copy cannot be read: the page's links are then missed this once)."""
        if response.status != 304:
            return response
        page = response.meta.get("morgue_archived_page")
        if page is None or self._warc_dir is None:
            return None
        try:
            body, headers = archived_copy(self._warc_dir, page)
        except Exception as exc:  # noqa: BLE001 - a damaged old record must not stop the crawl
            self.logger.warning("%s: not modified, but its archived copy is unreadable (%s)",
                                response.url, exc)
            self.crawler.stats.inc_value("morgue/discovery/archived_copy_unreadable")
            return None
        if response.meta.get("morgue_role") != "requisite":
            self.crawler.stats.inc_value("morgue/discovery/not_modified")
        return _archived_response(response.url, body, headers, response.request)

    def _ignore_error(self, failure: Any) -> None:
        self.logger.debug("ignored: %s", failure)

    # -- discovery ------------------------------------------------------------------------------------
    def parse_robots(self, response: Response) -> Iterable[Request]:
        if response.status != 200:
            return
        for line in response.body.decode("utf-8", "replace").splitlines():
            key, _, value = line.partition(":")
            url = value.strip()
            if key.strip().lower() == "sitemap" and url and url not in self._sitemaps_seen:
                if urlsplit(url).hostname in self.allowed_domains:
                    yield self._sitemap_request(url)

    def parse_sitemap(self, response: Response) -> Iterable[Request]:
        """A sitemap index, a sitemap (plain, gzipped, Google News) or a feed given as a sitemap, read
        streaming: requests are yielded as entries are parsed, and parsed entries are dropped."""
        current = self._current(response)
        if current is None:
            return
        response = current
        try:
            kind, entries = iter_sitemap(response.body, self.settings.getint("DOWNLOAD_MAXSIZE"))
            if kind == "invalid":
                self.logger.warning("sitemap %s: not a sitemap", response.url)
                self.crawler.stats.inc_value("morgue/discovery/bad_sitemap")
                return
            if kind == "sitemapindex":
                yield from self._children(response.url, list(entries))
                return
            index = response.meta.get("morgue_index")
            listed = parse_date(response.meta.get("morgue_listed_lastmod"))
            released: list[Request] = []
            watched = self._watched(response.url, entries, index, listed, released)
            yield from self._article_requests(watched, source="feed" if kind == "feed" else "sitemap")
            yield from released
        except (OSError, EOFError, zlib.error, SitemapTooLarge) as exc:  # a broken gzip: not a crawl stopper
            self.logger.warning("sitemap %s: cannot decompress (%s)", response.url, exc)
            self.crawler.stats.inc_value("morgue/discovery/bad_sitemap")

    def _children(self, index: str, entries: list[Discovered]) -> Iterable[Request]:
        """The sitemaps an index lists, less those its lastmods show hold nothing this crawl wants; the
        newest first (those without lastmod before them), as the downloader takes the first ones queued."""
        assert self.gate is not None
        now = self.gate.now
        for entry in sorted(entries, key=lambda e: (e.lastmod is not None, now - (e.lastmod or now))):
            if entry.url in self._sitemaps_seen or not self._in_scope(entry.url):
                continue
            reason = self.gate.admit(index, entry.url, entry.lastmod)
            if reason is not None:
                self.logger.info("sitemap %s not fetched: %s", entry.url, reason)
                continue
            yield self._sitemap_request(entry.url, lastmod=entry.lastmod, index=index)
        self._count_sitemaps()

    def _stats(self) -> Any:
        """The crawl's stats; None while start requests are queued for a cluster (crawler.cluster.worker
        builds the spider without starting a crawl, and Scrapy then refuses ``crawler.stats``)."""
        try:
            return self.crawler.stats
        except RuntimeError:
            return None

    def _count_sitemaps(self) -> None:
        """For the summary: every sitemap the crawl came across, fetched or skipped by lastmod."""
        skipped = self.gate.skipped if self.gate is not None else 0
        stats = self._stats()
        if stats is not None:
            stats.set_value("morgue/discovery/sitemaps", len(self._sitemaps_seen) + skipped)
            stats.set_value("morgue/discovery/sitemaps_skipped_by_lastmod", skipped)

    def _watched(self, url: str, entries: Iterator[Discovered], index: str | None, listed: datetime | None,
                 released: list[Request]) -> Iterator[Discovered]:
        """The entries of a child sitemap, counted; the first one newer than the lastmod its index gave
        the child makes the index untrusted, and the children it held back are added to ``released``."""
        count = 0
        watching = index is not None and self.gate is not None and listed is not None
        for entry in entries:
            count += 1
            if watching and self.gate is not None and self.gate.belies(listed, entry.date):
                watching = False
                held = self.gate.distrust(str(index))
                if held is not None:
                    self.logger.warning(
                        "sitemap index %s gives %s the lastmod %s, but it lists an entry dated %s: the "
                        "index's lastmods are not trusted, its %d sitemaps held back are fetched", index, url,
                        listed, entry.date, len(held))
                    self.crawler.stats.inc_value("morgue/discovery/lastmod_lies")
                    released.extend(self._sitemap_request(u, lastmod=m, index=index) for u, m in held
                                    if u not in self._sitemaps_seen)
                    self._count_sitemaps()
            yield entry
        self.crawler.stats.inc_value("morgue/discovery/sitemap_urls", count)

    def parse_feed(self, response: Response) -> Iterable[Request]:
        current = self._current(response)
        if current is None:
            return
        entries = parse_feed(current.body)
        self.crawler.stats.inc_value("morgue/discovery/feed_urls", len(entries))
        yield from self._article_requests(entries, source="feed")

    def parse_section(self, response: Response) -> Iterable[Request]:
        current = self._current(response)
        if not isinstance(current, TextResponse):
            return
        response = current
        links = []
        for href in response.css("a::attr(href)").getall():
            url = response.urljoin(href.strip())
            if urlsplit(url).scheme in ("http", "https") and self._in_scope(url):
                if self.seed.allow or looks_like_article(url):
                    links.append(Discovered(url))
        self.crawler.stats.inc_value("morgue/discovery/section_urls", len(links))
        yield from self._article_requests(links, source="section")
        if response.status == 200:  # not after a 304: the page's requisites were archived with it
            yield from self._page_requisites(response, "section")

    def _in_scope(self, url: str) -> bool:
        host = urlsplit(url).hostname or ""
        return any(host == d or host.endswith("." + d) for d in self.allowed_domains)

    def _article_requests(self, entries: Iterable[Discovered], *, source: str) -> Iterable[Request]:
        for entry in entries:
            if not self._in_scope(entry.url) or not self.seed.is_article_url(entry.url):
                continue
            date = entry.date
            url = normalize_url(entry.url)
            if self.since is not None:
                # a sitemap/feed date, else the latest moment a dated path (/2026/10/) allows
                latest = date or date_from_url(url)
                if latest is not None and latest < self.since:
                    self._count("skipped_before_since", "morgue/discovery/skipped_before_since")
                    continue
            meta: dict[str, Any] = {"morgue_role": "article", "morgue_source": source,
                                    "morgue_listed_date": date.isoformat() if date else None}
            headers: dict[str, str] = {}
            if self.policy is not None:
                decision = self.policy.decide(url, published=entry.published, lastmod=entry.lastmod)
                if decision.url in self._decided:
                    continue
                self._decided.add(decision.url)
                if decision.action == SKIP:
                    self._count("skipped_known", "morgue/recrawl/skipped_known")
                    continue
                if decision.action == RECHECK:
                    self._count("rechecked", "morgue/recrawl/rechecked")
                    headers = decision.headers
                    meta["morgue_recheck"] = decision.reason
                url = decision.url
            rank = priority(date, self.policy.now) if self.policy is not None else 0
            yield Request(url, callback=self.parse_article, meta=meta, headers=headers, priority=rank)

    def _count(self, key: str, stat: str) -> None:
        session_for(self.crawler).count(key)
        self.crawler.stats.inc_value(stat)

    # -- articles -------------------------------------------------------------------------------------
    def parse_article(self, response: Response) -> Iterable[dict[str, Any]]:
        content_type = response.headers.get(b"Content-Type", b"") or b""
        capture = response.meta.get("morgue_capture")
        if capture is None:
            return
        if not any(t in content_type.lower() for t in _HTML_TYPES) or not isinstance(response, TextResponse):
            self.crawler.stats.inc_value("morgue/extract/skipped/not_html")
            return
        if response.meta.get("morgue_unchanged"):
            self.crawler.stats.inc_value("morgue/articles/unchanged_payload")
            return
        yield {
            "url": response.url,
            "body": response.body,
            "encoding": response.encoding,
            "capture": capture,
            "site": self.seed.name,
            "listed_date": response.meta.get("morgue_listed_date"),
            "fetched_at": datetime.now(UTC).isoformat(),
        }
        yield from self._page_requisites(response, "article")

    # -- requisites -----------------------------------------------------------------------------------
    def _page_requisites(self, response: TextResponse, role: str) -> Iterable[Request]:
        """The style sheets, images and fonts the page needs, if the seed asks for them (``requisites``)."""
        if self.requisites is None or not self.requisites.wants(role):
            return ()
        if len(response.body) > self.settings.getint("MORGUE_EXTRACT_MAX_BYTES"):
            # a page too large to extract is not parsed for requisites either (it would hold up the
            # reactor, and every download in flight, while lxml reads it)
            self.crawler.stats.inc_value("morgue/requisites/page_too_large")
            return ()
        known = self.policy.pages if self.policy is not None else {}
        return self.requisites.for_page(response, known, self.parse_requisite, self.requisite_failed)

    def _awaited_requisites(self) -> Iterator[Request]:
        """The requisites of pages a killed or stopped crawl archived before their requisites had an
        outcome (listed by crawler.recovery, or by ``PageInfoLog.close`` at the stop): read from the
        archived page, not fetched again, and requested like any page's (the same caps, robots.txt, once
        per crawl); the page's pageinfo record follows."""
        session = session_for(self.crawler)
        if self.requisites is None or self.requisites.mode == "none" or session.index is None:
            return
        awaited = session.index.awaiting_requisites(self.seed.name)
        if not awaited:
            return
        assert self._warc_dir is not None
        self.logger.warning("%s: %d archived page(s) from a stopped or crashed crawl get their requisites "
                            "now", self.seed.name, len(awaited))
        self.crawler.stats.set_value("morgue/requisites/awaited_pages", len(awaited))
        for row in awaited:
            try:
                body, headers = archived_response_at(self._warc_dir, row["warc_file"], row["warc_offset"])
            except (WarcReadError, ValueError, OSError) as exc:
                self.logger.warning("%s: its archived copy is unreadable, its requisites not fetched (%s)",
                                    row["url"], exc)
                continue
            capture = {"id": row["id"], "captured_at": row["captured_at"], "record_id": row["record_id"]}
            request = Request(row["url"], meta={"morgue_capture": capture, "morgue_role": "article"})
            response = _archived_response(row["url"], body, headers, request)
            too_large = len(body) > self.settings.getint("MORGUE_EXTRACT_MAX_BYTES")
            if too_large or not isinstance(response, TextResponse):
                # not parsed for requisites by a crawl either (_page_requisites): nothing to wait for
                if too_large:
                    self.crawler.stats.inc_value("morgue/requisites/page_too_large")
                session.index.requisites_done(str(row["id"]))
                continue
            self.requisites.pageinfo.awaited.add(str(row["id"]))
            if row.get("awaited_requisites"):
                # a crawl stopped cleanly: what it had answered is not asked again (its resumed queue and
                # duplicate filter would not answer it); what it still waited for comes from that queue
                answered = self.requisites.pageinfo.resume(json.loads(row["awaited_requisites"]))
                self.requisites.seen.update(answered)
            known = self.policy.pages if self.policy is not None else {}
            yield from self.requisites.for_page(response, known, self.parse_requisite, self.requisite_failed,
                                                at_once=True)
            yield from self.requisites.still_waiting(row["record_id"], known, self.parse_requisite,
                                                     self.requisite_failed)

    def parse_requisite(self, response: Response) -> Iterable[Request]:
        """A fetched requisite (archived by crawler.capture already): a style sheet's own requisites
        (after a 304, read from its archived copy), and a check that an image is one. Never an article."""
        assert self.requisites is not None
        if response.meta.get("morgue_resource_type") != "stylesheet":
            self.requisites.check(response)
            return
        current = self._current(response)
        if current is None:
            return
        known = self.policy.pages if self.policy is not None else {}
        yield from self.requisites.for_stylesheet(current, current.body, known, self.parse_requisite,
                                                  self.requisite_failed)

    def requisite_failed(self, failure: Any) -> Iterable[Request]:
        assert self.requisites is not None
        return self.requisites.failed(failure)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _archived_response(url: str, body: bytes, headers: list[tuple[str, str]], request: Request) -> Response:
    """An archived copy (``archived_response_at``) as the Scrapy response its callbacks parse."""
    archived = Headers(headers)
    cls = responsetypes.from_args(headers=archived, url=url, body=body)
    return cls(url=url, status=200, headers=archived, body=body, request=request)
