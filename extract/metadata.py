"""Article metadata from JSON-LD and meta tags, the cheap and precise sources; trafilatura's heuristics
only for a missing title (its author heuristics cost a quarter of an extraction, so authors come from
structured data and rel=author links only). Dates keep their time zone offset (trafilatura drops it)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml.html import HtmlElement
from trafilatura.metadata import extract_title

_ARTICLE_TYPES = re.compile(r"(Article|BlogPosting|Report|NewsArticle|Posting|Review)$")
_SPACE = re.compile(r"\s+")


@dataclass
class Metadata:
    title: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    modified: str | None = None
    site_name: str | None = None
    language: str | None = None
    description: str | None = None
    section: str | None = None
    tags: list[str] = field(default_factory=list)
    image: str | None = None
    canonical_url: str | None = None
    accessible_for_free: bool | None = None


def _clean(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if v), None)
    if isinstance(value, dict):
        value = value.get("name") or value.get("url") or value.get("@id")
    if value is None or isinstance(value, bool):
        return None
    text = _SPACE.sub(" ", str(value)).strip()
    return text or None


def iso_date(value: Any) -> str | None:
    """ISO 8601, keeping the offset when the source has one; None when it is not a date."""
    text = _clean(value)
    if not text:
        return None
    candidate = text.replace(" ", "T", 1) if re.match(r"\d{4}-\d\d-\d\d \d", text) else text
    candidate = re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", candidate)
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if len(candidate) <= 10:
        return parsed.date().isoformat()
    return parsed.isoformat()


def _json_ld_objects(tree: HtmlElement) -> list[dict]:
    """Every JSON-LD object on the page, @graph and lists flattened; broken JSON is skipped."""
    out: list[dict] = []
    for script in tree.iter("script"):
        if (script.get("type") or "").lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(reversed(item))
            elif isinstance(item, dict):
                out.append(item)
                if isinstance(item.get("@graph"), list):
                    stack.extend(reversed(item["@graph"]))
    return out


def _types(obj: dict) -> list[str]:
    t = obj.get("@type")
    return [str(x) for x in t] if isinstance(t, list) else [str(t)] if t else []


def _names(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        name = _clean(item.get("name") if isinstance(item, dict) else item)
        if name and not name.startswith("http") and name not in names:
            names.append(name)
    return names


def _meta_tags(tree: HtmlElement) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        content = meta.get("content")
        if key and content and content.strip():
            tags.setdefault(key, []).append(content.strip())
    return tags


def _split_keywords(values: list[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        for part in re.split(r"[,;]", value) if len(values) == 1 else [value]:
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


#: The meta tags each field is read from, in the order the full pipeline tries them (a learned template
#: names one of them: ``extract.template_meta``).
TITLE_KEYS = ("og:title", "twitter:title")
AUTHOR_KEYS = ("author", "article:author", "parsely-author", "dc.creator", "sailthru.author")
PUBLISHED_KEYS = ("article:published_time", "og:published_time", "datepublished", "date", "pubdate",
                  "publish-date", "dc.date", "dcterms.created", "sailthru.date", "parsely-pub-date")
MODIFIED_KEYS = ("article:modified_time", "og:updated_time", "datemodified", "last-modified",
                 "dcterms.modified")
DESCRIPTION_KEYS = ("og:description", "description", "twitter:description")
#: The JSON-LD article field of each learnable field.
LD_FIELDS = {"title": "headline", "authors": "author", "published": "datePublished",
             "modified": "dateModified", "description": "description"}


@dataclass
class Sources:
    """A page's structured metadata, read once: its meta tags, its JSON-LD article and publisher name."""

    meta: dict[str, list[str]]
    article: dict
    publisher_name: str | None


def page_sources(tree: HtmlElement) -> Sources:
    """The meta tags and JSON-LD of a parsed page (before its scripts are stripped)."""
    article: dict = {}
    publisher_name = None
    for obj in _json_ld_objects(tree):
        types = _types(obj)
        if not article and any(_ARTICLE_TYPES.search(t) for t in types):
            article = obj
        if (
            any(t in ("Organization", "NewsMediaOrganization", "WebSite") for t in types)
            and not publisher_name
        ):
            publisher_name = _clean(obj.get("name"))
    return Sources(_meta_tags(tree), article, publisher_name)


