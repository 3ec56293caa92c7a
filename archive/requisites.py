"""What a page needs to look as it did: the style sheets, fonts, images (and, on request, scripts) that its
HTML and CSS name. Pure parsing, no Scrapy: the crawler schedules what this finds, and the reading room
uses the same URL rules when it rewrites an archived page to point at the archive.

The rules follow Heritrix's and Browsertrix's requisite extraction (see ``fidelity.md``): ``<link rel>``
matched by token (so ``preload as=font`` and multi-token values count, which wget misses), every ``srcset``
candidate up to a cap, the lazy-load ``data-*`` attributes news sites use, and ``url()`` / ``@import`` in
``style=``, ``<style>`` and fetched style sheets.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from lxml import etree

__all__ = ["Requisite", "PageRequisites", "page_requisites", "html_requisites", "css_requisites",
           "css_references", "srcset_urls", "resolve", "not_an_image", "STYLESHEET", "IMAGE", "FONT",
           "SCRIPT", "MAX_SRCSET", "LAZY_SRC", "LAZY_SRCSET", "PAGEINFO_PREFIX"]

# Resource types, spelled as Chromium's DevTools protocol and Browsertrix's WARC-Resource-Type spell them.
STYLESHEET, IMAGE, FONT, SCRIPT, OTHER = "stylesheet", "image", "font", "script", "other"

#: The target URI prefix of the record that lists what a page needed (crawler.pageinfo, Browsertrix's).
PAGEINFO_PREFIX = "urn:pageinfo:"

#: ``srcset`` candidates fetched per attribute (Heritrix and Browsertrix fetch all; 8 bounds a CDN's 20).
MAX_SRCSET = 8

_ICON_RELS = {"icon", "apple-touch-icon", "apple-touch-icon-precomposed", "mask-icon"}
_PRELOAD_AS = {"style": STYLESHEET, "font": FONT, "image": IMAGE, "script": SCRIPT}
# Heritrix's 2023 list of lazy-load attributes (ExtractorHTML) plus data-lazy-srcset.
LAZY_SRC = ("data-src", "data-lazy-src", "data-lazy", "data-original", "data-full-src", "data-src-small",
             "data-src-medium")
LAZY_SRCSET = ("data-srcset", "data-lazy-srcset", "data-original-set")
_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".svg", ".ico", ".bmp")
_FONT_EXTENSIONS = (".woff2", ".woff", ".ttf", ".otf", ".eot")
_SCHEMES = ("http", "https")

_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_CSS_IMPORT = re.compile(r"""@import\s+(?:url\(\s*)?(?:"([^"]*)"|'([^']*)'|([^\s;)'"]+))""", re.I)
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)""", re.I)


@dataclass(frozen=True)
class Requisite:
    """One resource a page or style sheet refers to: its absolute URL and what kind of resource it is."""

    url: str
    resource_type: str


def resolve(base: str, reference: str) -> str | None:
    """The absolute http(s) URL a reference in a page or style sheet stands for, without its fragment;
    None for ``data:``, ``javascript:``, ``blob:``, fragment-only and empty references."""
    reference = reference.strip()
    if not reference or reference.startswith("#"):
        return None
    try:
        absolute = urljoin(base, reference)
        parts = urlsplit(absolute)
    except ValueError:  # e.g. an invalid IPv6 host
        return None
    if parts.scheme not in _SCHEMES or not parts.hostname:
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def srcset_urls(value: str, limit: int = MAX_SRCSET) -> list[str]:
    """The candidate URLs of a ``srcset`` (HTML's parsing rules: a URL is cut at whitespace, and a comma
    ends a candidate only after its URL, so ``w_100,h_50`` in a CDN URL stays whole)."""
    urls: list[str] = []
    position, length = 0, len(value)
    while position < length and len(urls) < limit:
        while position < length and (value[position].isspace() or value[position] == ","):
            position += 1
        start = position
        while position < length and not value[position].isspace():
            position += 1
        url = value[start:position]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth = 0  # skip descriptors up to the comma that ends the candidate (parentheses nest)
            while position < length and (value[position] != "," or depth):
                depth += {"(": 1, ")": -1}.get(value[position], 0)
                position += 1
        if url:
            urls.append(url)
    return urls


