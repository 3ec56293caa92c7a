"""Where a site's title, byline, dates and lead live, learned from the teacher pages of its template.

On a teacher page (full pipeline), ``observe_metadata`` lists every source that could give each field —
the meta tags and JSON-LD field the full pipeline reads, rel=author links, and elements of the page
named by their descriptor chain as the body container is (headings for the title, ``<time datetime>``
for the dates, short paragraphs for the lead) — with the value each gives. ``learn_metadata`` keeps, per
field, the structured source and the element that agree with the teacher's answer on most pages
(structured first: it is what the full pipeline reads). A site whose teacher title is the same on every
page (the site's name, a section label: the heuristics picked the wrong heading) learns instead the
heading that the page's ``<title>`` contains, page after page. ``read_learned`` then reads a fitted page's
fields from those sources only; a field whose source is missing or implausible on the page is left to the
full metadata extraction (``extract.metadata.extract_metadata(known=...)``), so a page is never worse off
than without the template.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from lxml.html import HtmlElement

from .metadata import (
    AUTHOR_KEYS,
    DESCRIPTION_KEYS,
    MODIFIED_KEYS,
    PUBLISHED_KEYS,
    TITLE_KEYS,
    Metadata,
    Sources,
    iso_date,
    ld_value,
    meta_value,
    rel_authors,
)
from .template import _body, _chain, _find_containers

__all__ = ["FIELDS", "observe_metadata", "learn_metadata", "read_learned", "describe_source",
           "describe_learned"]

FIELDS = ("title", "authors", "published", "modified", "description")
_META_KEYS = {"title": TITLE_KEYS, "authors": AUTHOR_KEYS, "published": PUBLISHED_KEYS,
              "modified": MODIFIED_KEYS, "description": DESCRIPTION_KEYS}
#: Elements a field may be read from (the element's text; for dates its ``datetime`` attribute).
_DOM_TAGS = {"title": ("h1", "h2", "h3"), "published": ("time",), "modified": ("time",),
             "description": ("p", "h2", "h3", "h4")}
MAX_BYLINE = 120  # characters of a byline element
MAX_CHILDREN = 6  # a byline has a few child elements at most (never a container's many)
_BY = re.compile(r"^(by|from)\s+", re.IGNORECASE)
_NAME_SEP = re.compile(r"\s*(?:,|&|\||\band\b)\s*")
AGREE = 0.6  # share of the teacher pages (that have the field) a source must agree on
MIN_AGREE = 2  # and at least this many pages
MAX_TEXT = {"title": 300, "description": 1000}
MAX_HEADINGS = 40  # headings of a page considered for its title (the headline comes early)
MIN_HEADLINE = 8  # characters of a heading found inside the page's <title>
_SPACE = re.compile(r"\s+")


def _norm(value: Any) -> Any:
    """A value as compared across sources: text without case or runs of spaces, author lists as tuples."""
    if isinstance(value, list):
        return tuple(_norm(v) for v in value) or None
    if not isinstance(value, str):
        return value
    text = _SPACE.sub(" ", value).strip().casefold()
    return text or None


def _text(el: HtmlElement) -> str:
    return _SPACE.sub(" ", el.text_content()).strip()


def byline_names(text: str) -> list[str]:
    """The names in a byline's text ("By Ada Quayle and Ben Tiller" -> both names)."""
    names = [n.strip() for n in _NAME_SEP.split(_BY.sub("", text.strip()))]
    return list(dict.fromkeys(n for n in names if n))


def _dom_value(field: str, el: HtmlElement) -> Any:
    if field in ("published", "modified"):
        return iso_date(el.get("datetime"))
    if field == "authors":
        if len(el) > MAX_CHILDREN:
            return None
        text = _text(el)
        return byline_names(text) if 0 < len(text) <= MAX_BYLINE else None
    text = _text(el)
    return text if text and len(text) <= MAX_TEXT[field] else None


def _chain_key(el: HtmlElement) -> str:
    return "dom:" + "/".join(_chain(el))


_TAG_FIELDS = {"h1": ("title",), "h2": ("title",), "h3": ("title",), "time": ("published", "modified")}
_HOLDER_DEPTH = 3  # a text's element and two above it (a name in <a> in <span> in the byline <div>)


