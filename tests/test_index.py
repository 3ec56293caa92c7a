"""The index on real SQLite: captures, article versions judged on text, FTS5 search, bad queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.index import Index, SearchError, capture_row, text_hash
from archive.records import RecordPointer


def pointer(n: int) -> RecordPointer:
    return RecordPointer(
        warc_file="morgue-1.warc.gz",
        offset=100 * n,
        length=90,
        record_id=f"<urn:uuid:{n}>",
        record_type="response",
        payload_digest=f"sha256:P{n}",
        block_digest=f"sha256:B{n}",
        date=f"2026-11-2{n}T10:00:00.000Z",
    )


def capture(index: Index, n: int, url: str) -> dict:
    row = capture_row(
        pointer(n),
        url=url,
        status=200,
        headers=[("Content-Type", "text/html"), ("ETag", f'"{n}"')],
        payload_length=1000,
        site="gazette",
        crawl_id=1,
        kind="page",
    )
    assert index.add_capture(row)
    return row


def extraction(
    text: str, title: str = "Harbour dredging", published: str = "2026-11-20T08:00:00+00:00"
) -> dict:
    return {
        "text": text,
        "title": title,
        "authors": ["Ann Writer"],
        "published": published,
        "language": "en",
        "removed": [{"text": "Donate now", "reason": "phrase", "detail": "donate"}],
        "extractor": "test",
    }


@pytest.fixture
def index(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Index(tmp_path / "morgue.db") as idx:
        yield idx


def test_versions_are_judged_on_text(index: Index) -> None:
    url = "https://news.example/a"
    first = capture(index, 1, url)
    assert index.add_article(
        first, extraction("The dredger arrives in January."), url=url, site="gazette"
    ) == ("new", first["id"])
    again = capture(index, 2, url)
    # whitespace differences are not an edit
    assert index.add_article(again, extraction("The dredger  arrives\nin January."), url=url, site="gazette")[
        0
    ] == ("unchanged")
    edited = capture(index, 3, url)
    assert index.add_article(
        edited, extraction("The dredger arrives in March."), url=url, site="gazette"
    ) == ("version", edited["id"])
    index.commit()
    rows = list(
        index.db.query("SELECT version, latest, text FROM articles WHERE url = ? ORDER BY version", [url])
    )
    assert [(r["version"], r["latest"]) for r in rows] == [(1, 0), (2, 1)]
    assert rows[0]["text"].endswith("January.")  # the earlier version stays
    kinds = dict(index.db.execute("SELECT id, kind FROM captures").fetchall())
    assert (
        kinds[first["id"]] == "article" and kinds[again["id"]] == "page" and kinds[edited["id"]] == "article"
    )


def test_captures_are_idempotent(index: Index) -> None:
    row = capture(index, 1, "https://news.example/a")
    assert not index.add_capture(row)
    assert index.db["captures"].count == 1


def test_search_ranks_and_snippets(index: Index) -> None:
    for n, (url, text) in enumerate(
        [
            ("https://news.example/a", "The lighthouse keeper retired after forty years on the rock."),
            (
                "https://news.example/b",
                "A new ferry timetable starts in spring; the lighthouse is unaffected.",
            ),
            ("https://news.example/c", "The council budget leak revealed cuts to libraries."),
        ],
        start=1,
    ):
        row = capture(index, n, url)
        index.add_article(
            row,
            extraction(text, title=f"Story {n}", published=f"2026-11-0{n}T08:00:00+00:00"),
            url=url,
            site="gazette",
        )
    index.commit()
    hits = index.search("lighthouse")
    assert {h.url for h in hits} == {"https://news.example/a", "https://news.example/b"}
    assert all("[lighthouse]" in h.snippet for h in hits)
    assert [h.url for h in index.search("lighthouse", order="newest")] == [
        "https://news.example/b",
        "https://news.example/a",
    ]
    assert [h.url for h in index.search('"lighthouse keeper"')] == ["https://news.example/a"]
    assert [h.url for h in index.search("lighthouse NOT ferry")] == ["https://news.example/a"]
    assert [h.url for h in index.search("libra*")] == ["https://news.example/c"]
    unterminated = index.search('"lighthouse keeper')  # read as the phrase, with a message saying so
    assert [h.url for h in unterminated] == ["https://news.example/a"]
    assert unterminated.message == 'The closing quote was missing: searched for "lighthouse keeper" instead.'
    with pytest.raises(SearchError, match="only says what to leave out"):
        index.search("-lighthouse")
    with pytest.raises(SearchError, match="empty query"):
        index.search("  ")


def test_text_hash_ignores_whitespace_only() -> None:
    assert text_hash("a b\n\nc") == text_hash(" a  b c ")
    assert text_hash("a b c") != text_hash("a b d")


def test_readonly_index_refuses_writes(tmp_path: Path) -> None:
    with Index(tmp_path / "morgue.db") as writer:
        capture(writer, 1, "https://news.example/a")
    reader = Index(tmp_path / "morgue.db", readonly=True)
    with pytest.raises(Exception, match="readonly"):
        reader.db.execute("DELETE FROM captures")
    reader.close()


def test_phrase_search_needs_the_words_together_and_in_order(index: Index) -> None:
    for n, (url, title, text) in enumerate([
        ("https://news.example/a", "Story 1", "The lighthouse keeper retired after forty years."),
        ("https://news.example/b", "Story 2", "The keeper said the lighthouse would close."),
        ("https://news.example/c", "Lighthouse keepers meet", "A meeting on the quay."),
    ], start=1):
        row = capture(index, n, url)
        index.add_article(row, extraction(text, title=title, published=f"2026-11-0{n}T08:00:00+00:00"),
                          url=url, site="gazette")
    index.commit()
    assert {h.url for h in index.search("lighthouse keeper")} == {
        "https://news.example/a", "https://news.example/b", "https://news.example/c"}
    assert [h.url for h in index.search('"lighthouse keeper"', order="newest")] == [
        "https://news.example/c", "https://news.example/a"]
    assert [h.url for h in index.search('title:"lighthouse keeper"')] == ["https://news.example/c"]


def test_new_versions_keep_the_full_text_index_consistent(tmp_path: Path) -> None:
    """From schema 5: the update trigger now fires on title/text changes only; search stays right."""
    from archive.schema import SCHEMA_VERSION

    path = tmp_path / "morgue.db"
    _old_index(path, version=5)
    with Index(path) as index:
        assert index.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        url = "https://news.example/a"
        first = capture(index, 1, url)
        index.add_article(first, extraction("The dredger arrives in January."), url=url, site="gazette")
        edited = capture(index, 2, url)
        index.add_article(edited, extraction("The dredger arrives in March."), url=url, site="gazette")
        index.commit()
        assert [h.url for h in index.search("January", all_versions=True)] == [url]
        assert index.search("January") == [] and [h.url for h in index.search("March")] == [url]
        index.db.execute("UPDATE articles SET text = 'The dredger was cancelled.' WHERE version = 2")
        assert index.search("March") == [] and [h.url for h in index.search("cancelled")] == [url]
        index.db.execute("INSERT INTO articles_fts (articles_fts) VALUES ('integrity-check')")


def _site_counts(index: Index) -> dict[str, tuple[int, int, int]]:
    kept = {r[0]: tuple(r[1:]) for r in index.db.execute(
        "SELECT site, versions, articles, captures FROM site_counts WHERE versions OR captures")}
    counted: dict[str, list[int]] = {}
    for site, versions, latest in index.db.execute(
            "SELECT coalesce(site, ''), count(*), sum(latest) FROM articles GROUP BY 1"):
        counted[site] = [versions, latest, 0]
    for site, captures in index.db.execute("SELECT coalesce(site, ''), count(*) FROM captures GROUP BY 1"):
        counted.setdefault(site, [0, 0, 0])[2] = captures
    assert kept == {site: tuple(n) for site, n in counted.items()}
    return kept


def test_site_counts_follow_every_change(tmp_path: Path) -> None:
    """The home page's figures (schema v9) are kept by triggers: filed, re-versioned, moved and deleted
    articles and captures; an index from before v9 gets them counted as it is migrated."""
    path = tmp_path / "morgue.db"
    _old_index(path, version=8)
    with Index(path) as index:  # v9 counts what an older morgue filed
        assert _site_counts(index) == {}
    url = "https://news.example/a"
    with Index(path) as index:
        first = capture(index, 1, url)
        index.add_article(first, extraction("The dredger arrives in January."), url=url, site="gazette")
        edited = capture(index, 2, url)
        index.add_article(edited, extraction("The dredger arrives in March."), url=url, site="gazette")
        other = capture(index, 3, "https://news.example/b")
        index.add_article(other, extraction("A ferry."), url="https://news.example/b", site="herald")
        index.commit()
        assert _site_counts(index) == {"gazette": (2, 1, 3), "herald": (1, 1, 0)}  # captures: all gazette
        index.db.execute("UPDATE articles SET site = 'herald' WHERE id = ?", [edited["id"]])
        index.db.execute("UPDATE captures SET site = NULL WHERE id = ?", [other["id"]])
        index.db.execute("DELETE FROM articles WHERE id = ?", [first["id"]])
        assert _site_counts(index) == {"gazette": (0, 0, 2), "herald": (2, 2, 0), "": (0, 0, 1)}
    import sqlite3

    conn = sqlite3.connect(path)
    triggers = conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'site_counts_%'").fetchall()
    for (trigger,) in triggers:
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DROP TABLE site_counts")
    for column in ("sitemaps", "sitemaps_skipped_by_lastmod", "lastmod_lies", "since"):  # and v10's
        conn.execute(f"ALTER TABLE crawls DROP COLUMN {column}")
    conn.execute("PRAGMA user_version = 8")
    conn.commit()
    conn.close()
    with Index(path) as index:  # the migration's backfill counts the same
        assert _site_counts(index) == {"gazette": (0, 0, 2), "herald": (2, 2, 0), "": (0, 0, 1)}


def _old_index(path: Path, version: int = 5) -> None:
    import sqlite_utils

    from archive.schema import MIGRATIONS

    db = sqlite_utils.Database(path)
    for number, migration in enumerate(MIGRATIONS[:version], start=1):
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")
    db.conn.commit()
    db.conn.close()


def _version(path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_readers_bring_an_older_index_up_to_date_unless_someone_writes(tmp_path: Path) -> None:
    from archive.lock import DataDirLock
    from archive.schema import SCHEMA_VERSION

    held = tmp_path / "held" / "morgue.db"
    held.parent.mkdir()
    _old_index(held)
    lock = DataDirLock(held.parent)
    lock.acquire()
    try:
        with Index(held, readonly=True) as index:  # a writer holds the directory: left as it is
            assert index.counts()["articles"] == 0
        assert _version(held) == 5
    finally:
        lock.release()

    free = tmp_path / "free" / "morgue.db"
    free.parent.mkdir()
    _old_index(free)
    with Index(free, readonly=True) as index:
        assert index.search("anything") == []
    assert _version(free) == SCHEMA_VERSION


def test_refiling_an_article_under_its_id_keeps_counts_and_search_right(tmp_path: Path) -> None:
    """Filing a capture again that is already an article (a crash-recovery or reindex re-file, an extractor
    that now reads it differently) replaces its row: INSERT OR REPLACE deletes the old row, and its delete
    triggers must run, or ``site_counts`` counts the version twice and full-text search keeps its old text."""
    url = "https://news.example/a"
    with Index(tmp_path / "morgue.db") as index:
        first = capture(index, 1, url)
        index.add_article(first, extraction("The dredger arrives in January."), url=url, site="gazette")
        edited = capture(index, 2, url)
        index.add_article(edited, extraction("The dredger arrives in March."), url=url, site="gazette")
        index.commit()
        assert _site_counts(index) == {"gazette": (2, 1, 2)}
        outcome, article_id = index.add_article(first, extraction("The dredger arrives in April."), url=url,
                                                site="gazette")
        index.commit()
        assert (outcome, article_id) == ("version", first["id"])
        assert index.db.execute("SELECT count(*) FROM articles").fetchone()[0] == 2
        assert _site_counts(index) == {"gazette": (2, 1, 2)}
        assert index.search("January", all_versions=True) == []
        assert [h.id for h in index.search("April")] == [first["id"]]
        assert [h.id for h in index.search("March", all_versions=True)] == [edited["id"]]
        index.db.execute("INSERT INTO articles_fts (articles_fts) VALUES ('integrity-check')")
