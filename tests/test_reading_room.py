"""The reading room (``morgue serve``) through datasette's in-process client, over an archive made by real
crawls of the demo site: one article edited between two crawls (versions, diff), one carrying a script
(served sandboxed), one with markup in its title (escaped everywhere)."""

from __future__ import annotations

import asyncio
import hashlib
import html
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.reading_room import ReadingRoom, make_datasette
from archive.records import sha256_digest
from morgue.demo_server import DEFAULT_ROOT
from tests.conftest import REPO, run_morgue, start_site, write_seed
from tests.demo_articles import ARTICLES

EDITED = "/news/2026/11/harbour-dredging.html"
HOSTILE_TITLE = "/sport/2026/11/rowing-regatta.html"
SCRIPT = (
    "<script>document.title='PWNED';document.body.setAttribute('data-pwned','1');"
    "try{localStorage.setItem('pwned','1')}catch(e){};window.pwned=1;</script>"
)
TITLE_MARKUP = '<img src=x onerror="window.pwned=1">'
# Only where the page is framed (the styled archived view): reach for the reading room above it.
TOP_SCRIPT = (
    "<script>if(window.top!==window){try{window.top.document.title='PWNED'}catch(e){};"
    "try{window.parent.postMessage('pwned','*')}catch(e){};"
    "try{window.top.location.href='http://example.invalid/pwned'}catch(e){}}</script>"
)
FRESH_AFTER = datetime(2026, 11, 26, tzinfo=UTC)


@dataclass
class Archive:
    data: Path
    base_url: str  # where the demo site was served (it is stopped once the archive is built)
    ids: dict[str, list[str]]  # article path -> article ids, oldest version first

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.data / 'morgue.db'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        return conn

    def url(self, path: str) -> str:
        return self.base_url + path


def _prepare_site(root: Path) -> None:
    page = root / EDITED.lstrip("/")
    page.write_text(
        page.read_text(encoding="utf-8").replace("</body>", SCRIPT + TOP_SCRIPT + "</body>"), encoding="utf-8"
    )
    page = root / HOSTILE_TITLE.lstrip("/")
    escaped = html.escape(TITLE_MARKUP)
    text = page.read_text(encoding="utf-8").replace("in record time", "in record time " + escaped)
    json_markup = TITLE_MARKUP.replace("<", "\\u003c").replace(">", "\\u003e").replace('"', "\\u0022")
    page.write_text(text.replace(html.escape(TITLE_MARKUP) + '",', json_markup + '",'), encoding="utf-8")


def build_archive(tmp: Path) -> Archive:
    """Two real crawls of a copy of the demo site, the edited article changed in between."""
    root = tmp / "site"
    shutil.copytree(DEFAULT_ROOT, root)
    _prepare_site(root)
    site = start_site(root, tmp / "requests.jsonl")
    data = tmp / "data"
    try:
        # the edited article (published 28 November 2026) and the two days' news before it are re-checked
        seed = write_seed(tmp / "gazette.toml", site.base_url, fresh_after=FRESH_AFTER)
        first = run_morgue("crawl", str(seed), "--data", str(data))
        assert first.code == 0, first.stderr
        page = root / EDITED.lstrip("/")
        old = page.read_text(encoding="utf-8")
        new = old.replace(
            "will last about eleven weeks", "will last about fourteen weeks, the authority said"
        )
        assert new != old
        page.write_text(new, encoding="utf-8")
        second = run_morgue("crawl", str(seed), "--data", str(data))
        assert second.code == 0, second.stderr
        assert "1 new versions" in second.stdout, second.stdout
    finally:
        site.process.terminate()
        site.process.wait(timeout=10)
    conn = sqlite3.connect(data / "morgue.db")
    ids: dict[str, list[str]] = {}
    for path in ARTICLES:
        rows = conn.execute("SELECT id FROM articles WHERE url = ? ORDER BY version", [site.url(path)])
        ids[path] = [r[0] for r in rows.fetchall()]
    conn.close()
    return Archive(data=data, base_url=site.base_url, ids=ids)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return build_archive(tmp_path_factory.mktemp("reading_room"))


