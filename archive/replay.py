"""Answer a browser's requests from the archive alone: the capture of a URL nearest in time to a page's
capture, redirects followed inside the archive, revisits resolved to the payload they stand for, bodies
decoded.

The renderer (``render/``) hands every request Chromium makes to ``ArchiveSource.lookup``; nothing goes to
the network. What a browser needs differs from what was stored in two ways (measured, see the research
notes): it must get the body with its Content-Encoding undone and no encoding or framing headers (Chromium
drops a stylesheet whose raw gzip arrives with ``Content-Encoding: gzip`` through an interception), and a
redirect must be resolved here, because the target of a fulfilled redirect never reaches the interceptor.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from archive.records import header_value
from archive.warc_reader import ArchivedRecord, WarcReadError, decode_content_encoding, read_record

__all__ = ["ArchiveSource", "Served", "Miss", "DROPPED_HEADERS"]

#: Headers that describe the stored bytes' framing or encoding, not the decoded body a browser is given.
DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding",
                             "x-orig-transfer-encoding", "x-orig-content-length"})
_MAX_REDIRECTS = 10


@dataclass(frozen=True)
class Served:
    """What the archive answers for a URL: the decoded response and the record it came from."""

    url: str  # the requested URL
    final_url: str  # after redirects resolved inside the archive
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    record_id: str  # of the record whose payload this is
    payload_digest: str | None
    captured_at: str

    def info(self) -> dict[str, Any]:
        return {"url": self.url, "final_url": self.final_url, "status": self.status,
                "record_id": self.record_id, "payload_digest": self.payload_digest,
                "captured_at": self.captured_at}


@dataclass(frozen=True)
class Miss:
    """A URL the archive cannot answer, and why."""

    url: str
    reason: str


class ArchiveSource:
    """Lookups over ``captures`` plus reads of their WARC records, with a small cache of decoded bodies
    (a site's style sheet and logo are asked for by every page)."""

    def __init__(self, db: sqlite3.Connection, warc_dir: Path, *, cache_size: int = 256) -> None:
        self.db = db
        self.warc_dir = warc_dir
        self.cache: OrderedDict[str, bytes] = OrderedDict()
        self.cache_size = cache_size

    def lookup(self, url: str, when: str, *, method: str = "GET") -> Served | Miss:
        """The archived answer to ``method url`` as of ``when`` (an ISO capture time)."""
        if method.upper() not in ("GET", "HEAD"):
            return Miss(url, f"{method} requests are not archived")
        current = url
        seen: set[str] = set()
        for _ in range(_MAX_REDIRECTS + 1):
            row = self.nearest(current, when)
            if row is None:
                return Miss(url, "not in the archive" if current == url
                            else f"redirect target {current} is not in the archive")
            try:
                status, headers, body, digest, record_id = self._payload(row)
            except (WarcReadError, ValueError, OSError) as exc:
                return Miss(url, f"archived record unreadable: {exc}")
            location = header_value(headers, "Location")
            if 300 <= status < 400 and location:
                seen.add(current)
                current = urljoin(current, location.strip())
                if current in seen:
                    return Miss(url, f"redirect loop at {current}")
                continue
            return _served(url, current, row, status, headers, body, digest, record_id)
        return Miss(url, f"more than {_MAX_REDIRECTS} redirects")

    def exact(self, row: dict[str, Any]) -> Served:
        """The archived answer of one given capture row (a page rendered is its own record, not the
        capture of its URL nearest in time); WarcReadError or ValueError if it cannot be read."""
        status, headers, body, digest, record_id = self._payload(row)
        return _served(row["url"], row["url"], row, status, headers, body, digest, record_id)

    def nearest(self, url: str, when: str) -> sqlite3.Row | dict[str, Any] | None:
        """The response or revisit capture of ``url`` nearest in time to ``when``; failing that, one of the
        same URL without its query (cache-busters, resizer parameters)."""
        for candidate in _variants(url):
            row = self._query("url = ?", candidate, when)
            if row is not None:
                return row
        stripped = _without_query(url)
        if stripped != url:
            return self._query("url LIKE ? ESCAPE '\\'", _like_prefix(stripped + "?"), when)
        return None

    def _query(self, where: str, value: str, when: str) -> dict[str, Any] | None:
        cursor = self.db.execute(
            "SELECT url, status, record_type, refers_to, warc_file, warc_offset, captured_at, record_id "
            f"FROM captures WHERE {where} AND record_type IN ('response', 'revisit') "  # noqa: S608
            "ORDER BY abs(julianday(captured_at) - julianday(?)), captured_at LIMIT 1", [value, when])
        found = cursor.fetchone()
        if found is None:
            return None
        names = [d[0] for d in cursor.description]
        return dict(zip(names, found, strict=True))

    def _payload(self, row: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes, str | None, str]:
        """(status, headers, decoded body, payload digest, record id) of a capture row; a revisit gets the
        payload of the record it refers to, with its own headers."""
        record = self._read(row["warc_file"], row["warc_offset"])
        status = record.status or 0
        if record.pointer.record_type != "revisit":
            return status, record.http_headers, self._decoded(record), record.pointer.payload_digest, \
                record.pointer.record_id
        target = self._revisit_target(record)
        if target is None:
            raise ValueError(f"revisit {record.pointer.record_id} refers to a record that is not here")
        headers = record.http_headers
        if status == 304:  # a server-not-modified revisit: the earlier response stands, as the browser saw it
            status, headers = target.status or 200, target.http_headers
        return status, headers, self._decoded(target), target.pointer.payload_digest, target.pointer.record_id

    def _revisit_target(self, record: ArchivedRecord) -> ArchivedRecord | None:
        refers_to = record.warc_header("WARC-Refers-To")
        if refers_to:
            found = self.db.execute("SELECT warc_file, warc_offset FROM captures WHERE record_id = ? "
                                    "AND record_type = 'response'", [refers_to]).fetchone()
        else:
            found = self.db.execute(
                "SELECT warc_file, warc_offset FROM captures WHERE url = ? AND payload_digest = ? "
                "AND record_type = 'response' LIMIT 1",
                [record.warc_header("WARC-Refers-To-Target-URI") or record.url,
                 record.warc_header("WARC-Payload-Digest")]).fetchone()
        return self._read(found[0], found[1]) if found else None

    def _read(self, warc_file: str, offset: int) -> ArchivedRecord:
        return read_record(self.warc_dir, warc_file, offset)

    def _decoded(self, record: ArchivedRecord) -> bytes:
        key = record.pointer.record_id
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        body = decode_content_encoding(record.payload, record.http_header("Content-Encoding"))
        self.cache[key] = body
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return body


def _served(url: str, final_url: str, row: dict[str, Any], status: int, headers: list[tuple[str, str]],
            body: bytes, digest: str | None, record_id: str) -> Served:
    kept = [(k, v) for k, v in headers if k.lower() not in DROPPED_HEADERS]
    return Served(url=url, final_url=final_url, status=status, headers=kept, body=body, record_id=record_id,
                  payload_digest=digest, captured_at=row["captured_at"])


def _variants(url: str) -> list[str]:
    """The URL as asked, without its fragment, and with or without a trailing slash on a bare host."""
    parts = urlsplit(url)
    plain = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    out = [url] if url == plain else [url, plain]
    if parts.path == "":
        out.append(urlunsplit((parts.scheme, parts.netloc, "/", parts.query, "")))
    return out


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
