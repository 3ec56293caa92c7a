"""Atom feeds of the reading room: a search's newest matches, a saved search's, a site's, and the edits.

Feed readers are how journalists follow a search without running morgue themselves. Matches come from the
reading room's own search (``archive.datasette.search``, which reads the query with the search language),
so a feed holds what the search page finds. The XML is made by feedgen, which escapes what it is given: a
title with markup in it arrives in a reader as text, never as an element.

A feed reader polls and keeps the entry ids it has seen, so what makes it show each new match exactly once
is: entries listed in the order the index filed them, last first (a match filed since the last poll is on
top even when it was captured or published long ago, as an import of old captures is); ids and dates that
never change for an entry (its reading-room page, its capture time); and conditional requests, so a poll
that finds nothing new costs a 304 and no body: a strong ETag (the body's digest, answered by
If-None-Match) and a Last-Modified that is when the index last changed (answered by If-Modified-Since
when no If-None-Match comes, as RFC 9110 says).
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from archive.datasette import search as search_mod
from archive.datasette.display import HL_CLOSE, HL_OPEN
from archive.follows import FollowError, read_saved_search
from archive.textdiff import word_diff
from datasette import Response
from datasette.database import QueryInterrupted

__all__ = ["feed_routes", "search_feed_url", "index_changed", "EDITS_FEED", "FEED_SIZE"]

EDITS_FEED = "/-/feeds/edits.atom"
FEED_SIZE = search_mod.PAGE_SIZE
ATOM = "application/atom+xml; charset=utf-8"
_SUMMARY_CHANGES = 3  # the edits feed quotes this many changed passages of each new version
_QUOTE_CHARS = 80


class FeedError(Exception):
    """A feed that cannot be made; answered with its status and the message as plain text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def search_feed_url(q: str, site: str | None = None) -> str:
    """The feed of a search as the search page advertises it (only the query and the site filter)."""
    params = {"q": q, **({"site": site} if site else {})}
    return "/-/feeds/search.atom?" + urlencode(params)


def _when(value: str | None) -> datetime | None:
    """An index date (``2026-11-28``, ISO with or without zone, ``Z``) as an aware datetime for feedgen."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _plain(snippet: str | None) -> str:
    return (snippet or "").replace(HL_OPEN, "").replace(HL_CLOSE, "")


def _feed(datasette: Any, request: Any, title: str, self_path: str, page_path: str, subtitle: str
          ) -> FeedGenerator:
    fg = FeedGenerator()
    self_url = datasette.absolute_url(request, self_path)
    fg.id(self_url)
    fg.title(title)
    fg.subtitle(subtitle)
    fg.author(name="morgue reading room")
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=datasette.absolute_url(request, page_path), rel="alternate", type="text/html")
    fg.generator("morgue (feedgen)")
    return fg


class _Entry(FeedEntry):  # type: ignore[misc]  # feedgen has no type hints
    """feedgen 1.0's entries write each ``<link>`` with its href alone (lkiesow/python-feedgen#135): both
    links then read as rel="alternate", and a reader may open the original article instead of its
    archived page (node-feedparser takes the last). This puts back each link's rel and type."""

    def atom_entry(self, extensions: bool = True) -> Any:
        entry = super().atom_entry(extensions)
        for element, link in zip(entry.findall("link"), self.link() or [], strict=True):
            for name in ("rel", "type", "hreflang", "title", "length"):
                if link.get(name):
                    element.set(name, str(link[name]))
        return entry


def _entry(fg: FeedGenerator, datasette: Any, request: Any, row: dict[str, Any], link: str,
           summary: str, entry_id: str | None = None) -> None:
    fe = fg.add_entry(_Entry(), order="append")
    url = datasette.absolute_url(request, link)
    fe.id(entry_id or url)
    fe.title(row.get("title") or row["url"])
    fe.link(href=url, rel="alternate", type="text/html")
    fe.link(href=row["url"], rel="related", type="text/html")
    fe.summary(summary or None)
    captured = _when(row["captured_at"])
    published = _when(row.get("published")) or captured
    if published:
        fe.published(published)
    if captured:
        fe.updated(captured)
    try:
        authors = json.loads(row.get("authors") or "[]")
    except ValueError:
        authors = []
    for name in authors if isinstance(authors, list) else []:
        if isinstance(name, str) and name.strip():
            fe.author(name=name)
    fe.category(term=row["site"], label=row.get("site_name") or row["site"])