@pytest.fixture(scope="module")
def room(archive: Archive) -> ReadingRoom:
    return make_datasette(archive.data)


def get(ds: Any, path: str, **kwargs: Any) -> Any:
    return asyncio.run(ds.client.get(path, **kwargs))


def _hits(page: str) -> list[str]:
    return re.findall(r'<li class="morgue-hit" data-id="([^"]+)"', page)


# -- home -------------------------------------------------------------------------------------------------
def test_home_says_what_is_in_the_archive(archive: Archive, room: ReadingRoom) -> None:
    response = get(room, "/")
    assert response.status_code == 200
    page = response.text
    assert "The Harbour Gazette" in page and "(gazette)" in page
    lede = re.sub(r"\s+", " ", re.search(r'<p class="morgue-lede">(.*?)</p>', page, re.S).group(1))
    assert f"<strong>{len(ARTICLES)}</strong> articles ({len(ARTICLES) + 1} versions)" in lede
    first, last = archive.db().execute("SELECT min(published), max(published) FROM articles").fetchone()
    assert first.startswith("2026-10-26") and last.startswith("2026-11-28")
    assert "published 26 Oct 2026 – 28 Nov 2026" in lede
    sites = re.search(r'<table class="morgue-sites">(.*?)</table>', page, re.S).group(1)
    finished = archive.db().execute("SELECT finished_at FROM crawls ORDER BY id DESC").fetchone()[0]
    assert "finished" in sites and "1 changed" in sites  # the last crawl found the edited article
    assert finished[:10] in archive.db().execute("SELECT max(captured_at) FROM captures").fetchone()[0]
    assert '<a href="/morgue/crawl_history?site=gazette">2</a>' in sites
    assert 'action="/-/search"' in page
    assert f'href="/-/article/{archive.ids[EDITED][-1]}"' in page  # latest articles, newest first
    tables = re.search(r'<p><a href="/morgue">morgue</a>:(.*?)— or write your own', page, re.S).group(1)
    named = re.findall(r'<a href="/morgue/(\w+)">\1</a>', tables)
    assert named[:4] == ["articles", "captures", "crawls", "sites"] and len(named) == 5
    assert not any(name.startswith("articles_fts") for name in named)  # full-text tables stay hidden
    listing = get(room, "/.json")  # datasette's own listing stays
    assert listing.status_code == 200 and listing.json()["morgue"]["tables_count"] >= len(named)


# -- search -----------------------------------------------------------------------------------------------
def test_search_finds_every_article_by_a_word_of_its_body_with_a_highlighted_snippet(
    archive: Archive, room: ReadingRoom
) -> None:
    for path, word in ARTICLES.items():
        if not word:
            continue
        response = get(room, "/-/search", params={"q": word})
        assert response.status_code == 200
        assert archive.ids[path][-1] in _hits(response.text), word
        marked = rf"<mark>{re.escape(html.escape(word, quote=False))}</mark>"
        assert re.search(marked, response.text, re.I), word


def test_search_syntax_phrase_or_not_prefix_and_explained(archive: Archive, room: ReadingRoom) -> None:
    dredging = archive.ids[EDITED][-1]
    lighthouse = archive.ids["/news/2026/11/lighthouse-keeper-cottage.html"][-1]
    assert _hits(get(room, "/-/search", params={"q": '"lighthouse keeper"'}).text)[0] == lighthouse
    either = set(_hits(get(room, "/-/search", params={"q": "bathymetric OR Fresnel"}).text))
    assert either == {dredging, lighthouse}
    harbour = set(_hits(get(room, "/-/search", params={"q": "harbour"}).text))
    not_dredging = set(_hits(get(room, "/-/search", params={"q": "harbour NOT dredging"}).text))
    assert dredging in harbour and dredging not in not_dredging and not_dredging < harbour
    assert set(_hits(get(room, "/-/search", params={"q": "harbo*"}).text)) >= harbour
    page = get(room, "/-/search").text
    for explained in ('"lighthouse keeper"', "ferry OR lifeboat", "harbour NOT dredging", "harbo*"):
        assert f"<code>{html.escape(explained, quote=False)}</code>" in page.replace("&#34;", '"')


