"""Plain values that cross the boundary between the crawler and the archive.

The crawler turns Scrapy objects into these, so that ``archive`` never imports Scrapy and archives can be
written, read and re-indexed without crawling.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["header_value", "HttpExchange", "RecordPointer", "sha256_digest", "short_id", "warc_date",
           "parse_warc_date"]


@dataclass(frozen=True)
class HttpExchange:
    """One HTTP request and its response, as received (body still Content-Encoded)."""

    url: str
    status: int
    response_headers: list[tuple[str, str]]
    body: bytes
    method: str = "GET"
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: bytes = b""
    protocol: str = "HTTP/1.1"
    reason: str = ""
    captured_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ip_address: str | None = None
    # A page requisite's type (stylesheet, image, font, script), written as Browsertrix's
    # WARC-Resource-Type so that reindex files it as a requisite again; None for pages.
    resource_type: str | None = None


@dataclass(frozen=True)
class RecordPointer:
    """Where a WARC record lives, and what it contains, as the index stores it."""

    warc_file: str  # final file name (without ".open"), relative to the data directory's warc/ folder
    offset: int  # of the record's gzip member
    length: int  # of the record's gzip member, compressed
    record_id: str  # "<urn:uuid:...>"
    record_type: str  # response, revisit, resource, request, warcinfo
    payload_digest: str | None  # "sha256:BASE32", as written in the record
    block_digest: str | None
    date: str  # WARC-Date, ISO 8601 UTC

    @property
    def capture_id(self) -> str:
        """The stable short id of the capture this record starts (also its article's id)."""
        return short_id(self.record_id)


def header_value(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first value of a header in a (name, value) list, case-insensitively (HTTP and WARC alike)."""
    lname = name.lower()
    return next((value for key, value in headers if key.lower() == lname), None)


def sha256_digest(data: bytes) -> str:
    """A digest as WARC headers spell it: ``sha256:`` and the base32 of the hash."""
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode("ascii")


def short_id(record_id: str) -> str:
    """A stable, URL-safe 12-character id derived from a WARC record id: the same after any reindex."""
    raw = hashlib.sha256(record_id.encode("utf-8")).digest()
    return base64.b32encode(raw).decode("ascii").lower()[:12]


def warc_date(moment: datetime) -> str:
    """WARC-Date text (UTC, millisecond precision, as WARC 1.1 allows)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_warc_date(text: str) -> datetime:
    """Parse a WARC-Date (with or without fractional seconds) into an aware UTC datetime."""
    value = text.strip().replace("Z", "+00:00")
    return datetime.fromisoformat(value).astimezone(UTC)
