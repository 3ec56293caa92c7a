"""Full-text search that stays fast on large archives.

Two phases: first choose the article rows (ids only, cheap), then compute snippets for just those rows —
SQLite would otherwise compute a snippet for every match before sorting. How rows are chosen depends on how
many articles match, counted only up to ``BOUND``:

- newest first, few matches: sort the matches by date; many matches: walk the date index newest first and
  keep rows that match (stops after ``limit``);
- best match, few matches: bm25 over all of them; many matches: bm25 over the ``BOUND`` most recently
  archived matches (a bounded rank: ranking 200,000 matches for a word like "the" helps nobody).
"""

from __future__ import annotations

import sqlite3
from typing import Any

__all__ = ["BOUND", "search_rows"]

BOUND = 5000
JOINED = "FROM articles_fts JOIN articles ON articles.rowid = articles_fts.rowid"
SNIPPET = "snippet(articles_fts, 1, '[', ']', ' … ', 16)"
COLUMNS = ("articles.id, articles.url, articles.title, articles.site, articles.published, "
           "articles.captured_at, articles.version")


def _filters(site: str | None, all_versions: bool) -> tuple[str, dict[str, Any]]:
    clauses, params = [], {}
    if not all_versions:
        clauses.append("articles.latest = 1")
    if site:
        clauses.append("articles.site = :site")
        params["site"] = site
    return "".join(f" AND {c}" for c in clauses), params


def _choose(conn: sqlite3.Connection, query: str, limit: int, order: str, site: str | None,
            all_versions: bool) -> list[int]:
    where, params = _filters(site, all_versions)
    params.update({"q": query, "limit": limit, "bound": BOUND})
    many = conn.execute("SELECT count(*) FROM (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q "
                        "LIMIT :bound)", params).fetchone()[0] >= BOUND
    if order == "newest":
        if many:
            sql = ("SELECT articles.rowid FROM articles INDEXED BY idx_articles_sort_date "
                   "WHERE +articles.rowid IN (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q)"
                   + where + " ORDER BY articles.sort_date DESC LIMIT :limit")
        else:
            sql = (f"SELECT articles.rowid {JOINED} WHERE articles_fts MATCH :q" + where
                   + " ORDER BY articles.sort_date DESC LIMIT :limit")
    else:
        floor = ""
        if many:
            params["floor"] = conn.execute(
                "SELECT min(rowid) FROM (SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q "
                "ORDER BY rowid DESC LIMIT :bound)", params).fetchone()[0]
            floor = " AND articles_fts.rowid >= :floor"
        sql = (f"SELECT articles.rowid {JOINED} WHERE articles_fts MATCH :q" + floor + where
               + " ORDER BY articles_fts.rank LIMIT :limit")
    return [row[0] for row in conn.execute(sql, params)]


def search_rows(conn: sqlite3.Connection, query: str, *, limit: int = 20, order: str = "rank",
                site: str | None = None, all_versions: bool = False) -> list[dict[str, Any]]:
    """The chosen articles in order, each with a snippet around the match (``[word]`` marks a match).

    Raises sqlite3.OperationalError for a query FTS5 cannot parse.
    """
    rowids = _choose(conn, query, limit, order, site, all_versions)
    if not rowids:
        return []
    marks = ", ".join("?" for _ in rowids)
    cursor = conn.execute(
        f"SELECT articles.rowid AS _rowid, {COLUMNS}, {SNIPPET} AS snippet {JOINED} "
        f"WHERE articles_fts MATCH ? AND articles_fts.rowid IN ({marks})", [query, *rowids])
    names = [d[0] for d in cursor.description]
    found = {row[0]: dict(zip(names[1:], row[1:], strict=True)) for row in cursor}
    return [found[r] for r in rowids if r in found]
