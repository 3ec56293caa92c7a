"""Article pages → extraction (in a process pool) → a new article or version in the index, and in the
WARC file beside the response: the extracted text as a ``resource`` record (``urn:text:<url>``) and the
whole extraction as a ``metadata`` record (archive.extractions), which indexers file without extracting
again."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from scrapy import Spider, signals
from scrapy.crawler import Crawler

from archive.extractions import store_extraction
from archive.ingest import article_url, charset_of, file_article
from archive.site_blocks import SiteBlockLearner, strip_blocks
from archive.site_templates import MAX_REEXTRACT, Pending, SiteTemplates, template_record
from crawler.extract_pool import ExtractionCrashed, ExtractionPool, unextractable
from crawler.session import session_for

__all__ = ["ArticlePipeline", "article_url"]

logger = logging.getLogger(__name__)


class ArticlePipeline:
    """Extracts article items and files them in the index."""

    def __init__(self, crawler: Crawler, workers: int | None) -> None:
        self.crawler = crawler
        self.pool = ExtractionPool(workers, crawler.settings.getint("MORGUE_EXTRACT_TASKS_PER_WORKER", 0))
        self.learner: SiteBlockLearner | None = None
        self.templates: SiteTemplates | None = None
        self.captures: dict[tuple[str, int], Mapping[str, Any]] = {}  # a cluster worker's teacher pages

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ArticlePipeline:
        raw = crawler.settings.get("MORGUE_EXTRACT_WORKERS")
        pipeline = cls(crawler, None if raw in (None, "") else int(raw))
        crawler.signals.connect(pipeline.spider_closed, signal=signals.spider_closed)
        return pipeline

    def spider_closed(self, spider: Spider) -> None:
        self.pool.close()

    def _learner(self) -> SiteBlockLearner:
        """The site's repeated-block learner, started from what the index already holds for the site."""
        if self.learner is None:
            session = session_for(self.crawler)
            self.learner = SiteBlockLearner.from_index(session.index, session.site)
        return self.learner

    def _templates(self, session: Any) -> SiteTemplates | None:
        """The site's template learner: from the index; in a cluster worker, the site's template shared
        through Redis (crawler.cluster.templates), so that pages are extracted once, here."""
        if self.templates is None and session.index is not None:
            self.templates = SiteTemplates.from_index(session.index, session.site)
        elif self.templates is None and self.crawler.settings.get("MORGUE_CLUSTER_URL"):
            from crawler.cluster.templates import worker_templates

            self.templates = worker_templates(self.crawler.settings["MORGUE_CLUSTER_URL"], session.site,
                                              session.data.db_path)
        return self.templates

    def _known_blocks(self, session: Any) -> Any:
        """The site's learned blocks; none in a cluster worker (the indexer re-extracts with them)."""
        return self._learner().known if session.index is not None else ()

    def close_spider(self) -> None:
        """Learn from the whole crawl, then strip newly learned blocks from the articles extracted before
        they were known (runs before the archive session closes)."""
        session = session_for(self.crawler)
        if session.index is None:
            self._finish_worker_templates(session)
            return
        if self.learner is None:
            return
        self.learner.learn()
        self.learner.save(session.index, self.learner.learned_now)  # with final page counts
        self._finish_templates(session)
        stripped = strip_blocks(session.index, session.site, self.learner.learned_now)
        self.crawler.stats.set_value("morgue/site_blocks/learned", len(self.learner.learned_now))
        self.crawler.stats.set_value("morgue/site_blocks/articles_corrected", stripped)

    def _finish_templates(self, session: Any) -> None:
        """Store the site's template and counts, re-extract the pages filed before it was learned, and
        leave the counts for the crawl summary."""
        templates = self.templates
        if templates is None:
            return
        seed = getattr(getattr(self.crawler, "spider", None), "seed", None)
        rules = seed.extract if seed is not None else None
        blocks = tuple(self.learner.known) if self.learner is not None else ()
        session.writer.flush()  # the pages to re-read may sit in the WARC file being written

        def fitted(page: Pending, extraction: Mapping[str, Any], template: dict[str, Any]) -> None:
            # the corrected extraction supersedes the one stored when the page was first filed
            where = "warc_file = ? AND warc_offset = ?"
            rows = list(session.index.db.query(f"SELECT * FROM captures WHERE {where}",
                                               [page.warc_file, page.offset]))
            if rows:
                self._store_correction(session, rows[0], page, extraction, rules, blocks, template)

        corrected = templates.reextract(session.index, rules=rules, blocks=blocks, fitted=fitted)
        templates.save(session.index)
        learner = templates.learner
        stats = self.crawler.stats
        t = templates.template
        stats.set_value("morgue/template/version", t.version if t is not None else 0)
        stats.set_value("morgue/template/learned", len(learner.learned_now))
        stats.set_value("morgue/template/fitted", learner.fitted)
        stats.set_value("morgue/template/fallbacks", learner.fallbacks)
        stats.set_value("morgue/template/redesigns", learner.redesigns)
        stats.set_value("morgue/template/recent_fallback_rate", round(learner.fallback_rate(), 3))
        stats.set_value("morgue/template/articles_corrected", corrected)
        stats.set_value("morgue/template/none", learner.why_not if t is None else "")

    def _finish_worker_templates(self, session: Any) -> None:
        """A cluster worker's end: its teacher pages (extracted before the site had a template) through
        the versions it used, each correction stored beside its page, as a single-machine crawl does."""
        templates = self.templates
        if templates is None or not self.captures:
            return
        seed = getattr(getattr(self.crawler, "spider", None), "seed", None)
        rules = seed.extract if seed is not None else None
        session.writer.flush()

        def fitted(page: Pending, extraction: Mapping[str, Any], template: dict[str, Any]) -> None:
            capture = self.captures.get((page.warc_file, page.offset))
            if capture is not None:
                self._store_correction(session, capture, page, extraction, rules, (), template)

        corrected = templates.reextract(None, rules=rules, fitted=fitted)
        self.crawler.stats.set_value("morgue/template/articles_corrected", corrected)
        t = templates.template
        self.crawler.stats.set_value("morgue/template/version", t.version if t is not None else 0)

    def _archive_used(self, session: Any, template: Mapping[str, Any] | None) -> None:
        """A cluster worker archives each template version before the first extraction naming it."""
        to_archive = getattr(self.templates, "to_archive", None)
        new = to_archive(template) if to_archive is not None else None
        if new is not None:
            uri, body, content_type = template_record(session.site, new)
            session.writer.write_resource(uri, body, content_type)

    def _store_correction(self, session: Any, capture: Mapping[str, Any], page: Pending,
                          extraction: Mapping[str, Any], rules: Mapping[str, Any] | None,
                          blocks: tuple[str, ...], template: dict[str, Any]) -> None:
        """A stored extraction for a page re-extracted through a template at the end of the crawl, so
        that ``index``/``reindex --reuse`` file the corrected text, as the crawl's row now holds it (a
        cluster worker, which has no index, also archives the template version the text names first)."""
        url = article_url(capture["url"], extraction.get("canonical_url"))
        try:
            self._archive_used(session, template)
            store_extraction(session.writer, capture, url, extraction, rules, blocks, text=False,
                             template=template)
        except OSError as exc:  # disk full: the record is cut back; stop, as for any record
            self._cannot_write(page.url, exc)

    def _cannot_write(self, url: str, exc: Exception) -> None:
        logger.error("cannot archive the text of %s: %s; stopping the crawl", url, exc)
        session_for(self.crawler).error("warc_write_failed")
        stats = self.crawler.stats
        if stats.get_value("morgue/fatal") is None:
            stats.set_value("morgue/fatal", f"cannot archive the text of {url}: {exc}")
        spider = getattr(self.crawler, "spider", None)
        if self.crawler.engine is not None and spider is not None:
            self.crawler.engine.close_spider(spider, "warc_write_failed")

    def _archive_template(self, session: Any, template: Any) -> None:
        """The learned template as a record in the crawl's WARC file, which reindex replays."""
        uri, body, content_type = template_record(session.site, template)
        try:
            session.writer.write_resource(uri, body, content_type)
        except OSError as exc:  # disk full: stop, as for any record
            self._cannot_write(uri, exc)

    def _skipped(self, item: dict[str, Any], session: Any, stats: Any) -> bool:
        """Pages that are archived but not extracted: truncated (counted as dataloss when captured),
        empty, too large, or binary. Each reason is counted in the crawl summary."""
        capture = item["capture"]
        if (capture.get("note") or "").startswith("truncated"):
            reason = "truncated"
        else:
            limit = self.crawler.settings.getint("MORGUE_EXTRACT_MAX_BYTES")
            reason = unextractable(item["body"], max_bytes=limit,
                                   charset=charset_of(capture.get("content_type")))
            if reason is None:
                return False
            session.error(reason)
            logger.warning("not extracting %s: %s (%d bytes; archived as received)",
                           item["url"], reason, len(item["body"]))
        stats.inc_value(f"morgue/extract/skipped/{reason}")
        item["outcome"] = reason
        item.pop("body", None)
        return True

    async def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        session = session_for(self.crawler)
        stats = self.crawler.stats
        rules = getattr(getattr(self.crawler, "spider", None), "seed", None)
        rules_mapping = rules.extract if rules is not None else None
        if self._skipped(item, session, stats):
            return item
        live_blocks = self._known_blocks(session)
        given: dict[str, Any] = {"template": None, "known": tuple(live_blocks)}
        templates = self._templates(session)

        def choose_template() -> dict[str, Any] | None:
            # asked when the page gets a worker (crawler.extract_pool): what it was given is stored with it
            given["template"] = templates.template_dict() if templates else None
            given["known"] = tuple(live_blocks)
            return given["template"]

        try:
            # The charset from the archived Content-Type (not Scrapy's guess), as reindex will see it.
            extraction = await self.pool.extract(item["body"], item["url"],
                                                 item["capture"].get("content_type"),
                                                 rules_mapping, live_blocks, choose_template,
                                                 templates.learner.wants if templates else False)
        except Exception as exc:  # noqa: BLE001 - one bad page must not stop a crawl
            logger.warning("cannot extract %s: %s", item["url"], exc)
            session.error("extraction_crashed" if isinstance(exc, ExtractionCrashed) else "extraction_failed")
            stats.inc_value("morgue/extract/failed")
            item["outcome"] = "failed"
            return item
        if extraction is None or not (extraction.get("text") or "").strip():
            stats.inc_value("morgue/extract/dropped/no_article")
            item["outcome"] = "no_article"
            return item
        observation = extraction.pop("observation", None)
        capture = item["capture"]
        if session.index is None:
            # A cluster worker: no index to judge new/version/unchanged; the text resource marks the page
            # as an article and `morgue index` files it from the WARC file, as reindex does.
            url = article_url(capture["url"], extraction.get("canonical_url"))
            if templates is not None:
                pending = Pending("", item["url"], session.data.warc_dir, capture["warc_file"],
                                  capture["warc_offset"])
                if not extraction.get("template") and len(self.captures) < MAX_REEXTRACT:
                    self.captures[(capture["warc_file"], capture["warc_offset"])] = capture
                templates.observe({**extraction, "observation": observation}, pending)
            try:
                self._archive_used(session, given["template"])
                store_extraction(session.writer, capture, url, extraction, rules_mapping, given["known"],
                                 text=True, template=given["template"], observation=observation)
            except OSError as exc:  # disk full: the record is cut back; stop, as crawler.capture does
                self._cannot_write(item["url"], exc)
            session.count("archived_articles")
            stats.inc_value("morgue/articles/archived")
            item["outcome"] = "archived"
            item.pop("body", None)
            return item
        try:
            outcome, article_id, url = file_article(session.index, capture, extraction, item["site"])
        except (OSError, sqlite3.Error) as exc:  # the index's disk is full: stop, as for the WARC file
            self._cannot_write(item["url"], exc)
            item["outcome"] = "failed"
            return item
        templates = self._templates(session)
        if templates is not None:
            if extraction.get("fallback"):
                logger.info("%s: the site template does not fit (%s); extracted by the full pipeline",
                            item["url"], extraction["fallback"])
            pending = Pending(article_id, item["url"], session.data.warc_dir, capture["warc_file"],
                              capture["warc_offset"])
            learned = templates.observe({**extraction, "observation": observation},
                                        pending if outcome != "unchanged" else None)
            if learned is not None:
                templates.save(session.index)
                self._archive_template(session, learned)
        learner = self._learner()
        if outcome != "unchanged":  # an unchanged article is already counted from the index
            learner.observe(extraction["text"], extraction.get("removed") or ())
        if learner.due():
            learner.save(session.index, learner.learn())
        session.count(outcome)
        stats.inc_value(f"morgue/articles/{outcome}")
        try:
            # unchanged text is archived already (the earlier version's resource); its extraction is not
            store_extraction(session.writer, capture, url, extraction, rules_mapping, given["known"],
                             text=outcome != "unchanged", template=given["template"], observation=observation)
        except OSError as exc:  # disk full: the record is cut back; stop, as crawler.capture does
            self._cannot_write(item["url"], exc)
        item["outcome"] = outcome
        item["article_id"] = article_id
        item.pop("body", None)
        return item

