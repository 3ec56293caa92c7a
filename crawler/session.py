"""The archive a crawl writes to: its own WARC writer, and the index shared by the crawls of a process.

Each crawl (one per seed) gets a WARC writer of its own, so every file's warcinfo names one site and one
crawl. The index is opened once per data directory and process, since SQLite wants one writer.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from scrapy.crawler import Crawler

from archive.datadir import DataDir
from archive.index import Index
from archive.rounds import ROUND_SUMMARY_CONTENT_TYPE, summary_block
from archive.warc_writer import WarcWriter
from morgue import __version__

__all__ = ["ArchiveSession", "session_for", "errors_by_kind", "page_count"]

_INDEXES: dict[Path, tuple[Index, int]] = {}


@dataclass
class ArchiveSession:
    """What one crawl writes to, plus its running counts."""

    data: DataDir
    index: Index | None  # None in a cluster worker (MORGUE_INDEX_ENABLED off): the indexer files its WARCs
    writer: WarcWriter
    site: str
    crawl_id: int | None
    counts: dict[str, int] = field(default_factory=dict)
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    known: dict[str, dict[str, Any]] = field(default_factory=dict)
    robots_blocked: list[str] = field(default_factory=list)
    requisites_blocked: list[str] = field(default_factory=list)
    requisite_problems: list[dict[str, str]] = field(default_factory=list)
    resumed: bool = False

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def error(self, kind: str) -> None:
        self.errors_by_kind[kind] = self.errors_by_kind.get(kind, 0) + 1


def software_description() -> str:
    """morgue and the versions of what it is built on, for every file's warcinfo record."""
    parts = []
    for package in ("scrapy", "warcio", "trafilatura"):
        try:
            parts.append(f"{package}/{version(package)}")
        except PackageNotFoundError:
            continue
    parts.append(f"python/{platform.python_version()}")
    return f"morgue/{__version__} ({'; '.join(parts)})"


def _open_index(path: Path) -> Index:
    index, users = _INDEXES.get(path, (None, 0))
    if index is None:
        index = Index(path)
        index.commit_every = 1  # each capture durable as soon as its record is written (kill -9)
    _INDEXES[path] = (index, users + 1)
    return index


def release_index(path: Path) -> None:
    index, users = _INDEXES.get(path, (None, 0))
    if index is None:
        return
    if users <= 1:
        index.close()
        del _INDEXES[path]
    else:
        index.commit()
        _INDEXES[path] = (index, users - 1)


def _read_known_urls(db_path: Path) -> dict[str, dict[str, Any]]:
    """Without an index writer (a cluster worker), what the indexer has filed so far, read-only."""
    if not db_path.exists():
        return {}
    index = Index(db_path, readonly=True)
    try:
        return index.known_urls()
    finally:
        index.db.conn.close()


def session_for(crawler: Crawler) -> ArchiveSession:
    """The crawler's archive session, created on first use by whichever component asks first."""
    existing = getattr(crawler, "_morgue_session", None)
    if existing is not None:
        return existing
    settings = crawler.settings
    data = DataDir(settings.get("MORGUE_DATA")).check(create=True)
    site = settings.get("MORGUE_SITE") or "unknown"
    indexed = settings.getbool("MORGUE_INDEX_ENABLED", True)
    index = _open_index(data.db_path.resolve()) if indexed else None
    crawl_id = index.start_crawl(site) if index is not None else None
    robots = "obey" if settings.getbool("ROBOTSTXT_OBEY") else "ignore"
    writer = WarcWriter(
        data.warc_dir,
        prefix=settings.get("MORGUE_WARC_PREFIX") or "morgue",
        max_size=settings.getint("MORGUE_WARC_MAX_SIZE"),
        gzip_level=settings.getint("MORGUE_WARC_GZIP_LEVEL", 4),
        warcinfo={
            "software": software_description(),
            "operator": settings.get("MORGUE_OPERATOR") or "",
            "http-header-user-agent": settings.get("USER_AGENT") or "",
            "robots": robots,
            "isPartOf": site,
            "morgue-site": site,
            **({"morgue-crawl-id": str(crawl_id)} if crawl_id is not None else {}),
            **({"morgue-worker": settings.get("MORGUE_CLUSTER_WORKER")}
               if settings.get("MORGUE_CLUSTER_WORKER") else {}),
            **({"morgue-round": settings.get("MORGUE_CLUSTER_ROUND"),
                "morgue-round-started": settings.get("MORGUE_CLUSTER_ROUND_STARTED") or ""}
               if settings.get("MORGUE_CLUSTER_ROUND") else {}),
        },
    )
    if index is not None:
        writer.before_close = index.commit  # requisites' rows are batched (crawler.capture)
    session = ArchiveSession(data=data, index=index, writer=writer, site=site, crawl_id=crawl_id,
                             resumed=settings.getbool("MORGUE_RESUMED"))
    session.known = index.known_urls() if index is not None else _read_known_urls(data.db_path)
    crawler._morgue_session = session  # type: ignore[attr-defined]
    return session


