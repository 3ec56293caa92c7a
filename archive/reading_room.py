"""datasette configured as morgue's reading room: search with snippets and facets, article pages with
versions and citations, archived pages served sandboxed from their WARC records. Read-only throughout.

Built from datasette's own mechanisms: metadata (titles, facets, canned queries), a plugin
(``archive/datasette/plugin.py``: routes and hooks), templates and static files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasette.app import Datasette
from datasette.plugins import pm

from archive.datasette import STATIC, TEMPLATES
from archive.datasette import plugin as morgue_plugin
from archive.index import bring_up_to_date

__all__ = ["make_datasette", "ReadingRoom", "METADATA", "CANNED_QUERIES"]

STATIC_ROUTE = "morgue-static"

CANNED_QUERIES: dict[str, dict[str, Any]] = {
    "latest_articles": {
        "title": "Latest articles",
        "description": "The newest version of every article, most recently published first.",
        "sql": (
            "SELECT id AS article, title, site, published, captured_at, version, word_count, url\n"
            "FROM articles WHERE latest = 1\n"
            "ORDER BY coalesce(published, captured_at) DESC LIMIT 200"
        ),
    },
    "changed_articles": {
        "title": "Articles changed after publication",
        "description": ("Articles morgue captured in more than one version (the text changed between "
                        "crawls), newest change first. 'modified' is the date the site itself claims."),
        "sql": (
            "SELECT latest.id AS article, latest.title, latest.site, latest.published, latest.modified,\n"
            "  count(*) AS versions, min(v.captured_at) AS first_captured,\n"
            "  max(v.captured_at) AS last_change_captured, latest.url\n"
            "FROM articles latest JOIN articles v ON v.url = latest.url\n"
            "WHERE latest.latest = 1\n"
            "GROUP BY latest.id HAVING count(*) > 1\n"
            "ORDER BY last_change_captured DESC"
        ),
    },
    "crawl_history": {
        "title": "Crawl history per site",
        "description": "Every crawl run and what it found; leave site empty for all sites.",
        "sql": (
            "SELECT site, started_at, finished_at, round(seconds, 1) AS seconds, status, pages,\n"
            "  new_articles, new_versions, unchanged, not_modified, discovery_not_modified, robots_blocked,\n"
            "  errors, errors_by_kind, sitemaps, sitemaps_skipped_by_lastmod\n"
            "FROM crawls WHERE (:site = '' OR site = :site)\n"
            "ORDER BY started_at DESC, id DESC"
        ),
    },
}

METADATA: dict[str, Any] = {
    "title": "morgue — the news archive",
    "description": "Articles captured by morgue: full-text search, versions, and the archived pages.",
    "extra_css_urls": [f"/{STATIC_ROUTE}/morgue.css"],
    "databases": {
        "morgue": {
            "tables": {
                "articles": {
                    "title": "Articles",
                    "description": "One row per distinct version of an article; titles open the article.",
                    "sort_desc": "published",
                    "facets": ["site", {"array": "authors"}, "language"],
                    "searchmode": "raw",
                },
                "captures": {"title": "Captures", "description": "Every archived HTTP exchange.",
                             "sort_desc": "captured_at", "facets": ["site", "kind", "status"]},
                "crawls": {"title": "Crawls", "sort_desc": "started_at", "facets": ["site", "status"]},
            },
            "queries": CANNED_QUERIES,
        }
    },
}


def _register_plugin() -> None:
    """Register the plugin with datasette's plugin manager once per process (hooks check the instance)."""
    if not pm.is_registered(morgue_plugin):
        pm.register(morgue_plugin, name="morgue-reading-room")


class ReadingRoom(Datasette):
    """A Datasette that knows its morgue data directory before datasette builds its routes (the plugin's
    hooks look for ``morgue_data_dir``; routes are fixed inside ``Datasette.__init__``)."""

    def __init__(self, data_dir: Path, **kwargs: Any) -> None:
        self.morgue_data_dir = Path(data_dir)
        super().__init__(**kwargs)


def make_datasette(data_dir: Path) -> Datasette:
    """A Datasette over ``morgue.db``: opened ``mode=ro`` and with ``PRAGMA query_only`` on every
    connection, so no SQL write reaches the archive, not even through a plugin or a writable canned query."""
    _register_plugin()
    data_dir = Path(data_dir)
    db_path = data_dir / "morgue.db"
    if db_path.exists():
        bring_up_to_date(db_path)  # an index from an older morgue gets the columns the pages read
    return ReadingRoom(
        data_dir, files=[str(db_path)], metadata=METADATA, template_dir=str(TEMPLATES),
        static_mounts=[(STATIC_ROUTE, str(STATIC))],
        settings={"default_page_size": 50, "sql_time_limit_ms": 3000, "facet_time_limit_ms": 1000,
                  "allow_download": False},
    )
