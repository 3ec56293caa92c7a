"""morgue's datasette plugin: the search, article and archived-page routes, the home page summary, links
from table cells to articles, and a guard that makes every connection to the index read-only.

Registered once per process by ``archive.reading_room``; every hook checks ``datasette.morgue_data_dir``
so a plain Datasette in the same process is left alone.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from archive.cite import CiteError, cite_capture, render
from archive.datasette import search as search_mod
from archive.datasette.archived import (
    CAPTURE_ID,
    REPLAY_ROUTE,
    archived_page,
    missing_requisites,
    payload_capture,
    raw_record,
    rendered_view,
    replay_path,
    replayed,
    resource_view,
    timestamp_of,
)
from archive.datasette.article import article_context
from archive.datasette.feeds import EDITS_FEED, feed_routes, search_feed_url
from archive.datasette.guard import not_found_guard
from archive.datasette.home import home_view, kept_home
from archive.datasette.inline import quick_first
from archive.datasette.summary import archive_summary
from archive.datasette.table_search import table_search
from archive.renders import render_set
from archive.resources import SCREENSHOT_KINDS, resource_by_id, screenshots_of
from archive.warc_reader import WarcReadError
from datasette import Response, hookimpl
from datasette.database import QueryInterrupted

DB_NAME = "morgue"
log = logging.getLogger("morgue.reading_room")


class PageError(Exception):
    """A request the reading room answers with an error page (no traceback on the console)."""

    def __init__(self, status: int, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.title = status, message, title


async def _error_page(datasette: Any, request: Any, error: PageError) -> Response:
    context = {"ok": False, "error": error.message, "status": error.status, "title": error.title}
    html = await datasette.render_template(["error.html"], context, request=request)
    return Response.html(html, status=error.status)


def _answers_errors(view: Any) -> Any:
    """Turn a PageError raised by a view into datasette's error page with that status."""

    async def wrapped(request: Any, datasette: Any) -> Response:
        try:
            return await view(request, datasette)
        except PageError as error:
            return await _error_page(datasette, request, error)

    wrapped.__name__ = view.__name__
    return wrapped


def _data_dir(datasette: Any) -> Path | None:
    return getattr(datasette, "morgue_data_dir", None)


def _db(datasette: Any) -> Any:
    return datasette.get_database(DB_NAME)


@hookimpl
def prepare_connection(conn: sqlite3.Connection, database: str, datasette: Any) -> None:
    """Every connection datasette opens to the index refuses writes, its write connection included."""
    if _data_dir(datasette) is not None and database == DB_NAME:
        conn.execute("PRAGMA query_only = 1")


@hookimpl
def extra_template_vars(view_name: str, datasette: Any) -> Any:
    if _data_dir(datasette) is None or view_name != "index":
        return {}

    async def inner() -> dict[str, Any]:
        try:
            return {"morgue": await archive_summary(_db(datasette)), "edits_feed": EDITS_FEED}
        except QueryInterrupted:  # datasette's own home page rather than a 500
            log.error("reading room: the archive summary took longer than sql_time_limit_ms")
            return {"morgue": None}

    return inner


@hookimpl
def menu_links(datasette: Any) -> list[dict[str, str]] | None:
    if _data_dir(datasette) is None:
        return None
    return [
        {"href": "/-/search", "label": "Search articles"},
        {"href": f"/{DB_NAME}/latest_articles", "label": "Latest articles"},
        {"href": f"/{DB_NAME}/changed_articles", "label": "Articles changed after publication"},
        {"href": f"/{DB_NAME}/crawl_history", "label": "Crawl history"},
    ]


@hookimpl
def render_cell(row: Any, value: Any, column: str, table: str | None, database: str, datasette: Any) -> Any:
    """Article titles (in the articles table) and ``article`` columns (in canned queries) link to the
    article page."""
    if _data_dir(datasette) is None or database != DB_NAME or not isinstance(value, str):
        return None
    if column == "article" and CAPTURE_ID.match(value):
        return Markup(f'<a href="/-/article/{escape(value)}">read</a>')
    if table == "articles" and column == "title" and "id" in row.keys() and row["id"]:
        return Markup(f'<a href="/-/article/{escape(row["id"])}">{escape(value)}</a>')
    return None


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    """The kept home page served before datasette's stack, 404 for paths no route serves, and datasette's
    table search read by morgue's search language."""
    if _data_dir(datasette) is None:
        return None
    kept, guard = kept_home(datasette), not_found_guard(datasette)
    return lambda app: kept(guard(table_search(app)))


