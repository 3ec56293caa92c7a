"""The reading room's home page (``/``), served by morgue rather than by datasette's index view.

datasette's index view inspects every table of every database on each visit (columns, primary keys,
foreign keys, full-text tables, and row counts when the file is small): on 200,000 articles that cost
about ten times the summary queries the page shows (``benchmarks/bench_search.py``). The page shows what
the index keeps up to date (``archive.datasette.summary``, filled in by the plugin's template hook for the
"index" view) and the tables by name, which needs one look at ``sqlite_master``. ``/.json`` stays
datasette's.

What remains is rendering the sites table, which costs many times the queries, so the page is kept once
rendered, and served stale-while-revalidate: while the index files are as they were when its figures were
read (inode, size and modification time), the kept page is sent as it is; once they changed, the kept page
is sent with a line saying the figures are as of the time they were read and that the archive has changed
since, and the page is rendered again in the background (``AFTER`` the visit, one rendering at a time per
room), so a visitor never waits for the rendering and never reads a figure without knowing when it was
true. A page rendered
during the second of a write counts as changed from the start (``feeds.index_changed`` says None then): a
later write in the same clock tick might not move the files' times.

A kept page is served by an ASGI wrapper in front of datasette (``kept_home``, installed by the plugin's
``asgi_wrapper`` hook) as the bytes it was sent as: through datasette's stack (its CSRF wrapper, router,
permission check and response headers) even a kept page cost several times the summary queries it shows.
The wrapper answers only requests that datasette would not personalise — no Authorization header and no
``ds_actor`` (sign-in) or ``ds_messages`` (flash messages) cookie — with the headers datasette sent; the
page is rendered for kept use only as an anonymous visitor sees it. Other cookies do not stop it: a
browser sends a host's cookies to every port of it, so a reader who ran any other web tool on 127.0.0.1
carries its cookies here, which datasette's own sign-in ignores. (With another datasette plugin that
reads actors from requests installed, any cookie at all goes through datasette.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archive.datasette.feeds import index_changed
from datasette import Response
from datasette.utils.asgi import Request

__all__ = ["home_view", "kept_home", "prepare", "rebuilt", "HOME_TABLES", "AS_OF_START", "AS_OF_END"]

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
_HEADERS = [(b"content-type", b"text/html; charset=utf-8"), (b"vary", b"Cookie, Authorization")]
log = logging.getLogger("morgue.reading_room")

HOME_TABLES = 5  # tables named on the home page, as datasette's index view names five
_FIRST = ("articles", "captures", "crawls", "sites")  # what a reader looks for first; then by name
AFTER = 0.02  # seconds between sending a stale page and rendering it again
AS_OF_START, AS_OF_END = "<!--morgue:as-of-->", "<!--/morgue:as-of-->"  # the template's stale-only line


@dataclass(frozen=True)
class _Page:
    """A rendered home page: ``state`` the index files' state its figures were read at (None: read during
    the second of a write, so unknown), ``current`` the page as sent while that state holds, ``stale`` the
    same page with the line saying when its figures were read."""

    state: tuple[int, ...] | None
    current: bytes
    stale: bytes


_KEPT: dict[tuple[int, Path], _Page] = {}  # (room, data dir) -> its page
_BUILDS: dict[tuple[int, Path], asyncio.Task[None]] = {}  # (room, data dir) -> the rendering under way


def _key(datasette: Any) -> tuple[int, Path]:
    return id(datasette), Path(datasette.morgue_data_dir)


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


def _kept(datasette: Any) -> tuple[bytes, bool] | None:
    """The page to send an anonymous visitor now, if one is kept, and whether it is stale: as it is while
    the index files are as they were when its figures were read, else stamped "as of" (the caller then
    starts a new rendering, once the page is sent)."""
    key = _key(datasette)
    page = _KEPT.get(key)
    if page is None:
        return None
    if page.state is not None and index_changed(key[1]) is not None and page.state == _state(key[1]):
        return page.current, False
    return page.stale, True


def _rebuild(datasette: Any) -> None:
    """Render the page again in the background unless a rendering is already under way."""
    key = _key(datasette)
    task = _BUILDS.get(key)
    if task is not None and not task.done():
        return
    _BUILDS[key] = asyncio.get_running_loop().create_task(_build(datasette))


async def prepare(datasette: Any) -> None:
    """Render and keep the page before the first visitor asks (``morgue serve`` does, before it listens),
    so that the first visit too is answered by the kept page."""
    await datasette.invoke_startup()
    await _keep(datasette, _anonymous())


async def rebuilt(datasette: Any) -> None:
    """Wait for the background rendering under way, if any (tests and the benchmark wait for it)."""
    task = _BUILDS.get(_key(datasette))
    if task is not None and task.get_loop() is asyncio.get_running_loop():
        await asyncio.shield(task)


async def _build(datasette: Any) -> None:
    await asyncio.sleep(AFTER)  # the visitor's page, and the stylesheets it asks for next, go out first
    try:
        await _keep(datasette, _anonymous())
    except Exception:  # the kept page stays as it was, stamped; the next visit tries again
        log.exception("reading room: the home page could not be rendered again")


def _anonymous() -> Request:
    """A GET of ``/`` with no cookie and no Authorization header, as the kept page answers. (An anonymous
    page has no form that needs a CSRF token; the token datasette's CSRF wrapper would add is empty.)"""
    request = Request.fake("/")
    request.scope.update(headers=[], csrftoken=lambda: "")
    return request


async def _keep(datasette: Any, request: Any) -> bytes:
    """Render the page as an anonymous visitor sees it, keep it, and return it as sent while current."""
    data_dir = Path(datasette.morgue_data_dir)
    state = _state(data_dir)  # before rendering: a write meanwhile makes the page kept under it stale
    settled = index_changed(data_dir) is not None
    html = await _render(request, datasette)
    page = _split(html, state if settled else None)
    _KEPT[_key(datasette)] = page
    return page.current


def _split(html: str, state: tuple[int, ...] | None) -> _Page:
    """The page without its stale-only line, and with it."""
    head, found, rest = html.partition(AS_OF_START)
    line, _, tail = rest.partition(AS_OF_END)
    if not found:
        return _Page(state, html.encode("utf-8"), html.encode("utf-8"))
    return _Page(state, (head + tail).encode("utf-8"), (head + line + tail).encode("utf-8"))


async def home_view(request: Any, datasette: Any) -> Response:
    await datasette.ensure_permissions(request.actor, ["view-instance"])
    if request.actor is not None:  # a page naming its visitor is rendered for them alone, never kept
        body = _split(await _render(request, datasette), None).current
    else:
        kept = _kept(datasette)
        if kept is None:
            body = await _keep(datasette, request)
        else:
            body, stale = kept
            if stale:
                _rebuild(datasette)
    return Response(body, content_type="text/html; charset=utf-8")


def kept_home(datasette: Any) -> Callable[[Asgi], Asgi]:
    """An ASGI wrapper answering an anonymous GET of ``/`` with the kept page, when there is one."""

    strict = _other_actor_plugins()

    def wrap(app: Asgi) -> Asgi:
        async def serve(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if (
                scope["type"] == "http"
                and scope.get("method") == "GET"
                and scope.get("path") == "/"
                and not scope.get("query_string")
                and datasette.setting("base_url") == "/"
                and not _personal(scope["headers"], strict)
            ):
                kept = _kept(datasette)
                if kept is not None:
                    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
                    await send({"type": "http.response.body", "body": kept[0]})
                    if kept[1]:
                        _rebuild(datasette)
                    return
            await app(scope, receive, send)

        return serve

    return wrap


_PERSONAL_COOKIES = frozenset({b"ds_actor", b"ds_messages"})  # what datasette reads to personalise a page


def _personal(headers: list[tuple[bytes, bytes]], strict: bool) -> bool:
    """Whether datasette might render ``/`` for this visitor differently from the anonymous page."""
    for name, value in headers:
        if name == b"authorization":
            return True
        if name == b"cookie":
            if strict:
                return True
            names = {part.split(b"=", 1)[0].strip() for part in value.split(b";")}
            if names & _PERSONAL_COOKIES:
                return True
    return False


def _other_actor_plugins() -> bool:
    """A datasette plugin besides datasette's own that finds actors in requests (it may read any cookie)."""
    from datasette.plugins import pm

    return any(not impl.plugin_name.startswith("datasette.")
               for impl in pm.hook.actor_from_request.get_hookimpls())


async def _render(request: Any, datasette: Any) -> str:
    databases = []
    for name, db in datasette.databases.items():
        if name.startswith("_"):  # datasette's internal database
            continue
        hidden = set(await db.hidden_table_names())
        tables = [t for t in await db.table_names() if t not in hidden]
        tables.sort(key=lambda t: (_FIRST.index(t) if t in _FIRST else len(_FIRST), t))
        databases.append(
            {"name": name, "tables_and_views_truncated": [{"name": t} for t in tables[:HOME_TABLES]]}
        )
    return str(
        await datasette.render_template(
            ["index.html"],
            {"databases": databases, "metadata": datasette.metadata()},
            request=request,
            view_name="index",
        )
    )
