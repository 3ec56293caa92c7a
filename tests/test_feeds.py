"""The reading room's Atom feeds, read back with feedparser, over the reading-room archive (two real crawls of
the demo site, one article edited in between, one with markup in its title): a search's feed and a saved
search's list exactly the new version that matches, the edits feed exactly the edit with its word diff,
the site feed every latest article; hostile titles arrive as text; bad queries and unknown names answer
in words (400, 404); the search and home pages advertise their feeds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import feedparser
import pytest

from archive.reading_room import ReadingRoom, make_datasette
from tests.conftest import run_morgue
from tests.test_reading_room import EDITED, HOSTILE_TITLE, TITLE_MARKUP, Archive, build_archive, get

NEW_WORDS = '"fourteen weeks"'  # only the second version of the edited article says this


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    built = build_archive(tmp_path_factory.mktemp("feeds"))
    added = run_morgue("follow", "add", "dredging-delay", NEW_WORDS, "--site", "gazette",
                       "--data", str(built.data))
    assert added.code == 0, added.stderr
    return built


@pytest.fixture(scope="module")
def room(archive: Archive) -> ReadingRoom:
    return make_datasette(archive.data)


def _feed(room: ReadingRoom, path: str, **params: Any) -> Any:
    response = get(room, path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.bozo_exception
    assert parsed.version == "atom10"
    return parsed


def _page(entry: Any) -> str:
    """The entry's reading-room page (its alternate link; the related link is the original article)."""
    return next(link.href for link in entry.links if link.rel == "alternate")


def _ids(parsed: Any) -> list[str]:
    return [_page(e).rsplit("/-/article/", 1)[1].split("?")[0] for e in parsed.entries]


def test_search_and_saved_search_feeds_list_exactly_the_new_match(archive: Archive,
                                                                  room: ReadingRoom) -> None:
    new_version = archive.ids[EDITED][-1]
    for parsed in (_feed(room, "/-/feeds/search.atom", q=NEW_WORDS),
                   _feed(room, "/-/feeds/search.atom", q=NEW_WORDS, site="gazette"),
                   _feed(room, "/-/feeds/follow/dredging-delay.atom")):
        assert _ids(parsed) == [new_version]
        entry = parsed.entries[0]
        assert entry.title == "Harbour dredging to begin in January after years of silt complaints"
        assert "fourteen weeks" in entry.summary and "\x01" not in entry.summary
        assert entry.published_parsed and entry.updated_parsed
        row = archive.db().execute("SELECT captured_at, site FROM articles WHERE id = ?",
                                   [new_version]).fetchone()
        assert entry.updated.startswith(row["captured_at"][:19])
        assert [t.term for t in entry.tags] == [row["site"]]
        assert any(link.href == archive.url(EDITED) for link in entry.links)  # the original, as related
    assert _ids(_feed(room, "/-/feeds/search.atom", q=NEW_WORDS, site="elsewhere")) == []


def test_edits_feed_lists_the_edit_with_its_word_diff(archive: Archive, room: ReadingRoom) -> None:
    parsed = _feed(room, "/-/feeds/edits.atom")
    old, new = archive.ids[EDITED]
    assert [_page(e) for e in parsed.entries] == [f"http://localhost/-/article/{new}?compare={old}"]
    summary = parsed.entries[0].summary
    assert summary.startswith("Version 2: ")
    assert "[-eleven" in summary and "{+fourteen" in summary and "authority said" in summary
    page = get(room, f"/-/article/{new}", params={"compare": old})
    assert page.status_code == 200 and "fourteen" in page.text


def test_site_feed_lists_every_latest_article_newest_first(archive: Archive, room: ReadingRoom) -> None:
    parsed = _feed(room, "/-/feeds/site/gazette.atom")
    latest = {ids[-1] for ids in archive.ids.values() if ids}
    assert len(latest) > 10 and set(_ids(parsed)) == latest and len(parsed.entries) == len(latest)
    assert get(room, "/-/feeds/site/nowhere.atom").status_code == 404


def test_hostile_titles_arrive_as_text(archive: Archive, room: ReadingRoom) -> None:
    response = get(room, "/-/feeds/site/gazette.atom")
    assert "<img" not in response.text  # escaped in the XML, not an element of it
    parsed = feedparser.parse(response.content)
    hostile = archive.ids[HOSTILE_TITLE][-1]
    entry = next(e for e in parsed.entries if _page(e).endswith(hostile))
    assert TITLE_MARKUP in entry.title  # the literal text, markup characters and all


def test_bad_feeds_answer_in_words(room: ReadingRoom) -> None:
    for params in ({"q": '"" ( )'}, {"q": ""}, {}):
        response = get(room, "/-/feeds/search.atom", params=params)
        assert response.status_code == 400, params
        assert response.headers["content-type"].startswith("text/plain")
        assert len(response.text.strip().splitlines()) == 1 and "query" in response.text
    unknown = get(room, "/-/feeds/follow/no-such-search.atom")
    assert unknown.status_code == 404 and "no saved search named 'no-such-search'" in unknown.text


def test_pages_advertise_their_feeds(room: ReadingRoom) -> None:
    search = get(room, "/-/search", params={"q": "harbour", "site": "gazette"}).text
    feed = "/-/feeds/search.atom?q=harbour&amp;site=gazette"
    link = f'<link rel="alternate" type="application/atom+xml" title="morgue: harbour" href="{feed}">'
    assert link in search
    follow = rf'<a class="morgue-follow" href="{re.escape(feed)}"[^>]*>Follow this search</a>'
    assert re.search(follow, search)
    assert _ids(_feed(room, "/-/feeds/search.atom", q="harbour", site="gazette"))
    home = get(room, "/").text
    assert '<link rel="alternate" type="application/atom+xml" title="Articles changed after publication" ' \
           'href="/-/feeds/edits.atom">' in home
    assert 'type="application/atom+xml"' not in get(room, "/-/search").text  # no query, no feed


def test_feeds_leave_follows_db_unwritten(archive: Archive, room: ReadingRoom) -> None:
    db = Path(archive.data / "follows.db")
    before = db.stat().st_mtime_ns, db.read_bytes()
    _feed(room, "/-/feeds/follow/dredging-delay.atom")
    assert (db.stat().st_mtime_ns, db.read_bytes()) == before
