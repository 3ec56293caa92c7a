"""Full-text search that stays fast on large archives (the CLI and the reading room both use it).

Two phases: first choose the article rows (rowids only, cheap), then compute snippets for just those
rows — SQLite would otherwise compute a snippet for every match before sorting. How rows are chosen
depends on how many articles match, counted only up to ``BOUND``:

- newest first, few matches: sort the matches by date; many matches: walk the date index newest first and
  keep rows that match (stops after ``limit``);
- best match, few matches: bm25 over all of them; many matches: bm25 over the ``BOUND`` most recently
  archived matches (a bounded rank: ranking 200,000 matches for a word like "the" helps nobody).

A phrase of several words is asked of FTS5 as its words (the index keeps no positions, see
``archive.fts_query``); the candidates, in the order above, are then checked for the phrase, at most
``PHRASE_CHECKS`` of them, stopping once the page is full.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any, NamedTuple

from archive.fts_query import PlannedQuery, plan

__all__ = [
    "BOUND",
    "PHRASE_CHECKS",
    "PhraseMatches",
    "choose_rowids",
    "count_matches",
    "phrase_rowids",
    "rows_with_snippets",
    "search_rows",
]

BOUND = 5000
PHRASE_CHECKS = 2000  # candidates checked for a phrase: ~0.1 ms each (read the text, match it)
_CHECK_BATCH = 40


class PhraseMatches(NamedTuple):
    """Rowids holding the phrases, and whether every candidate was checked (else the first
    PHRASE_CHECKS were, or the search stopped once it had enough)."""

    rowids: list[int]
    complete: bool
JOINED = "FROM articles_fts JOIN articles ON articles.rowid = articles_fts.rowid"
SNIPPET = "snippet(articles_fts, 1, '[', ']', ' … ', 16)"
COLUMNS = (
    "articles.id, articles.url, articles.title, articles.site, articles.published, "
    "articles.captured_at, articles.version"
)


def count_matches(
    conn: sqlite3.Connection,
    query: str,
    *,
    where: str = "",
    params: Mapping[str, Any] | None = None,
    cap: int = BOUND,
) -> int:
    """How many articles match (with the extra ``where`` conditions), counting no further than ``cap``;
    for a phrase, how many of the PHRASE_CHECKS most recent candidates hold it."""
    planned = plan(query) if query else PlannedQuery("")
    if planned.phrases:
        return min(cap, len(phrase_rowids(conn, planned, where=where, params=params, order="newest").rowids))
    query = planned.match
    source = f"{JOINED} WHERE articles_fts MATCH :q" if query else "FROM articles WHERE 1"
    sql = f"SELECT count(*) FROM (SELECT 1 {source}{where} LIMIT :cap)"
    return int(conn.execute(sql, {**(params or {}), "q": query, "cap": cap}).fetchone()[0])


def choose_rowids(
    conn: sqlite3.Connection,
    query: str,
    *,
    where: str = "",
    params: Mapping[str, Any] | None = None,
    order: str = "rank",
    limit: int = 20,
    offset: int = 0,
) -> list[int]:
    """Rowids of the articles to show, in order. ``where`` is extra SQL (" AND articles.x = :x") over
    the ``articles`` table with its ``params``. Raises sqlite3.OperationalError on a bad FTS query and
    archive.fts_query.QueryError on a phrase that cannot be checked."""
    planned = plan(query) if query else PlannedQuery("")
    if planned.phrases:
        found = phrase_rowids(conn, planned, where=where, params=params, order=order, enough=offset + limit)
        return found.rowids[offset : offset + limit]
    return _ordered_rowids(
        conn, planned.match, where=where, params=params, order=order, limit=limit, offset=offset
    )


def phrase_rowids(
    conn: sqlite3.Connection,
    planned: PlannedQuery,
    *,
    where: str = "",
    params: Mapping[str, Any] | None = None,
    order: str = "rank",
    enough: int | None = None,
) -> PhraseMatches:
    """The articles that hold every phrase, in order, among the first PHRASE_CHECKS candidates (the
    FTS5 matches of all the words); stops once ``enough`` are found."""
    candidates = _ordered_rowids(
        conn, planned.match, where=where, params=params, order=order, limit=PHRASE_CHECKS, offset=0
    )
    found: list[int] = []
    for start in range(0, len(candidates), _CHECK_BATCH):
        batch = candidates[start : start + _CHECK_BATCH]
        marks = ", ".join("?" for _ in batch)
        rows = conn.execute(f"SELECT rowid, title, text FROM articles WHERE rowid IN ({marks})", batch)
        texts = {rowid: {"title": title, "text": text} for rowid, title, text in rows}
        found.extend(r for r in batch if r in texts and planned.accepts(texts[r]))
        if enough is not None and len(found) >= enough:
            return PhraseMatches(found, False)
    return PhraseMatches(found, len(candidates) < PHRASE_CHECKS)


def _ordered_rowids(
    conn: sqlite3.Connection,
    query: str,
    *,
    where: str,
    params: Mapping[str, Any] | None,
    order: str,
    limit: int,
    offset: int,
) -> list[int]:
    """choose_rowids for an FTS5 query without phrases to check (``query`` goes to MATCH as it is)."""
    values = {**(params or {}), "q": query, "limit": limit, "offset": offset, "bound": BOUND}
    page = " LIMIT :limit OFFSET :offset"
    if not query:
        sql = f"SELECT rowid FROM articles WHERE 1{where} ORDER BY sort_date DESC, id{page}"
        return [row[0] for row in conn.execute(sql, values)]
    many = count_matches(conn, query) >= BOUND
    if order == "newest":
        if many:
            sql = (
                "SELECT articles.rowid FROM articles INDEXED BY idx_articles_sort_date "
                "WHERE +articles.rowid IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q)"
                f"{where} ORDER BY articles.sort_date DESC{page}"
            )
        else:
            sql = (
                f"SELECT articles.rowid {JOINED} WHERE articles_fts MATCH :q{where} "
                f"ORDER BY articles.sort_date DESC{page}"
            )
    else:
        floor = ""
        if many:
            values["floor"] = conn.execute(
                "SELECT min(rowid) FROM (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q "
                "ORDER BY rowid DESC LIMIT :bound)",
                values,
            ).fetchone()[0]
            floor = " AND articles_fts.rowid >= :floor"
        sql = (
            f"SELECT articles.rowid {JOINED} WHERE articles_fts MATCH :q{floor}{where} "
            f"ORDER BY articles_fts.rank{page}"
        )
    return [row[0] for row in conn.execute(sql, values)]


def rows_with_snippets(
    conn: sqlite3.Connection,
    query: str,
    rowids: list[int],
    *,
    columns: str = COLUMNS,
    extra: str = f"{SNIPPET} AS snippet",
) -> list[dict[str, Any]]:
    """The given articles, in the given order, with per-row FTS functions (snippets) computed."""
    if not rowids:
        return []
    marks = ", ".join("?" for _ in rowids)
    query = plan(query).match if query else ""
    if query:
        sql = (
            f"SELECT articles.rowid AS _rowid, {columns}, {extra} {JOINED} "
            f"WHERE articles_fts MATCH ? AND articles_fts.rowid IN ({marks})"
        )
        args: list[Any] = [query, *rowids]
    else:
        sql = f"SELECT articles.rowid AS _rowid, {columns} FROM articles WHERE articles.rowid IN ({marks})"
        args = list(rowids)
    cursor = conn.execute(sql, args)
    names = [d[0] for d in cursor.description]
    found = {row[0]: dict(zip(names[1:], row[1:], strict=True)) for row in cursor}
    return [found[r] for r in rowids if r in found]


def search_rows(
    conn: sqlite3.Connection,
    query: str,
    *,
    limit: int = 20,
    order: str = "rank",
    site: str | None = None,
    all_versions: bool = False,
) -> list[dict[str, Any]]:
    """The CLI's search: matching articles in order, each with a ``[word]``-marked snippet."""
    where, params = "", {}
    if not all_versions:
        where += " AND articles.latest = 1"
    if site:
        where += " AND articles.site = :site"
        params["site"] = site
    rowids = choose_rowids(conn, query, where=where, params=params, order=order, limit=limit)
    return rows_with_snippets(conn, query, rowids)