def _guess_type(url: str, default: str = IMAGE) -> str:
    path = urlsplit(url).path.lower()
    if path.endswith(_FONT_EXTENSIONS):
        return FONT
    if path.endswith(".css"):
        return STYLESHEET
    return default


def css_references(text: str) -> Iterator[tuple[str, str]]:
    """``(reference, resource type)`` for every ``@import`` and ``url()`` in CSS text, in order."""
    text = _CSS_COMMENT.sub("", text)
    imported: set[int] = set()
    for match in _CSS_IMPORT.finditer(text):
        imported.add(match.start())
        yield next(g for g in match.groups() if g is not None), STYLESHEET
    for match in _CSS_URL.finditer(text):
        before = text.rfind("@import", 0, match.start())
        if before >= 0 and before in imported and ";" not in text[before:match.start()]:
            continue  # already yielded as the @import's URL
        reference = next(g for g in match.groups() if g is not None)
        yield reference, _guess_type(reference)


def css_requisites(text: str, base_url: str) -> list[Requisite]:
    """What a style sheet needs: imported style sheets, fonts, background images (absolute, deduplicated)."""
    return _unique(Requisite(url, kind) for reference, kind in css_references(text)
                   if (url := resolve(base_url, reference)) is not None)


def _looks_like_image_url(value: str) -> bool:
    value = value.strip()
    if not value.startswith(("http://", "https://", "/", "./", "../")):
        return False
    return urlsplit(value).path.lower().endswith(_IMAGE_EXTENSIONS)


def _element_references(element: etree._Element, scripts: bool) -> Iterator[tuple[str, str]]:
    tag = element.tag if isinstance(element.tag, str) else ""
    attrib = element.attrib
    if tag == "link":
        rels = set((attrib.get("rel") or "").lower().split())
        href = attrib.get("href") or ""
        as_type = _PRELOAD_AS.get((attrib.get("as") or "").strip().lower())
        if "stylesheet" in rels:
            yield href, STYLESHEET
        elif rels & _ICON_RELS:
            yield href, IMAGE
        elif "modulepreload" in rels and scripts:
            yield href, SCRIPT
        elif rels & {"preload", "prefetch"} and as_type and (as_type != SCRIPT or scripts):
            if href:
                yield href, as_type
            for url in srcset_urls(attrib.get("imagesrcset") or ""):
                yield url, IMAGE
        return
    if tag == "script":
        if scripts and attrib.get("src"):
            yield attrib["src"], SCRIPT
        return
    if tag in ("img", "source", "input"):
        if tag != "input" or (attrib.get("type") or "").lower() == "image":
            if attrib.get("src") and not (tag == "source" and element.getparent() is not None
                                          and element.getparent().tag in ("video", "audio")):
                yield attrib["src"], IMAGE
            for url in srcset_urls(attrib.get("srcset") or ""):
                yield url, IMAGE
    if tag == "video" and attrib.get("poster"):
        yield attrib["poster"], IMAGE
    if tag in ("body", "table", "td", "th") and attrib.get("background"):
        yield attrib["background"], IMAGE
    for name, value in attrib.items():
        if not name.startswith("data-") or not value:
            continue
        if name in LAZY_SRCSET:
            for url in srcset_urls(value):
                yield url, IMAGE
        elif name in LAZY_SRC or _looks_like_image_url(value):
            yield value, IMAGE
    style = attrib.get("style")
    if style:
        yield from css_references(style)


#: One parser per encoding: lxml's plain HTML parser (lxml.html's looks up a Python class for every element,
#: a third of the work here), reused (parsers are not thread-safe: one set per thread).
_PARSERS = threading.local()

#: The elements looked at by their tag (``<style>`` for its CSS, the rest by ``_element_references``); any
#: other only for a ``style`` or ``data-*`` attribute (most elements have neither, and are passed over on
#: their attribute names alone).
_TAGS = frozenset({"link", "script", "img", "source", "input", "video", "body", "table", "td", "th", "style"})
_TEXT = etree.XPath("string()")


