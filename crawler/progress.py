"""Progress while a crawl runs: pages/s, archived records, articles, errors, every few seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from crawler.session import errors_by_kind, page_count

__all__ = ["CrawlProgress"]


class CrawlProgress:
    """Prints one line per interval to stderr (the CLI's summary comes from the same stats)."""

    def __init__(self, crawler: Crawler, interval: float, out: TextIO | None = None) -> None:
        self.crawler = crawler
        self.interval = interval
        self.out = out or sys.stderr
        self._loop: task.LoopingCall | None = None
        self._start = 0.0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> CrawlProgress:
        interval = crawler.settings.getfloat("MORGUE_PROGRESS_INTERVAL")
        if interval <= 0:
            raise NotConfigured("MORGUE_PROGRESS_INTERVAL is 0")
        extension = cls(crawler, interval)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Spider) -> None:
        self._start = time.monotonic()
        self._loop = task.LoopingCall(self.report, spider)
        self._loop.start(self.interval, now=False)

    def spider_closed(self, spider: Spider) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()

    def line(self, spider: Spider) -> str:
        stats = self.crawler.stats.get_stats()
        elapsed = max(time.monotonic() - self._start, 1e-6)
        pages = page_count(stats)
        articles = sum(int(stats.get(f"morgue/articles/{k}", 0)) for k in ("new", "version"))
        # the summary's count (a robots.txt refusal is Scrapy's IgnoreRequest, not an error)
        session = getattr(self.crawler, "_morgue_session", None)
        errors = sum(errors_by_kind(session, stats).values()) if session is not None else 0
        site = getattr(getattr(spider, "seed", None), "name", spider.name)
        archived = int(stats.get("morgue/warc/records", 0))
        return (f"[{site}] {pages / elapsed:.1f} pages/s · {pages} pages · {archived} archived · "
                f"{articles} articles · {errors} errors")

    def report(self, spider: Spider) -> None:
        self.out.write(self.line(spider) + "\n")
        self.out.flush()
