"""The reading room's Atom feeds, read back with Python's feedparser and with node-feedparser (the parser of
Node feed readers, run by node: every feed fetched here is read by both, and both must read the same
entries, ids, links, dates, summaries and sites), over the reading-room archive (two real crawls of the demo
site, one article edited in between, one with markup in its title): a search's feed and a saved search's
list exactly the new version that matches, the edits feed exactly the edit with its word diff, the site
feed every latest article; hostile titles arrive as text; bad queries and unknown names answer in words
(400, 404); the search and home pages advertise their feeds."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from archive.reading_room import ReadingRoom, make_datasette
from tests.conftest import run_morgue
from tests.node_feedparser import node_feedparser_dir, read_with_node
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


_node_parser = functools.cache(node_feedparser_dir)  # installed once per test run


def _instant(value: str) -> datetime:
    """A date as either parser gives it (ISO with a zone, or node's ``...Z``), as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _node_reads_the_same(feed: bytes, parsed: Any, installed: Path) -> dict[str, Any]:
    """node-feedparser's reading of ``feed`` agrees with feedparser's on everything a reader uses; titles
    too, except that node-feedparser strips markup from a title (it keeps the literal in ``atom:title``)."""
    node = read_with_node(feed, installed)
    assert node["meta"]["type"] == "atom" and node["meta"]["version"] == "1.0"
    assert _instant(node["meta"]["date"]) == _instant(parsed.feed.updated)
    assert len(node["items"]) == len(parsed.entries)
    for item, entry in zip(node["items"], parsed.entries, strict=True):
        assert item["guid"] == entry.id
        assert item["link"] == _page(entry)  # the archived page, not the original article
        assert {link["href"] for link in item["links"]} == {link.href for link in entry.links}
        assert _instant(item["date"]) == _instant(entry.updated)
        assert _instant(item["pubdate"]) == _instant(entry.published)
        assert item["summary"] == entry.get("summary")
        assert item["categories"] == [t.term for t in entry.tags]
        assert item["raw_title"] == entry.title
        if "<" not in entry.title:
            assert item["title"] == entry.title
    return node


def _feed(room: ReadingRoom, path: str, **params: Any) -> Any:
    response = get(room, path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0, parsed.bozo_exception
    assert parsed.version == "atom10"
    for entry in parsed.entries:  # one archived page, and the original as related
        assert [link.rel for link in entry.links] == ["alternate", "related"]
    parsed["node"] = _node_reads_the_same(response.content, parsed, _node_parser())
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
    assert parsed["node"]["items"][0]["summary"] == summary  # node-feedparser reads the same summary
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
    parsed = _feed(room, "/-/feeds/site/gazette.atom")
    hostile = archive.ids[HOSTILE_TITLE][-1]
    at = next(i for i, e in enumerate(parsed.entries) if _page(e).endswith(hostile))
    assert TITLE_MARKUP in parsed.entries[at].title  # the literal text, markup characters and all
    item = parsed["node"]["items"][at]
    assert TITLE_MARKUP in item["raw_title"]  # node-feedparser reads the same literal text...
    shown = parsed.entries[at].title.replace(TITLE_MARKUP, "")
    assert "<" not in item["title"] and item["title"].split() == shown.split()  # ...and shows it tag-free
    query = f"regatta {TITLE_MARKUP}"  # a hostile query: the feed's own title carries it as text too
    searched = get(room, "/-/feeds/search.atom", params={"q": query})
    assert searched.status_code == 200 and "<img" not in searched.text
    assert TITLE_MARKUP in feedparser.parse(searched.content).feed.title


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
