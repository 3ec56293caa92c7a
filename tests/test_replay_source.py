"""archive.replay: what the renderer's interceptor is answered with, from real WARC records written by
morgue's writer and indexed by its ingest path: decoded bodies, redirects followed inside the archive, the
capture nearest in time, cache-buster queries, revisits, and misses."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

from archive.index import Index
from archive.ingest import ingest_files
from archive.records import HttpExchange
from archive.replay import ArchiveSource, Miss, Served
from archive.warc_writer import REVISIT_IDENTICAL, WarcWriter

SITE = "https://news.example"


def _exchange(path: str, body: bytes, when: datetime, status: int = 200,
              headers: list[tuple[str, str]] | None = None) -> HttpExchange:
    return HttpExchange(url=SITE + path, status=status, body=body, captured_at=when,
                        response_headers=headers or [("Content-Type", "text/css")])


def _archive(tmp_path: Path) -> tuple[Index, ArchiveSource]:
    early = datetime(2026, 1, 1, tzinfo=UTC)
    late = datetime(2026, 6, 1, tzinfo=UTC)
    warc = tmp_path / "warc"
    with WarcWriter(warc) as writer:
        writer.write_exchange(_exchange("/style.css", gzip.compress(b"body{color:red}"), early,
                                        headers=[("Content-Type", "text/css"), ("Content-Encoding", "gzip"),
                                                 ("Transfer-Encoding", "chunked")]))
        writer.write_exchange(_exchange("/style.css", b"body{color:blue}", late))
        writer.write_exchange(_exchange("/old-logo.png", b"", early, status=301,
                                        headers=[("Location", "/img/logo.png")]))
        logo = writer.write_exchange(_exchange("/img/logo.png", b"PNGDATA", early,
                                               headers=[("Content-Type", "image/png")]))
        writer.write_revisit(_exchange("/img/logo.png", b"", late, headers=[("Content-Type", "image/png")]),
                             profile=REVISIT_IDENTICAL, refers_to=logo.record_id,
                             refers_to_uri=SITE + "/img/logo.png", refers_to_date=logo.date,
                             payload_digest=logo.payload_digest or "")
        writer.write_exchange(_exchange("/loop-a", b"", early, status=302, headers=[("Location", "/loop-b")]))
        writer.write_exchange(_exchange("/loop-b", b"", early, status=302, headers=[("Location", "/loop-a")]))
        writer.write_exchange(_exchange("/photo.jpg?w=640", b"JPEG640", early,
                                        headers=[("Content-Type", "image/jpeg")]))
    index = Index(tmp_path / "morgue.db")
    ingest_files(index, sorted(warc.glob("*.warc.gz")), workers=0)
    return index, ArchiveSource(index.db.conn, warc)


def test_body_decoded_and_encoding_headers_dropped(tmp_path: Path) -> None:
    _, source = _archive(tmp_path)
    answer = source.lookup(SITE + "/style.css", "2026-01-02T00:00:00Z")
    assert isinstance(answer, Served)
    assert answer.body == b"body{color:red}"
    names = {k.lower() for k, _ in answer.headers}
    assert "content-encoding" not in names and "content-length" not in names
    assert "transfer-encoding" not in names and "x-orig-transfer-encoding" not in names
    assert ("Content-Type", "text/css") in answer.headers


def test_the_capture_nearest_in_time_is_served(tmp_path: Path) -> None:
    _, source = _archive(tmp_path)
    late = source.lookup(SITE + "/style.css", "2026-05-20T00:00:00Z")
    assert isinstance(late, Served) and late.body == b"body{color:blue}"
    assert late.captured_at.startswith("2026-06-01")


def test_redirects_are_followed_inside_the_archive(tmp_path: Path) -> None:
    _, source = _archive(tmp_path)
    answer = source.lookup(SITE + "/old-logo.png", "2026-01-01T00:00:00Z")
    assert isinstance(answer, Served)
    assert answer.status == 200 and answer.body == b"PNGDATA"
    assert answer.final_url == SITE + "/img/logo.png"
    loop = source.lookup(SITE + "/loop-a", "2026-01-01T00:00:00Z")
    assert isinstance(loop, Miss) and "redirect loop" in loop.reason


def test_a_revisit_serves_the_payload_it_stands_for(tmp_path: Path) -> None:
    index, source = _archive(tmp_path)
    answer = source.lookup(SITE + "/img/logo.png", "2026-06-01T00:00:00Z")
    assert isinstance(answer, Served) and answer.body == b"PNGDATA"
    original = index.db.execute("SELECT record_id FROM captures WHERE url = ? AND record_type = 'response'",
                                [SITE + "/img/logo.png"]).fetchone()[0]
    assert answer.record_id == original


def test_a_cache_buster_query_falls_back_to_the_same_path(tmp_path: Path) -> None:
    _, source = _archive(tmp_path)
    answer = source.lookup(SITE + "/photo.jpg?w=1280", "2026-01-01T00:00:00Z")
    assert isinstance(answer, Served) and answer.body == b"JPEG640"


def test_misses_say_why(tmp_path: Path) -> None:
    _, source = _archive(tmp_path)
    missing = source.lookup(SITE + "/nowhere.css", "2026-01-01T00:00:00Z")
    assert isinstance(missing, Miss) and missing.reason == "not in the archive"
    post = source.lookup(SITE + "/style.css", "2026-01-01T00:00:00Z", method="POST")
    assert isinstance(post, Miss) and "POST" in post.reason
    like = source.lookup(SITE + "/style_css", "2026-01-01T00:00:00Z")
    assert isinstance(like, Miss)
