"""A site's learned template: where its article body sits and which blocks in it are furniture.

A crawl sees many pages of one site in one template. The full pipeline (trafilatura plus the boilerplate
layers) is the teacher: on a site's first pages, ``observe`` records which element holds the text the
teacher kept (the *container*, named by tag, stable id and class tokens with digits stripped, so ids like
``post-1234`` match on every article) and which blocks inside it the teacher dropped or kept. ``learn``
turns the observations of several pages into a ``Template`` (plain JSON) when the pages agree.
``apply`` then extracts a later page with one walk of its tree: find the container, skip the learned
furniture. It refuses a page that does not fit (container missing, text far outside the learned range,
prose outside the container), and the caller falls back to the full pipeline, so a wrong or stale
template never eats body text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from lxml.html import HtmlElement

__all__ = ["Fit", "Template", "apply", "learn", "observe", "descriptor"]

#: Elements whose text starts and ends a paragraph (everything else is inline).
BLOCK_TAGS = frozenset({
    "p", "div", "section", "article", "main", "aside", "header", "footer", "nav", "li", "ul", "ol", "dl",
    "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "tr", "td", "th",
    "figure", "figcaption", "form", "center", "address", "details", "summary", "hr", "br",
})
#: Never text of an article (trafilatura drops them too).
SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "button", "input", "select", "textarea", "option", "iframe",
    "svg", "object", "embed", "video", "audio", "canvas", "map", "head", "title", "meta", "link",
})
MIN_PAGES = 4  # teacher pages needed before a template is learned
AGREE = 0.6  # share of those pages that must agree on the container
KEEP_SHARE = 0.5  # a block is "kept by the teacher" when this share of its words is in the teacher's text
COVER = 0.9  # the container holds this share of the teacher's kept text
DROP_SHARE = 0.8  # a block is furniture when the teacher dropped it on this share of the pages it was on
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


def _stable(token: str) -> str:
    """A class or id token without its per-article digits ("post-1234" -> "post-")."""
    return _DIGITS.sub("", token).strip()


def descriptor(el: HtmlElement) -> str:
    """``tag#id.class.class`` with digits stripped and classes sorted: the same on every page."""
    tag = el.tag if isinstance(el.tag, str) else ""
    ident = el.get("id")
    classes = el.get("class")
    if ident is None and classes is None:
        return tag
    return _descriptor(tag, ident or "", classes or "")


@lru_cache(maxsize=8192)
def _descriptor(tag: str, ident: str, classes: str) -> str:
    """A page repeats the same few id/class strings many times: computed once each."""
    out = tag
    ident = _stable(ident)
    if ident and len(ident) > 1:
        out += "#" + ident
    tokens = sorted({c for c in (_stable(t) for t in classes.split()) if len(c) > 1})
    for c in tokens[:6]:
        out += "." + c
    return out


def _chain(el: HtmlElement) -> list[str]:
    """Descriptors from <body> (exclusive) down to ``el`` (inclusive)."""
    out = []
    while el is not None and el.tag not in ("body", "html"):
        out.append(descriptor(el))
        el = el.getparent()
    return out[::-1]


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


@dataclass
class Chunk:
    """One paragraph of rendered text and the block element it belongs to."""

    owner: HtmlElement
    text: str
    path: str  # descriptors from the walk's root (exclusive) to the owner (inclusive), "/"-joined
    link_chars: int = 0  # of its characters, how many are link text

    def link_only(self) -> bool:
        """All (nearly) link text: a "read more" teaser or a related-story headline, not a paragraph."""
        return self.link_chars >= 0.9 * len(self.text)


def anywhere(desc: str) -> str:
    """The drop-list key of a descriptor matched at any depth inside the container."""
    return "*/" + desc


