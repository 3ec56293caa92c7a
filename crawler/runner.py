"""Run one crawl per seed in this process (the Python API behind ``morgue crawl``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from archive.datadir import DataDir
from archive.lock import DataDirLock
from crawler.spiders.news import NewsSpider
from morgue.seeds import Seed

logger = logging.getLogger("morgue")

__all__ = ["CrawlResult", "crawl_settings", "run_crawls"]

_ENDED_WELL = {"finished", "closespider_pagecount", "closespider_itemcount", "closespider_timeout"}


@dataclass
class CrawlResult:
    """What one seed's crawl did."""

    site: str
    reason: str
    summary: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reason in _ENDED_WELL


def crawl_settings(seed: Seed, data_dir: Path, overrides: Mapping[str, Any] | None = None,
                   *, log_level: str = "WARNING") -> Settings:
    """Defaults from crawler.settings, then the seed's [settings], then ``-s`` overrides (strongest)."""
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.set("LOG_LEVEL", log_level, priority="project")
    settings.set("MORGUE_DATA", str(data_dir), priority="project")
    settings.set("MORGUE_SITE", seed.name, priority="project")
    if seed.robots == "ignore":
        settings.set("ROBOTSTXT_OBEY", False, priority="project")
    if seed.max_pages:
        settings.set("CLOSESPIDER_PAGECOUNT", seed.max_pages, priority="project")
    settings.setdict(dict(seed.settings), priority="spider")
    settings.setdict(dict(overrides or {}), priority="cmdline")
    return settings


def run_crawls(seeds: Sequence[Seed], data_dir: Path, *, overrides: Mapping[str, Any] | None = None,
               since: datetime | None = None, log_level: str = "WARNING") -> list[CrawlResult]:
    """Crawl every seed (concurrently, one Scrapy crawler each) into ``data_dir``; blocks until done."""
    data = DataDir(data_dir).check(create=True)
    with DataDirLock(data.path):
        base = crawl_settings(seeds[0], data.path, overrides, log_level=log_level)
        process = CrawlerProcess(base, install_root_handler=True)
        crawlers: list[tuple[Seed, Crawler]] = []
        for position, seed in enumerate(seeds):
            if seed.robots == "ignore":
                logger.warning("%s: robots.txt is IGNORED for this site (robots = \"ignore\" in %s)",
                               seed.name, seed.source)
            settings = crawl_settings(seed, data.path, overrides, log_level=log_level)
            crawler = Crawler(NewsSpider, settings, init_reactor=position == 0)
            crawlers.append((seed, crawler))
            process.crawl(crawler, seed=seed, since=since)
        process.start()
    results = []
    for seed, crawler in crawlers:
        stats = crawler.stats.get_stats() if crawler.stats else {}
        results.append(CrawlResult(site=seed.name, reason=str(stats.get("finish_reason", "not started")),
                                   summary=dict(stats.get("morgue/summary") or {}), stats=stats))
    return results