@hookimpl
def register_routes(datasette: Any) -> list[tuple[str, Any]]:
    if _data_dir(datasette) is None:
        return []
    return [
        (r"^/$", home_view),  # before datasette's index view, which inspects every table on each visit
        (r"^/-/search$", _answers_errors(search_view)),
        (r"^/-/search/facets$", _answers_errors(facets_view)),
        (r"^/-/article/(?P<id>[^/]+)$", _answers_errors(article_view)),
        (r"^/-/archived/(?P<id>[^/]+)$", _answers_errors(archived_view)),
        (r"^/-/raw/(?P<id>[^/]+)$", _answers_errors(raw_view)),
        (REPLAY_ROUTE, _answers_errors(replay_view)),
        (r"^/-/warc/(?P<id>[^/]+)$", _answers_errors(warc_view)),
        (r"^/-/render/(?P<id>[^/]+)$", _answers_errors(render_view)),
        (r"^/-/resource/(?P<id>[^/]+)$", _answers_errors(imported_resource_view)),
        *feed_routes(),
    ]


# -- views ------------------------------------------------------------------------------------------------
class _Unsearchable(Exception):
    """Nothing in the query can be searched (the search language's message says why)."""


async def search_view(request: Any, datasette: Any) -> Response:
    """The results first: a page of hits and a total counted up to TOTAL_CAP, at the query's speed. The
    facets come from a second request the page's script makes (``/-/search/facets``); without
    JavaScript, a link asks for this page with the facets counted in it (``facets=1``)."""
    req = search_mod.SearchRequest.from_args(request.args)
    db = _db(datasette)
    results: list[dict[str, Any]] = []
    facets = None
    total = 0
    capped = more = False
    error = None
    try:
        if req.unsearchable:
            raise _Unsearchable(req.message or "Nothing to search for.")
        rows, total, capped, more = await quick_first(
            datasette, db, lambda conn: search_mod.run_search(conn, req)
        )
        results = [search_mod.result_view(r) for r in rows]
        if req.with_facets and results:
            facets = await _facets(datasette, req)
    except _Unsearchable as exc:
        error = str(exc)
    except sqlite3.OperationalError as exc:  # the search language should never let this happen
        log.error("reading room: search for %r as %r failed: %s", req.q, req.match, exc)
        error = f"The search engine could not read this query ({exc})."
    except QueryInterrupted:
        error = "This search took too long; add a word or a filter to narrow it."
    context = {
        "req": req,
        "results": results,
        "total": total,
        "capped": capped,
        "facets": facets,
        "error": error,
        "facets_src": req.url("/-/search/facets") if results and facets is None else None,
        "facets_page_url": req.url(facets="1"),
        "page": req.page,
        "next_url": req.url(page=req.page + 1) if more else None,
        "prev_url": req.url(page=req.page - 1 if req.page > 2 else None) if req.page > 1 else None,
        "order_rank_url": req.url(order=None),
        "order_newest_url": req.url(order="newest"),
        "active": [{"name": k, "value": v, "url": req.url(**{k: None})} for k, v in req.filters.items()],
        "first": (req.page - 1) * search_mod.PAGE_SIZE + 1,
        "feed_url": (
            search_feed_url(req.q, req.filters.get("site")) if req.q and not req.unsearchable else None
        ),
    }
    html = await datasette.render_template(
        ["morgue_search.html"], context, request=request, view_name="morgue_search"
    )
    return Response.html(html, status=400 if error else 200)


async def facets_view(request: Any, datasette: Any) -> Response:
    """The facet counts of a search as an HTML fragment, for the search page's script to put in place."""
    req = search_mod.SearchRequest.from_args(request.args)
    context: dict[str, Any] = {"facets": None}
    if not req.unsearchable:
        try:
            context["facets"] = await _facets(datasette, req)
        except QueryInterrupted:
            context["timed_out"] = True
    html = await datasette.render_template(["_morgue_facets.html"], context, request=request)
    return Response.html(html, headers={"Cache-Control": "private, max-age=60"})


