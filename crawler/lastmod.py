"""Which child sitemaps a crawl fetches, from the ``lastmod`` their sitemap index gives them.

A publisher's sitemap index lists hundreds of sitemaps (one per month over twenty years), each with the
date it last changed. A child last changed before anything the crawl wants cannot hold it, so it is not
fetched at all:

- with a date cut-off (the seed's ``since`` or ``--since``): a child last modified before the cut-off
  lists only articles from before it;
- on a re-crawl: a child last modified before the copy that an earlier *finished* crawl archived (with a
  cut-off no later than this crawl's) was read whole then, so nothing in it is new — unless it changed
  within ``recrawl_within``, where articles are still being re-checked.

Both comparisons allow a safety margin (date-only lastmods, times without a zone, clock skew). Children
without a lastmod are always fetched, and an index whose fetched children list entries newer than their
lastmod (``lies``) is not trusted: its skipped children are fetched after all.

Request priorities follow recency (``priority``), so a crawl without a cut-off reads the newest children
and their articles first and a crawl stopped early (``max_pages``, Ctrl-C) holds the most recent ones.
No Scrapy here: plain values in, plain values out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

__all__ = ["LastmodGate", "finished_crawls", "priority", "SITEMAP_PRIORITY"]

#: Sitemaps named by the seed or robots.txt, and children without a lastmod: before everything dated.
SITEMAP_PRIORITY = 15
_OLDEST_BUCKET = 16


def priority(date: datetime | None, now: datetime) -> int:
    """A request priority from a date: 0 for today (and undated), one step lower for each doubling of
    age (1, 3, 7, 15, 31 days...): newest first, in few distinct priorities (a disk queue per priority)."""
    if date is None:
        return 0
    days = max((now - date).total_seconds() / 86400, 0.0)
    return -min(int(math.log2(days + 1)), _OLDEST_BUCKET)


def _compatible(earlier: datetime | None, since: datetime | None) -> bool:
    """Whether a crawl with cut-off ``earlier`` fetched everything a crawl with ``since`` wants."""
    return earlier is None or (since is not None and earlier <= since)


def finished_crawls(db: Any, site: str) -> dict[int, datetime | None]:
    """The crawls of ``site`` that finished (not interrupted, not stopped by a page limit), with the date
    cut-off each used (None: none). Empty for an index written before crawls kept their cut-off."""
    from crawler.discovery import parse_date

    try:
        rows = db.execute("SELECT id, since FROM crawls WHERE site = ? AND status = 'finished'", [site])
        return {int(row[0]): parse_date(row[1]) for row in rows.fetchall()}
    except Exception:  # noqa: BLE001 - an older schema or no crawls table: no history to lean on
        return {}


@dataclass
class LastmodGate:
    """Decides, child by child, whether a sitemap listed with a lastmod must be fetched; keeps the skipped
    children of each index so that they can be fetched after all if the index turns out to lie."""

    now: datetime
    since: datetime | None = None
    margin: timedelta = timedelta(days=2)
    within: timedelta = timedelta(days=3)
    #: url -> (captured_at, crawl_id) of our latest full copy of that URL, if any
    copy_of: Callable[[str], tuple[datetime, int | None] | None] = lambda url: None
    crawls: Mapping[int, datetime | None] = field(default_factory=dict)
    enabled: bool = True
    listed: int = 0
    skipped: int = 0
    lies: int = 0
    _held: dict[str, list[tuple[str, datetime | None]]] = field(default_factory=dict)
    _distrusted: set[str] = field(default_factory=set)

    def skip_reason(self, url: str, lastmod: datetime | None) -> str | None:
        """Why a child listed with ``lastmod`` need not be fetched, or None if it must be."""
        if not self.enabled or lastmod is None:
            return None
        changed = lastmod + self.margin
        if self.since is not None and changed < self.since:
            return f"lastmod {lastmod:%Y-%m-%d} is before the cut-off {self.since:%Y-%m-%d}"
        copy = self.copy_of(url)
        if copy is not None and changed < self.now - self.within:
            captured, crawl_id = copy
            trusted = crawl_id in self.crawls and _compatible(self.crawls[crawl_id], self.since)
            if trusted and changed < captured:
                return f"lastmod {lastmod:%Y-%m-%d}: unchanged since our copy of {captured:%Y-%m-%d}"
        return None

    def admit(self, index: str, url: str, lastmod: datetime | None) -> str | None:
        """Count a child of ``index``; hold it back (returning why) if it need not be fetched."""
        self.listed += 1
        reason = None if index in self._distrusted else self.skip_reason(url, lastmod)
        if reason is not None:
            self.skipped += 1
            self._held.setdefault(index, []).append((url, lastmod))
        return reason

    def belies(self, listed_lastmod: datetime | None, entry_date: datetime | None) -> bool:
        """Whether a child's entry dated ``entry_date`` is newer than the child's listed lastmod allows."""
        return (listed_lastmod is not None and entry_date is not None
                and entry_date > listed_lastmod + self.margin)

    def distrust(self, index: str) -> list[tuple[str, datetime | None]] | None:
        """The index lied about a child: its held-back children, to be fetched after all (None if it was
        already found out)."""
        if index in self._distrusted:
            return None
        self._distrusted.add(index)
        self.lies += 1
        released = self._held.pop(index, [])
        self.skipped -= len(released)
        return released