def test_search_orders_by_rank_or_newest(archive: Archive, room: ReadingRoom) -> None:
    ranked = get(room, "/-/search", params={"q": "harbour"}).text
    newest = get(room, "/-/search", params={"q": "harbour", "order": "newest"}).text
    dates = re.findall(r'data-published="([^"]+)"', newest)
    assert len(dates) == len(_hits(newest)) > 3
    assert dates == sorted(dates, reverse=True)
    assert set(_hits(ranked)) == set(_hits(newest))
    # rank order is FTS5's bm25, as SQLite computes it
    expected = [
        r[0]
        for r in archive.db().execute(
            "SELECT a.id FROM articles_fts JOIN articles a ON a.rowid = articles_fts.rowid "
            "WHERE articles_fts MATCH 'harbour' AND a.latest = 1 ORDER BY articles_fts.rank, a.id"
        )
    ]
    assert _hits(ranked) == expected
    assert "<strong>best match</strong>" in ranked and "<strong>newest first</strong>" in newest


def _facet(page: str, name: str) -> dict[str, int]:
    block = re.search(rf'<section class="morgue-facet" data-facet="{name}">(.*?)</section>', page, re.S)
    assert block, f"no {name} facet"
    return {
        html.unescape(v): int(n)
        for v, n in re.findall(r'<a href="[^"]*">([^<]+)</a> <span class="n">(\d+)</span>', block.group(1))
    }


def test_search_facets_count_and_filter(archive: Archive, room: ReadingRoom) -> None:
    """The results page leaves the facets to a second request (its script fetches /-/search/facets);
    without JavaScript, its link asks for the same page with the facets in it (facets=1)."""
    db = archive.db()
    results = get(room, "/-/search", params={"q": "harbour"}).text
    total = len(_hits(results))
    assert 'data-facet="' not in results
    assert 'data-src="/-/search/facets?q=harbour"' in results
    assert '<a href="/-/search?q=harbour&amp;facets=1">Count by site' in results  # without JavaScript
    page = get(room, "/-/search/facets", params={"q": "harbour"}).text
    without_js = get(room, "/-/search", params={"q": "harbour", "facets": "1"}).text
    assert _hits(without_js) == _hits(results)
    for name in ("site", "author", "language", "year"):
        assert _facet(without_js, name) == _facet(page, name)
    assert f'data-total-text="{total}"' in page and "morgue-estimate" not in page  # all counted: exact
    assert _facet(page, "site") == {"gazette": total}
    authors = _facet(page, "author")
    assert sum(authors.values()) >= total and "Margaret Quayle" in authors
    assert _facet(page, "language") == {"en": total}
    assert _facet(page, "year") == {"2026": total}

    only = get(room, "/-/search", params={"q": "harbour", "author": "Margaret Quayle"}).text
    hits = _hits(only)
    assert len(hits) == authors["Margaret Quayle"]
    for article_id in hits:
        assert "Margaret Quayle" in json.loads(
            db.execute("SELECT authors FROM articles WHERE id = ?", [article_id]).fetchone()[0]
        )
    assert "author: Margaret Quayle ✕" in only

    german = _hits(get(room, "/-/search", params={"language": "de"}).text)
    assert german == archive.ids["/news/2026/11/partnerstadt-besuch.html"]

    by_year = get(room, "/-/search/facets", params={"year": "2026"}).text
    months = _facet(by_year, "month")
    assert months == {"2026-11": 11, "2026-10": 3}
    october = set(_hits(get(room, "/-/search", params={"month": "2026-10"}).text))
    expected = {
        r[0] for r in db.execute("SELECT id FROM articles WHERE latest = 1 AND published LIKE '2026-10-%'")
    }
    assert october == expected and len(october) == 3


def test_search_filters_by_date_range(archive: Archive, room: ReadingRoom) -> None:
    hits = set(_hits(get(room, "/-/search", params={"from": "2026-11-20", "to": "2026-11-24"}).text))
    expected = {
        r[0]
        for r in archive.db().execute(
            "SELECT id FROM articles WHERE latest = 1 AND substr(published, 1, 10) BETWEEN '2026-11-20' AND "
            "'2026-11-24'"
        )
    }
    assert hits == expected and 2 < len(hits) < len(ARTICLES)
    partial = set(_hits(get(room, "/-/search", params={"to": "2026-10"}).text))
    assert partial == {
        r[0]
        for r in archive.db().execute("SELECT id FROM articles WHERE latest = 1 AND published < '2026-11'")
    }
    bad = get(room, "/-/search", params={"q": "harbour", "from": "last tuesday"})
    assert bad.status_code == 200 and "ignored from=" in bad.text


