"""Article metadata from JSON-LD and meta tags, the cheap and precise sources; trafilatura's heuristics
only for a missing title (its author heuristics cost a quarter of an extraction, so authors come from
structured data and rel=author links only). Dates keep their time zone offset (trafilatura drops it)."""

from __future__ import annotations

import json
import re
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


def extract_metadata(tree: HtmlElement, url: str | None = None) -> Metadata:
    """Metadata of a parsed page; never raises on odd values."""
    meta = _meta_tags(tree)

    def first(*keys: str) -> str | None:
        for key in keys:
            if meta.get(key):
                return _clean(meta[key][0])
        return None

    md = Metadata()
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

    md.title = first("og:title", "twitter:title") or _clean(article.get("headline"))
    if not md.title:
        md.title = _clean(extract_title(tree))
    md.authors = _names(article.get("author")) if article.get("author") else []
    if not md.authors:
        for key in ("author", "article:author", "parsely-author", "dc.creator", "sailthru.author"):
            md.authors = [a for a in _names(meta.get(key, [])) if not a.startswith(("http", "www."))]
            if md.authors:
                break
    if not md.authors:
        md.authors = [a for a in (_clean(x.text_content()) for x in tree.xpath("//a[@rel='author']")) if a][
            :5
        ]
        md.authors = list(dict.fromkeys(md.authors))
    md.published = iso_date(article.get("datePublished")) or iso_date(
        first(
            "article:published_time",
            "og:published_time",
            "datepublished",
            "date",
            "pubdate",
            "publish-date",
            "dc.date",
            "dcterms.created",
            "sailthru.date",
            "parsely-pub-date",
        )
    )
    if not md.published:
        times = tree.xpath("//time[@datetime]/@datetime")
        md.published = iso_date(times[0]) if times else None
    md.modified = iso_date(article.get("dateModified")) or iso_date(
        first("article:modified_time", "og:updated_time", "datemodified", "last-modified", "dcterms.modified")
    )
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
    md.description = first("og:description", "description", "twitter:description") or _clean(
        article.get("description")
    )
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
