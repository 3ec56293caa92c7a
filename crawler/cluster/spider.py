"""The news spider as a cluster worker runs it: requests come from the shared queue, not from start()."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from scrapy import Request

from archive.index import Index
from crawler.incremental import KnownPage, RecrawlPolicy, load_known_pages
from crawler.session import session_for
from crawler.spiders.news import NewsSpider

__all__ = ["ClusterNewsSpider", "read_known_pages", "start_requests_for"]


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
        return self._policy_from(read_known_pages(session.data.db_path, self.logger), session.data.warc_dir)


Known = tuple[dict[str, KnownPage], dict[str, str], dict[str, list[str]]]


def read_known_pages(db_path: Path, log: logging.Logger | logging.LoggerAdapter[Any]) -> Known:
    """``load_known_pages`` of the index at ``db_path``, read-only; nothing known if it is missing or
    unreadable (the crawl then proceeds as if the archive were empty, and says so)."""
    if not db_path.exists():
        return {}, {}, {}
    try:
        with Index(db_path, readonly=True) as index:
            return load_known_pages(index.db)
    except sqlite3.Error as exc:
        log.warning("cannot read the index at %s (%s); crawling as if it were empty", db_path, exc)
        return {}, {}, {}


def start_requests_for(spider: ClusterNewsSpider, known: Known, warc_dir: Path) -> list[Request]:
    """A seed's start requests (sitemaps, feeds, sections — with the validators of their archived copies
    — and known articles still within recrawl_within), built without running the spider. ``known`` is
    read once for all the seeds being queued."""
    spider.policy = spider._policy_from(known, warc_dir)
    return [*spider.start_requests_list(), *spider._fresh_rechecks()]
