"""What the archive holds, for the home page: totals, and per site its articles, dates and last crawl.

The counts come from ``site_counts`` (kept up to date by triggers, schema v9), the dates from the indexes'
ends (min/max over an index is one lookup): nothing here reads every article."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from archive.datasette.display import human_date

__all__ = ["archive_summary", "TOTALS_SQL", "SITES_SQL", "RECENT_SQL"]

SITES_SQL = """
WITH names AS (
  SELECT site AS name FROM site_counts WHERE site != '' AND versions > 0
  UNION SELECT site FROM crawls WHERE site IS NOT NULL
  UNION SELECT name FROM sites
), last AS (
  SELECT c.* FROM crawls c
  WHERE c.id = (SELECT c2.id FROM crawls c2 WHERE c2.site = c.site ORDER BY c2.started_at DESC, c2.id DESC
                LIMIT 1)
)
SELECT names.name AS site,
  (SELECT site_name FROM articles INDEXED BY idx_articles_site_published WHERE site = names.name
   ORDER BY published DESC LIMIT 1) AS site_name,
  coalesce(counts.articles, 0) AS articles, coalesce(counts.versions, 0) AS versions,
  (SELECT published FROM articles INDEXED BY idx_articles_site_published
   WHERE site = names.name AND published IS NOT NULL ORDER BY published LIMIT 1) AS first_published,
  (SELECT published FROM articles INDEXED BY idx_articles_site_published
   WHERE site = names.name ORDER BY published DESC LIMIT 1) AS last_published,
  (SELECT count(*) FROM crawls WHERE site = names.name) AS crawls,
  last.started_at AS last_crawl, last.finished_at AS last_finished, last.status AS last_status,
  last.pages AS last_pages, last.new_articles AS last_new, last.new_versions AS last_versions,
  last.errors AS last_errors
FROM names LEFT JOIN site_counts counts ON counts.site = names.name LEFT JOIN last ON last.site = names.name
ORDER BY articles DESC, names.name
"""

TOTALS_SQL = """
SELECT (SELECT coalesce(sum(articles), 0) FROM site_counts) AS articles,
       (SELECT coalesce(sum(versions), 0) FROM site_counts) AS versions,
       (SELECT coalesce(sum(captures), 0) FROM site_counts) AS captures,
       (SELECT count(*) FROM crawls) AS crawls,
       (SELECT min(published) FROM articles) AS first_published,
       (SELECT max(published) FROM articles) AS last_published,
       (SELECT min(captured_at) FROM captures) AS first_captured,
       (SELECT max(captured_at) FROM captures) AS last_captured
"""

RECENT_SQL = """
SELECT id, title, url, site, site_name, published, captured_at, version FROM articles WHERE latest = 1
ORDER BY sort_date DESC, id LIMIT 8
"""


async def archive_summary(db: Any) -> dict[str, Any]:
    """Totals, sites and the most recent articles, read through datasette's database object, and when
    they were read (a kept home page says so once the index has changed)."""
    read_at = datetime.now(UTC)
    totals = dict((await db.execute(TOTALS_SQL)).first())
    sites = []
    for row in (await db.execute(SITES_SQL)).rows:
        site = dict(row)
        site["first_published_h"] = human_date(site["first_published"], with_time=False)
        site["last_published_h"] = human_date(site["last_published"], with_time=False)
        site["last_crawl_h"] = human_date(site["last_finished"] or site["last_crawl"])
        sites.append(site)
    recent = [
        {**dict(row), "published_h": human_date(row["published"], with_time=False)}
        for row in (await db.execute(RECENT_SQL)).rows
    ]
    for key in ("first_published", "last_published", "first_captured", "last_captured"):
        totals[key + "_h"] = human_date(totals[key], with_time=key.endswith("captured"))
    as_of = read_at.strftime("%H:%M:%S UTC (%Y-%m-%d)")
    return {"totals": totals, "sites": sites, "recent": recent, "as_of": as_of}