def index_changed(data_dir: Path) -> datetime | None:
    """When the index last changed, to the second, rounded up: the later modification time of ``morgue.db``
    and of its write-ahead log if that holds anything (every write goes to one of them; an empty log is
    one a connection just opened). None while that second has not passed yet: a write later in the same
    second would not move it, and a reader sent it would miss that write."""
    times = []
    for path in (data_dir / "morgue.db", data_dir / "morgue.db-wal"):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if stat.st_size or path.suffix == ".db":
            times.append(stat.st_mtime)
    if not times:
        return None
    changed = math.ceil(max(times))
    if changed > datetime.now(UTC).timestamp():
        return None
    return datetime.fromtimestamp(changed, UTC)


def _not_modified(request: Any, etag: str, changed: datetime | None) -> bool:
    """Whether the reader's copy is current: If-None-Match names this ETag, or (only when it sent no
    If-None-Match) If-Modified-Since is no earlier than the index's last change."""
    match = request.headers.get("if-none-match")
    if match is not None:
        tags = [t.strip().removeprefix("W/") for t in match.split(",")]
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since is None or changed is None:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False  # a date that cannot be read: send the feed
    return when.tzinfo is not None and changed <= when


def _finish(fg: FeedGenerator, rows: list[dict[str, Any]], datasette: Any, request: Any) -> Response:
    newest = max((_when(r["captured_at"]) for r in rows if _when(r["captured_at"])), default=None)
    fg.updated(newest or datetime(1970, 1, 1, tzinfo=UTC))  # an empty feed: a fixed date, not "now"
    body = fg.atom_str(pretty=True)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    changed = index_changed(Path(datasette.morgue_data_dir))
    headers = {"ETag": etag, "Cache-Control": "no-cache"}  # a reader may keep it, but asks each time
    if changed is not None:
        headers["Last-Modified"] = format_datetime(changed, usegmt=True)
    if _not_modified(request, etag, changed):
        return Response("", status=304, headers=headers, content_type=ATOM)
    return Response(body.decode("utf-8"), headers=headers, content_type=ATOM)


async def _matches(datasette: Any, req: search_mod.SearchRequest) -> list[dict[str, Any]]:
    if req.unsearchable:
        why = req.message or "nothing to search for"
        raise FeedError(400, f"This feed's query cannot be searched: {why}")
    req.order, req.page = "filed", 1
    db = datasette.get_database("morgue")
    try:
        rows, _total, _capped, _more = await db.execute_fn(lambda conn: search_mod.run_search(conn, req))
    except sqlite3.OperationalError as exc:  # the search language should never let this happen
        raise FeedError(400, f"The search engine could not read the query {req.q!r} ({exc})") from exc
    except QueryInterrupted as exc:
        raise FeedError(400, "This search took too long; add a word or a filter to narrow it") from exc
    return rows[:FEED_SIZE]


async def _search_results(datasette: Any, request: Any, req: search_mod.SearchRequest, title: str,
                          self_path: str) -> Response:
    rows = await _matches(datasette, req)
    site = req.filters.get("site")
    fg = _feed(datasette, request, title, self_path, search_mod.SearchRequest(
        q=req.q, filters=req.filters, order="newest").url(),
        f"The newest archived articles matching {req.q!r}" + (f" on {site}" if site else ""))
    for row in rows:
        _entry(fg, datasette, request, row, f"/-/article/{row['id']}",
               _plain(row.get("snippet")) or row.get("description") or "")
    return _finish(fg, rows, datasette, request)


async def search_feed(request: Any, datasette: Any) -> Response:
    q = (request.args.get("q") or "").strip()
    if not q:
        raise FeedError(400, "A search feed needs a query: /-/feeds/search.atom?q=WORDS (&site=SITE)")
    site = (request.args.get("site") or "").strip()
    req = search_mod.SearchRequest.for_query(q, filters={"site": site} if site else {})
    return await _search_results(datasette, request, req, f"morgue: {req.q}", search_feed_url(q, site))


async def follow_feed(request: Any, datasette: Any) -> Response:
    name = request.url_vars["name"]
    try:
        saved = read_saved_search(datasette.morgue_data_dir, name)
    except FollowError as exc:
        raise FeedError(404, str(exc)) from exc
    req = search_mod.SearchRequest.for_query(saved.query, filters={"site": saved.site} if saved.site else {})
    return await _search_results(datasette, request, req, f"morgue: {saved.name} ({saved.query})",
                                 f"/-/feeds/follow/{quote(name)}.atom")


