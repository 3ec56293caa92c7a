"""Rewrite an archived page's and style sheet's URLs to the archive's replay endpoint, pywb-style.

Every URL a page's HTML or CSS names for the browser to load (style sheets, images, fonts, frames, and
the links a reader follows) becomes ``/-/replay/<14-digit timestamp>/<absolute URL>``, which answers the
capture of that URL nearest to the timestamp. Together with a Content-Security-Policy that allows loads
from that endpoint only, no request leaves for the live web. The page is re-emitted token by token
(``html.parser``), so everything that is not a URL stays as archived. Lazy images (``data-src`` and
kin, whose loader script never runs in the reading room) are given their real source, as Browsertrix
makes lazy images eager when it captures.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from html.parser import HTMLParser

from archive.requisites import LAZY_SRC, LAZY_SRCSET, resolve

__all__ = ["rewrite_html", "rewrite_css", "replay_path", "sniff_charset", "REPLAY_PREFIX"]

REPLAY_PREFIX = "/-/replay/"

_URL_ATTRS = {"src", "href", "poster", "background", "action", "formaction", "data", "longdesc"}
_SRCSET_ATTRS = {"srcset", "imagesrcset"}
_META_REFRESH_URL = re.compile(r"(?i)(url\s*=\s*)(['\"]?)([^'\";]+)")
_CSS_URL = re.compile(r"""(url\(\s*)(["']?)([^)'"]*)(\2\s*\))|(@import\s+)(["'])([^"']*)(\6)""", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)

Rewriter = Callable[[str], str]


def replay_path(timestamp: str, url: str) -> str:
    """The replay endpoint's path for ``url`` as of ``timestamp`` (YYYYMMDDhhmmss)."""
    return f"{REPLAY_PREFIX}{timestamp}/{url}"


def sniff_charset(body: bytes, declared: str | None) -> str:
    """The charset to decode an archived page with: the Content-Type's, else a ``<meta charset>``, else
    UTF-8 (decoding never fails: undecodable bytes become U+FFFD)."""
    candidates = [declared] if declared else []
    match = _META_CHARSET.search(body[:4096])
    if match:
        candidates.append(match.group(1).decode("ascii"))
    for name in candidates:
        try:
            "".encode(name)
            return name
        except LookupError:
            continue
    return "utf-8"


def _to_archive(base: str, timestamp: str) -> Rewriter:
    def rewrite(reference: str) -> str:
        url = resolve(base, reference)
        if url is None:
            return reference if reference.strip().startswith(("#", "data:")) else ""
        return replay_path(timestamp, url)

    return rewrite


def _rewrite_srcset(value: str, rewrite: Rewriter) -> str:
    out = []
    for candidate in value.split(", "):
        parts = candidate.strip().split(None, 1)
        if parts:
            out.append(" ".join([rewrite(parts[0]), *parts[1:]]))
    return ", ".join(out)


def _rewrite_css_text(text: str, rewrite: Rewriter) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return f"{match.group(1)}{match.group(2)}{rewrite(match.group(3))}{match.group(4)}"
        return f"{match.group(5)}{match.group(6)}{rewrite(match.group(7))}{match.group(8)}"

    return _CSS_URL.sub(one, text)


def rewrite_css(text: str, base_url: str, timestamp: str) -> str:
    """A style sheet with its ``url()`` and ``@import`` targets pointing at the archive."""
    return _rewrite_css_text(text, _to_archive(base_url, timestamp))


class _Rewriter(HTMLParser):
    def __init__(self, base_url: str, timestamp: str) -> None:
        super().__init__(convert_charrefs=False)
        self.base_url = base_url
        self.timestamp = timestamp
        self.rewrite = _to_archive(base_url, timestamp)
        self.out: list[str] = []
        self._in_style = False

    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> list[tuple[str, str | None]] | None:
        """New attributes, or None when the tag needs no change (it is then emitted as archived)."""
        names = {name for name, _ in attrs}
        values = dict(attrs)
        changed = False
        new: list[tuple[str, str | None]] = []
        for name, value in attrs:
            if value is None:
                new.append((name, value))
                continue
            if name in _URL_ATTRS and not (tag == "meta"):
                value, changed = self.rewrite(value), True
            elif name in _SRCSET_ATTRS or name in LAZY_SRCSET:
                value, changed = _rewrite_srcset(value, self.rewrite), True
            elif name in LAZY_SRC:
                value, changed = self.rewrite(value), True
            elif name == "style":
                value, changed = _rewrite_css_text(value, self.rewrite), True
            elif name == "integrity" or (name == "nonce"):
                changed = True  # the rewritten bytes no longer match a subresource hash
                continue
            elif (tag == "meta" and name == "content"
                  and (values.get("http-equiv") or "").lower() == "refresh"):
                value, changed = _META_REFRESH_URL.sub(
                    lambda m: m.group(1) + m.group(2) + self.rewrite(m.group(3)), value), True
            new.append((name, value))
        if tag in ("img", "source"):
            lazy_src = next((values[n] for n in LAZY_SRC if values.get(n)), None)
            if lazy_src and (not values.get("src") or (values.get("src") or "").startswith("data:")):
                new = [(n, v) for n, v in new if n != "src"] + [("src", self.rewrite(lazy_src))]
                changed = True
            lazy_set = next((values[n] for n in LAZY_SRCSET if values.get(n)), None)
            if lazy_set and "srcset" not in names:
                new.append(("srcset", _rewrite_srcset(lazy_set, self.rewrite)))
                changed = True
        if tag == "base":
            new, changed = [(n, v) for n, v in new if n != "href"], True
        return new if changed else None

    def _emit_tag(self, tag: str, attrs: list[tuple[str, str | None]], closing: bool) -> None:
        if tag == "base":
            href = dict(attrs).get("href")
            if href:
                self.base_url = resolve(self.base_url, href) or self.base_url
                self.rewrite = _to_archive(self.base_url, self.timestamp)
        new = self._attrs(tag, attrs)
        text = self.get_starttag_text() or ""
        if new is None:
            self.out.append(text)
            return
        rendered = "".join(f" {n}" if v is None else f' {n}="{escape(v, quote=True)}"' for n, v in new)
        self.out.append(f"<{tag}{rendered}{' /' if closing else ''}>")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._emit_tag(tag, attrs, False)
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._emit_tag(tag, attrs, True)

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        self.out.append(_rewrite_css_text(data, self.rewrite) if self._in_style else data)

    def handle_entityref(self, name: str) -> None:
        self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self.out.append(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self.out.append(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self.out.append(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self.out.append(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self.out.append(f"<![{data}]>")


def rewrite_html(text: str, base_url: str, timestamp: str) -> str:
    """An archived page with every URL it loads or links to pointing at the archive."""
    parser = _Rewriter(base_url, timestamp)
    parser.feed(text)
    parser.close()
    return "".join(parser.out)

