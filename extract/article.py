"""The pipeline: decode, parse once, metadata, then boilerplate layers around one trafilatura pass.

Order matters: site rules and the structure/phrase boxes are cut from the *source* tree (where a box is
still a box) before trafilatura picks the article; trafilatura then gets that same tree, not a
re-serialised page; phrase and repeated-block checks run last on the paragraphs it returns.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Collection

import trafilatura
from lxml import etree
from lxml.html import HtmlElement
from trafilatura.utils import load_html
from trafilatura.xml import xmltotxt

from .blocks import block_hash
from .boilerplate.phrases import PAYWALL, TRIGGER_WORDS, is_appeal
from .boilerplate.structure import clean_text, find_boxes, keyword_hits, remove_boxes
from .decode import decode_html
from .metadata import Metadata, extract_metadata, page_sources
from .model import Extraction, RemovedBlock
from .rules import SiteRules
from .template import Template, apply, observe
from .template_meta import observe_metadata, read_learned

EXTRACTOR_VERSION = "4"
TRAFILATURA_SETTINGS = {"include_comments": False}
EXTRACTOR = f"morgue-extract/{EXTRACTOR_VERSION} trafilatura/{trafilatura.__version__} " + " ".join(
    f"{k}={v}" for k, v in TRAFILATURA_SETTINGS.items()
)
LAYERS = frozenset({"structure", "phrase", "repeated", "rule", "template"})
log = logging.getLogger(__name__)


_HTML_TAG = re.compile(r"<(html|body|p|div|article)\b", re.IGNORECASE)


def _looks_like_html(text: str) -> bool:
    return "<" in text[:2048] and _HTML_TAG.search(text, 0, 65536) is not None


def _same_text(a: str, b: str) -> bool:
    return len(a) < 400 and " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


_WORD = re.compile(r"\w+")
MIN_WORDS_OUTSIDE_LINKS = 5


def _only_links(tree: HtmlElement) -> bool:
    """A page whose body says (almost) nothing outside its links is a menu or a link list, not an article.

    Without this a page whose body is one ``<nav>`` of two links was filed as the article "Home News"."""
    body = tree.find(".//body")
    root = body if body is not None else tree
    words = len(_WORD.findall(root.text_content()))
    if words >= 200:  # cheap exit: no page this long is all links in practice, and counting them costs
        return False
    in_links = sum(len(_WORD.findall(a.text_content())) for a in root.iter("a"))
    return words - in_links < MIN_WORDS_OUTSIDE_LINKS


def _is_binary(data: bytes) -> bool:
    sample = data[:1024]
    return b"\x00" in sample and not sample.startswith((b"\xff\xfe", b"\xfe\xff"))


def extract_article(
    html: bytes | str,
    url: str | None = None,
    *,
    rules: SiteRules | None = None,
    known_repeated: Collection[str] = (),
    encoding: str | None = None,
    template: Template | None = None,
    learn: bool = False,
    fallback: bool = True,
) -> Extraction | None:
    """The article in a page, or None when there is none. Never raises on bad input.

    With a site ``template`` the page is extracted through it when it fits, else by the full pipeline
    (``Extraction.fallback`` says why), or, with ``fallback=False``, not at all (None): a re-extraction
    that only wants the template's text need not pay for the full pipeline. ``learn`` adds what the page
    teaches a template (``Extraction.observation``) whenever the full pipeline ran."""
    return extract_with_layers(html, url, rules=rules, known_repeated=known_repeated, encoding=encoding,
                               template=template, learn=learn, fallback=fallback)


def extract_with_layers(
    html: bytes | str,
    url: str | None = None,
    *,
    rules: SiteRules | None = None,
    known_repeated: Collection[str] = (),
    encoding: str | None = None,
    layers: Collection[str] = LAYERS,
    template: Template | None = None,
    learn: bool = False,
    fallback: bool = True,
) -> Extraction | None:
    """``extract_article`` with a choice of boilerplate layers, so each can be measured on its own."""
    try:
        return _extract(html, url, rules, known_repeated, encoding, frozenset(layers),
                        template if "template" in layers else None, learn, fallback)
    except RecursionError:
        log.warning("page too deeply nested to extract: %s", url)
        return None
    except Exception:  # a crawler must survive any page; the page stays in the WARC for a later extractor
        log.exception("extraction failed: %s", url)
        return None


def _parse(html: bytes | str, encoding: str | None) -> HtmlElement | None:
    if isinstance(html, bytes) and _is_binary(html):
        return None
    text = decode_html(html, encoding)
    if not text.strip() or not _looks_like_html(text):
        return None
    tree = load_html(text)
    return tree if isinstance(tree, HtmlElement) else None


def _extract(
    html: bytes | str,
    url: str | None,
    rules: SiteRules | None,
    known_repeated: Collection[str],
    encoding: str | None,
    layers: frozenset[str],
    template: Template | None = None,
    learn: bool = False,
    fallback: bool = True,
) -> Extraction | None:
    tree = _parse(html, encoding)
    if tree is None:
        return None
    sources = page_sources(tree)
    learned = template.meta if template is not None else None
    notes: dict[str, str] | None = None
    if learned:  # a fitted page reads them from where its site keeps them; the rest as every page does
        known, notes = read_learned(tree, sources, learned)
        md = extract_metadata(tree, url, sources=sources, known=known)
    else:
        md = extract_metadata(tree, url, sources=sources)
    etree.strip_elements(tree, "script", "style", "template", with_tail=False)
    if _only_links(tree):
        return None
    removed: list[RemovedBlock] = []
    why: str | None = None
    if template is not None:
        if rules is not None and "rule" in layers:
            _drop_by_rules(tree, rules, removed)
        fit = apply(tree, template)
        if fit.problem is None:
            where = f"template v{template.version}"
            removed.extend(RemovedBlock(text, "template", f"{where}: {template.why_dropped(path)}")
                           for path, text in fit.dropped)
            result = _finish(fit.paragraphs, md, removed, known_repeated, layers, where, None)
            if result is not None:
                result.metadata_from = notes
            return result
        if not fallback:
            return None
        why = f"template v{template.version}: {fit.problem}"
        tree = _parse(html, encoding)  # the template's pass may have cut rule boxes: start clean
        if tree is None:
            return None
        if learned:  # a page that does not fit gets the full metadata extraction too
            md = extract_metadata(tree, url, sources=sources)
        etree.strip_elements(tree, "script", "style", "template", with_tail=False)
        removed = []
    pristine = copy.deepcopy(tree) if learn else None

    protected: set[HtmlElement] = set()
    if rules is not None:
        if "rule" in layers:
            _drop_by_rules(tree, rules, removed)
        protected = set(rules.kept(tree))

    def is_protected(box: HtmlElement) -> bool:
        return any(
            box is k or any(a is box for a in k.iterancestors()) or any(a is k for a in box.iterancestors())
            for k in protected
        )

    if layers & {"structure", "phrase"}:
        boxes = [(el, b) for el, b in find_boxes(tree, is_protected) if b.reason in layers]
        removed.extend(remove_boxes(boxes))

    doc = trafilatura.bare_extraction(tree, url=url, **TRAFILATURA_SETTINGS)
    if doc is None or doc.body is None:
        return None
    lines = [line.strip() for line in xmltotxt(doc.body, False).split("\n")]
    lines = [line for line in lines if line]
    result = _finish(lines, md, removed, known_repeated, layers, None, protected)
    if result is not None:
        result.fallback = why
        if pristine is not None:
            result.observation = observe(pristine, result.text)
            if result.observation is not None:
                result.observation["meta"] = observe_metadata(pristine, sources, md)
    return result


def _drop_by_rules(tree: HtmlElement, rules: SiteRules, removed: list[RemovedBlock]) -> None:
    for el, selector in rules.dropped(tree):
        if el.getparent() is not None:
            text = clean_text(el)
            if text:
                removed.append(RemovedBlock(text, "rule", f"drop {selector}"))
            el.drop_tree()


def _finish(
    lines: list[str],
    md: Metadata,
    removed: list[RemovedBlock],
    known_repeated: Collection[str],
    layers: frozenset[str],
    template: str | None,
    protected: set[HtmlElement] | None,
) -> Extraction | None:
    """The text layers every extraction ends with (headline, appeal paragraphs, repeated blocks)."""
    kept_text = "\x00".join(clean_text(k) for k in protected or ())
    if lines and md.title and _same_text(lines[0], md.title):
        lines = lines[1:]  # the headline is the ``title`` field; body text starts after it
    suspects = set(keyword_hits(lines, TRIGGER_WORDS)) if "phrase" in layers else set()
    paragraphs: list[str] = []
    for i, line in enumerate(lines):
        if i in suspects and is_appeal(line) and not (kept_text and line in kept_text):
            removed.append(RemovedBlock(line, "phrase", "appeal paragraph"))
        else:
            paragraphs.append(line)
    hashes = [block_hash(p) for p in paragraphs]
    if known_repeated and "repeated" in layers:
        known = set(known_repeated)
        body_lines = []
        for para, h in zip(paragraphs, hashes, strict=True):
            if h in known and not (kept_text and para in kept_text):
                removed.append(RemovedBlock(para, "repeated", f"block {h} repeats across this site"))
            else:
                body_lines.append(para)
        paragraphs = body_lines
    if not paragraphs:
        return None
    paywalled = (
        md.accessible_for_free is False
        or any(PAYWALL.search(b.text) for b in removed)
        or any(PAYWALL.search(p) for p in paragraphs[-3:])
    )
    return Extraction(
        text="\n\n".join(paragraphs),
        title=md.title,
        authors=md.authors,
        published=md.published,
        modified=md.modified,
        site_name=md.site_name,
        language=md.language,
        description=md.description,
        section=md.section,
        tags=md.tags,
        image=md.image,
        canonical_url=md.canonical_url,
        paywalled=paywalled,
        removed=removed,
        blocks=hashes,
        extractor=EXTRACTOR,
        template=template,
    )
