"""Full-text search for the reading room: FTS5 matches with snippets, filters and facet counts.

One query builder serves the result list, the total and every facet, so the counts always describe
exactly the articles listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from archive.datasette.display import HL_CLOSE, HL_OPEN, highlight_html, human_date, json_list

__all__ = ["SearchRequest", "FILTERS", "build_sql", "facet_sql", "PAGE_SIZE"]

PAGE_SIZE = 20
FILTERS = ("site", "author", "language", "year", "month", "from", "to")
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass
class SearchRequest:
    """What the user asked for, parsed and checked from the query string."""

    q: str = ""
    order: str = "rank"
    filters: dict[str, str] = field(default_factory=dict)
    all_versions: bool = False
    page: int = 1
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: Any) -> SearchRequest:
        req = cls(q=(args.get("q") or "").strip())
        req.order = "newest" if args.get("order") == "newest" or not req.q else "rank"
        req.all_versions = args.get("versions") == "all"
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

    def url(self, **changes: Any) -> str:
        """The search URL with some parameters changed (None removes one); facets link with this."""
        params: dict[str, Any] = {"q": self.q, **self.filters}
        if self.order == "newest" and self.q:
            params["order"] = "newest"
        if self.all_versions:
            params["versions"] = "all"
        params.update(changes)
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        return "/-/search" + ("?" + urlencode(clean) if clean else "")


def _where(req: SearchRequest) -> tuple[str, str, dict[str, Any]]:
    """(FROM clause, WHERE clause, params) for the articles the request selects."""
    params: dict[str, Any] = {}
    where: list[str] = []
    if req.q:
        source = "articles_fts JOIN articles a ON a.rowid = articles_fts.rowid"
        where.append("articles_fts MATCH :q")
        params["q"] = req.q
    else:
        source = "articles a"
    if not req.all_versions:
        where.append("a.latest = 1")
    f = req.filters
    if "site" in f:
        where.append("a.site = :site")
        params["site"] = f["site"]
    if "author" in f:
        where.append("EXISTS (SELECT 1 FROM json_each(a.authors) WHERE json_each.value = :author)")
        params["author"] = f["author"]
    if "language" in f:
        where.append("a.language = :language")
        params["language"] = f["language"]
    if "year" in f:
        where.append("substr(a.published, 1, 4) = :year")
        params["year"] = f["year"][:4]
    if "month" in f:
        where.append("substr(a.published, 1, 7) = :month")
        params["month"] = f["month"][:7]
    day = "substr(coalesce(a.published, a.captured_at), 1, 10)"
    if "from" in f:
        where.append(f"{day} >= :from_date")
        params["from_date"] = f["from"]
    if "to" in f:
        # a partial date (2026-11) means "to the end of that month/year"
        where.append(f"substr({day}, 1, :to_len) <= :to_date")
        params["to_date"] = f["to"]
        params["to_len"] = len(f["to"])
    return source, " AND ".join(where) or "1", params


def build_sql(req: SearchRequest) -> tuple[str, str, dict[str, Any]]:
    """(results SQL, count SQL, params) for one page of results."""
    source, where, params = _where(req)
    if req.q:
        extra = ("snippet(articles_fts, 1, char(1), char(2), ' … ', 32) AS snippet, "
                 "highlight(articles_fts, 0, char(1), char(2)) AS title_hl")
    else:
        extra = "NULL AS snippet, NULL AS title_hl"
    order = ("articles_fts.rank" if req.q and req.order == "rank"
             else "coalesce(a.published, a.captured_at) DESC")
    params = {**params, "limit": PAGE_SIZE + 1, "offset": (req.page - 1) * PAGE_SIZE}
    sql = (
        "SELECT a.id, a.url, a.title, a.site, a.site_name, a.authors, a.published, a.captured_at, "
        f"a.language, a.version, a.latest, a.word_count, a.description, a.paywalled, {extra} "
        f"FROM {source} WHERE {where} ORDER BY {order}, a.id LIMIT :limit OFFSET :offset"
    )
    count = f"SELECT count(*) FROM {source} WHERE {where}"
    return sql, count, params


_FACETS = {
    "site": ("a.site", ""),
    "author": ("json_each.value", ", json_each(a.authors)"),
    "language": ("a.language", ""),
    "year": ("substr(a.published, 1, 4)", ""),
    "month": ("substr(a.published, 1, 7)", ""),
}


def facet_sql(req: SearchRequest, name: str) -> tuple[str, dict[str, Any]]:
    """Counts per value of one facet over the selected articles (most common first)."""
    source, where, params = _where(req)
    expr, join = _FACETS[name]
    order = "value DESC" if name in ("year", "month") else "n DESC, value"
    sql = (f"SELECT {expr} AS value, count(*) AS n FROM {source}{join} WHERE {where} AND {expr} IS NOT NULL "
           f"AND {expr} != '' GROUP BY value ORDER BY {order} LIMIT 30")
    return sql, params


def result_view(row: Any) -> dict[str, Any]:
    """One result row prepared for the template (escaped, highlighted, dated)."""
    snippet = row["snippet"]
    if not snippet:
        snippet = row["description"] or ""
    return {
        "id": row["id"], "url": row["url"], "site": row["site"], "site_name": row["site_name"],
        "title_html": highlight_html(row["title_hl"] or row["title"] or row["url"]),
        "snippet_html": highlight_html(snippet),
        "authors": json_list(row["authors"]),
        "published": human_date(row["published"], with_time=False),
        "published_raw": row["published"] or row["captured_at"],
        "captured": human_date(row["captured_at"]),
        "language": row["language"], "version": row["version"], "latest": row["latest"],
        "word_count": row["word_count"], "paywalled": row["paywalled"],
        "has_marks": HL_OPEN in (snippet or "") and HL_CLOSE in (snippet or ""),
    }
