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
    with pytest.raises(SearchError, match="cannot search"):
        index.search('"unterminated')
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


def _file(index: Index, stories: list[tuple[str, str, str]]) -> None:
    for n, (url, title, text) in enumerate(stories, start=1):
        row = capture(index, n, url)
        index.add_article(row, extraction(text, title=title, published=f"2026-11-0{n}T08:00:00+00:00"),
                          url=url, site="gazette")
    index.commit()


def test_phrase_search_needs_the_words_together_and_in_order(index: Index) -> None:
    _file(index, [
        ("https://news.example/a", "Story 1", "The lighthouse keeper retired after forty years."),
        ("https://news.example/b", "Story 2", "The keeper said the lighthouse would close."),
        ("https://news.example/c", "Lighthouse keepers meet", "A meeting on the quay."),
        ("https://news.example/d", "Story 4", "A lighthouse; its old keeper."),
    ])
    assert {h.url for h in index.search("lighthouse keeper")} == {
        "https://news.example/a", "https://news.example/b", "https://news.example/c", "https://news.example/d"}
    assert {h.url for h in index.search('"lighthouse keeper"')} == {
        "https://news.example/a", "https://news.example/c"}
    assert [h.url for h in index.search('"lighthouse keeper"', order="newest")] == [
        "https://news.example/c", "https://news.example/a"]
    assert [h.url for h in index.search('title:"lighthouse keeper"')] == ["https://news.example/c"]
    assert [h.url for h in index.search('"keeper said" lighthouse')] == ["https://news.example/b"]
    assert [h.url for h in index.search('"lighthouse keeper"', limit=1)] == [
        index.search('"lighthouse keeper"')[0].url]
    assert "[keeper]" in index.search('"lighthouse keeper"', order="newest")[1].snippet
    with pytest.raises(SearchError, match="cannot be combined with 'OR'"):
        index.search('"lighthouse keeper" OR ferry')


def test_phrase_search_checks_a_bounded_number_of_candidates(index: Index, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import archive.search

    stories = [(f"https://news.example/{n}", f"Story {n}", "keeper of a lighthouse") for n in range(1, 5)]
    stories.append(("https://news.example/5", "Story 5", "an old lighthouse keeper"))
    _file(index, stories)
    conn = index.db.conn
    planned = archive.search.plan('"lighthouse keeper"')
    assert archive.search.phrase_rowids(conn, planned, order="newest") == ([5], True)
    monkeypatch.setattr(archive.search, "PHRASE_CHECKS", 3)
    # the three newest candidates are 5, 4, 3: the match is found, but not every candidate was checked
    assert archive.search.phrase_rowids(conn, planned, order="newest") == ([5], False)
    # the count looks at the same newest candidates
    assert archive.search.count_matches(conn, '"lighthouse keeper"') == 1


def test_an_index_from_before_schema_6_is_rebuilt_without_positions(tmp_path: Path) -> None:
    import sqlite_utils

    from archive.schema import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "morgue.db"
    db = sqlite_utils.Database(path)
    for number, migration in enumerate(MIGRATIONS[:5], start=1):
        migration(db)
        db.execute(f"PRAGMA user_version = {number}")
    db.conn.commit()
    db.execute("INSERT INTO articles (id, url, text, title, captured_at, latest, version) "
               "VALUES ('a1', 'https://news.example/a', 'The lighthouse keeper retired.', 'Story', "
               "'2026-11-20T10:00:00Z', 1, 1)")
    db.conn.commit()
    old_sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'articles_fts'").fetchone()[0]
    assert "detail" not in old_sql
    db.conn.close()
    with Index(path) as index:
        assert index.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        sql = index.db.execute("SELECT sql FROM sqlite_master WHERE name = 'articles_fts'").fetchone()[0]
        assert "detail=column" in sql
        assert [h.url for h in index.search('"lighthouse keeper"')] == ["https://news.example/a"]
        assert index.search('"keeper lighthouse"') == []
        index.db.execute("INSERT INTO articles_fts (articles_fts) VALUES ('integrity-check')")
