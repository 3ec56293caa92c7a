"""Phrases over an index without word positions: the rewrite FTS5 accepts, and the check on the text."""

from __future__ import annotations

import sqlite3

import pytest

from archive.fts_query import QueryError, plan, table_search, words_of_phrases
from archive.index import Index


@pytest.mark.parametrize(
    "query", ["harbour", '"harbour"', "harbo*", "ferry OR lifeboat", "harbour NOT dredging", "title:harbour"]
)
def test_queries_without_phrases_pass_unchanged(query: str) -> None:
    planned = plan(query)
    assert planned.match == query and planned.phrases == ()


def test_a_phrase_becomes_its_words_plus_a_check() -> None:
    planned = plan('"Lighthouse keeper" ferry')
    assert planned.match == '"lighthouse" "keeper" ferry'
    assert [p.words for p in planned.phrases] == [("lighthouse", "keeper")]
    assert planned.phrases[0].columns == ("title", "text")


def test_column_filters_and_prefix_phrases() -> None:
    titled = plan('title:"lighthouse keeper"')
    assert titled.match == '{title}:"lighthouse" {title}:"keeper"' and titled.phrases[0].columns == ("title",)
    assert plan('{title text} : "a b"').phrases[0].columns == ("title", "text")
    prefixed = plan('"lighthouse kee"*')
    assert prefixed.match == '"lighthouse" "kee"*'
    assert prefixed.accepts({"text": "The lighthouse keeper retired."})


@pytest.mark.parametrize(
    "text",
    [
        "The lighthouse keeper retired.",
        "LIGHTHOUSE KEEPER",
        "the lighthouse-keeper's cottage",
        "lighthouse,\n  keeper",
        "Lighthouse Keepers of the coast",  # another ending of the stem, as the porter tokenizer matches
    ],
)
def test_the_check_accepts_the_words_in_order(text: str) -> None:
    assert plan('"lighthouse keeper"').accepts({"title": None, "text": text})


@pytest.mark.parametrize(
    "text",
    [
        "The keeper of the lighthouse retired.",  # both words, wrong order
        "the lighthouse's old keeper",  # a word between
        "a xlighthouse keeper",  # inside another word
        "",
    ],
)
def test_the_check_refuses_anything_else(text: str) -> None:
    assert not plan('"lighthouse keeper"').accepts({"title": "Lighthouse", "text": text})


def test_the_check_uses_stems_and_ignores_accents() -> None:
    assert plan('"climate protesters"').accepts({"text": "a climate protest was held"})
    assert plan('"happy ponies"').accepts({"text": "Happiness: the happy pony show"})
    assert plan('"cafe muller"').accepts({"text": "Sie tanzten im Café Müller."})
    assert plan('"café müller"').accepts({"text": "CAFE MULLER"})


def test_the_check_looks_only_where_the_query_says() -> None:
    values = {"title": "Ferry news", "text": "The lighthouse keeper retired."}
    assert plan('"lighthouse keeper"').accepts(values)
    assert not plan('title:"lighthouse keeper"').accepts(values)


@pytest.mark.parametrize(
    "query",
    ['"lighthouse keeper" OR ferry', 'ferry NOT "lighthouse keeper"', 'NEAR("a b" c)', '(ferry "a b")'],
)
def test_phrases_that_cannot_be_checked_are_refused_in_words(query: str) -> None:
    with pytest.raises(QueryError, match="cannot be combined"):
        plan(query)


def test_an_unterminated_phrase_is_left_for_fts5_to_report() -> None:
    assert plan('"lighthouse keeper').match == '"lighthouse keeper'


def test_words_of_phrases_for_datasette_table_search() -> None:
    assert words_of_phrases('"lighthouse keeper" "ferry"') == '"lighthouse" "keeper" "ferry"'
    assert words_of_phrases('"covid-19"') == '"covid" "19"'


def test_every_rewrite_is_accepted_by_the_index(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Index(tmp_path / "morgue.db") as index:
        sql = index.db.execute("SELECT sql FROM sqlite_master WHERE name = 'articles_fts'").fetchone()[0]
        assert "detail=column" in sql
        for query in ['"lighthouse keeper"', 'title:"a b" c', '"a b"* c', 'x "covid-19"', '{title}: "a b"']:
            match = plan(query).match
            index.db.execute("SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?", [match])
        with pytest.raises(sqlite3.OperationalError, match="phrase queries are not supported"):
            index.db.execute("SELECT * FROM articles_fts WHERE articles_fts MATCH ?", ['"a b"']).fetchall()


def test_table_search_takes_fts5_syntax_or_plain_words() -> None:
    assert table_search("harbour NOT dredging") == "harbour NOT dredging"
    assert table_search("harbo*") == "harbo*"
    assert table_search('"lighthouse keeper" ferry') == '"lighthouse" "keeper" ferry'
    assert table_search("covid-19 U.S. ORegon") == '"covid" "19" "U" "S" "ORegon"'
