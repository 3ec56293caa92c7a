"""The news spider as a cluster worker runs it: requests come from the shared queue, not from start()."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import sqlite_utils
from scrapy import Request

from crawler.incremental import KnownPage, RecrawlPolicy, archived_location, load_known_pages
from crawler.session import session_for
from crawler.spiders.news import NewsSpider

__all__ = ["ClusterNewsSpider", "start_requests_for"]


class ClusterNewsSpider(NewsSpider):
    """Discovery, extraction and the re-crawl policy of ``NewsSpider``; the start requests are queued in
    Redis by ``morgue crawl --cluster`` / ``run-due --cluster`` (``start_requests_for``)."""

    async def start(self) -> AsyncIterator[Request]:
        self.policy = self._load_policy()
        return
        yield  # an async generator with nothing to yield

    def _load_policy(self) -> RecrawlPolicy:
        """What the indexer has filed so far (read-only: workers never write the index)."""
        session = session_for(self.crawler)
        pages: dict[str, KnownPage] = {}
        fetched_for: dict[str, str] = {}
        by_site: dict[str, list[str]] = {}
        db_path = session.data.db_path
        if db_path.exists():
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            try:
                pages, fetched_for, by_site = load_known_pages(sqlite_utils.Database(conn))
            except sqlite3.Error as exc:
                self.logger.warning("cannot read the index at %s (%s); crawling as if it were empty",
                                    db_path, exc)
            finally:
                conn.close()
        self._site_articles = by_site.get(self.seed.name, [])
        warc_dir = session.data.warc_dir


        return RecrawlPolicy(pages, within=self.seed.recrawl_within, now=datetime.now(UTC),
                             fetched_for=fetched_for,
                             location_of=archived_location(warc_dir, self.logger))


def start_requests_for(spider: ClusterNewsSpider) -> list[Request]:
    """A seed's start requests (sitemaps, feeds, sections, and known articles still within
    recrawl_within), built without running the spider."""
    spider.policy = spider._load_policy()
    return [*spider.start_requests_list(), *spider._fresh_rechecks()]


def bare_spider(crawler: Any, seed: Any) -> ClusterNewsSpider:
    """A spider bound to a crawler that never runs: enough to build and encode requests."""
    return ClusterNewsSpider.from_crawler(crawler, seed=seed)
