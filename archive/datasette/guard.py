"""An ASGI wrapper that answers 404 for paths no route of the reading room serves.

datasette 0.65 answers such a path (``/-/archived/../../etc/passwd``, ``/a/b/c/d``) with a 500 when `rich`
is installed (its exception hook prints a traceback outside an ``except`` block and fails), and a path
that is not ASCII (``/-/archivé``) with a 500 on every install (it decodes the raw path as ASCII). Paths
datasette itself rewrites before its 404 (``%``-encoded ones become its ``~`` form, a trailing slash is
dropped) are left to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from datasette import Response
from datasette.utils import resolve_routes

__all__ = ["not_found_guard"]

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def not_found_guard(datasette: Any) -> Callable[[Asgi], Asgi]:
    routes = datasette._routes()  # the router's own table (datasette has no public accessor)

    def wrap(app: Asgi) -> Asgi:
        async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
                path = raw.partition(b"?")[0]
                try:
                    text = path.decode("ascii")
                except UnicodeDecodeError:
                    text = None
                unrouted = text is not None and "%" not in text and not text.endswith("/") and (
                    resolve_routes(routes, text)[0] is None)
                if text is None or unrouted:
                    await _not_found(datasette, send)
                    return
            await app(scope, receive, send)

        return guarded

    return wrap


async def _not_found(datasette: Any, send: Any) -> None:
    context = {"ok": False, "error": "There is no such page in this archive.", "status": 404,
               "title": "Not found"}
    await datasette.invoke_startup()  # this wrapper runs before datasette's own first-request startup
    html = await datasette.render_template(["error.html"], context)
    await Response.html(html, status=404).asgi_send(send)