async def _facets(datasette: Any, req: search_mod.SearchRequest) -> dict[str, Any]:
    """The total counted up to COUNT_CAP, and per facet the counts of its values over those matches.
    Each facet query runs under datasette's ``facet_time_limit_ms``, as datasette's own facets do; a facet
    that takes longer is reported as not counted rather than slowing the rest."""
    db = _db(datasette)
    total = await db.execute_fn(lambda conn: search_mod.count_total(conn, req))
    limit = datasette.setting("facet_time_limit_ms")
    facets = []
    for name, label in search_mod.FACETS:
        if name == "month" and "year" not in req.filters and "month" not in req.filters:
            continue
        facet_query, facet_params = search_mod.facet_sql(req, name)
        facet: dict[str, Any] = {
            "name": name,
            "label": label,
            "values": [],
            "timed_out": False,
            "selected": req.filters.get(name),
        }
        try:
            rows = (await db.execute(facet_query, facet_params, custom_time_limit=limit)).rows
        except QueryInterrupted:
            facet["timed_out"] = True
            rows = []
        for value, n in rows:
            selected = req.filters.get(name) == str(value)
            facet["values"].append(
                {
                    "value": value,
                    "n": n,
                    "selected": selected,
                    "url": req.url(**{name: None if selected else value}),
                }
            )
        facets.append(facet)
    cap = search_mod.COUNT_CAP
    return {"facets": facets, "total": min(total, cap), "capped": total > cap, "count_cap": cap}


async def _row(datasette: Any, table: str, row_id: str) -> dict[str, Any] | None:
    if not CAPTURE_ID.match(row_id):
        return None
    result = (await _db(datasette).execute(f"SELECT * FROM {table} WHERE id = ?", [row_id])).first()
    return dict(result) if result is not None else None


async def article_view(request: Any, datasette: Any) -> Response:
    article_id = request.url_vars["id"]
    article = await _row(datasette, "articles", article_id)
    if article is None:
        raise PageError(404, f"No article with id {article_id!r} in this archive")
    db = _db(datasette)
    versions = [
        dict(r)
        for r in (
            await db.execute(
                "SELECT id, version, latest, captured_at, word_count, title, text_hash FROM articles "
                "WHERE url = ? ORDER BY version",
                [article["url"]],
            )
        ).rows
    ]
    compare = None
    compare_id = request.args.get("compare")
    if compare_id:
        compare = await _row(datasette, "articles", compare_id)
        if compare is None or compare["url"] != article["url"] or compare["id"] == article["id"]:
            raise PageError(404, f"{compare_id!r} is not another version of this article")
    elif article["version"] > 1:
        previous = (
            await db.execute(
                "SELECT * FROM articles WHERE url = ? AND version < ? ORDER BY version DESC LIMIT 1",
                [article["url"], article["version"]],
            )
        ).first()
        compare = dict(previous) if previous is not None else None
    capture = await _row(datasette, "captures", article.get("capture_id") or article_id)
    renders = {} if capture is None else await db.execute_fn(lambda conn: render_set(conn, capture["id"]))
    screenshots = (
        {}
        if capture is None
        else await db.execute_fn(lambda conn: screenshots_of(conn, capture["url"], capture["record_id"]))
    )
    cited = await asyncio.get_running_loop().run_in_executor(
        None, _cite, _data_dir(datasette) / "warc", capture, article, renders
    )
    context = article_context(
        article,
        versions,
        compare,
        cited=cited,
        renders=renders,
        screenshots=screenshots,
        permalink=datasette.absolute_url(request, f"/-/article/{article_id}"),
        archived_url=datasette.absolute_url(request, f"/-/archived/{article_id}"),
        warc_url=f"/-/warc/{article_id}",
    )
    html = await datasette.render_template(
        ["morgue_article.html"], context, request=request, view_name="morgue_article"
    )
    return Response.html(html)


def _cite(
    warc_dir: Path,
    capture: dict[str, Any] | None,
    article: dict[str, Any],
    renders: dict[str, dict[str, Any]],
) -> str:
    """``morgue cite``'s text for the article's capture, the payload checked against its record's digest;
    if that cannot be done, says why instead (the article page still shows)."""
    if capture is None:
        return f"This capture cannot be cited: capture {article.get('capture_id')} is not in the index"
    try:
        return render(cite_capture(capture, article, warc_dir, renders), "text")
    except (CiteError, WarcReadError, OSError) as exc:
        log.error("reading room: cannot cite %s: %s", capture["id"], exc)
        return f"This capture cannot be cited: {exc}"


async def _capture(datasette: Any, capture_id: str) -> dict[str, Any]:
    row = await _row(datasette, "captures", capture_id)
    if row is None:
        raise PageError(404, f"No capture with id {capture_id!r} in this archive")
    return row


async def _in_thread(fn: Any, *args: Any) -> Any:
    try:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
    except (WarcReadError, OSError) as exc:
        log.error("reading room: the archived copy cannot be read: %s", exc)
        raise PageError(500, f"The archived copy cannot be read: {exc}", title="Archive problem") from exc


async def _payload_of(datasette: Any, row: dict[str, Any]) -> dict[str, Any] | None:
    """The capture holding a capture's payload (itself, or the record a revisit refers to)."""
    if row["record_type"] == "revisit" and not row["refers_to"]:
        raise PageError(404, f"Capture {row['id']} is a revisit that names no earlier record")
    target = await _db(datasette).execute_fn(lambda conn: payload_capture(conn, row))
    if target is None:
        raise PageError(
            404, f"Capture {row['id']} refers to {row['refers_to']}, which is not in this archive"
        )
    return None if target is row else target


