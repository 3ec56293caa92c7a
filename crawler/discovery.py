"""Finding article URLs: sitemaps (indexes, gzipped, Google News), RSS/Atom feeds, and link heuristics.

Pure functions over bytes and strings, so they are tested without a crawl.
"""

from __future__ import annotations

import calendar
import gzip
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from urllib.parse import urlsplit

import feedparser
from lxml import etree

__all__ = ["Discovered", "SitemapTooLarge", "iter_sitemap", "parse_sitemap", "parse_feed",
           "looks_like_article", "parse_date", "date_from_url"]


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


class SitemapTooLarge(ValueError):
    """A gzipped sitemap that decompresses past the size limit (DOWNLOAD_MAXSIZE): a zip bomb, or a
    sitemap no site should serve."""


class _Capped(io.RawIOBase):
    """A read-only stream that raises SitemapTooLarge once more than ``limit`` bytes were read from it."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self.inner, self.limit, self.seen = inner, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        self.seen += len(data)
        if self.limit and self.seen > self.limit:
            raise SitemapTooLarge(f"more than {self.limit} bytes once decompressed")
        buffer[: len(data)] = data
        return len(data)


def _stream(body: bytes, max_size: int) -> IO[bytes]:
    """The sitemap's XML as a stream: gzip bytes (whatever the file is called) are decompressed as they
    are read, so a 50 MB sitemap never exists twice in memory; at most ``max_size`` bytes (0: no limit)."""
    raw = io.BytesIO(body)
    if body[:2] == b"\x1f\x8b":
        return io.BufferedReader(_Capped(gzip.GzipFile(fileobj=raw, mode="rb"), max_size))
    return raw


_FEED_ROOTS = ("rss", "feed", "RDF")
# Events for these elements only (in any namespace): the root, and the entries under it.
_TAGS = [f"{{*}}{name}" for name in ("sitemapindex", "urlset", "url", "sitemap", *_FEED_ROOTS)]


def iter_sitemap(body: bytes, max_size: int = 0) -> tuple[str, Iterator[Discovered]]:
    """("sitemapindex" | "urlset" | "feed" | "invalid", entries), read streaming: each ``<url>`` or
    ``<sitemap>`` is turned into a Discovered and dropped from the tree, so memory stays flat over a
    sitemap of 50,000 entries or a million. news:publication_date becomes ``published``. A feed given as a
    sitemap (the sitemap protocol allows RSS and Atom) is read whole with feedparser: feeds are small.

    The entries are a generator: a document that breaks off midway yields what came before the break
    (as the whole-tree parser with ``recover`` did) and raises nothing; gzip errors and SitemapTooLarge
    are raised from the iteration."""
    events = etree.iterparse(_stream(body, max_size), events=("start", "end"), tag=_TAGS, recover=True,
                             resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True,
                             remove_pis=True)
    try:
        _, root = next(events)
    except (StopIteration, etree.XMLSyntaxError):
        return "invalid", iter(())
    kind = _local(root.tag) if root.getparent() is None else "invalid"
    if kind in _FEED_ROOTS:
        return "feed", iter(parse_feed(_stream(body, max_size).read()))
    if kind not in ("sitemapindex", "urlset"):
        return "invalid", iter(())
    return kind, _entries(events, root)


def _entries(events: Iterator[tuple[str, Any]], root: Any) -> Iterator[Discovered]:
    try:
        for event, element in events:
            if event != "end" or element.getparent() is not root:
                continue
            entry = _entry(element)
            if entry is not None:
                yield entry
            element.clear()
            while element.getprevious() is not None:  # the cleared siblings before it, too
                del root[0]
    except etree.XMLSyntaxError:
        return


def _entry(element: Any) -> Discovered | None:
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
    return Discovered(loc, parse_date(published), parse_date(lastmod), title) if loc else None


def parse_sitemap(body: bytes) -> tuple[str, list[Discovered]]:
    """``iter_sitemap`` over bytes (gzip or not), with the entries in a list: for small documents."""
    kind, entries = iter_sitemap(body)
    return kind, list(entries)


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
