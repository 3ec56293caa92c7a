"""Boilerplate recognised in the page tree, before trafilatura sees it, whatever its class names.

An appeal box is found from a *seed* (a call-to-action link or button, an e-mail field, a form, a share
link, a text node with an appeal phrase) by climbing to the largest ancestor that is still a box: small,
and not holding several ordinary paragraphs beside the seed. Working on boxes, not sentences, is what
catches the seed case's "From reproductive rights ..." paragraph, which asks for nothing by itself.
Boxes found by markup are reason "structure"; by their words alone, reason "phrase".
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from itertools import accumulate, count
from operator import add

from lxml import etree
from lxml.html import HtmlElement

from ..model import RemovedBlock
from .phrases import TRIGGER_WORDS, appeal_hits, appeal_match, first_appeal

BOX_MAX_CHARS = 2500  # an appeal box longer than this is rare; an article body shorter is too
_STOP_TAGS = frozenset({"body", "html", "main", "article"})
_CHROME_TAGS = frozenset({"nav", "footer", "header"})
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "aside",
        "li",
        "ul",
        "ol",
        "form",
        "figure",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "header",
        "footer",
        "dl",
        "details",
    }
)

_CTA_HREF = re.compile(
    r"(donat|/support(-us)?(/|$|\?)|/contribut|subscri|newsletter|/membership|/join(/|$|\?)|/premium"
    r"|/abo(/|$|\?|-)|abonne|/spenden|/suscri|/checkout|/paywall|/sign-?up|/register(/|$|\?)|/plus(/|$))",
    re.IGNORECASE,
)
_CTA_TEXT = re.compile(
    r"^\W*(subscribe|sign ?up|donate|support|contribute|join|become a member|give now|register|get access"
    r"|abonnieren|spenden|jetzt|mitglied|s'abonner|abonnez|je m'abonne|soutenir|faire un don|je donne"
    r"|suscr[ií]b|donar|hazte|apoya)",
    re.IGNORECASE,
)
_SHARE_HREF = re.compile(
    r"(facebook\.com/(sharer|dialog/share)|twitter\.com/(intent|share)|x\.com/intent|linkedin\.com/(share|cws)"
    r"|wa\.me/|whatsapp:|api\.whatsapp|pinterest\.[a-z]+/pin/create|reddit\.com/submit|t\.me/share"
    r"|telegram\.me/share|bsky\.app/intent|^mailto:\?|xing\.com/spi/shares)",
    re.IGNORECASE,
)
_COOKIE = re.compile(
    r"\bcookies?\b.{0,200}\b(accept|consent|agree|settings|preferences|einwillig|zustimm"
    r"|akzeptier|accepte|consentement|aceptar|consentimiento)",
    re.IGNORECASE,
)
_RELATED_HEADING = re.compile(
    r"^\W*(most (read|popular|viewed|shared)|trending|related( (articles?|stories|content|posts|news))?"
    r"|read (more|next|also)|more (from|on|about|stories|news)|you (may|might) (also )?like|recommended"
    r"|top stories|latest (news|stories)|meistgelesen|lesen sie (auch|mehr)|mehr zum thema|das könnte"
    r"|à lire aussi|lire aussi|les plus lus|sur le même sujet|más leíd|lo más|te puede interesar"
    r"|noticias relacionadas|también te puede)\W*$",
    re.IGNORECASE,
)
# Literals that every match of the pattern above contains (a cheap pre-filter; see keyword_hits).
_SHARE_KEYS = ("sharer", "share", "intent", "wa.me", "whatsapp", "pin/create", "submit", "mailto:?", "shares")
_CTA_KEYS = (
    "donat",
    "support",
    "contribut",
    "subscri",
    "newsletter",
    "membership",
    "join",
    "premium",
    "abo",
    "spenden",
    "suscri",
    "checkout",
    "paywall",
    "sign",
    "register",
    "plus",
)
_RELATED_KEYS = (
    "most ",
    "trending",
    "related",
    "read ",
    "more ",
    "you m",
    "recommended",
    "top stories",
    "latest",
    "meistgelesen",
    "lesen sie",
    "mehr zum",
    "das könnte",
    "lire aussi",
    "plus lus",
    "même sujet",
    "más leíd",
    "lo más",
    "te puede",
    "relacionadas",
    "también te",
)
_SPACE = re.compile(r"\s+")
_BODY_TEXT = etree.XPath("//body//text()[normalize-space()]")  # blank ones hold no words


def clean_text(el: HtmlElement) -> str:
    return _SPACE.sub(" ", "".join(el.itertext())).strip()


def text_length(el: HtmlElement, cap: int | None = None) -> int:
    """Approximate visible text length (whitespace runs not counted), stopping early past ``cap``."""
    n = 0
    for piece in el.itertext():
        n += len(piece.strip())
        if cap is not None and n > cap:
            break
    return n


class _Lengths:
    """Text length per element up to just past BOX_MAX_CHARS, computed once: the climb asks about the same
    ancestors many times, and beyond the cap only "too big" matters."""

    def __init__(self) -> None:
        self._cache: dict[HtmlElement, int] = {}
        self._ordinary: dict[HtmlElement, bool] = {}

    def ordinary(self, el: HtmlElement) -> bool:
        """Whether an element is a longish block of text asking for nothing (not part of an appeal box)."""
        ok = self._ordinary.get(el)
        if ok is None:
            ok = self._ordinary[el] = self(el) > 100 and not first_appeal(clean_text(el))
        return ok

    def __call__(self, el: HtmlElement) -> int:
        n = self._cache.get(el)
        if n is None:
            n = self._cache[el] = text_length(el, BOX_MAX_CHARS)
        return n


def _block_of(el: HtmlElement) -> HtmlElement:
    """The nearest block-level ancestor-or-self (a seed in a <span> or <strong> stands for its block)."""
    while el.tag not in _BLOCK_TAGS:
        parent = el.getparent()
        if parent is None or parent.tag in _STOP_TAGS:
            return el
        el = parent
    return el


def _climb(el: HtmlElement, length: _Lengths) -> HtmlElement:
    """The largest ancestor-or-self of ``el`` that is still a box around it."""
    box = el
    while True:
        parent = box.getparent()
        if parent is None or parent.tag in _STOP_TAGS or not isinstance(parent.tag, str):
            return box
        if length(parent) > BOX_MAX_CHARS:
            return box
        ordinary = 0
        for child in parent:
            if child is box or not isinstance(child.tag, str):
                continue
            if length.ordinary(child):
                ordinary += 1
                if ordinary >= 3:
                    return box
        if length(parent) > 600 and _prose_paragraphs(parent, box, length) >= 3:
            return box  # the parent wraps an article body (paragraphs nested deeper than its children)
        box = parent


def _prose_paragraphs(parent: HtmlElement, box: HtmlElement, length: _Lengths) -> int:
    """Ordinary paragraphs (long, asking for nothing) under ``parent`` but outside ``box``."""
    inside = set(box.iter("p"))
    n = 0
    for p in parent.iter("p"):
        if p not in inside and length.ordinary(p):
            n += 1
            if n >= 3:
                break
    return n


def _contains(outer: HtmlElement, inner: HtmlElement) -> bool:
    return any(a is outer for a in inner.iterancestors()) or outer is inner


class KeywordScan:
    """Which of many strings contain any of some lower-case keywords, found by substring search over all
    of them joined: one C-level scan per keyword instead of a regex call per string (pages have thousands
    of text nodes, and a regex alternation scans ~10x slower than ``str.find``)."""

    def __init__(self, strings: list[str]) -> None:
        self.strings = strings
        self.joined = "\x00".join(strings).lower()
        self._starts: list[int] | None = None

    def hits(self, keywords: Iterable[str]) -> set[int]:
        joined = self.joined
        find = joined.find
        positions: list[int] = []
        for keyword in keywords:
            at = find(keyword)
            while at >= 0:
                positions.append(at)
                end = find("\x00", at)  # one hit per string is enough: skip to the next string
                if end < 0:
                    break
                at = find(keyword, end)
        if not positions:
            return set()
        if self._starts is None:
            # start of string i+1 = total length of strings 0..i plus i+1 separators (all in C)
            self._starts = list(map(add, accumulate(map(len, self.strings)), count(1)))
        starts = self._starts
        return {bisect_right(starts, p) for p in positions}

    def visible_chars(self) -> int:
        """About the visible text length of all the strings (whitespace runs count as one)."""
        return len(" ".join(self.joined.replace("\x00", " ").split()))


def keyword_hits(strings: list[str], keywords: Iterable[str]) -> list[int]:
    """Indexes of the strings containing any of the lower-case ``keywords``."""
    return sorted(KeywordScan(strings).hits(keywords)) if strings else []


def _seeds(root: HtmlElement, scan: KeywordScan) -> Iterable[tuple[HtmlElement, str, str]]:
    """(element, kind, detail) for everything that may sit inside a boilerplate box."""
    hrefs = root.xpath("//a/@href")
    for i in keyword_hits(hrefs, _SHARE_KEYS + _CTA_KEYS):
        href = hrefs[i]
        if _SHARE_HREF.search(href):
            yield href.getparent(), "share", "share link " + href[:60]
        elif _CTA_HREF.search(href):
            yield href.getparent(), "cta", "call-to-action link " + href[:60]
    for el in root.iter("button", "input", "form"):
        if el.tag == "button":
            if _CTA_TEXT.match(clean_text(el)):
                yield el, "cta", "call-to-action button"
        elif el.tag == "input":
            if (el.get("type") or "").lower() == "email":
                yield el, "cta", "e-mail field"
        else:
            yield el, "cta", "form"
    texts = scan.strings
    appeal = scan.hits(TRIGGER_WORDS)
    cookie = scan.hits(("cookie",))
    short = [i for i, t in enumerate(texts) if len(t) < 60]
    related = {short[j] for j in KeywordScan([texts[i] for i in short]).hits(_RELATED_KEYS)}
    for i in sorted(appeal | cookie | related):
        text = texts[i]
        phrase = appeal_match(text) if i in appeal else None
        if phrase:
            yield text.getparent(), "appeal", "appeal phrase: " + phrase
        elif i in cookie and _COOKIE.search(text):
            yield text.getparent(), "cookie", "cookie notice"
        elif i in related and _RELATED_HEADING.match(text):
            yield text.getparent(), "related", "related-links heading: " + text.strip()


def _link_share(el: HtmlElement, length: _Lengths) -> float:
    total = length(el)
    if not total:
        return 1.0
    return sum(len(clean_text(a)) for a in el.iter("a")) / total


def _skip(seed: HtmlElement, done: set[HtmlElement]) -> bool:
    """Seeds in page chrome (trafilatura drops it anyway) or in a box already found need no climb."""
    if seed in done:
        return True
    for a in seed.iterancestors():
        if a.tag in _CHROME_TAGS or a in done:
            return True
    return False


def find_boxes(
    root: HtmlElement, protected: Callable[[HtmlElement], bool] = lambda el: False
) -> list[tuple[HtmlElement, RemovedBlock]]:
    """Boilerplate boxes under ``root`` with why each is one; ``protected`` vetoes a box (keep rules)."""
    length = _Lengths()
    page_chars: int | None = None
    found: list[tuple[HtmlElement, RemovedBlock]] = []
    done: set[HtmlElement] = set()
    scan = KeywordScan(_BODY_TEXT(root))
    for seed, kind, detail in _seeds(root, scan):
        if _skip(seed, done):
            continue
        start = _block_of(seed)
        box = _climb(start, length)
        size = length(box)
        if size > BOX_MAX_CHARS or box.tag in _STOP_TAGS:
            continue
        if page_chars is None:  # only pages with a candidate box pay for measuring the whole page
            page_chars = scan.visible_chars()
        if size > max(200, page_chars // 2):
            continue
        text = clean_text(box)
        if kind == "share":
            ok, reason = size <= 200 or _link_share(box, length) > 0.7, "structure"
        elif kind == "cookie":
            ok, reason = size <= 1200, "phrase"
        elif kind == "related":
            box = start.getnext() if start.getnext() is not None else start
            ok = box is not start and _link_share(box, length) > 0.6 and len(box.findall(".//a")) >= 2
            reason, text = "structure", clean_text(box)
            if ok:
                found.append((start, RemovedBlock(clean_text(start), "structure", detail)))
        else:
            hits = appeal_hits(text)
            has_cta = kind == "cta" or any(True for _ in _cta_within(box))
            ok = hits >= 2 or hits >= 1 and (has_cta or size <= 400) or kind == "cta" and size <= 80 and hits
            reason = "structure" if has_cta else "phrase"
            if kind == "cta" and not hits:
                ok = False
        if ok and not protected(box):
            found.append((box, RemovedBlock(text, reason, detail)))
            done.add(box)
    return found


def _cta_within(box: HtmlElement) -> Iterable[HtmlElement]:
    for a in box.iter("a", "button", "input", "form"):
        if a.tag == "form" or a.tag == "input" and (a.get("type") or "").lower() == "email":
            yield a
        elif a.tag == "a" and _CTA_HREF.search(a.get("href") or ""):
            yield a
        elif a.tag == "button" and _CTA_TEXT.match(clean_text(a)):
            yield a


def remove_boxes(boxes: list[tuple[HtmlElement, RemovedBlock]]) -> list[RemovedBlock]:
    """Drop the outermost of nested boxes from the tree (keeping their tail text); return what went."""
    boxes = sorted(boxes, key=lambda b: sum(1 for _ in b[0].iterancestors()))
    kept: list[tuple[HtmlElement, RemovedBlock]] = []
    for el, block in boxes:
        if not any(_contains(k, el) for k, _ in kept):
            kept.append((el, block))
    for el, _ in kept:
        if el.getparent() is not None:
            el.drop_tree()
    return [block for _, block in kept if block.text]
