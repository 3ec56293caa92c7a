"""The archived page as served from its WARC record, and the raw record as a download.

Archived HTML is hostile input: it is served with ``Content-Security-Policy: sandbox`` (an opaque origin,
no scripts, no forms, no popups) and ``default-src 'none'`` (no request leaves for the live web or reaches
datasette), so nothing in it runs in or reads from the reading room's origin. File names never come from
the URL: the capture id is looked up in the index and its ``warc_file`` is used.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from html import escape as html_escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archive.ingest import charset_of, decoded_body
from archive.requisites import STYLESHEET, css_requisites, html_requisites, resolve
from archive.rewrite import REPLAY_PREFIX, replay_path, rewrite_css, rewrite_html, sniff_charset
from archive.warc_reader import WarcReadError, read_record, resolve_warc_path

__all__ = ["ARCHIVED_CSP", "ArchivedResponse", "CAPTURE_ID", "archived_page", "raw_record", "REPLAY_ROUTE",
           "replayed", "missing_requisites", "nearest_capture", "payload_capture", "timestamp_of",
           "replay_csp", "replay_path", "rendered_view"]

CAPTURE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ARCHIVED_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
                "media-src data:; form-action 'none'; base-uri 'none'")
# Served inline (inside the sandbox); any other type is offered as a download.
_INLINE_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/pdf", "image/",
                 "application/xml", "text/xml", "application/rss+xml", "application/atom+xml", "text/css")


@dataclass
class ArchivedResponse:
    body: bytes
    content_type: str
    headers: dict[str, str]


def _safe_headers(row: dict[str, Any]) -> dict[str, str]:
    return {
        "Content-Security-Policy": ARCHIVED_CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Cache-Control": "private, max-age=3600",
        "X-Morgue-Capture": row["id"],
    }


def archived_page(warc_dir: Path, row: dict[str, Any],
                  target: dict[str, Any] | None = None) -> ArchivedResponse:
    """The payload of a capture as the browser first received it (Content-Encoding undone).

    ``row`` is the capture asked for; for a revisit, ``target`` is the capture whose record holds the
    payload (identical digest, or the earlier response a 304 confirmed).
    """
    source = target or row
    record = read_record(warc_dir, source["warc_file"], int(source["warc_offset"]))
    if record.pointer.record_id != source["record_id"]:
        raise WarcReadError(f"{source['warc_file']} at offset {source['warc_offset']} holds "
                            f"{record.pointer.record_id}, not {source['record_id']} as the index says")
    if record.pointer.record_type not in ("response", "resource"):
        raise WarcReadError(f"capture {source['id']} is a {record.pointer.record_type} record with no page")
    try:
        body = decoded_body(record)
    except (ValueError, OSError) as exc:
        raise WarcReadError(f"capture {source['id']}: cannot decode the archived body: {exc}") from exc
    content_type = (record.content_type or "application/octet-stream").strip()
    headers = _safe_headers(row)
    headers["Memento-Datetime"] = _http_date(row["captured_at"])
    headers["Link"] = f'<{_header_safe(row["url"])}>; rel="original"'
    if record.status is not None:
        headers["X-Archived-Status"] = str(record.status)
    if not content_type.lower().startswith(_INLINE_TYPES):
        headers["Content-Disposition"] = f'attachment; filename="{row["id"]}.bin"'
    return ArchivedResponse(body=body, content_type=_header_safe(content_type), headers=headers)


def raw_record(warc_dir: Path, row: dict[str, Any]) -> ArchivedResponse:
    """The bytes [offset, offset + length) of the WARC file: one record, itself a valid WARC file."""
    path = resolve_warc_path(warc_dir, row["warc_file"])
    offset, length = int(row["warc_offset"]), int(row["warc_length"] or 0)
    if length <= 0:
        raise WarcReadError(f"capture {row['id']} has no record length in the index")
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(length)
    if len(data) != length:
        raise WarcReadError(f"{path.name} ends before offset {offset} + {length}: the file is truncated")
    gz = row["warc_file"].endswith(".gz")
    name = f"morgue-{row['id']}.warc" + (".gz" if gz else "")
    headers = _safe_headers(row)
    headers["Content-Disposition"] = f'attachment; filename="{name}"'
    headers["X-WARC-Record-ID"] = _header_safe(row["record_id"])
    return ArchivedResponse(body=data, content_type="application/warc", headers=headers)


_RENDER_SUFFIX = {"image/png": "png", "image/jpeg": "jpg", "application/pdf": "pdf",
                  "application/json": "json"}


def rendered_view(warc_dir: Path, row: dict[str, Any]) -> ArchivedResponse:
    """A screenshot, thumbnail or PDF ``morgue render`` made (a ``renders`` row), from its WARC record,
    refused if the record is not the one indexed or its bytes no longer match their digest."""
    return _stored_view(warc_dir, row, f"rendered {row['view']}",
                        f"morgue-{row['capture_id']}-{row['view']}")


def resource_view(warc_dir: Path, row: dict[str, Any]) -> ArchivedResponse:
    """A screenshot or thumbnail another tool took (an imported ``resources`` row, e.g. Browsertrix's),
    checked as a render is."""
    return _stored_view(warc_dir, row, row["kind"], f"imported-{row['id']}-{row['kind'].replace(' ', '-')}")


def _stored_view(warc_dir: Path, row: dict[str, Any], what: str, filename: str) -> ArchivedResponse:
    from archive.verify import payload_matches

    record = read_record(warc_dir, row["warc_file"], int(row["warc_offset"]))
    if record.pointer.record_id != row["record_id"]:
        raise WarcReadError(f"{row['warc_file']} at offset {row['warc_offset']} holds "
                            f"{record.pointer.record_id}, not {row['record_id']} as the index says")
    if not row["payload_digest"] or not payload_matches(row["payload_digest"], record.payload):
        raise WarcReadError(f"the {what} {row['record_id']} does not match its digest (run morgue verify)")
    content_type = _header_safe(row["content_type"] or "application/octet-stream")
    headers = _safe_headers(row)
    headers["Content-Disposition"] = (f'inline; filename="{_header_safe(filename)}.'
                                      f'{_RENDER_SUFFIX.get(content_type, "bin")}"')
    headers["X-WARC-Record-ID"] = _header_safe(row["record_id"])
    return ArchivedResponse(body=record.payload, content_type=content_type, headers=headers)


def _header_safe(value: str) -> str:
    return "".join(ch for ch in str(value) if 32 <= ord(ch) < 127 and ch not in "\r\n")


def _http_date(warc_date: str) -> str:
    from datetime import datetime
    from email.utils import format_datetime

    try:
        moment = datetime.fromisoformat(warc_date.replace("Z", "+00:00"))
    except ValueError:
        return _header_safe(warc_date)
    return format_datetime(moment, usegmt=True)


# -- the styled view: the archived page with its requisites, served from the archive -----------------------
# /-/archived/ID is a reading room page holding the archived page in a sandboxed frame; the frame and every
# requisite come from /-/replay/<timestamp>/<url> (the capture of url nearest to timestamp), with HTML and
# CSS rewritten to point there (archive.rewrite) and a CSP that allows loads from that path only.

REPLAY_ROUTE = r"^/-/replay/(?P<ts>\d{14})(?:-(?P<id>[A-Za-z0-9_-]{12}))?/(?P<url>.+)$"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_MAX_MISSING_DEPTH = 3


def replay_csp(origin: str) -> str:
    """The sandbox of replayed content: an opaque origin, no scripts, and loads from the replay endpoint
    of this reading room only (``origin`` is its scheme://host:port)."""
    src = f"{origin}{REPLAY_PREFIX}"
    return (f"sandbox; default-src 'none'; style-src 'unsafe-inline' {src}; img-src {src} data:; "
            f"font-src {src} data:; media-src {src} data:; frame-src {src}; form-action 'none'; "
            "base-uri 'none'")


def timestamp_of(captured_at: str) -> str:
    """A capture time as the 14 digits of a replay URL."""
    return re.sub(r"\D", "", captured_at)[:14].ljust(14, "0")


def nearest_capture(conn: Any, url: str, timestamp: str, capture_id: str | None = None
                    ) -> dict[str, Any] | None:
    """The capture of ``url`` nearest in time to ``timestamp`` (before or after, as pywb answers), or the
    one named by ``capture_id`` if it is a capture of that URL."""
    if capture_id:
        row = _one(conn, "SELECT * FROM captures WHERE id = ? AND url = ?", [capture_id, url])
        if row is not None:
            return row
    t = timestamp
    when = f"{t[:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}"
    return _one(conn, "SELECT * FROM captures WHERE url = ? AND record_type IN ('response', 'revisit') "
                "ORDER BY abs(julianday(captured_at) - julianday(?)), captured_at DESC LIMIT 1", [url, when])


def payload_capture(conn: Any, row: dict[str, Any]) -> dict[str, Any] | None:
    """The capture whose record holds a capture's payload: itself, or the record a revisit refers to
    (None if that record is not in the index)."""
    if row["record_type"] != "revisit":
        return row
    if not row.get("refers_to"):
        return None
    return _one(conn, "SELECT * FROM captures WHERE record_id = ?", [row["refers_to"]])


def _one(conn: sqlite3.Connection, sql: str, params: list[Any]) -> dict[str, Any] | None:
    """One row as a dict, without touching the connection's own row factory (datasette's)."""
    cursor = conn.cursor()
    cursor.row_factory = lambda cur, values: {d[0]: v for d, v in zip(cur.description, values, strict=True)}
    return cursor.execute(sql, params).fetchone()


def _decoded_text(page: ArchivedResponse) -> str:
    return page.body.decode(sniff_charset(page.body, charset_of(page.content_type)), "replace")


def replayed(warc_dir: Path, conn: Any, timestamp: str, url: str, origin: str,
             capture_id: str | None = None) -> tuple[int, ArchivedResponse]:
    """(status, response) for ``/-/replay/<timestamp>/<url>``: the nearest capture, HTML and CSS rewritten
    to the archive, a redirect kept inside it, a 404 page when the archive lacks the URL."""
    row = nearest_capture(conn, url, timestamp, capture_id)
    source = payload_capture(conn, row) if row is not None else None
    if row is None or source is None:
        body = (f"<!doctype html><meta charset=utf-8><title>Not archived</title>"
                f"<p>The archive holds no copy of {html_escape(url)}.</p>").encode()
        headers = {**_safe_headers({"id": "-"}), "Content-Security-Policy": replay_csp(origin)}
        return 404, ArchivedResponse(body, "text/html; charset=utf-8", _replay_headers(headers, origin))
    # A revisit answers as the response holding its payload did: a 304's earlier 200, an identical
    # payload's own status (a requisite's repeated 404 stays a 404).
    status = int(source["status"] or 200)
    if 300 <= status < 400:
        record = read_record(warc_dir, source["warc_file"], int(source["warc_offset"]))
        location = resolve(url, record.http_header("Location") or "")
        if location:
            headers = _replay_headers(_safe_headers(row), origin)
            headers["Location"] = replay_path(timestamp, location)
            return 302, ArchivedResponse(b"", "text/plain", headers)
    page = archived_page(warc_dir, row, source if source is not row else None)
    page.headers = _replay_headers(page.headers, origin)
    page.headers.pop("Content-Disposition", None)
    kind = page.content_type.split(";")[0].strip().lower()
    if kind in _HTML_TYPES:
        page.body = rewrite_html(_decoded_text(page), row["url"], timestamp).encode("utf-8")
        page.content_type = "text/html; charset=utf-8"
    elif kind == "text/css":
        page.body = rewrite_css(_decoded_text(page), row["url"], timestamp).encode("utf-8")
        page.content_type = "text/css; charset=utf-8"
    elif kind.startswith(("font/", "application/font", "application/x-font")) or \
            urlsplit(url).path.lower().endswith((".woff2", ".woff", ".ttf", ".otf", ".eot")):
        # Fonts load in CORS mode, and the sandboxed page's origin is opaque ("null").
        page.headers["Access-Control-Allow-Origin"] = "*"
    return (200 if 300 <= status < 400 else status), page  # a redirect without a Location: its body


def _replay_headers(headers: dict[str, str], origin: str) -> dict[str, str]:
    # The frame's origin is opaque, so its loads are cross-origin: the default same-origin policy of
    # archived responses would block them.
    return {**headers, "Content-Security-Policy": replay_csp(origin),
            "Cross-Origin-Resource-Policy": "cross-origin"}


@dataclass
class Missing:
    url: str
    reason: str


def missing_requisites(warc_dir: Path, conn: Any, row: dict[str, Any]) -> tuple[int, list[Missing]]:
    """(how many requisites the page names, those the archive cannot serve and why), by the crawler's own
    rules (archive.requisites), style sheets followed into their imports, fonts and images."""
    source = payload_capture(conn, row)
    if source is None:
        return 0, []
    page = archived_page(warc_dir, row, source if source is not row else None)
    if page.content_type.split(";")[0].strip().lower() not in _HTML_TYPES:
        return 0, []
    reasons = _crawl_reasons(conn, row.get("crawl_id"))
    timestamp = timestamp_of(row["captured_at"])
    found = html_requisites(page.body, row["url"], encoding=sniff_charset(page.body, charset_of(
        page.content_type)))
    seen: set[str] = set()
    missing: list[Missing] = []
    depth = 0
    while found and depth <= _MAX_MISSING_DEPTH:
        nested = []
        for requisite in found:
            if requisite.url in seen:
                continue
            seen.add(requisite.url)
            capture = nearest_capture(conn, requisite.url, timestamp)
            target = payload_capture(conn, capture) if capture is not None else None
            if capture is None or target is None:
                missing.append(Missing(requisite.url, reasons.get(requisite.url, "not archived")))
            elif int(capture["status"] or 200) >= 400:
                missing.append(Missing(requisite.url, f"archived as HTTP {capture['status']}"))
            elif requisite.resource_type == STYLESHEET:
                try:
                    sheet = archived_page(warc_dir, capture, target if target is not capture else None)
                except WarcReadError as exc:
                    missing.append(Missing(requisite.url, f"unreadable: {exc}"))
                    continue
                nested.extend(css_requisites(_decoded_text(sheet), capture["url"]))
        found, depth = nested, depth + 1
    return len(seen), missing


def _crawl_reasons(conn: Any, crawl_id: int | None) -> dict[str, str]:
    """Why the crawl did not archive a requisite, from its crawls row (robots.txt, size cap, timeout...)."""
    if crawl_id is None:
        return {}
    try:
        crawl = _one(conn, "SELECT requisites_blocked_urls, requisite_problems FROM crawls WHERE id = ?",
                     [crawl_id])
    except sqlite3.OperationalError:  # an index from before requisites
        return {}
    if crawl is None:
        return {}
    reasons = {url: "blocked by robots.txt" for url in json.loads(crawl["requisites_blocked_urls"] or "[]")}
    for problem in json.loads(crawl["requisite_problems"] or "[]"):
        reasons.setdefault(problem["url"], f"{problem['problem']}: {problem['detail']}")
    return reasons
