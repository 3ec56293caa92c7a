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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archive.datasette.feeds import index_changed
from datasette import Response

__all__ = ["home_view", "HOME_TABLES"]

HOME_TABLES = 5  # tables named on the home page, as datasette's index view names five
_FIRST = ("articles", "captures", "crawls", "sites")  # what a reader looks for first; then by name


_KEPT: dict[tuple[int, Path], tuple[tuple[int, ...], str]] = {}  # (room, data dir) -> (files' state, page)


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


async def home_view(request: Any, datasette: Any) -> Response:
    await datasette.ensure_permissions(request.actor, ["view-instance"])
    data_dir = Path(datasette.morgue_data_dir)
    settled = request.actor is None and index_changed(data_dir) is not None
    key, state = (id(datasette), data_dir), _state(data_dir)
    kept = _KEPT.get(key)
    if settled and kept is not None and kept[0] == state:
        return Response.html(kept[1])
    html = await _render(request, datasette)
    if settled:
        _KEPT[key] = (state, html)
    return Response.html(html)


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