async def raw_view(request: Any, datasette: Any) -> Response:
    """The archived bytes as received (Content-Encoding undone), sandboxed, nothing else loaded."""
    row = await _capture(datasette, request.url_vars["id"])
    target = await _payload_of(datasette, row)
    page = await _in_thread(archived_page, _data_dir(datasette) / "warc", row, target)
    return Response(page.body, status=200, headers=page.headers, content_type=page.content_type)


async def render_view(request: Any, datasette: Any) -> Response:
    """A rendered screenshot, thumbnail or PDF, served from its WARC record."""
    render_id = request.url_vars["id"]
    row = await _row(datasette, "renders", render_id)
    if row is None or row["view"] == "renderinfo":
        raise PageError(404, f"No rendered view with id {render_id!r} in this archive")
    page = await _in_thread(rendered_view, _data_dir(datasette) / "warc", row)
    return Response(page.body, status=200, headers=page.headers, content_type=page.content_type)


async def imported_resource_view(request: Any, datasette: Any) -> Response:
    """A screenshot or thumbnail an imported file brought (Browsertrix's), served from its WARC record."""
    resource_id = request.url_vars["id"]
    row = await _db(datasette).execute_fn(lambda conn: resource_by_id(conn, resource_id))
    if row is None or row["kind"] not in SCREENSHOT_KINDS:
        raise PageError(404, f"No imported screenshot with id {resource_id!r} in this archive")
    page = await _in_thread(resource_view, _data_dir(datasette) / "warc", row)
    return Response(page.body, status=200, headers=page.headers, content_type=page.content_type)


def _origin(datasette: Any, request: Any) -> str:
    return datasette.absolute_url(request, "/").rstrip("/")


async def archived_view(request: Any, datasette: Any) -> Response:
    """The archived page as it looked: a reading room page holding it, with its requisites served from the
    archive, in a sandboxed frame, and a notice of the requisites the archive lacks. Other types (PDF,
    images) are shown as the raw view shows them."""
    row = await _capture(datasette, request.url_vars["id"])
    if not (row["content_type"] or "").lower().startswith(("text/html", "application/xhtml+xml")):
        return await raw_view(request, datasette)
    await _payload_of(datasette, row)
    warc_dir = _data_dir(datasette) / "warc"
    try:
        named, missing = await _db(datasette).execute_fn(lambda conn: missing_requisites(warc_dir, conn, row))
    except (WarcReadError, OSError) as exc:
        raise PageError(500, f"The archived copy cannot be read: {exc}", title="Archive problem") from exc
    timestamp = timestamp_of(row["captured_at"])
    article = await _row(datasette, "articles", row["id"])
    context = {
        "capture": row,
        "article": article,
        "captured": row["captured_at"][:19].replace("T", " ") + " UTC",
        "frame_src": replay_path(f"{timestamp}-{row['id']}", row["url"]),
        "raw_url": f"/-/raw/{row['id']}",
        "warc_url": f"/-/warc/{row['id']}",
        "named": named,
        "missing": missing,
    }
    html = await datasette.render_template(
        ["morgue_archived.html"], context, request=request, view_name="morgue_archived"
    )
    return Response.html(html)


async def replay_view(request: Any, datasette: Any) -> Response:
    """``/-/replay/<timestamp>/<url>``: the capture of url nearest to timestamp, rewritten to the archive."""
    url = request.url_vars["url"]
    if request.query_string:
        url += "?" + request.query_string
    timestamp, capture_id = request.url_vars["ts"], request.url_vars.get("id")
    warc_dir = _data_dir(datasette) / "warc"
    origin = _origin(datasette, request)
    try:
        status, page = await _db(datasette).execute_fn(
            lambda conn: replayed(warc_dir, conn, timestamp, url, origin, capture_id)
        )
    except (WarcReadError, OSError) as exc:
        log.error("reading room: the archived copy cannot be read: %s", exc)
        raise PageError(500, f"The archived copy cannot be read: {exc}", title="Archive problem") from exc
    return Response(page.body, status=status, headers=page.headers, content_type=page.content_type)


async def warc_view(request: Any, datasette: Any) -> Response:
    row = await _capture(datasette, request.url_vars["id"])
    record = await _in_thread(raw_record, _data_dir(datasette) / "warc", row)
    return Response(record.body, status=200, headers=record.headers, content_type=record.content_type)