def _candidates(root: etree._Element) -> Iterator[etree._Element]:
    for element in root.iter(etree.Element):
        if element.tag in _TAGS:
            yield element
            continue
        names = element.keys()
        if names and ("style" in names or any(name.startswith("data-") for name in names)):
            yield element


def _parser(encoding: str | None) -> etree.HTMLParser:
    parsers = getattr(_PARSERS, "by_encoding", None)
    if parsers is None:
        parsers = _PARSERS.by_encoding = {}
    parser = parsers.get(encoding)
    if parser is None:
        parser = parsers[encoding] = etree.HTMLParser(encoding=encoding) if encoding else etree.HTMLParser()
    return parser


def _document(body: bytes, encoding: str | None) -> etree._Element | None:
    """The page's tree (as ``lxml.html.document_fromstring`` parses it), or None where it has none."""
    try:
        return etree.fromstring(body, _parser(encoding)) if body.strip() else None
    except (etree.ParserError, etree.XMLSyntaxError, ValueError, LookupError):
        return None


@dataclass(frozen=True)
class PageRequisites:
    """What a page names, and the ``/favicon.ico`` a browser asks its host for when it names no icon."""

    named: list[Requisite]
    favicon: Requisite | None


def page_requisites(body: bytes, page_url: str, *, encoding: str | None = None,
                    scripts: bool = False) -> PageRequisites:
    """``html_requisites`` and, for a page with no ``<link rel=icon>`` (or apple-touch-icon, mask-icon),
    the implicit ``/favicon.ico`` at its origin (the page's own, not its ``<base>``), as browsers fetch it.
    ``favicon`` is None for a page that cannot be parsed, is not http(s), or names an icon."""
    root = _document(body, encoding)
    if root is None:
        return PageRequisites([], None)
    named = _root_requisites(root, page_url, scripts)
    favicon = None
    if not any(_ICON_RELS & set((link.get("rel") or "").lower().split()) for link in root.iter("link")):
        parts = urlsplit(page_url)
        if parts.scheme in _SCHEMES and parts.hostname:
            favicon = Requisite(urlunsplit((parts.scheme, parts.netloc, "/favicon.ico", "", "")), IMAGE)
    return PageRequisites(named, favicon)


def html_requisites(body: bytes, base_url: str, *, encoding: str | None = None,
                    scripts: bool = False) -> list[Requisite]:
    """What an HTML page needs to look as it did, in a useful order (style sheets first: they change the
    whole page; then the rest as the document names it), absolute and deduplicated."""
    root = _document(body, encoding)
    if root is None:
        return []
    return _root_requisites(root, base_url, scripts)


def _root_requisites(root: etree._Element, base_url: str, scripts: bool) -> list[Requisite]:
    base = base_url
    for element in root.iter("base"):
        href = element.get("href")
        if href:
            base = urljoin(base_url, href.strip())
            break
    found: list[Requisite] = []
    for element in _candidates(root):
        if element.tag == "style":
            references: Iterable[tuple[str, str]] = css_references(_TEXT(element))
        else:
            references = _element_references(element, scripts)
        for reference, kind in references:
            url = resolve(base, reference)
            if url is not None:
                found.append(Requisite(url, kind))
    found.sort(key=lambda r: r.resource_type != STYLESHEET)  # stable: document order otherwise
    return _unique(found)


def _unique(requisites: Iterable[Requisite]) -> list[Requisite]:
    seen: set[str] = set()
    out = []
    for requisite in requisites:
        if requisite.url not in seen:
            seen.add(requisite.url)
            out.append(requisite)
    return out


_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"\x00\x00\x01\x00", b"BM")


def not_an_image(body: bytes, content_type: str | None) -> str | None:
    """Why bytes fetched as an image are not one (a soft-404 page, a broken file), or None. Known image
    signatures and SVG count; the archive keeps the bytes as received either way."""
    head = body[:512]
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return None
    if head[4:8] == b"ftyp":  # AVIF, HEIC
        return None
    if b"<svg" in body[:4096].lower():
        return None
    declared = (content_type or "").split(";")[0].strip() or "no Content-Type"
    if not body:
        return f"empty body ({declared})"
    sample = head[:16].decode("latin-1").encode("unicode_escape").decode("ascii")
    return f"not an image: {declared}, starts with '{sample}'"
