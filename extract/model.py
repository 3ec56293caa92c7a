"""The values extraction hands to the rest of morgue: plain dataclasses, JSON-ready, no lxml inside."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Reason = Literal["structure", "phrase", "repeated", "rule", "template"]


@dataclass
class RemovedBlock:
    """A block morgue cut from the article, kept so that nothing is lost silently."""

    text: str
    reason: Reason
    detail: str


@dataclass
class Extraction:
    """An extracted article. ``text`` holds one paragraph (or heading, list item, quote) per block,
    blocks separated by a blank line ("\\n\\n"); a paragraph never contains "\\n\\n" itself."""

    text: str
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
    paywalled: bool = False
    removed: list[RemovedBlock] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    extractor: str = ""
    template: str | None = None  # "template vN" when the site's learned template produced the text
    fallback: str | None = None  # why a template was given but the full pipeline ran
    observation: dict[str, Any] | None = None  # what this page teaches a site template (extract(learn=))
    #: through a template with learned metadata sources: per field, the source read or why not
    metadata_from: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