def meta_value(sources: Sources, field_name: str, key: str) -> Any:
    """One meta tag's value as ``field_name`` takes it (names for authors, ISO dates, clean text)."""
    values = sources.meta.get(key)
    if not values:
        return [] if field_name == "authors" else None
    if field_name == "authors":
        return [a for a in _names(values) if not a.startswith(("http", "www."))]
    if field_name in ("published", "modified"):
        return iso_date(_clean(values[0]))
    return _clean(values[0])


def ld_value(sources: Sources, field_name: str) -> Any:
    """The JSON-LD article's value for ``field_name``, as the field takes it."""
    value = sources.article.get(LD_FIELDS[field_name])
    if field_name == "authors":
        return _names(value) if value else []
    if field_name in ("published", "modified"):
        return iso_date(value)
    return _clean(value)


def rel_authors(tree: HtmlElement) -> list[str]:
    """Names in rel=author links (at most five, first occurrence each)."""
    names = [a for a in (_clean(x.text_content()) for x in tree.xpath("//a[@rel='author']")) if a][:5]
    return list(dict.fromkeys(names))


def extract_metadata(tree: HtmlElement, url: str | None = None, *, sources: Sources | None = None,
                     known: Mapping[str, Any] | None = None) -> Metadata:
    """Metadata of a parsed page; never raises on odd values. Fields in ``known`` (read from a site
    template's learned sources) are taken as given, and their own, costlier, search is skipped."""
    if sources is None:
        sources = page_sources(tree)
    known = known or {}
    meta, article, publisher_name = sources.meta, sources.article, sources.publisher_name

    def first(*keys: str) -> str | None:
        for key in keys:
            if meta.get(key):
                return _clean(meta[key][0])
        return None

    md = Metadata()
    if "title" in known:
        md.title = known["title"]
    else:
        md.title = first(*TITLE_KEYS) or ld_value(sources, "title")
        if not md.title:
            md.title = _clean(extract_title(tree))
    if "authors" in known:
        md.authors = list(known["authors"])
    else:
        md.authors = ld_value(sources, "authors")
        for key in AUTHOR_KEYS:
            if md.authors:
                break
            md.authors = meta_value(sources, "authors", key)
        if not md.authors:
            md.authors = rel_authors(tree)
    if "published" in known:
        md.published = known["published"]
    else:
        md.published = ld_value(sources, "published") or iso_date(first(*PUBLISHED_KEYS))
        if not md.published:
            times = tree.xpath("//time[@datetime]/@datetime")
            md.published = iso_date(times[0]) if times else None
    md.modified = known["modified"] if "modified" in known else (
        ld_value(sources, "modified") or iso_date(first(*MODIFIED_KEYS)))
    publisher = article.get("publisher")
    md.site_name = (
        first("og:site_name", "application-name")
        or _clean(publisher.get("name") if isinstance(publisher, dict) else None)
        or publisher_name
    )
    lang = (
        tree.get("lang")
        or tree.get("xml:lang")
        or first("og:locale", "content-language", "language")
        or _clean(article.get("inLanguage"))
    )
    md.language = re.split(r"[-_]", lang.strip())[0].lower() if lang and lang.strip() else None
    md.description = known["description"] if "description" in known else (
        first(*DESCRIPTION_KEYS) or ld_value(sources, "description"))
    md.section = first("article:section") or _clean(article.get("articleSection"))
    md.tags = _split_keywords(
        meta.get("article:tag", []) or meta.get("news_keywords", []) or meta.get("keywords", [])
    )
    if not md.tags and article.get("keywords"):
        kw = article["keywords"]
        md.tags = _split_keywords([kw] if isinstance(kw, str) else [str(k) for k in kw if k])
    md.image = first("og:image", "og:image:url", "twitter:image") or _clean(article.get("image"))
    canonical = tree.xpath("//link[@rel='canonical']/@href")
    md.canonical_url = (
        (canonical[0].strip() if canonical and canonical[0].strip() else None) or first("og:url") or url
    )
    free = article.get("isAccessibleForFree")
    if isinstance(free, str):
        free = {"true": True, "false": False}.get(free.strip().lower())
    md.accessible_for_free = free if isinstance(free, bool) else None
    return md


_CANONICAL = re.compile(rb"""<link[^>]+rel=["']?canonical["']?[^>]*>""", re.IGNORECASE)
_HREF = re.compile(rb"""href=["']?([^"'\s>]+)""", re.IGNORECASE)


def canonical_link(data: bytes) -> str | None:
    """The canonical URL declared in raw page bytes, without parsing the page (for local files)."""
    tag = _CANONICAL.search(data[:200_000])
    href = _HREF.search(tag.group(0)) if tag else None
    return href.group(1).decode("utf-8", "replace") if href else None