async def site_feed(request: Any, datasette: Any) -> Response:
    site = request.url_vars["site"]
    db = datasette.get_database("morgue")
    known = (await db.execute("SELECT site_name FROM articles WHERE site = ? LIMIT 1", [site])).first()
    if known is None:
        raise FeedError(404, f"No site named {site!r} in this archive")
    req = search_mod.SearchRequest(filters={"site": site}, order="newest")
    rows = await _matches(datasette, req)
    fg = _feed(datasette, request, f"morgue: {known['site_name'] or site}",
               f"/-/feeds/site/{quote(site)}.atom", req.url(), f"The newest archived articles of {site}")
    for row in rows:
        _entry(fg, datasette, request, row, f"/-/article/{row['id']}", row.get("description") or "")
    return _finish(fg, rows, datasette, request)


def diff_summary(old: dict[str, Any], new: dict[str, Any]) -> str:
    """A short account of a new version: words removed and added, and the first changed passages."""
    runs = word_diff(f"{old['title'] or ''}\n\n{old['text']}", f"{new['title'] or ''}\n\n{new['text']}")
    removed = sum(len(t.split()) for op, t in runs if op == "delete")
    added = sum(len(t.split()) for op, t in runs if op == "insert")
    changes: list[str] = []
    for i, (op, text) in enumerate(runs):
        if op == "equal" or len(changes) >= _SUMMARY_CHANGES:
            continue
        if op == "insert" and i and runs[i - 1][0] == "delete":
            continue  # told with the deletion it replaces
        deleted = text if op == "delete" else ""
        inserted = text if op == "insert" else (runs[i + 1][1] if i + 1 < len(runs)
                                                and runs[i + 1][0] == "insert" else "")
        part = " ".join(p for p in (f"[-{deleted.strip()[:_QUOTE_CHARS]}-]" if deleted.strip() else "",
                                    f"{{+{inserted.strip()[:_QUOTE_CHARS]}+}}" if inserted.strip() else "")
                        if p)
        if part:
            changes.append(part)
    return (f"Version {new['version']}: {removed} word{'s' * (removed != 1)} removed, "
            f"{added} added. " + " … ".join(changes)).strip()


_EDITS = (
    "SELECT new.id, new.url, new.title, new.site, new.site_name, new.authors, new.published, "
    "new.captured_at, new.version, new.text, old.id AS old_id, old.title AS old_title, old.text AS old_text "
    "FROM articles AS new JOIN articles AS old ON old.url = new.url AND old.version = new.version - 1 "
    "WHERE new.version > 1 ORDER BY new.rowid DESC LIMIT ?"  # the last filed first, as in every feed
)


async def edits_feed(request: Any, datasette: Any) -> Response:
    db = datasette.get_database("morgue")
    rows = [dict(r) for r in (await db.execute(_EDITS, [FEED_SIZE])).rows]
    fg = _feed(datasette, request, "morgue: articles changed after publication", EDITS_FEED,
               "/morgue/changed_articles", "Each new version of an archived article, with what changed")
    for row in rows:
        old = {"title": row["old_title"], "text": row["old_text"]}
        link = f"/-/article/{row['id']}?compare={row['old_id']}"
        _entry(fg, datasette, request, row, link, diff_summary(old, row),
               entry_id=datasette.absolute_url(request, f"/-/article/{row['id']}"))
    return _finish(fg, rows, datasette, request)


def _answers_in_words(view: Any) -> Any:
    """A FeedError becomes its status with the message as text (a feed reader shows it as it is)."""

    async def wrapped(request: Any, datasette: Any) -> Response:
        try:
            return await view(request, datasette)
        except FeedError as error:
            return Response.text(error.message + "\n", status=error.status)

    wrapped.__name__ = view.__name__
    return wrapped


def feed_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/feeds/search\.atom$", _answers_in_words(search_feed)),
        (r"^/-/feeds/edits\.atom$", _answers_in_words(edits_feed)),
        (r"^/-/feeds/follow/(?P<name>[^/]+)\.atom$", _answers_in_words(follow_feed)),
        (r"^/-/feeds/site/(?P<site>[^/]+)\.atom$", _answers_in_words(site_feed)),
    ]
