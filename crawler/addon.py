"""Wire morgue's components into Scrapy settings, idempotently (like scrapy-zyte-api's add-on)."""

from __future__ import annotations

from scrapy.settings import BaseSettings

__all__ = ["MorgueAddon"]

CAPTURE = "crawler.capture.WarcCapture"
PIPELINE = "crawler.pipelines.ArticlePipeline"
PROGRESS = "crawler.progress.CrawlProgress"
ROBOTS = "crawler.robots.RobotsReport"
ROBOTS_OFFSITE = "crawler.robots.RobotsOffsite"
SCRAPY_ROBOTS = "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"
BACKOFF = "crawler.backoff.BackOff"
# Cluster workers only (MORGUE_CLUSTER_URL set): per-host limits across workers, next to the downloader.
CLUSTER_POLITENESS = "crawler.cluster.politeness.ClusterPoliteness"


class MorgueAddon:
    """Adds the WARC capture extension, the article pipeline, progress reporting, the robots.txt report
    (in place of Scrapy's own robots.txt middleware, at its priority) and per-host back-off."""

    def update_settings(self, settings: BaseSettings) -> None:
        settings["EXTENSIONS"] = {**settings.getdict("EXTENSIONS"), CAPTURE: 100, PROGRESS: 500}
        settings["ITEM_PIPELINES"] = {**settings.getdict("ITEM_PIPELINES"), PIPELINE: 300}
        settings.set("LOGSTATS_INTERVAL", 0, priority="addon")
        # Back-off sees a response before RetryMiddleware (550) re-queues it.
        settings["DOWNLOADER_MIDDLEWARES"] = {**settings.getdict("DOWNLOADER_MIDDLEWARES"),
                                              SCRAPY_ROBOTS: None, ROBOTS: 100, BACKOFF: 560,
                                              ROBOTS_OFFSITE: 49}
        if settings.get("MORGUE_CLUSTER_URL"):
            settings["DOWNLOADER_MIDDLEWARES"] = {**settings.getdict("DOWNLOADER_MIDDLEWARES"),
                                                  CLUSTER_POLITENESS: 950}
