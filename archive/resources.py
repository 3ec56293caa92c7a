"""Resource records other tools wrote beside the pages they archived (Browsertrix's ``urn:text:``,
``urn:view:`` screenshots, thumbnails...), as imported into the ``resources`` table.

``morgue show`` and the reading room's article page look them up the same way, here: a page's resources
are those naming its URL, and, when they say which response they were made beside (``WARC-Concurrent-To``),
only those of this capture, so a screenshot of another visit of the page is not shown as this one's.
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = ["resource_by_id", "resources_of", "screenshots_of", "SCREENSHOT_KINDS"]

#: The kinds the reading room shows as pictures of the page (``archive.ingest.RESOURCE_KINDS``).
SCREENSHOT_KINDS = ("thumbnail", "screenshot", "full-page screenshot")


def _query(db: Any, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Rows as dicts from a sqlite3 connection or a sqlite_utils database; none before the table exists
    (an index that never imported anything)."""
    conn: sqlite3.Connection = getattr(db, "conn", db)
    try:
        cursor = conn.execute(sql, params)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def resource_by_id(db: Any, resource_id: str) -> dict[str, Any] | None:
    rows = _query(db, "SELECT * FROM resources WHERE id = ?", [resource_id.strip().lower()])
    return rows[0] if rows else None


def resources_of(db: Any, url: str, record_id: str | None = None) -> list[dict[str, Any]]:
    """The resources of a page URL, oldest first; with ``record_id`` only those made beside that response
    record or naming none."""
    rows = _query(db, "SELECT * FROM resources WHERE target_url = ? ORDER BY captured_at, kind", [url])
    if record_id is None:
        return rows
    return [r for r in rows if not r["refers_to"] or r["refers_to"] == record_id]


def screenshots_of(db: Any, url: str, record_id: str | None) -> dict[str, dict[str, Any]]:
    """The pictures another tool took of this capture: {kind: newest row} for ``SCREENSHOT_KINDS``."""
    return {r["kind"]: r for r in resources_of(db, url, record_id) if r["kind"] in SCREENSHOT_KINDS}