def render(root: HtmlElement, drop: Mapping[str, Any] = (), dropped: list[tuple[str, str]] | None = None,
           drop_links: bool = False) -> list[Chunk]:
    """The text under ``root`` as paragraphs (a new one at each block element), in document order.
    Elements whose relative path (or ``anywhere`` descriptor) is in ``drop`` are skipped, and with
    ``drop_links`` link-only paragraphs; their text goes to ``dropped``."""
    chunks: list[Chunk] = []
    parts: list[str] = []
    links = [0, 0]  # link depth, link characters in the current paragraph
    owners: list[tuple[HtmlElement, str]] = [(root, "")]

    def add(text: str) -> None:
        parts.append(text)
        if links[0]:
            links[1] += len(text.strip())

    def flush() -> None:
        if parts:
            text = _SPACE.sub(" ", "".join(parts)).strip()
            parts.clear()
            link_chars, links[1] = links[1], 0
            if text:
                owner, path = owners[-1]
                chunk = Chunk(owner, text, path, link_chars)
                if drop_links and chunk.link_only():
                    if dropped is not None:
                        dropped.append(("link-only paragraph", text))
                else:
                    chunks.append(chunk)

    def walk(el: HtmlElement, path: str) -> None:
        for child in el:
            tag = child.tag
            if not isinstance(tag, str) or tag in SKIP_TAGS:  # comment, processing instruction, script...
                if child.tail:
                    add(child.tail)
                continue
            desc = descriptor(child)
            sub = path + "/" + desc if path else desc
            key = sub if sub in drop else anywhere(desc) if anywhere(desc) in drop else None
            if key is not None:
                flush()
                if dropped is not None:
                    text = _SPACE.sub(" ", "".join(child.itertext())).strip()
                    if text:
                        dropped.append((key, text))
                if child.tail:
                    add(child.tail)
                continue
            is_link = tag == "a"
            links[0] += is_link
            if tag in BLOCK_TAGS:
                flush()
                owners.append((child, sub))
                if child.text:
                    add(child.text)
                walk(child, sub)
                flush()
                owners.pop()
            else:
                if child.text:
                    add(child.text)
                walk(child, sub)
            links[0] -= is_link
            if child.tail:
                add(child.tail)

    if root.text:
        add(root.text)
    walk(root, "")
    flush()
    return chunks


def _body(tree: HtmlElement) -> HtmlElement | None:
    body = tree.find("body")
    if body is None:
        found = tree.xpath("//body")
        body = found[0] if found else None
    return body


def observe(tree: HtmlElement, teacher_text: str) -> dict[str, Any] | None:
    """What one page teaches: the container holding the teacher's text (as a descriptor chain), every
    block path inside it kept or dropped, the kept text's length, and the prose outside the container.
    None when the page's own text does not reproduce the teacher's (nothing to learn from)."""
    body = _body(tree)
    if body is None or not teacher_text.strip():
        return None
    teacher = set(_shingles(_words(teacher_text)))
    if not teacher:
        return None
    chunks = render(body)
    kept: list[Chunk] = []
    total = 0
    for chunk in chunks:
        sh = _shingles(_words(chunk.text))
        if sh and sum(s in teacher for s in sh) >= KEEP_SHARE * len(sh):
            kept.append(chunk)
            total += len(chunk.text)
    if not kept or total < 0.6 * len(teacher_text.replace("\n\n", " ")):
        return None
    weight: Counter[HtmlElement] = Counter()
    depth: dict[HtmlElement, int] = {}
    for chunk in kept:
        ancestors = [chunk.owner, *chunk.owner.iterancestors()]
        for d, a in enumerate(reversed(ancestors)):
            weight[a] += len(chunk.text)
            depth[a] = d
    container = max((a for a, w in weight.items() if w >= COVER * total), key=lambda a: depth[a])
    if container.tag in ("body", "html"):
        return None
    chain = _chain(container)
    inside = render(container)
    kept_ids = {id(c.owner) for c in kept}
    blocks: dict[str, list[int]] = {}  # relative path or anywhere-descriptor -> [kept chars, dropped chars]
    links = [0, 0]  # link-only paragraphs kept, dropped
    for chunk in inside:
        is_kept = id(chunk.owner) in kept_ids
        if chunk.link_only():
            links[0 if is_kept else 1] += 1
        # every element between the container and the paragraph is a candidate furniture box
        prefix = ""
        for step in chunk.path.split("/") if chunk.path else []:
            prefix = prefix + "/" + step if prefix else step
            for key in (prefix, anywhere(step)):
                counts = blocks.setdefault(key, [0, 0])
                counts[0 if is_kept else 1] += len(chunk.text)
    outside = outside_prose(body, [container])
    title = None
    for chunk in chunks[:200]:
        if chunk.owner.tag in ("h1", "h2") and chunk.owner is not container:
            title = _chain(chunk.owner)[-1]
            break
    return {"container": chain, "blocks": blocks, "chars": total, "outside": outside,
            "title_path": title, "links": links}


