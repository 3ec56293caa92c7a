"""Full-text search that stays fast on large archives (the CLI and the reading room both use it).

Two phases: first choose the article rows (rowids only, cheap), then compute snippets for just those
rows — SQLite would otherwise compute a snippet for every match before sorting. How rows are chosen
depends on how many articles match, counted only up to ``BOUND``:

- newest first, few matches: sort the matches by date; many matches: walk the date index newest first and
  keep rows that match (stops after ``limit``);
- last filed first (the feeds): the full-text index walks its rowids backwards, which are the order the
  index filed the articles in, so whatever was filed last comes first whatever its dates (an import of
  old captures included);
- best match, few matches: bm25 over all of them; many matches: bm25 over the ``BOUND`` most recently
  archived matches (a bounded rank: ranking 200,000 matches for a word like "the" helps nobody).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

__all__ = ["BOUND", "choose_page", "count_matches", "rows_with_snippets", "search_rows"]

BOUND = 5000
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
    """How many articles match (with the extra ``where`` conditions), counting no further than ``cap``.
    ``query`` is an FTS5 expression (``archive.query_language`` makes one from what a person typed)."""
    if query:  # the join to articles only when a condition needs it
        source = (f"{JOINED} WHERE articles_fts MATCH :q" if where
                  else "FROM articles_fts WHERE articles_fts MATCH :q")
    else:
        source = "FROM articles WHERE 1"
    sql = f"SELECT count(*) FROM (SELECT 1 {source}{where} LIMIT :cap)"
    return int(conn.execute(sql, {**(params or {}), "q": query, "cap": cap}).fetchone()[0])


def choose_page(
    conn: sqlite3.Connection,
    query: str,
    *,
    where: str = "",
    params: Mapping[str, Any] | None = None,
    order: str = "rank",
    limit: int = 20,
    offset: int = 0,
    count_within: int = 0,
) -> tuple[list[int], int | None]:
    """Rowids of the articles to show, in ``order`` ("rank", "newest" or "filed"); ``where`` is extra SQL
    (" AND articles.x = :x") over the ``articles`` table with its ``params``. With them, the number of
    articles matching with those conditions when at most ``count_within`` match the words at all: the
    query then walks every match anyway, and a window count in it costs less than a second pass over them
    (a phrase's matches are checked word by word each time). None when more match, or when the page is
    past the last match (no row to carry the count). Raises sqlite3.OperationalError on a bad FTS query."""
    values = {**(params or {}), "q": query, "limit": limit, "offset": offset, "bound": BOUND}
    page = " LIMIT :limit OFFSET :offset"
    if not query:
        by = "rowid DESC" if order == "filed" else "sort_date DESC, id"
        sql = f"SELECT rowid FROM articles WHERE 1{where} ORDER BY {by}{page}"
        return [row[0] for row in conn.execute(sql, values)], None
    if order == "filed":
        sql = (f"SELECT articles.rowid {JOINED} WHERE articles_fts MATCH :q{where} "
               f"ORDER BY articles_fts.rowid DESC{page}")
        return [row[0] for row in conn.execute(sql, values)], None
    matches = count_matches(conn, query)
    many = matches >= BOUND
    counted = 0 < count_within and matches <= count_within
    chosen = "articles.rowid, count(*) OVER ()" if counted else "articles.rowid"
    if order == "newest":
        if many:
            sql = (
                "SELECT articles.rowid FROM articles INDEXED BY idx_articles_sort_date "
                "WHERE +articles.rowid IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q)"
                f"{where} ORDER BY articles.sort_date DESC{page}"
            )
        else:
            sql = (
                f"SELECT {chosen} {JOINED} WHERE articles_fts MATCH :q{where} "
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
            f"SELECT {chosen} {JOINED} WHERE articles_fts MATCH :q{floor}{where} "
            f"ORDER BY articles_fts.rank{page}"
        )
    rows = conn.execute(sql, values).fetchall()
    total = rows[0][1] if counted and rows else (0 if counted and not offset else None)
    return [row[0] for row in rows], total


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
    rowids, _counted = choose_page(conn, query, where=where, params=params, order=order, limit=limit)
    return rows_with_snippets(conn, query, rowids)
