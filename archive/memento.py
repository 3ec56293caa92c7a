"""Memento (RFC 7089) TimeMaps of the captures of a URL, in the application/link-format serialisation."""

from __future__ import annotations

from email.utils import format_datetime
from typing import Any

from archive.index import Index
from archive.records import parse_warc_date
from archive.urls import normalize_url

__all__ = ["timemap", "memento_captures", "http_date"]


def http_date(warc_date: str) -> str:
    """RFC 1123 date (as Memento-Datetime and the ``datetime`` link parameter want it)."""
    return format_datetime(parse_warc_date(warc_date), usegmt=True)


def _timestamp14(warc_date: str) -> str:
    return parse_warc_date(warc_date).strftime("%Y%m%d%H%M%S")


def memento_captures(index: Index, url: str) -> list[dict[str, Any]]:
    """Captures of a URL that a replay can show (not errors), oldest first."""
    candidates = list(dict.fromkeys([url, normalize_url(url)]))
    marks = ", ".join("?" for _ in candidates)
    return list(index.db.query(
        f"SELECT * FROM captures WHERE url IN ({marks}) AND (status IS NULL OR status < 400) "  # noqa: S608
        "ORDER BY captured_at, id", candidates))


def _memento_uri(capture: dict[str, Any], prefix: str | None) -> str:
    if prefix:
        return f"{prefix}{_timestamp14(capture['captured_at'])}/{capture['url']}"
    return f"urn:morgue:capture:{capture['id']}"


def timemap(index: Index, url: str, *, replay_prefix: str | None = None, self_uri: str | None = None) -> str:
    """The link-format TimeMap. With ``replay_prefix`` (e.g. a pywb collection URL ending in ``/``) each
    memento is ``PREFIX<14-digit timestamp>/<url>``; without, a ``urn:morgue:capture:<id>`` naming the
    capture that ``morgue show`` and ``morgue cite`` accept."""
    captures = memento_captures(index, url)
    if not captures:
        raise LookupError(f"no captures of {url} in this archive")
    original = captures[0]["url"]
    lines = [f"<{original}>; rel=\"original\""]
    if self_uri is None and replay_prefix:
        self_uri = f"{replay_prefix.rstrip('/')}/timemap/link/{original}"
    if self_uri:
        lines.append(f"<{self_uri}>; rel=\"self\"; type=\"application/link-format\"; "
                     f"from=\"{http_date(captures[0]['captured_at'])}\"; "
                     f"until=\"{http_date(captures[-1]['captured_at'])}\"")
    last = len(captures) - 1
    for n, capture in enumerate(captures):
        rel = "memento"
        if n == 0:
            rel = "first memento" if last else "first last memento"
        elif n == last:
            rel = "last memento"
        lines.append(f"<{_memento_uri(capture, replay_prefix)}>; rel=\"{rel}\"; "
                     f"datetime=\"{http_date(capture['captured_at'])}\"")
    return ",\n".join(lines) + "\n"
