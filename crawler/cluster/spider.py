"""The news spider as a cluster worker runs it: requests come from the shared queue, not from start()."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

from scrapy import Request

from archive.index import Index
from crawler.incremental import KnownPage, RecrawlPolicy, load_known_pages
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
        known: tuple[dict[str, KnownPage], dict[str, str], dict[str, list[str]]] = ({}, {}, {})
        db_path = session.data.db_path
        if db_path.exists():
            try:
                with Index(db_path, readonly=True) as index:
                    known = load_known_pages(index.db)
            except sqlite3.Error as exc:
                self.logger.warning("cannot read the index at %s (%s); crawling as if it were empty",
                                    db_path, exc)
        return self._policy_from(known, session.data.warc_dir)


def start_requests_for(spider: ClusterNewsSpider) -> list[Request]:
    """A seed's start requests (sitemaps, feeds, sections, and known articles still within
    recrawl_within), built without running the spider."""
    spider.policy = spider._load_policy()
    return [*spider.start_requests_list(), *spider._fresh_rechecks()]
