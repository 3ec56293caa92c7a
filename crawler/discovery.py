"""Finding article URLs: sitemaps (indexes, gzipped, Google News), RSS/Atom feeds, and link heuristics.

Pure functions over bytes and strings, so they are tested without a crawl.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import feedparser
from lxml import etree

__all__ = ["Discovered", "parse_sitemap", "parse_feed", "looks_like_article", "parse_date", "date_from_url"]


@dataclass(frozen=True)
class Discovered:
    """A URL found by discovery, with the dates the source gave for it."""

    url: str
    published: datetime | None = None
    lastmod: datetime | None = None
    title: str | None = None

    @property
    def date(self) -> datetime | None:
        return self.published or self.lastmod


def parse_date(text: str | None) -> datetime | None:
    """ISO 8601 / W3C datetime as sitemaps write them; a date without a zone is taken as UTC."""
    if not text:
        return None
    value = text.strip().replace("Z", "+00:00")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.strptime(value[:10], "%Y-%m-%d")
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def parse_sitemap(body: bytes) -> tuple[str, list[Discovered]]:
    """("sitemapindex" | "urlset" | "invalid", entries); news:publication_date becomes ``published``."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        return "invalid", []
    if root is None:
        return "invalid", []
    kind = _local(root.tag)
    if kind not in ("sitemapindex", "urlset"):
        return "invalid", []
    entries: list[Discovered] = []
    for element in root:
        if _local(element.tag) not in ("url", "sitemap"):
            continue
        loc = lastmod = published = title = None
        for child in element.iter():
            name = _local(child.tag)
            text = (child.text or "").strip()
            if name == "loc" and loc is None:
                loc = text
            elif name == "lastmod":
                lastmod = text
            elif name == "publication_date":
                published = text
            elif name == "title" and _local(getattr(child.getparent(), "tag", None)) == "news":
                title = text
        if loc:
            entries.append(Discovered(loc, parse_date(published), parse_date(lastmod), title))
    return kind, entries


def parse_feed(body: bytes) -> list[Discovered]:
    """Entries of an RSS or Atom feed, with their published (or updated) dates."""
    parsed = feedparser.parse(body)
    entries: list[Discovered] = []
    for entry in parsed.entries:
        link = entry.get("link")
        if not link:
            continue
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        published = datetime(*stamp[:6], tzinfo=UTC) if stamp else None
        entries.append(Discovered(link, published, None, entry.get("title")))
    return entries


_NOT_ARTICLE = re.compile(
    r"/(tag|tags|topic|topics|author|authors|category|categories|section|sections|search|page|login|"
    r"register|subscribe|account|newsletter|newsletters|about|contact|privacy|terms|cookies|help|"
    r"feed|rss|sitemap|video|videos|gallery|galleries|live-tv|weather)(/|$|\?)",
    re.IGNORECASE,
)
_NOT_ARTICLE_EXT = re.compile(r"\.(jpe?g|png|gif|webp|svg|css|js|ico|xml|rss|json|zip|mp3|mp4|woff2?)$", re.I)
_DATE_IN_PATH = re.compile(r"/(19|20)\d\d[/-](0?[1-9]|1[0-2])([/-]|$)")


def looks_like_article(url: str) -> bool:
    """Heuristics for links found on home and section pages: an article has a dated path, or a long slug
    (several hyphenated words, or a numeric id); navigation, tag and author pages do not."""
    parts = urlsplit(url)
    path = parts.path
    if not path or path == "/" or _NOT_ARTICLE.search(path) or _NOT_ARTICLE_EXT.search(path):
        return False
    if _DATE_IN_PATH.search(path):
        return True
    last = [segment for segment in path.split("/") if segment]
    if not last:
        return False
    slug = re.sub(r"\.(s?html?|php|aspx?)$", "", last[-1])
    if slug.count("-") >= 3 or slug.count("_") >= 3:
        return True
    return bool(re.search(r"\d{5,}", slug)) and len(last) >= 2


_YMD_IN_PATH = re.compile(r"/((?:19|20)\d\d)[/-](0?[1-9]|1[0-2])(?:[/-](0?[1-9]|[12]\d|3[01]))?(?=[/-]|$)")


def date_from_url(url: str) -> datetime | None:
    """The *latest* moment a dated path allows (``/2026/10/`` → end of 31 October 2026, UTC), so a date
    cut-off can skip section links without fetching them and never skips an article it should keep."""
    match = _YMD_IN_PATH.search(urlsplit(url).path)
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    day = int(match.group(3)) if match.group(3) else calendar.monthrange(year, month)[1]
    try:
        start = datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        return None
    return start + timedelta(days=1) - timedelta(microseconds=1)
