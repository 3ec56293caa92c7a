"""The reading room's home page (``/``), served by morgue rather than by datasette's index view.

datasette's index view inspects every table of every database on each visit (columns, primary keys,
foreign keys, full-text tables, and row counts when the file is small): on 200,000 articles that cost
about ten times the summary queries the page shows (``benchmarks/bench_search.py``). The page shows what
the index keeps up to date (``archive.datasette.summary``, filled in by the plugin's template hook for the
"index" view) and the tables by name, which needs one look at ``sqlite_master``. ``/.json`` stays
datasette's.

What remains is rendering the sites table, which costs more than the queries, so the page is kept once
rendered until the index changes: its key is the index files' inode, size and modification time, and no
page is kept during the second of a write (``feeds.index_changed`` says none then), so a later write in the
same clock tick cannot leave a stale page behind. Only for anonymous visitors (the page names no one then).

A kept page is served by an ASGI wrapper in front of datasette (``kept_home``, installed by the plugin's
``asgi_wrapper`` hook) as the bytes it was sent as: through datasette's stack (its CSRF wrapper, router,
permission check and response headers) even a kept page cost several times the summary queries it shows.
The wrapper answers only requests that carry no cookie and no Authorization header — the requests
datasette itself treats as anonymous and not personalised — with the headers datasette sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from archive.datasette.feeds import index_changed
from datasette import Response

__all__ = ["home_view", "kept_home", "HOME_TABLES"]

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
_HEADERS = [(b"content-type", b"text/html; charset=utf-8"), (b"vary", b"Cookie, Authorization")]

HOME_TABLES = 5  # tables named on the home page, as datasette's index view names five
_FIRST = ("articles", "captures", "crawls", "sites")  # what a reader looks for first; then by name


_KEPT: dict[tuple[int, Path], tuple[tuple[int, ...], bytes]] = {}  # (room, data dir) -> (files' state, page)


def _state(data_dir: Path) -> tuple[int, ...]:
    """The index files as they stand (inode, size, modification time in ns): any write changes one of
    them, whichever way the clock that stamps them goes."""
    state: list[int] = []
    for path in (data_dir / "morgue.db", data_dir / "morgue.db-wal"):
        try:
            stat = path.stat()
        except FileNotFoundError:
            state += [0, 0, 0]
            continue
        state += [stat.st_ino, stat.st_size, stat.st_mtime_ns]
    return tuple(state)


def _kept(datasette: Any) -> bytes | None:
    """The page kept for this room, if the index files are as they were when it was rendered."""
    data_dir = Path(datasette.morgue_data_dir)
    kept = _KEPT.get((id(datasette), data_dir))
    if kept is None or index_changed(data_dir) is None or kept[0] != _state(data_dir):
        return None
    return kept[1]


async def home_view(request: Any, datasette: Any) -> Response:
    await datasette.ensure_permissions(request.actor, ["view-instance"])
    data_dir = Path(datasette.morgue_data_dir)
    anonymous = request.actor is None
    body = _kept(datasette) if anonymous else None
    if body is None:
        state = _state(data_dir)  # before rendering: a write meanwhile makes the page kept under it stale
        settled = anonymous and index_changed(data_dir) is not None
        body = (await _render(request, datasette)).encode("utf-8")
        if settled:
            _KEPT[(id(datasette), data_dir)] = (state, body)
    return Response(body, content_type="text/html; charset=utf-8")


def kept_home(datasette: Any) -> Callable[[Asgi], Asgi]:
    """An ASGI wrapper answering an anonymous GET of ``/`` with the kept page, when there is one."""

    def wrap(app: Asgi) -> Asgi:
        async def serve(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if (scope["type"] == "http" and scope.get("method") == "GET" and scope.get("path") == "/"
                    and not scope.get("query_string") and datasette.setting("base_url") == "/"
                    and not any(name in (b"cookie", b"authorization") for name, _ in scope["headers"])):
                body = _kept(datasette)
                if body is not None:
                    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
                    await send({"type": "http.response.body", "body": body})
                    return
            await app(scope, receive, send)

        return serve

    return wrap


async def _render(request: Any, datasette: Any) -> str:
    databases = []
    for name, db in datasette.databases.items():
        if name.startswith("_"):  # datasette's internal database
            continue
        hidden = set(await db.hidden_table_names())
        tables = [t for t in await db.table_names() if t not in hidden]
        tables.sort(key=lambda t: (_FIRST.index(t) if t in _FIRST else len(_FIRST), t))
        databases.append({"name": name, "tables_and_views_truncated": [{"name": t} for t in
                                                                       tables[:HOME_TABLES]]})
    return str(await datasette.render_template(["index.html"], {"databases": databases,
                                                               "metadata": datasette.metadata()},
                                               request=request, view_name="index"))
