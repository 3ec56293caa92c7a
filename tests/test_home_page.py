"""The home page morgue serves (``archive.datasette.home``) is kept once rendered until the index changes,
and never shows figures the index has moved past: a real index written between visits."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

from archive.index import Index, capture_row
from archive.reading_room import make_datasette
from archive.records import RecordPointer


def _file(index: Index, n: int) -> None:
    pointer = RecordPointer(warc_file="m.warc.gz", offset=100 * n, length=90, record_id=f"<urn:uuid:{n}>",
                            record_type="response", payload_digest=f"sha256:P{n}",
                            block_digest=f"sha256:B{n}", date=f"2026-11-{n:02d}T10:00:00Z")
    row = capture_row(pointer, url=f"https://gazette.example/{n}", status=200, headers=[], payload_length=90,
                      site="gazette", crawl_id=1, kind="page")
    index.add_capture(row)
    index.add_article(row, {"text": f"Story {n} about the harbour.", "title": f"Story {n}",
                            "published": f"2026-11-{n:02d}", "extractor": "test"},
                      url=f"https://gazette.example/{n}", site="gazette")


def _written_ago(data: Path, seconds: float) -> None:
    """Date the index's last write back (the page is kept only once that second is over; no waiting)."""
    moment = time.time() - seconds
    for path in (data / "morgue.db", data / "morgue.db-wal"):
        if path.exists():
            os.utime(path, (moment, moment))


def _articles(room: object, path: str = "/") -> int:
    page = asyncio.run(room.client.get(path)).text  # type: ignore[attr-defined]
    return int(re.search(r'<p class="morgue-lede">\s*<strong>(\d+)</strong> article', page).group(1))


def test_home_page_follows_every_write(tmp_path: Path) -> None:
    with Index(tmp_path / "morgue.db") as index:
        for n in (1, 2):
            _file(index, n)
    _written_ago(tmp_path, 60)
    room = make_datasette(tmp_path)
    assert _articles(room) == 2 and _articles(room) == 2  # rendered, then kept
    with Index(tmp_path / "morgue.db") as index:
        _file(index, 3)
    assert _articles(room) == 3  # written this second: rendered afresh, and not kept
    with Index(tmp_path / "morgue.db") as index:
        _file(index, 4)
    assert _articles(room) == 4
    _written_ago(tmp_path, 30)
    assert _articles(room) == 4 and _articles(room) == 4
    with Index(tmp_path / "morgue.db") as index:
        _file(index, 5)
    _written_ago(tmp_path, 20)  # a write in a later second than the kept page's
    assert _articles(room) == 5


def test_the_kept_page_is_sent_as_datasette_sent_it_and_only_to_anonymous_visitors(tmp_path: Path) -> None:
    """The kept page is answered in front of datasette's stack (``home.kept_home``): the same status,
    headers and bytes as the page datasette rendered; a visitor with a cookie or an Authorization header
    goes through datasette, and what datasette renders for a signed-in actor is never kept for others."""
    with Index(tmp_path / "morgue.db") as index:
        _file(index, 1)
    _written_ago(tmp_path, 60)
    room = make_datasette(tmp_path)
    rendered = asyncio.run(room.client.get("/"))
    kept = asyncio.run(room.client.get("/"))
    assert (kept.status_code, kept.headers.items(), kept.content) == (
        rendered.status_code, rendered.headers.items(), rendered.content)
    assert kept.headers["content-type"] == "text/html; charset=utf-8" and "editor" not in kept.text
    signed = room.sign({"a": {"id": "editor"}}, "actor")
    for _ in range(2):
        mine = asyncio.run(room.client.get("/", cookies={"ds_actor": signed}))
        assert mine.status_code == 200 and "<strong>editor</strong>" in mine.text
        assert mine.headers["cache-control"] == "private, no-store"
    anonymous = asyncio.run(room.client.get("/"))
    assert anonymous.content == rendered.content and "editor" not in anonymous.text
    with Index(tmp_path / "morgue.db") as index:
        _file(index, 2)
    _written_ago(tmp_path, 30)
    assert _articles(room) == 2 and _articles(room) == 2  # the wrapper keeps no page the index moved past