def _holders(body: HtmlElement, needles: Sequence[str]) -> dict[str, list[HtmlElement]]:
    """Per needle, the elements whose text holds it: each matching text node's element and a few above
    it (one XPath scan of the page's text for all needles: reading every element's text in Python costs
    several times more)."""
    query = " or ".join(f"contains(., $s{i})" for i in range(len(needles)))
    args = {f"s{i}": n for i, n in enumerate(needles)}
    out: dict[str, dict[HtmlElement, None]] = {n: {} for n in needles}
    for node in body.xpath(f".//text()[{query}]", **args):
        el = node.getparent()
        if el is not None and getattr(node, "is_tail", False):
            el = el.getparent()
        for needle in needles:
            if needle not in node:
                continue
            up = el
            for _ in range(_HOLDER_DEPTH):
                if up is None or not isinstance(up.tag, str) or up.tag in ("body", "html"):
                    break
                out[needle][up] = None
                up = up.getparent()
    return {n: list(els) for n, els in out.items()}


def _doc_title(tree: HtmlElement) -> str | None:
    head = tree.find("head")
    el = head.find("title") if head is not None else None
    return _text(el) if el is not None else None


def observe_metadata(tree: HtmlElement, sources: Sources, md: Metadata) -> dict[str, Any]:
    """What a teacher page says about its metadata: the teacher's value per field and every candidate
    source's value (JSON-ready; values normalised as ``_norm``)."""
    values = {f: _norm(getattr(md, f)) for f in FIELDS}
    candidates: dict[str, dict[str, Any]] = {f: {} for f in FIELDS}
    for f in FIELDS:
        if (v := _norm(ld_value(sources, f))) is not None:
            candidates[f]["ld"] = v
        for key in _META_KEYS[f]:
            if (v := _norm(meta_value(sources, f, key))) is not None:
                candidates[f].setdefault("meta:" + key, v)
    if values["authors"] is not None and (v := _norm(rel_authors(tree))) is not None:
        candidates["authors"]["rel-author"] = v  # (none without the teacher's authors: it reads them last)
    doc_title = _norm(_doc_title(tree))
    body = tree.find("body")
    if body is not None:
        headings = 0
        for el in body.iter("h1", "h2", "h3", "time"):
            for f in _TAG_FIELDS[el.tag]:
                v = _norm(_dom_value(f, el))
                if v is None:
                    continue
                if f == "title":
                    headings += 1
                    # only a heading that is the teacher's title or that the <title> holds can be learned
                    if headings > MAX_HEADINGS or not (v == values[f] or (
                            doc_title and len(v) >= MIN_HEADLINE and v in doc_title)):
                        continue
                elif v != values[f]:
                    continue
                candidates[f].setdefault(_chain_key(el), v)
        # the byline and the lead: only the elements holding the teacher's first author's name or the
        # start of its lead (found by lxml's own text search, not by reading every element's text)
        needles = {"authors": md.authors[0] if md.authors else None,
                   "description": " ".join((md.description or "").split()[:4]) or None}
        wanted = {f: n for f, n in needles.items() if n}
        found = _holders(body, sorted(set(wanted.values()))) if wanted else {}
        for f, needle in wanted.items():
            for el in found[needle]:
                if f == "description" and el.tag not in _DOM_TAGS["description"]:
                    continue
                v = _norm(_dom_value(f, el))
                if v is not None and v == values[f]:
                    candidates[f].setdefault(_chain_key(el), v)
    return {"values": values, "candidates": candidates, "doc_title": doc_title}


def _agreeing(pages: Sequence[Mapping[str, Any]], field: str, structured: bool) -> tuple[str, int] | None:
    """The source (structured, or an element) agreeing with the teacher on most pages, if enough."""
    votes: Counter[str] = Counter()
    for o in pages:
        want = o["values"][field]
        for key, value in o["candidates"][field].items():
            if key.startswith("dom:") != structured and value == want:
                votes[key] += 1
    if not votes:
        return None
    order = {k: i for i, k in enumerate(dict.fromkeys(k for o in pages for k in o["candidates"][field]))}
    key, n = min(votes.items(), key=lambda kv: (-kv[1], order[kv[0]]))
    return (key, n) if n >= max(MIN_AGREE, AGREE * len(pages)) else None


def _headline_in_title(pages: Sequence[Mapping[str, Any]]) -> tuple[str, int] | None:
    """The heading element whose text the page's <title> contains (the longest such heading of the
    page), and that differs from page to page: where a site's headline lives when the teacher's title
    is not it."""
    votes: Counter[str] = Counter()
    texts: dict[str, set[str]] = {}
    for o in pages:
        doc = o.get("doc_title") or ""
        inside = [(len(v), k, v) for k, v in o["candidates"]["title"].items()
                  if k.startswith("dom:") and len(v) >= MIN_HEADLINE and v in doc]
        if inside:
            _, key, value = max(inside)
            votes[key] += 1
            texts.setdefault(key, set()).add(value)
    if not votes:
        return None
    key, n = votes.most_common(1)[0]
    if n < max(MIN_AGREE, AGREE * len(pages)) or len(texts[key]) < n:
        return None
    return key, n


