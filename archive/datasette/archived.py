"""The archived page as served from its WARC record, and the raw record as a download.

Archived HTML is hostile input: it is served with ``Content-Security-Policy: sandbox`` (an opaque origin,
no scripts, no forms, no popups) and ``default-src 'none'`` (no request leaves for the live web or reaches
datasette), so nothing in it runs in or reads from the reading room's origin. File names never come from
the URL: the capture id is looked up in the index and its ``warc_file`` is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archive.ingest import decoded_body
from archive.warc_reader import WarcReadError, read_record, resolve_warc_path

__all__ = ["ARCHIVED_CSP", "ArchivedResponse", "CAPTURE_ID", "archived_page", "raw_record", "rendered_view"]

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
    from archive.verify import payload_matches

    record = read_record(warc_dir, row["warc_file"], int(row["warc_offset"]))
    if record.pointer.record_id != row["record_id"]:
        raise WarcReadError(f"{row['warc_file']} at offset {row['warc_offset']} holds "
                            f"{record.pointer.record_id}, not {row['record_id']} as the index says")
    if not row["payload_digest"] or not payload_matches(row["payload_digest"], record.payload):
        raise WarcReadError(f"the rendered {row['view']} {row['record_id']} does not match its digest "
                            "(run morgue verify)")
    content_type = _header_safe(row["content_type"] or "application/octet-stream")
    headers = _safe_headers(row)
    headers["Content-Disposition"] = (f'inline; filename="morgue-{row["capture_id"]}-{row["view"]}.'
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
