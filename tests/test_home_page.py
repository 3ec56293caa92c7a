"""The home page morgue serves (``archive.datasette.home``) is kept once rendered until the index changes,
and never shows figures the index has moved past: a real index written between visits."""

from __future__ import annotations

import asyncio
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

from archive.datasette import home
from archive.index import Index, capture_row
from archive.reading_room import make_datasette
from tests.test_index import pointer


def _file(index: Index, n: int) -> None:
    row = capture_row(
        pointer(n),
        url=f"https://gazette.example/{n}",
        status=200,
        headers=[],
        payload_length=90,
        site="gazette",
        crawl_id=1,
        kind="page",
    )
    index.add_capture(row)
    index.add_article(
        row,
        {
            "text": f"Story {n} about the harbour.",
            "title": f"Story {n}",
            "published": f"2026-11-{n:02d}",
            "extractor": "test",
        },
        url=f"https://gazette.example/{n}",
        site="gazette",
    )


def _written_ago(data: Path, seconds: float) -> None:
    """Date the index's last write back (the page is kept only once that second is over; no waiting)."""
    moment = time.time() - seconds
    for path in (data / "morgue.db", data / "morgue.db-wal"):
        if path.exists():
            os.utime(path, (moment, moment))


_AS_OF = re.compile(
    r"Figures as of (\d\d:\d\d:\d\d) UTC \((\d{4}-\d\d-\d\d)\)\. The archive has been "
    r"written to since then"
)


async def _visit(room: object) -> tuple[int, datetime | None]:
    """The articles the home page counts, and the time it says its figures are as of (None: it says they
    are current)."""
    page = (await room.client.get("/")).text  # type: ignore[attr-defined]
    count = int(re.search(r'<p class="morgue-lede">\s*<strong>(\d+)</strong> article', page).group(1))
    stamp = _AS_OF.search(page)
    when = None if stamp is None else datetime.fromisoformat(f"{stamp[2]}T{stamp[1]}+00:00")
    return count, when


def test_home_page_follows_every_write(tmp_path: Path) -> None:
    """After a write, visitors get the kept page at once, saying when its figures were read, while it is
    rendered again in the background; then the new figures, with no such line."""
    with Index(tmp_path / "morgue.db") as index:
        for n in (1, 2):
            _file(index, n)
    _written_ago(tmp_path, 60)
    room = make_datasette(tmp_path)

    async def visits() -> None:
        before = datetime.now(UTC).replace(microsecond=0)
        assert await _visit(room) == (2, None)  # rendered
        after = datetime.now(UTC)
        assert await _visit(room) == (2, None)  # kept
        with Index(tmp_path / "morgue.db") as index:
            _file(index, 3)
        count, when = await _visit(room)  # the index changed: the kept page, saying when it was true
        assert count == 2 and when is not None and before <= when <= after
        await home.rebuilt(room)
        _written_ago(tmp_path, 30)  # that write's second is over (rendered within it, the page said so)
        assert (await _visit(room))[0] == 3
        await home.rebuilt(room)
        assert await _visit(room) == (3, None)
        with Index(tmp_path / "morgue.db") as index:
            _file(index, 4)
        _written_ago(tmp_path, 20)  # a write in a later second than the kept page's
        count, when = await _visit(room)
        assert count == 3 and when is not None
        await home.rebuilt(room)
        assert await _visit(room) == (4, None)

    asyncio.run(visits())


def test_a_signed_in_visitor_gets_the_figures_as_they_stand(tmp_path: Path) -> None:
    """The page rendered for a signed-in visitor is rendered for them: the figures of now, no "as of"."""
    with Index(tmp_path / "morgue.db") as index:
        _file(index, 1)
    _written_ago(tmp_path, 60)
    room = make_datasette(tmp_path)
    signed = room.sign({"a": {"id": "editor"}}, "actor")

    async def visits() -> None:
        assert await _visit(room) == (1, None)
        with Index(tmp_path / "morgue.db") as index:
            _file(index, 2)
        assert (await _visit(room))[0] == 1
        page = (await room.client.get("/", cookies={"ds_actor": signed})).text
        assert "<strong>2</strong> article" in page and "Figures as of" not in page
        await home.rebuilt(room)

    asyncio.run(visits())


