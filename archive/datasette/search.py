"""Full-text search for the reading room: FTS5 matches with snippets, filters and facet counts.

The result list comes from ``archive.search`` (the same row choice as ``morgue search``: snippets only for
the page shown, an indexed date order, a bounded rank for very common words), so a search stays fast on a
large archive. One set of filter conditions serves the list, the total and every facet. The page's total
counts to TOTAL_CAP (in the page's own query when so few match the words that it walks them all anyway),
the facets and their total to COUNT_CAP.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from archive.datasette.display import HL_CLOSE, HL_OPEN, highlight_html, human_date, json_list
from archive.query_language import translate
from archive.search import choose_page, count_matches, rows_with_snippets

__all__ = ["SearchRequest", "FILTERS", "run_search", "count_total", "facet_sql", "FACETS", "PAGE_SIZE",
           "TOTAL_CAP", "COUNT_CAP"]

PAGE_SIZE = 20
FILTERS = ("site", "author", "language", "year", "month", "from", "to")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass
class SearchRequest:
    """What the user asked for, parsed and checked from the query string. ``q`` is the query as typed
    (cleaned for display), ``match`` its FTS5 expression (``archive.query_language``), ``message`` what was
    searched for instead, if anything."""

    q: str = ""
    match: str = ""
    message: str | None = None
    unsearchable: bool = False  # something was typed, but nothing in it can be searched
    order: str = "rank"
    filters: dict[str, str] = field(default_factory=dict)
    all_versions: bool = False
    page: int = 1
    with_facets: bool = False  # facets counted in the page itself (the page without JavaScript)
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: Any) -> SearchRequest:
        req = cls.for_query(args.get("q") or "")
        req.order = "newest" if args.get("order") == "newest" or not req.match else "rank"
        req.all_versions = args.get("versions") == "all"
        req.with_facets = args.get("facets") == "1"
        for name in FILTERS:
            value = (args.get(name) or "").strip()
            if not value:
                continue
            if name in ("year", "month", "from", "to") and not _DATE.match(value):
                req.problems.append(f"ignored {name}={value!r}: use a date like 2026, 2026-11 or 2026-11-28")
                continue
            req.filters[name] = value
        try:
            req.page = max(1, int(args.get("page") or 1))
        except ValueError:
            req.page = 1
        return req

    @classmethod
    def for_query(cls, typed: str, **fields: Any) -> SearchRequest:
        """A request for what a person typed, read by the search language."""
        translation = translate(typed)
        return cls(q=translation.text.strip(), match=translation.match, message=translation.message,
                   unsearchable=not translation.match and translation.message is not None, **fields)

    def url(self, path: str = "/-/search", **changes: Any) -> str:
        """The search URL with some parameters changed (None removes one); facets link with this."""
        params: dict[str, Any] = {"q": self.q, **self.filters}
        if self.order == "newest" and self.q:
            params["order"] = "newest"
        if self.all_versions:
            params["versions"] = "all"
        if self.with_facets:
            params["facets"] = "1"
        params.update(changes)
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return path + ("?" + urlencode(clean) if clean else "")


def _where(req: SearchRequest) -> tuple[str, dict[str, Any]]:
    """Extra WHERE conditions (" AND ...", over the ``articles`` table) and params for the filters."""
    params: dict[str, Any] = {}
    where: list[str] = []
    if not req.all_versions:
        where.append("articles.latest = 1")
    f = req.filters
    if "site" in f:
        where.append("articles.site = :site")
        params["site"] = f["site"]
    if "author" in f:
        where.append("EXISTS (SELECT 1 FROM json_each(articles.authors) WHERE json_each.value = :author)")
        params["author"] = f["author"]
    if "language" in f:
        where.append("articles.language = :language")
        params["language"] = f["language"]
    if "year" in f:
        where.append("substr(articles.published, 1, 4) = :year")
        params["year"] = f["year"][:4]
    if "month" in f:
        where.append("substr(articles.published, 1, 7) = :month")
        params["month"] = f["month"][:7]
    day = "substr(coalesce(articles.published, articles.captured_at), 1, 10)"
    if "from" in f:
        where.append(f"{day} >= :from_date")
        params["from_date"] = f["from"]
    if "to" in f:
        # a partial date (2026-11) means "to the end of that month/year"
        where.append(f"substr({day}, 1, :to_len) <= :to_date")
        params["to_date"] = f["to"]
        params["to_len"] = len(f["to"])
    return "".join(f" AND {w}" for w in where), params


RESULT_COLUMNS = (
    "articles.id, articles.url, articles.title, articles.site, articles.site_name, "
    "articles.authors, articles.published, articles.captured_at, articles.language, "
    "articles.version, articles.latest, articles.word_count, articles.description, "
    "articles.paywalled"
)
HIGHLIGHTS = (
    "snippet(articles_fts, 1, char(1), char(2), ' … ', 32) AS snippet, "
    "highlight(articles_fts, 0, char(1), char(2)) AS title_hl"
)
TOTAL_CAP = 100  # the results page counts this far ("100+"), at the query's speed; the facets count on
COUNT_CAP = 10_000  # the facets, which come after the results, count this far


def run_search(conn: sqlite3.Connection, req: SearchRequest) -> tuple[list[dict[str, Any]], int, bool, bool]:
    """One page of results (snippets for those rows only), the number of matches counted up to TOTAL_CAP,
    whether that stopped short (more match), and whether there is a next page (one row past the page is
    chosen to know). The total comes from the page's own query when it walks every match anyway (at most
    TOTAL_CAP + 1 match the words), else from a count that stops one past TOTAL_CAP. Runs on a datasette
    read connection (``execute_fn``)."""
    if req.unsearchable:
        return [], 0, False, False  # nothing in the query can be searched: req.message says why
    where, params = _where(req)
    rowids, counted = choose_page(
        conn,
        req.match,
        where=where,
        params=params,
        order=req.order,
        limit=PAGE_SIZE + 1,
        offset=(req.page - 1) * PAGE_SIZE,
        count_within=TOTAL_CAP + 1,
    )
    more = len(rowids) > PAGE_SIZE
    rows = rows_with_snippets(conn, req.match, rowids[:PAGE_SIZE], columns=RESULT_COLUMNS, extra=HIGHLIGHTS)
    if not req.match:
        rows = [{**row, "snippet": None, "title_hl": None} for row in rows]
    if not more and (rows or req.page == 1):  # the last page: the rows say how many, however many
        return rows, (req.page - 1) * PAGE_SIZE + len(rows), False, more
    if counted is None:
        counted = count_matches(conn, req.match, where=where, params=params, cap=TOTAL_CAP + 1)
    return rows, min(counted, TOTAL_CAP), counted > TOTAL_CAP, more  # one past the cap is "+"


def count_total(conn: sqlite3.Connection, req: SearchRequest) -> int:
    """The number of matching articles (for the facets part of the page), counted up to one past COUNT_CAP:
    a result above COUNT_CAP means "more than COUNT_CAP", and exactly COUNT_CAP matches is said as it is."""
    if req.unsearchable:
        return 0
    where, params = _where(req)
    return count_matches(conn, req.match, where=where, params=params, cap=COUNT_CAP + 1)


FACETS = (("site", "Site"), ("author", "Author"), ("language", "Language"), ("year", "Published year"),
          ("month", "Published month"))
_FACETS = {
    "site": ("articles.site", ""),
    "author": ("json_each.value", ", json_each(articles.authors)"),
    "language": ("articles.language", ""),
    "year": ("substr(articles.published, 1, 4)", ""),
    "month": ("substr(articles.published, 1, 7)", ""),
}


def facet_sql(req: SearchRequest, name: str) -> tuple[str, dict[str, Any]]:
    """Counts per value of one facet over the selected articles (the first COUNT_CAP matches when more
    match), most common first."""
    where, params = _where(req)
    source = (
        "FROM articles_fts JOIN articles ON articles.rowid = articles_fts.rowid WHERE articles_fts MATCH :q"
        if req.match
        else "FROM articles WHERE 1"
    )
    if req.match:
        params["q"] = req.match
    expr, join = _FACETS[name]
    order = "value DESC" if name in ("year", "month") else "n DESC, value"
    sql = (
        f"SELECT {expr} AS value, count(*) AS n FROM (SELECT articles.* {source}{where} LIMIT {COUNT_CAP}) "
        f"AS articles{join} WHERE {expr} IS NOT NULL AND {expr} != '' "
        f"GROUP BY value ORDER BY {order} LIMIT 30"
    )
    return sql, params


def result_view(row: Any) -> dict[str, Any]:
    """One result row prepared for the template (escaped, highlighted, dated)."""
    snippet = row["snippet"]
    if not snippet:
        snippet = row["description"] or ""
    return {
        "id": row["id"],
        "url": row["url"],
        "site": row["site"],
        "site_name": row["site_name"],
        "title_html": highlight_html(row["title_hl"] or row["title"] or row["url"]),
        "snippet_html": highlight_html(snippet),
        "authors": json_list(row["authors"]),
        "published": human_date(row["published"], with_time=False),
        "published_raw": row["published"] or row["captured_at"],
        "captured": human_date(row["captured_at"]),
        "language": row["language"],
        "version": row["version"],
        "latest": row["latest"],
        "word_count": row["word_count"],
        "paywalled": row["paywalled"],
        "has_marks": HL_OPEN in (snippet or "") and HL_CLOSE in (snippet or ""),
    }