def _shingles(words: Sequence[str], n: int = 3) -> list[str]:
    if len(words) < n:
        return [" ".join(words)] if words else []
    return [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]


def _within(el: HtmlElement, container: HtmlElement) -> bool:
    return el is container or any(a is container for a in el.iterancestors())


def outside_prose(body: HtmlElement, containers: Sequence[HtmlElement]) -> int:
    """Characters of paragraph-like text (a <p> of 150+ characters) outside the containers: body text a
    template would lose."""
    outside = 0
    for p in body.iter("p"):
        if any(_within(p, c) for c in containers):
            continue
        n = len(_SPACE.sub(" ", "".join(p.itertext())).strip())
        if n >= 150:
            outside += n
    return outside


@dataclass
class Template:
    """What was learned for one site (JSON-ready): the container, the furniture paths with on how many
    of the pages they were dropped, and the ranges a page must fit."""

    container: list[str]
    drop: dict[str, list[int]] = field(default_factory=dict)  # path -> [pages dropped, pages seen]
    chars: list[int] = field(default_factory=lambda: [0, 0])  # min, max kept text of the teacher pages
    outside: int = 0  # most prose seen outside the container on a teacher page
    drop_links: bool = False  # the teacher drops link-only paragraphs inside the container
    pages: int = 0  # teacher pages it was learned from
    version: int = 1
    #: where title, authors, dates and lead are read on a fitted page (``extract.template_meta``)
    meta: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["meta"]:
            del data["meta"]  # a template without learned metadata keeps the form (and digest) it had
        return data

    def why_dropped(self, key: str) -> str:
        """The reason a removed-block list gives for a block this template dropped."""
        if key in self.drop:
            dropped, seen = self.drop[key]
            return f"{key} (furniture on {dropped} of {seen} pages)"
        return key

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Template:
        drop = {k: list(v) for k, v in data.get("drop", {}).items()}
        return cls(container=list(data["container"]), drop=drop,
                   chars=list(data.get("chars", [0, 0])), outside=int(data.get("outside", 0)),
                   pages=int(data.get("pages", 0)), version=int(data.get("version", 1)),
                   drop_links=bool(data.get("drop_links", False)),
                   meta={str(k): [dict(e) for e in v if isinstance(e, Mapping)]
                         for k, v in (data.get("meta") or {}).items() if isinstance(v, list)})


