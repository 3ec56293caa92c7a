"""Per-site extraction rules from a seed file's ``[extract]`` table: what to drop and what to keep.

Selectors are CSS, or XPath when they start with "/" or "(". They are compiled once, at load time, so a
typo fails when the seed file is read, with a message naming the selector, not mid-crawl.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree
from lxml.cssselect import CSSSelector, SelectorError


def compile_selector(selector: str) -> etree.XPath:
    """An lxml XPath for a CSS or XPath selector; ValueError on a bad one."""
    if not isinstance(selector, str) or not selector.strip():
        raise ValueError(f"extract rule selector must be a non-empty string, got {selector!r}")
    selector = selector.strip()
    try:
        if selector.startswith(("/", "(")):
            return etree.XPath(selector)
        return CSSSelector(selector)
    except (etree.XPathSyntaxError, SelectorError, SyntaxError) as exc:
        raise ValueError(f"bad extract rule selector {selector!r}: {exc}") from exc


@dataclass
class SiteRules:
    """``drop``: elements always removed (reason "rule"); ``keep``: elements no morgue layer removes."""

    drop: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._drop = [compile_selector(s) for s in self.drop]
        self._keep = [compile_selector(s) for s in self.keep]

    @classmethod
    def from_mapping(cls, data: Mapping) -> SiteRules:
        """Build from an ``[extract]`` table; ValueError on unknown keys, non-lists or bad selectors."""
        if not isinstance(data, Mapping):
            raise ValueError(f"[extract] must be a table, got {type(data).__name__}")
        unknown = set(data) - {"drop", "keep"}
        if unknown:
            raise ValueError(
                f"unknown key(s) in [extract]: {', '.join(sorted(map(str, unknown)))} (allowed: drop, keep)"
            )
        values = {}
        for key in ("drop", "keep"):
            value = data.get(key, [])
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list | tuple):
                raise ValueError(f"[extract] {key} must be a list of selectors, got {type(value).__name__}")
            values[key] = list(value)
        return cls(**values)

    def dropped(self, root: etree._Element) -> list[tuple[etree._Element, str]]:
        """(element, selector) for every element a drop rule matches."""
        return [
            (el, sel) for sel, xp in zip(self.drop, self._drop, strict=True) for el in _elements(xp(root))
        ]

    def kept(self, root: etree._Element) -> list[etree._Element]:
        return [el for xp in self._keep for el in _elements(xp(root))]


def _elements(result: object) -> list[etree._Element]:
    return [el for el in result if isinstance(el, etree._Element)] if isinstance(result, list) else []