def test_the_kept_page_is_sent_as_datasette_sent_it_and_only_to_anonymous_visitors(tmp_path: Path) -> None:
    """The kept page is answered in front of datasette's stack (``home.kept_home``): the same status,
    headers and bytes as the page datasette rendered; a visitor with a cookie or an Authorization header
    goes through datasette, and what datasette renders for a signed-in actor is never kept for others."""
    with Index(tmp_path / "morgue.db") as index:
        _file(index, 1)
    _written_ago(tmp_path, 60)
    room = make_datasette(tmp_path)
    rendered = asyncio.run(room.client.get("/"))
    kept = asyncio.run(room.client.get("/"))
    assert (kept.status_code, kept.headers.items(), kept.content) == (
        rendered.status_code,
        rendered.headers.items(),
        rendered.content,
    )
    assert kept.headers["content-type"] == "text/html; charset=utf-8" and "editor" not in kept.text
    signed = room.sign({"a": {"id": "editor"}}, "actor")
    for _ in range(2):
        mine = asyncio.run(room.client.get("/", cookies={"ds_actor": signed}))
        assert mine.status_code == 200 and "<strong>editor</strong>" in mine.text
        assert mine.headers["cache-control"] == "private, no-store"
    anonymous = asyncio.run(room.client.get("/"))
    assert anonymous.content == rendered.content and "editor" not in anonymous.text
    with Index(tmp_path / "morgue.db") as index:
        _file(index, 2)
    _written_ago(tmp_path, 30)

    async def after_a_write() -> None:  # the wrapper sends no page the index moved past as current
        assert (await _visit(room))[0] == 1 and (await _visit(room))[1] is not None
        await home.rebuilt(room)
        assert await _visit(room) == (2, None)
        assert await _visit(room) == (2, None)

    asyncio.run(after_a_write())


def test_a_prepared_room_answers_its_first_visit_with_the_kept_page(
    tmp_path: Path, monkeypatch: object
) -> None:
    """``home.prepare`` (``morgue serve`` calls it before it listens) renders the page, so the first visitor
    is not the one who waits for it: that visit renders nothing and gets the same page."""
    with Index(tmp_path / "morgue.db") as index:
        for n in (1, 2, 3):
            _file(index, n)
    _written_ago(tmp_path, 60)
    room = make_datasette(tmp_path)
    renders: list[int] = []
    real = home._render

    async def counted(request: object, datasette: object) -> str:
        renders.append(1)
        return await real(request, datasette)

    monkeypatch.setattr(home, "_render", counted)  # type: ignore[attr-defined]

    async def first_visit() -> None:
        await home.prepare(room)
        assert len(renders) == 1
        assert await _visit(room) == (3, None)
        assert len(renders) == 1  # answered by the kept page

    asyncio.run(first_visit())


def test_cookies_of_other_tools_on_the_host_still_get_the_kept_page(tmp_path: Path) -> None:
    """A browser sends 127.0.0.1's cookies to every port, so a reader who ran other local web tools carries
    theirs: the wrapper still answers with the kept page; datasette's sign-in or flash-message cookie, or an
    Authorization header, goes through datasette."""
    with Index(tmp_path / "morgue.db") as index:
        _file(index, 1)
    _written_ago(tmp_path, 60)
    room = make_datasette(tmp_path)
    rendered = asyncio.run(room.client.get("/"))  # renders and keeps the page
    reached: list[bytes] = []

    async def datasette_stack(scope: dict, receive: object, send: object) -> None:
        reached.append(b" ".join(value for _, value in scope["headers"]))

    serve = home.kept_home(room)(datasette_stack)

    def visit(headers: list[tuple[bytes, bytes]]) -> bytes:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": headers}
        asyncio.run(serve(scope, None, send))
        return b"".join(m.get("body", b"") for m in sent)

    others = [(b"cookie", b"_xsrf=2|ab; username-127-0-0-1-8888=x; ds_csrftoken=IjEi")]
    assert visit(others) == rendered.content and reached == []
    assert visit([(b"cookie", b"_xsrf=1; ds_actor=eyJh")]) == b"" and len(reached) == 1
    assert visit([(b"cookie", b"ds_messages=W1si")]) == b"" and len(reached) == 2
    assert visit([(b"authorization", b"Bearer dstok_x")]) == b"" and len(reached) == 3