def learn(observations: Sequence[Mapping[str, Any] | None], version: int = 1, min_pages: int = MIN_PAGES
          ) -> tuple[Template | None, str]:
    """A template from several pages' observations, or (None, why not)."""
    seen = [o for o in observations if o]
    if len(seen) < min_pages:
        return None, f"{len(seen)} page(s) to learn from, {min_pages} needed"
    containers = Counter(tuple(o["container"]) for o in seen)
    chain, agree = containers.most_common(1)[0]
    if agree < AGREE * len(seen):
        return None, (f"no common structure: the article body sits in {len(containers)} different places "
                      f"on {len(seen)} pages")
    same = [o for o in seen if tuple(o["container"]) == chain]
    kept_pages: Counter[str] = Counter()
    dropped_pages: Counter[str] = Counter()
    for o in same:
        for path, (k, d) in o["blocks"].items():
            if k:
                kept_pages[path] += 1
            elif d:
                dropped_pages[path] += 1
    drop: dict[str, list[int]] = {}
    for path, d in dropped_pages.items():
        on = d + kept_pages[path]
        bare = path.startswith("*/") and "." not in path and "#" not in path and path[2:] in _GENERIC
        if d >= 2 and d >= DROP_SHARE * on and not kept_pages[path] and not bare:
            drop[path] = [d, on]
    # keep only the outermost of nested furniture paths, and no path its descriptor anywhere covers
    drop = {p: v for p, v in drop.items() if p.startswith("*/") or not (
        any(q in drop for q in _prefixes(p)) or drop.get(anywhere(p.rsplit("/", 1)[-1])) == v)}
    from .template_meta import learn_metadata  # it names elements with this module's descriptors

    chars = [o["chars"] for o in same]
    kept_links = sum(o.get("links", [0, 0])[0] for o in same)
    dropped_links = sum(o.get("links", [0, 0])[1] for o in same)
    return Template(container=list(chain), drop=drop, chars=[min(chars), max(chars)],
                    outside=max(o["outside"] for o in same), pages=len(same), version=version,
                    drop_links=dropped_links >= 2 and dropped_links >= 4 * kept_links,
                    meta=learn_metadata([o.get("meta") for o in same])), ""


#: Bare tags too common to drop everywhere on the evidence of a few pages.
_GENERIC = frozenset({"div", "span", "p", "a", "em", "strong", "b", "i", "section", "article", "font", "td",
                      "tr", "table", "tbody", "li", "ul", "ol", "br", "center", "small", "u", "sup", "sub"})


def _prefixes(path: str) -> list[str]:
    steps = path.split("/")
    return ["/".join(steps[:i]) for i in range(1, len(steps))]


@dataclass
class Fit:
    """A template's result on one page: paragraphs and dropped furniture, or why the page does not fit."""

    paragraphs: list[str]
    dropped: list[tuple[str, str]]
    problem: str | None = None


def _find_containers(body: HtmlElement, chain: Sequence[str]) -> list[HtmlElement]:
    last = chain[-1]
    tag = last.split("#")[0].split(".")[0]
    found = [el for el in body.iter(tag) if descriptor(el) == last and _chain(el) == list(chain)]
    # nested matches: keep the outermost
    return [el for el in found if not any(a in found for a in el.iterancestors())]


def apply(tree: HtmlElement, template: Template) -> Fit:
    """Extract a page through the template, or say why it does not fit (the caller then falls back)."""
    body = _body(tree)
    if body is None:
        return Fit([], [], "no <body>")
    containers = _find_containers(body, template.container)
    if not containers:
        return Fit([], [], f"container {'/'.join(template.container[-2:])} missing")
    dropped: list[tuple[str, str]] = []
    chunks: list[Chunk] = []
    for c in containers:
        chunks.extend(render(c, template.drop, dropped, template.drop_links))
    chars = sum(len(c.text) for c in chunks)
    low, high = template.chars
    if chars < max(0.25 * low, 80):
        return Fit([], [], f"{chars} characters in the container, the site's pages have {low}-{high}")
    if chars > 4 * high + 2000:
        return Fit([], [], f"{chars} characters in the container, the site's pages have {low}-{high}")
    outside = outside_prose(body, containers)
    if outside > template.outside + max(300, 0.25 * chars):
        return Fit([], [], f"{outside} characters of prose outside the container (the site's pages have "
                           f"up to {template.outside})")
    return Fit([c.text for c in chunks], dropped)
