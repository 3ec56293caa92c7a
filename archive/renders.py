"""Rendered views of a capture as WARC ``resource`` records, and their rows in the ``renders`` table.

A render is what morgue made from the archive (never the live web), so it is a resource pointing at the
response it was made from (``WARC-Refers-To``), not a capture. The names are Browsertrix's, which
ReplayWeb.page and Browsertrix tooling read: ``urn:view:<url>`` (viewport PNG), ``urn:fullPage:<url>``,
``urn:thumbnail:<url>`` (JPEG), plus ``urn:pdf:<url>``; ``urn:renderinfo:<url>`` (JSON) says how the render
went and which requisites came from the archive or were missing. All records of one render share their
``WARC-Date``, which is how the index groups them. Everything here is rebuilt from the records by reindex.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from archive.records import RecordPointer, short_id
from archive.warc_reader import ArchivedRecord
from archive.warc_writer import WarcWriter

__all__ = ["VIEWS", "CITED_VIEWS", "INFO", "RenderedPage", "render_uri", "parse_render_uri",
           "write_render", "record_render_row", "render_set", "renders_of", "RENDER_WARC_PREFIX"]

#: The views a render writes, with their media types, in the order they are written.
VIEWS: dict[str, str] = {"view": "image/png", "fullPage": "image/png", "thumbnail": "image/jpeg",
                         "pdf": "application/pdf"}
INFO = "renderinfo"
#: The views a citation names (the thumbnail is a smaller copy of ``view``).
CITED_VIEWS = ("view", "fullPage", "pdf")
#: Render records go to their own WARC files, so that crawl WARCs hold only what was received.
RENDER_WARC_PREFIX = "morgue-render"
#: The warcinfo field that marks a file written by ``morgue render`` (its screenshots are renders, not
#: another tool's resources).
RENDER_WARCINFO_KEY = "morgue-render"
_PREFIXES = {f"urn:{name}:": name for name in (*VIEWS, INFO)}


def render_uri(view: str, url: str) -> str:
    return f"urn:{view}:{url}"


def parse_render_uri(uri: str) -> tuple[str, str] | None:
    """(view, page url) of a render record's target URI, or None for any other URI."""
    for prefix, name in _PREFIXES.items():
        if uri.startswith(prefix):
            return name, uri[len(prefix):]
    return None


@dataclass
class RenderedPage:
    """The outcome of rendering one capture: the views made (possibly none) and the render's report."""

    capture: Mapping[str, Any]  # the captures row rendered
    url: str  # the page URL the views are named after
    rendered_at: str  # WARC-Date of every record of this render
    outputs: dict[str, bytes]  # view -> bytes, views in VIEWS
    info: dict[str, Any]  # status ("ok", "timeout", "error", "skipped"), served, missing, browser...

    @property
    def status(self) -> str:
        return str(self.info.get("status"))


def write_render(writer: WarcWriter, page: RenderedPage) -> list[dict[str, Any]]:
    """Write a render's records (views first, the renderinfo last, listing their record ids) and return
    their ``renders`` rows."""
    capture = page.capture
    extra = {"WARC-Refers-To": capture["record_id"], "WARC-Refers-To-Target-URI": capture["url"],
             "WARC-Refers-To-Date": capture["captured_at"]}
    rows = []
    written: dict[str, str] = {}
    for view, content_type in VIEWS.items():
        data = page.outputs.get(view)
        if data is None:
            continue
        uri = render_uri(view, page.url)
        pointer = writer.write_resource(uri, data, content_type, date=page.rendered_at, extra=extra)
        written[view] = pointer.record_id
        rows.append(_row(pointer, uri=uri, view=view, refers_to=capture["record_id"], length=len(data),
                         content_type=content_type, status=None))
    info = dict(page.info, records=written)
    data = json.dumps(info, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8")
    uri = render_uri(INFO, page.url)
    pointer = writer.write_resource(uri, data, "application/json", date=page.rendered_at, extra=extra)
    rows.append(_row(pointer, uri=uri, view=INFO, refers_to=capture["record_id"], length=len(data),
                     content_type="application/json", status=page.status, note=_note(info)))
    return rows


def _note(info: Mapping[str, Any]) -> str | None:
    parts = []
    if info.get("error"):
        parts.append(str(info["error"]))
    missing = info.get("missing") or []
    if missing:
        parts.append(f"{len(missing)} requisite{'s' if len(missing) != 1 else ''} not in the archive")
    return "; ".join(parts) or None


def _row(pointer: RecordPointer, *, uri: str, view: str, refers_to: str | None, length: int,
         content_type: str | None, status: str | None, note: str | None = None) -> dict[str, Any]:
    parsed = parse_render_uri(uri)
    return {
        "id": pointer.capture_id, "capture_id": short_id(refers_to) if refers_to else None,
        "page_url": parsed[1] if parsed else uri, "view": view, "uri": uri, "rendered_at": pointer.date,
        "content_type": content_type, "length": length, "status": status, "note": note,
        "refers_to": refers_to, "warc_file": pointer.warc_file, "warc_offset": pointer.offset,
        "warc_length": pointer.length, "record_id": pointer.record_id,
        "payload_digest": pointer.payload_digest, "block_digest": pointer.block_digest,
    }


def record_render_row(record: ArchivedRecord) -> dict[str, Any] | None:
    """The ``renders`` row of a render resource record read back from a WARC file (reindex, import)."""
    parsed = parse_render_uri(record.url)
    if record.pointer.record_type != "resource" or parsed is None:
        return None
    view = parsed[0]
    status = note = None
    if view == INFO:
        try:
            info = json.loads(record.payload)
        except ValueError:
            info = {"status": "unreadable"}
        status, note = str(info.get("status")), _note(info)
    return _row(record.pointer, uri=record.url, view=view, refers_to=record.warc_header("WARC-Refers-To"),
                length=len(record.payload), content_type=record.content_type, status=status, note=note)


def renders_of(db: sqlite3.Connection | Any, capture_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """For each capture id, its latest render's rows: {capture id: {view: row}} (captures never rendered
    are absent)."""
    ids = list(capture_ids)
    if not ids:
        return {}
    conn = getattr(db, "conn", db)
    conn_rows = conn.execute(
        f"SELECT * FROM renders WHERE capture_id IN ({', '.join('?' for _ in ids)}) "  # noqa: S608
        "ORDER BY rendered_at, view", ids)
    names = [d[0] for d in conn_rows.description]
    latest: dict[str, str] = {}
    by_capture: dict[str, dict[str, dict[str, Any]]] = {}
    for values in conn_rows:
        row = dict(zip(names, values, strict=True))
        if row["rendered_at"] != latest.get(row["capture_id"]):
            latest[row["capture_id"]] = row["rendered_at"]
            by_capture[row["capture_id"]] = {}
        by_capture[row["capture_id"]][row["view"]] = row
    return by_capture


def render_set(db: sqlite3.Connection | Any, capture_id: str) -> dict[str, dict[str, Any]]:
    """The latest render of one capture: {view: row}, empty when it was never rendered."""
    return renders_of(db, [capture_id]).get(capture_id, {})
