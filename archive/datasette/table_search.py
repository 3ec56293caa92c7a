"""datasette's own table search (``/morgue/articles?_search=...``) read by morgue's search language.

datasette passes ``_search`` to FTS5 as it is (``searchmode: raw`` keeps OR, NOT and prefixes working),
so ``O'Brien`` was an engine error there too. This ASGI wrapper replaces the ``_search`` and
``_search_<column>`` parameters of requests for the articles table by their translation (itself valid in
the search language, so the search box it shows can be submitted again). A query with nothing to search
becomes ``""``, which matches no article.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from archive.query_language import translate

__all__ = ["table_search", "translate_params"]

Asgi = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
_ARTICLES = re.compile(r"^/morgue/articles(\.\w+)?$")


def translate_params(query_string: bytes) -> bytes:
    """The query string with its search parameters translated (the others untouched, in order)."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8",
                      errors="replace")
    if not any(name == "_search" or name.startswith("_search_") for name, _ in pairs):
        return query_string
    changed = []
    for name, value in pairs:
        if (name == "_search" or name.startswith("_search_")) and value.strip():
            value = translate(value).match or '""'
        changed.append((name, value))
    return urlencode(changed).encode("ascii")


def table_search(app: Asgi) -> Asgi:
    async def translated(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and _ARTICLES.match(scope.get("path", "")) and scope.get("query_string"):
            scope = dict(scope, query_string=translate_params(scope["query_string"]))
        await app(scope, receive, send)

    return translated