def test_search_covers_earlier_versions_only_when_asked(archive: Archive, room: ReadingRoom) -> None:
    old, new = archive.ids[EDITED]
    assert _hits(get(room, "/-/search", params={"q": '"eleven weeks"'}).text) == []
    every = get(room, "/-/search", params={"q": '"eleven weeks"', "versions": "all"}).text
    assert _hits(every) == [old] and "earlier version" in every
    assert _hits(get(room, "/-/search", params={"q": '"fourteen weeks"'}).text) == [new]


def test_search_reports_a_query_it_read_differently_on_the_page(archive: Archive, room: ReadingRoom) -> None:
    response = get(room, "/-/search", params={"q": '"lighthouse keeper'})
    assert response.status_code == 200
    assert _hits(response.text)[0] == archive.ids["/news/2026/11/lighthouse-keeper-cottage.html"][-1]
    assert "The closing quote was missing: searched for &#34;lighthouse keeper&#34; instead." in response.text
    response = get(room, "/-/search", params={"q": "-harbour"})
    assert response.status_code == 400 and _hits(response.text) == []
    assert "Nothing to search for: -harbour only says what to leave out" in response.text
    assert "Traceback" not in response.text
    assert '<details class="morgue-syntax" open>' in response.text


def test_bad_input_gets_a_page_not_a_500(room: ReadingRoom) -> None:
    for path in ("/-/archived/../../etc/passwd", "/-/warc/../../../morgue.db", "/a/b/c/d/e", "/-/archivé"):
        response = asyncio.run(_raw_get(room, path))
        assert response[0] == 404, path
        assert b"no such page" in response[1] and b"Traceback" not in response[1]
    for query in ("harbour " * 1250, "harbour\x00\x1b[31m", "\x00"):
        response = get(room, "/-/search", params={"q": query})
        assert response.status_code in (200, 400) and "Traceback" not in response.text
        assert re.search(
            r'class="message-(info|error)[^"]*">[^<]*(longer than|control characters)', response.text, re.I
        ), query
    broken = asyncio.run(room.client.get("/-/search?q=harbour%ED%A0%80%FF"))  # a lone surrogate, a bad byte
    assert broken.status_code == 200 and "not valid text" in broken.text and _hits(broken.text)