def _constant(pages: Sequence[Mapping[str, Any]], field: str) -> bool:
    """Whether the teacher gave most pages the same value: for a title or lead, the site's name or a
    section label, not the article's."""
    counts = Counter(o["values"][field] for o in pages)
    value, n = counts.most_common(1)[0]
    return n >= 2 and n >= 0.5 * len(pages)


def learn_metadata(observations: Sequence[Mapping[str, Any] | None]) -> dict[str, list[dict[str, Any]]]:
    """Per field, the sources to read on a fitted page, in order: each {"source", "agree": [pages it
    agreed on, pages learned from]} and, for a headline found through the page's <title>,
    "in_title": true (it is checked against the page's <title> when read)."""
    seen = [o for o in observations if o and isinstance(o.get("values"), dict)
            and isinstance(o.get("candidates"), dict)]
    learned: dict[str, list[dict[str, Any]]] = {}
    for field in FIELDS:
        pages = [o for o in seen if o["values"].get(field) is not None and field in o["candidates"]]
        if len(pages) < MIN_AGREE:
            continue
        sources: list[dict[str, Any]] = []
        if not (field in ("title", "description") and _constant(pages, field)):
            for structured in (True, False):
                found = _agreeing(pages, field, structured)
                if found is not None:
                    sources.append({"source": found[0], "agree": [found[1], len(pages)]})
        if field == "title" and not sources:
            found = _headline_in_title([o for o in seen if "title" in o["candidates"]])
            if found is not None:
                sources.append({"source": found[0], "agree": [found[1], len(seen)], "in_title": True})
        if sources:
            learned[field] = sources
    return learned


def _plausible(field: str, value: Any) -> bool:
    if field == "authors":
        return bool(value) and len(value) <= 10 and all(0 < len(a) <= 80 for a in value)
    if field in ("title", "description"):
        return isinstance(value, str) and 0 < len(value) <= MAX_TEXT[field]
    return value is not None  # dates: iso_date already refused what is not one


def _read(tree: HtmlElement, sources: Sources, field: str, key: str) -> Any:
    if key == "ld":
        return ld_value(sources, field)
    if key.startswith("meta:"):
        return meta_value(sources, field, key[5:])
    if key == "rel-author":
        return rel_authors(tree)
    if key.startswith("dom:"):
        body = _body(tree)
        found = _find_containers(body, key[4:].split("/")) if body is not None else []
        return _dom_value(field, found[0]) if found else None
    return None


def read_learned(tree: HtmlElement, sources: Sources, learned: Mapping[str, Sequence[Mapping[str, Any]]]
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    """A fitted page's fields read from the learned sources: (values of the fields found, and for every
    learned field where it came from or why the full extraction gives it)."""
    values: dict[str, Any] = {}
    notes: dict[str, str] = {}
    for field, entries in learned.items():
        misses = []
        for entry in entries:
            key = str(entry.get("source", ""))
            value = _read(tree, sources, field, key)
            if value is not None and entry.get("in_title"):
                doc = _norm(_doc_title(tree))
                if doc is not None and _norm(value) not in doc:
                    misses.append(f"{describe_source(key)} not in the page's <title>")
                    continue
            if _plausible(field, value):
                values[field] = value
                notes[field] = f"learned {describe_source(key)}"
                break
            misses.append(f"{describe_source(key)} {'missing' if not value else 'implausible'}")
        else:
            notes[field] = "full extraction (" + "; ".join(misses) + ")"
    return values, notes


def describe_source(key: str) -> str:
    """A learned source as ``morgue templates`` and ``extract --explain`` show it."""
    if key == "ld":
        return "JSON-LD article"
    if key.startswith("meta:"):
        return f"<meta {key[5:]}>"
    if key == "rel-author":
        return "rel=author links"
    if key.startswith("dom:"):
        return " > ".join(key[4:].split("/"))
    return key


def describe_learned(learned: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[str]:
    """One line per learned field: its sources in the order they are read, with their agreement."""
    out = []
    for field in FIELDS:
        entries = learned.get(field) or []
        if entries:
            parts = []
            for e in entries:
                agree, pages = (list(e.get("agree") or []) + [0, 0])[:2]
                how = "inside the page's <title>" if e.get("in_title") else "agreed with the full extraction"
                where = describe_source(str(e.get("source", "")))
                parts.append(f"{where} ({how} on {agree} of {pages} pages)")
            out.append(f"{field}: " + ", then ".join(parts))
    return out