def errors_by_kind(session: ArchiveSession, stats: dict[str, Any]) -> dict[str, int]:
    """The crawl's problems so far, by kind, as the summary and the progress line count them: the faults
    recorded in the session, and the pages skipped where the spider decides (a non-HTML file linked as an
    article)."""
    counts = dict(session.errors_by_kind)
    for stat, kind in (("morgue/extract/skipped/not_html", "not_html"),):
        if stats.get(stat):
            counts[kind] = int(stats[stat])
    return counts


def page_count(stats: dict[str, Any]) -> int:
    """Responses received for pages, not counting page requisites (style sheets, images, fonts)."""
    return int(stats.get("response_received_count", 0)) - int(stats.get("morgue/requisites/responses", 0))


def close_session(crawler: Crawler, status: str) -> dict[str, Any] | None:
    """Close the crawl's WARC file, record the crawl's counts (in the index; a cluster worker's in its
    WARC file, for the indexer to add to the round's row), release the index."""
    session: ArchiveSession | None = getattr(crawler, "_morgue_session", None)
    if session is None:
        return None
    stats = crawler.stats.get_stats() if crawler.stats else {}
    started = stats.get("start_time")
    finished = stats.get("finish_time")
    seconds = (finished - started).total_seconds() if started and finished else None
    c = session.counts
    session.errors_by_kind = errors_by_kind(session, stats)
    summary = {
        "status": status, "seconds": seconds,
        "pages": page_count(stats),
        "captures": c.get("captures", 0), "new_articles": c.get("new", 0),
        "new_versions": c.get("version", 0),
        # unchanged: fetched again with the same payload (a revisit) or the same extracted text
        "unchanged": c.get("unchanged", 0) + c.get("identical", 0),
        "not_modified": c.get("not_modified", 0),
        "discovery_not_modified": int(stats.get("morgue/discovery/not_modified", 0)),
        "sitemaps": int(stats.get("morgue/discovery/sitemaps", 0)),
        "sitemaps_skipped_by_lastmod": int(stats.get("morgue/discovery/sitemaps_skipped_by_lastmod", 0)),
        "lastmod_lies": int(stats.get("morgue/discovery/lastmod_lies", 0)),
        "since": stats.get("morgue/since"),
        "skipped_known": c.get("skipped_known", 0), "rechecked": c.get("rechecked", 0),
        "skipped_before_since": c.get("skipped_before_since", 0),
        "robots_blocked": int(stats.get("robotstxt/forbidden", 0)) - c.get("requisites_blocked", 0),
        "robots_blocked_urls": json.dumps(session.robots_blocked),
        "requisites": c.get("requisites", 0),
        "requisites_not_modified": c.get("requisites_not_modified", 0) + c.get("requisites_unchanged", 0),
        "requisites_blocked": c.get("requisites_blocked", 0),
        "requisites_blocked_urls": json.dumps(session.requisites_blocked),
        "requisite_problems": json.dumps(session.requisite_problems),
        "resumed": int(session.resumed),
        "errors": sum(session.errors_by_kind.values()),
        "errors_by_kind": json.dumps(session.errors_by_kind, sort_keys=True),
    }
    round_id = crawler.settings.get("MORGUE_CLUSTER_ROUND")
    if session.index is None and round_id and (session.writer.current_name or session.writer.closed_files):
        session.writer.write_metadata(
            f"urn:morgue:round:{round_id}:{crawler.settings.get('MORGUE_CLUSTER_WORKER') or ''}",
            summary_block(summary, site=session.site, round_id=round_id,
                          worker=crawler.settings.get("MORGUE_CLUSTER_WORKER") or "", finished=finished),
            ROUND_SUMMARY_CONTENT_TYPE)
    session.writer.close()
    if session.index is not None and session.crawl_id is not None:
        # The "article" note marks article pages for crash recovery only; a crawl that ended clears it,
        # so its captures read as a reindex from the WARC files rebuilds them.
        session.index.clear_article_notes([session.crawl_id])
        session.index.finish_crawl(session.crawl_id, **summary)
        release_index(session.data.db_path.resolve())
    crawler._morgue_session = None  # type: ignore[attr-defined]
    return summary