async def _raw_get(room: ReadingRoom, path: str) -> tuple[int, bytes]:
    """GET a path exactly as given (an HTTP client would normalize ../ away; a hostile one does not)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    raw = path.encode("utf-8")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": raw,
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "server": ("localhost", 80),
        "client": ("127.0.0.1", 1),
    }
    await room.app()(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_archived_markup_in_titles_is_escaped(archive: Archive, room: ReadingRoom) -> None:
    article_id = archive.ids[HOSTILE_TITLE][-1]
    title = archive.db().execute("SELECT title FROM articles WHERE id = ?", [article_id]).fetchone()[0]
    assert TITLE_MARKUP in title  # precondition: the extractor kept the markup as text
    for path in ("/-/search?q=Mewstone", f"/-/article/{article_id}", "/", "/morgue/articles"):
        page = get(room, path).text
        assert "<img src=x" not in page, path
        assert "&lt;img src=x onerror=" in page, path


# -- article ----------------------------------------------------------------------------------------------
def test_article_page_shows_text_byline_dates_versions_diff_and_removed_boilerplate(
    archive: Archive, room: ReadingRoom
) -> None:
    old, new = archive.ids[EDITED]
    row = dict(archive.db().execute("SELECT * FROM articles WHERE id = ?", [new]).fetchone())
    page = get(room, f"/-/article/{new}").text
    assert f"<h1>{html.escape(row['title'])}</h1>" in page
    assert "By <strong>Margaret Quayle</strong>" in page
    assert 'Published <time datetime="2026-11-28T07:30:00+00:00">28 Nov 2026, 07:30 UTC</time>' in page
    assert "Updated <time" in page and "The Harbour Gazette" in page
    for paragraph in row["text"].splitlines():
        if paragraph.strip():
            assert f"<p>{html.escape(paragraph.strip())}</p>" in page
    assert "version 2 of 2" in page
    assert f'href="/-/article/{old}"' in page
    diff = re.search(r'<div class="morgue-diff-text">(.*?)</div>', page, re.S).group(1)
    assert "<del>eleven</del>" in diff and "<ins>fourteen</ins>" in diff and "the authority said" in diff
    removed = json.loads(row["removed"])
    assert removed, "the demo article has boilerplate the extractor removes"
    details = re.search(r'<section class="morgue-removed".*?<details>(.*?)</details>', page, re.S).group(1)
    for block in removed:
        assert block["text"] in html.unescape(details)
    assert "contribution" in details  # the donation appeal, collapsed for checking


def test_article_compare_any_two_versions(archive: Archive, room: ReadingRoom) -> None:
    old, new = archive.ids[EDITED]
    page = get(room, f"/-/article/{old}?compare={new}").text
    assert "Changes from version 1" in page and "<ins>fourteen</ins>" in page
    single = archive.ids["/news/2026/11/lighthouse-keeper-cottage.html"][0]
    assert "One version" in get(room, f"/-/article/{single}").text
    assert get(room, f"/-/article/{old}?compare={single}").status_code == 404
    assert get(room, "/-/article/nosucharticle").status_code == 404


def test_article_citation_has_permalink_capture_time_and_digest(archive: Archive, room: ReadingRoom) -> None:
    new = archive.ids[EDITED][-1]
    row = dict(archive.db().execute("SELECT * FROM articles WHERE id = ?", [new]).fetchone())
    page = get(room, f"/-/article/{new}").text
    box = re.search(r'<aside class="morgue-citation".*?</aside>', page, re.S).group(0)
    citation = html.unescape(re.search(r'<pre id="morgue-citation-text">(.*?)</pre>', box, re.S).group(1))
    assert f"Permalink: http://localhost/-/article/{new}" in citation
    assert f"Archived page: http://localhost/-/archived/{new}" in citation
    # morgue cite's text: the capture time in UTC, the WARC record and its checked payload digest
    from archive.cite import citation_for, render
    from archive.index import Index

    with Index(archive.data / "morgue.db", readonly=True) as index:
        cited = render(citation_for(index, archive.data / "warc", row["capture_id"]), "text")
    assert citation.startswith(cited)
    assert row["captured_at"][:19].replace("T", " ") in citation and row["payload_digest"] in citation
    assert f"offset {row['warc_offset']}" in citation
    assert row["record_id"] in citation and row["url"] in citation and "Margaret Quayle" in citation
    assert 'data-copy="morgue-citation-text"' in box and "Copy citation" in box
    assert row["payload_digest"].startswith("sha256:")
    assert f"/-/archived/{new}" in page and f"/-/warc/{new}" in page
    assert "View archived page" in page


# -- the archived page and the raw record -----------------------------------------------------------------
def _warcio_payload(data: Path, row: sqlite3.Row) -> tuple[Any, bytes]:
    with open(data / "warc" / row["warc_file"], "rb") as fh:
        fh.seek(row["warc_offset"])
        record = next(iter(ArchiveIterator(fh)))
        return record, record.content_stream().read()  # warcio undoes the Content-Encoding


def test_archived_page_is_served_from_its_warc_record_sandboxed(archive: Archive, room: ReadingRoom) -> None:
    new = archive.ids[EDITED][-1]
    row = archive.db().execute("SELECT * FROM captures WHERE id = ?", [new]).fetchone()
    response = get(room, f"/-/raw/{new}")
    assert response.status_code == 200
    csp = [d.strip() for d in response.headers["content-security-policy"].split(";")]
    assert "sandbox" in csp and not any("allow-scripts" in d or "allow-same-origin" in d for d in csp)
    assert "default-src 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"].startswith("text/html")
    record, payload = _warcio_payload(archive.data, row)
    assert record.rec_headers.get_header("WARC-Record-ID") == row["record_id"]
    assert response.content == payload
    assert SCRIPT.encode() in response.content and b"fourteen weeks" in response.content
    assert response.headers["link"] == f'<{archive.url(EDITED)}>; rel="original"'
    assert response.headers["memento-datetime"].endswith("GMT")


def test_archived_revisit_serves_the_payload_it_refers_to(archive: Archive, room: ReadingRoom) -> None:
    db = archive.db()
    revisit = db.execute(
        "SELECT * FROM captures WHERE record_type = 'revisit' AND url = ? ",
        [archive.url("/news/2026/11/lighthouse-keeper-cottage.html")],
    ).fetchone()
    assert revisit is not None, "the second crawl re-fetched the article and archived a revisit"
    original = db.execute("SELECT * FROM captures WHERE record_id = ?", [revisit["refers_to"]]).fetchone()
    response = get(room, f"/-/raw/{revisit['id']}")
    assert response.status_code == 200
    assert response.content == _warcio_payload(archive.data, original)[1]
    assert "sandbox" in response.headers["content-security-policy"]


def test_archived_page_refuses_unknown_ids_and_path_tricks(room: ReadingRoom) -> None:
    for path in (
        "/-/archived/nosuchcapture",
        "/-/archived/..%2F..%2Fmorgue.db",
        "/-/warc/%2E%2E",
        "/-/archived/..",
        "/-/warc/nosuchcapture",
        "/-/raw/nosuchcapture",
        "/-/raw/..%2Fmorgue.db",
    ):
        response = get(room, path, follow_redirects=True)  # datasette redirects %2F to its ~2F form
        assert response.status_code == 404, path
        assert b"SQLite format" not in response.content


def test_raw_warc_record_download(archive: Archive, room: ReadingRoom) -> None:
    new = archive.ids[EDITED][-1]
    row = archive.db().execute("SELECT * FROM captures WHERE id = ?", [new]).fetchone()
    response = get(room, f"/-/warc/{new}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/warc"
    assert f'filename="morgue-{new}.warc.gz"' in response.headers["content-disposition"]
    assert len(response.content) == row["warc_length"]
    records = list(_read_all(response.content))
    assert len(records) == 1
    warc_headers, body = records[0]
    assert warc_headers["WARC-Record-ID"] == row["record_id"]
    assert warc_headers["WARC-Type"] == "response"
    assert sha256_digest(body) == row["payload_digest"]
    # the download is itself a WARC file warcio accepts
    saved = archive.data.parent / f"morgue-{new}.warc.gz"
    saved.write_bytes(response.content)
    check = subprocess.run(
        [sys.executable, "-m", "warcio.cli", "check", str(saved)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def _read_all(data: bytes) -> Any:
    for record in ArchiveIterator(io.BytesIO(data)):
        yield dict(record.rec_headers.headers), record.raw_stream.read()


# -- canned queries and table views -----------------------------------------------------------------------
def test_canned_queries(archive: Archive, room: ReadingRoom) -> None:
    latest = get(room, "/morgue/latest_articles.json?_shape=array").json()
    assert len(latest) == len(ARTICLES)
    assert latest[0]["article"] == archive.ids[EDITED][-1]
    assert [r["published"] for r in latest] == sorted((r["published"] for r in latest), reverse=True)
    changed = get(room, "/morgue/changed_articles.json?_shape=array").json()
    assert [(r["article"], r["versions"]) for r in changed] == [(archive.ids[EDITED][-1], 2)]
    history = get(room, "/morgue/crawl_history.json?_shape=array&site=gazette").json()
    assert len(history) == 2
    assert history[0]["new_versions"] == 1 and history[1]["new_articles"] == len(ARTICLES)
    assert get(room, "/morgue/crawl_history.json?_shape=array&site=nosuchsite").json() == []
    page = get(room, "/morgue/changed_articles").text
    assert f'<a href="/-/article/{archive.ids[EDITED][-1]}">read</a>' in page


def test_articles_table_links_titles_to_the_article_page(archive: Archive, room: ReadingRoom) -> None:
    page = get(room, "/morgue/articles").text
    for path in ARTICLES:
        assert f'<a href="/-/article/{archive.ids[path][-1]}">' in page
    assert 'name="_search"' in page  # datasette's own FTS search box still works on the table


# -- read-only --------------------------------------------------------------------------------------------
def _db_digest(data: Path) -> str:
    return hashlib.sha256((data / "morgue.db").read_bytes()).hexdigest()


def test_no_write_reaches_the_database(archive: Archive, room: ReadingRoom) -> None:
    before = _db_digest(archive.data)
    count = archive.db().execute("SELECT count(*) FROM articles").fetchone()[0]
    for sql in (
        "DELETE FROM articles",
        "UPDATE articles SET title = 'x'",
        "DROP TABLE articles",
        "INSERT INTO crawls (site) VALUES ('x')",
        "PRAGMA user_version = 99",
    ):
        response = get(room, "/morgue.json", params={"sql": sql})
        assert response.status_code == 400, sql
        assert response.json()["ok"] is False
    post = asyncio.run(room.client.post("/morgue", data={"sql": "DELETE FROM articles"}))
    assert post.status_code in (400, 403, 405)
    # the write connection a plugin or writable canned query would use refuses too
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query_only"):
        asyncio.run(room.get_database("morgue").execute_write("DELETE FROM articles"))
    assert archive.db().execute("SELECT count(*) FROM articles").fetchone()[0] == count
    assert _db_digest(archive.data) == before


def test_a_writable_canned_query_cannot_write_either(archive: Archive) -> None:
    """Even if someone adds a writable canned query to the reading room's metadata, nothing is written."""
    from archive.reading_room import METADATA

    before = _db_digest(archive.data)
    metadata = json.loads(json.dumps(METADATA))
    metadata["databases"]["morgue"]["queries"]["wipe"] = {"sql": "DELETE FROM articles", "write": True}
    ds = ReadingRoom(archive.data, files=[str(archive.data / "morgue.db")], metadata=metadata)
    response = asyncio.run(ds.client.post("/morgue/wipe", data={}))
    assert response.status_code in (200, 302, 400, 403)
    assert archive.db().execute("SELECT count(*) FROM articles").fetchone()[0] == len(ARTICLES) + 1
    assert _db_digest(archive.data) == before


