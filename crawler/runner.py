"""Run one crawl per seed in this process (the Python API behind ``morgue crawl``)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import SETTINGS_PRIORITIES, Settings

from archive.datadir import DataDir
from archive.lock import DataDirLock
from crawler.recovery import recover_data_dir
from crawler.spiders.news import NewsSpider
from morgue import __version__
from morgue.schedule import has_saved_job, job_dir
from morgue.seeds import Seed

logger = logging.getLogger("morgue")

__all__ = ["CrawlResult", "crawl_settings", "run_crawls", "job_dir"]

_ENDED_WELL = {"finished", "closespider_pagecount", "closespider_itemcount", "closespider_timeout"}


@dataclass
class CrawlResult:
    """What one seed's crawl did."""

    site: str
    reason: str
    summary: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    resumed: bool = False

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
    if (settings.getpriority("USER_AGENT") or 0) <= SETTINGS_PRIORITIES["project"]:
        # not set by the seed or -s: name morgue and the operator's contact URL
        contact = settings.get("MORGUE_CONTACT_URL")
        agent = f"morgue/{__version__}" + (f" (+{contact})" if contact else "")
        settings.set("USER_AGENT", agent, priority="project")
    if (settings.getpriority("CONCURRENT_REQUESTS") or 0) <= SETTINGS_PRIORITIES["project"]:
        # Scrapy hands the downloader up to CONCURRENT_REQUESTS requests, which wait there first in, first
        # out: a site's crawl needs room for its hosts' concurrency only, so that the scheduler's priorities
        # (newest sitemaps and articles first, crawler/lastmod.py) decide what is fetched next
        per_host = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
        wanted = 2 * per_host * max(1, len(seed.domains))
        settings.set("CONCURRENT_REQUESTS", min(settings.getint("CONCURRENT_REQUESTS"), wanted),
                     priority="project")
    if settings.getbool("MORGUE_RESUME") and not settings.get("JOBDIR"):
        settings.set("JOBDIR", str(job_dir(data_dir, seed.name)), priority="project")
    return settings


def run_crawls(seeds: Sequence[Seed], data_dir: Path, *, overrides: Mapping[str, Any] | None = None,
               since: datetime | None = None, log_level: str = "WARNING", restart: bool = False,
               lock: bool = True) -> list[CrawlResult]:
    """Crawl every seed (concurrently, one Scrapy crawler each) into ``data_dir``; blocks until done.

    A crawl that was interrupted (Ctrl-C, SIGTERM, a page limit) resumes from its saved JOBDIR, unless
    ``restart``. ``lock=False`` when the caller already holds the data directory's lock (run-due).
    """
    data = DataDir(data_dir).check(create=True)
    held = DataDirLock(data.path) if lock else None
    if held is not None:
        held.acquire()
    try:
        # we hold the lock: .open files and running crawls are a killed process's leftovers
        recover_data_dir(data.path, {seed.name: seed.extract for seed in seeds},
                         job_dir_of=lambda site: job_dir(data.path, site),
                         article_like=lambda site, url: _article_like(seeds, site, url),
                         requisites_of=lambda site: next(
                             (seed.requisites for seed in seeds if seed.name == site), "article"))
        crawlers = _start(seeds, data.path, overrides, since, log_level, restart)
    finally:
        if held is not None:
            held.release()
    results = []
    for seed, crawler, resumed in crawlers:
        stats = crawler.stats.get_stats() if crawler.stats else {}
        result = CrawlResult(site=seed.name, reason=str(stats.get("finish_reason", "not started")),
                             summary=dict(stats.get("morgue/summary") or {}), stats=stats, resumed=resumed)
        jobdir = crawler.settings.get("JOBDIR")
        if jobdir and result.reason == "finished" and Path(jobdir) == job_dir(data.path, seed.name):
            shutil.rmtree(jobdir, ignore_errors=True)  # done: the next run starts from the sitemaps again
        results.append(result)
    return results


def _article_like(seeds: Sequence[Seed], site: str | None, url: str) -> bool:
    """Whether the seed of ``site`` would take ``url`` for an article (its start pages are sections)."""
    from archive.urls import normalize_url

    for seed in seeds:
        if seed.name == site:
            return seed.is_article_url(url) and url not in {normalize_url(u) for u in seed.start_urls}
    return False


def _start(seeds: Sequence[Seed], data_path: Path, overrides: Mapping[str, Any] | None,
           since: datetime | None, log_level: str, restart: bool) -> list[tuple[Seed, Crawler, bool]]:
    base = crawl_settings(seeds[0], data_path, overrides, log_level=log_level)
    process = CrawlerProcess(base)  # installs the root log handler (LOG_INSTALL_ROOT_HANDLER)
    crawlers: list[tuple[Seed, Crawler, bool]] = []
    for position, seed in enumerate(seeds):
        settings = crawl_settings(seed, data_path, overrides, log_level=log_level)
        if not settings.getbool("ROBOTSTXT_OBEY"):
            where = f'robots = "ignore" in {seed.source}' if seed.robots == "ignore" else "a setting"
            logger.warning("%s: robots.txt is IGNORED for this site (%s)", seed.name, where)
        resumed = False
        if settings.get("JOBDIR") and Path(settings["JOBDIR"]) == job_dir(data_path, seed.name):
            if restart:
                shutil.rmtree(job_dir(data_path, seed.name), ignore_errors=True)
            elif has_saved_job(data_path, seed.name):
                resumed = True
                logger.warning("%s: resuming the interrupted crawl saved in %s (--restart to start over)",
                               seed.name, job_dir(data_path, seed.name))
        settings.set("MORGUE_RESUMED", resumed, priority="cmdline")
        crawler = Crawler(NewsSpider, settings, init_reactor=position == 0)
        crawlers.append((seed, crawler, resumed))
        process.crawl(crawler, seed=seed, since=since)
    process.start()
    return crawlers
