"""Formatting shared by the reading room's pages: dates, bylines, FTS highlights as safe HTML."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

__all__ = ["HL_OPEN", "HL_CLOSE", "highlight_html", "human_date", "json_list", "paragraphs"]

# FTS5 snippet()/highlight() markers: control characters, so the text is escaped first and only these
# become <mark> tags (an archived title can never inject HTML).
HL_OPEN = "\x01"
HL_CLOSE = "\x02"


def highlight_html(text: str | None) -> Markup:
    """Escaped text with the FTS markers turned into <mark> elements."""
    if not text:
        return Markup("")
    escaped = str(escape(text))
    return Markup(escaped.replace(HL_OPEN, "<mark>").replace(HL_CLOSE, "</mark>"))


def human_date(value: str | None, *, with_time: bool = True) -> str:
    """``2026-11-28T07:30:00+00:00`` → ``28 Nov 2026, 07:30 UTC``; unparseable values come back as given."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    day = f"{moment.day} {moment:%b %Y}"
    if not with_time or (len(value) <= 10):
        return day
    offset = moment.strftime("%z")
    zone = "UTC" if offset in ("+0000", "") else f"UTC{offset[:3]}:{offset[3:]}"
    return f"{day}, {moment:%H:%M} {zone}"


def json_list(value: str | None) -> list[Any]:
    """A JSON list column (authors, tags, removed) as a list; anything else as an empty list."""
    if not value:
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        return []
    return parsed if isinstance(parsed, list) else []


def paragraphs(text: str | None) -> list[str]:
    """Extracted text split into paragraphs (the extractor puts one per line)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]