# -- the command ------------------------------------------------------------------------------------------
def test_morgue_serve_runs_the_reading_room(archive: Archive) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "morgue.cli", "serve", "--data", str(archive.data), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/)", line).group(1)
        with urllib.request.urlopen(url + "-/search?q=cultch", timeout=30) as response:
            body = response.read().decode()
        assert archive.ids["/news/2026/11/oyster-beds-return.html"][-1] in _hits(body)
        with urllib.request.urlopen(url, timeout=30) as response:  # the page rendered before listening
            home = response.read().decode()
        articles = archive.db().execute("SELECT count(*) FROM articles WHERE latest = 1").fetchone()[0]
        assert re.search(rf'<p class="morgue-lede">\s*<strong>{articles}</strong> article', home)
        with urllib.request.urlopen(url + f"-/raw/{archive.ids[EDITED][-1]}", timeout=30) as response:
            assert "sandbox" in response.headers["Content-Security-Policy"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_morgue_serve_errors_are_one_line(tmp_path: Path) -> None:
    result = run_morgue("serve", "--data", str(tmp_path / "nothing"))
    assert result.code == 1 and "Traceback" not in result.stderr
    assert "crawl something first" in result.stderr
    assert run_morgue("serve", "--help").code == 0


def test_an_index_from_an_older_morgue_is_brought_up_to_date_before_serving(tmp_path: Path) -> None:
    from archive.schema import SCHEMA_VERSION
    from tests.test_index import _old_index, _version

    _old_index(tmp_path / "morgue.db", version=2)  # before sort_date (v3) and the crawl counts of v8
    room = make_datasette(tmp_path)
    assert _version(tmp_path / "morgue.db") == SCHEMA_VERSION
    assert get(room, "/").status_code == 200
    assert get(room, "/-/search", params={"q": "harbour"}).status_code == 200
    assert get(room, "/morgue/crawl_history", params={"site": ""}).status_code == 200
