"""Wire morgue's components into Scrapy settings, idempotently (like scrapy-zyte-api's add-on)."""

from __future__ import annotations

from scrapy.settings import BaseSettings

__all__ = ["MorgueAddon"]

CAPTURE = "crawler.capture.WarcCapture"
PIPELINE = "crawler.pipelines.ArticlePipeline"
PROGRESS = "crawler.progress.CrawlProgress"


class MorgueAddon:
    """Adds the WARC capture extension, the article pipeline and progress reporting."""

    def update_settings(self, settings: BaseSettings) -> None:
        settings["EXTENSIONS"] = {**settings.getdict("EXTENSIONS"), CAPTURE: 100, PROGRESS: 500}
        settings["ITEM_PIPELINES"] = {**settings.getdict("ITEM_PIPELINES"), PIPELINE: 300}
        settings.set("LOGSTATS_INTERVAL", 0, priority="addon")
