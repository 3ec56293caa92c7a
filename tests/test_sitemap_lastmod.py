"""Sitemap indexes read by their lastmods (crawler/lastmod.py): real crawls of a generated publisher site
(12 monthly sitemaps x 50 articles, a child without lastmod, a nested index of old years) served over
HTTP on 127.0.0.1, every date relative to the moment the server started, so these pass on any day."""

from __future__ import annotations

import gzip
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from benchmarks.publisher_site import PublisherSite
from crawler.discovery import SitemapTooLarge, iter_sitemap, parse_sitemap
from crawler.lastmod import LastmodGate, priority
from tests.conftest import SiteProcess, run_morgue, start_server

CHILDREN, PER_CHILD = 12, 50
MONTHS = {f"/sitemaps/m-{k}.xml" for k in range(CHILDREN)}
EXTRAS = {"/sitemaps/evergreen.xml", "/sitemaps/older-index.xml"}


@dataclass
class Publisher:
    site: PublisherSite
    server: SiteProcess

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def requests(self) -> list[dict[str, object]]:
        return self.server.requests()

    def sitemaps_requested(self, since: int = 0) -> list[str]:
        return [str(r["path"]) for r in self.requests()[since:] if str(r["path"]).startswith("/sitemap")]


def _serve(tmp_path: Path, *flags: str) -> Iterator[Publisher]:
    now = time.time()
    server = start_server(["benchmarks.publisher_site", "--children", str(CHILDREN), "--per-child",
                           str(PER_CHILD), "--now", repr(now), "--extras", *flags],
                          tmp_path, tmp_path / "requests.jsonl")
    site = PublisherSite(datetime.fromtimestamp(now, UTC), CHILDREN, PER_CHILD, lie="--lie" in flags,
                         extras=True)
    try:
        yield Publisher(site, server)
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)


@pytest.fixture
def publisher(tmp_path: Path) -> Iterator[Publisher]:
    yield from _serve(tmp_path)


@pytest.fixture
def lying_publisher(tmp_path: Path) -> Iterator[Publisher]:
    yield from _serve(tmp_path, "--lie")


def _seed(tmp_path: Path, pub: Publisher, extra: str = "") -> Path:
    path = tmp_path / "publisher.toml"
    path.write_text(f'name = "publisher"\nsitemaps = ["{pub.base_url}/sitemap_index.xml"]\n{extra}'
                    "\n[settings]\nDOWNLOAD_DELAY = 0\nAUTOTHROTTLE_ENABLED = false\n", encoding="utf-8")
    return path


def _crawl(seed: Path, data: Path, *args: str) -> str:
    result = run_morgue("crawl", str(seed), "--data", str(data), *args)
    assert result.code == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def _archived(data: Path, pub: Publisher) -> set[str]:
    with sqlite3.connect(data / "morgue.db") as conn:
        rows = conn.execute("SELECT url FROM captures WHERE status = 200 AND url LIKE ?",
                            [pub.base_url + "/a/%"]).fetchall()
    return {row[0].removeprefix(pub.base_url) for row in rows}


def _last_crawl(data: Path) -> dict[str, object]:
    with sqlite3.connect(data / "morgue.db") as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM crawls ORDER BY id DESC LIMIT 1").fetchone())


def _expected(pub: Publisher, days: int) -> set[str]:
    """The articles a cut-off of ``days`` wants (the crawl's clock is seconds later than the site's; no
    article is dated within 15 minutes of a whole number of 0.6-day steps, so both agree)."""
    return set(pub.site.articles(since=pub.site.now - timedelta(days=days)))


def test_since_fetches_only_the_children_that_can_hold_new_articles(publisher: Publisher,
                                                                    tmp_path: Path) -> None:
    pub = publisher
    out = _crawl(_seed(tmp_path, pub, 'since = "45d"\n'), tmp_path / "data")
    # the months of the last 45 days (m-0, m-1), the child without lastmod; not m-2 (60 days) or older,
    # nor the nested index of old years
    assert sorted(set(pub.sitemaps_requested())) == sorted(
        {"/sitemap_index.xml", "/sitemaps/m-0.xml", "/sitemaps/m-1.xml", "/sitemaps/evergreen.xml"})
    wanted = _expected(pub, 45)
    assert len(wanted) == PER_CHILD + PER_CHILD // 2  # m-0, and m-1's articles younger than 45 days
    assert _archived(tmp_path / "data", pub) == wanted
    crawl = _last_crawl(tmp_path / "data")
    listed = CHILDREN + len(EXTRAS) + 1  # the index, its 12 months, the evergreen child, the nested index
    assert (crawl["sitemaps"], crawl["sitemaps_skipped_by_lastmod"], crawl["lastmod_lies"]) == (listed, 11, 0)
    assert f"discovery: {listed} sitemaps, 11 skipped by lastmod" in out
    assert crawl["since"]

    # the same crawl reading every child (the behaviour before lastmods were read) finds the same articles
    mark = len(pub.requests())
    _crawl(_seed(tmp_path, pub, 'since = "45d"\n'), tmp_path / "every", "-s", "MORGUE_SITEMAP_LASTMOD=false")
    every = {"/sitemap_index.xml", *MONTHS, *EXTRAS, "/sitemaps/older-1.xml", "/sitemaps/older-2.xml"}
    assert set(pub.sitemaps_requested(mark)) == every
    assert _archived(tmp_path / "every", pub) == wanted


def test_recrawls_skip_children_unchanged_since_a_finished_crawl(publisher: Publisher,
                                                                 tmp_path: Path) -> None:
    pub, data = publisher, tmp_path / "data"
    seed = _seed(tmp_path, pub, 'since = "45d"\n')
    _crawl(seed, data)
    mark = len(pub.requests())
    out = _crawl(seed, data)
    # m-1 was read whole by the first crawl after it last changed, and is older than recrawl_within (3d);
    # m-0 changed 15 minutes ago (articles there are re-checked); evergreen has no lastmod
    assert sorted(set(pub.sitemaps_requested(mark))) == [
        "/sitemap_index.xml", "/sitemaps/evergreen.xml", "/sitemaps/m-0.xml"]
    crawl = _last_crawl(data)
    assert (crawl["sitemaps_skipped_by_lastmod"], crawl["new_articles"]) == (12, 0)
    assert "12 skipped by lastmod" in out

    # a wider cut-off than the earlier crawls used: their copies do not hold everything it wants
    mark = len(pub.requests())
    _crawl(_seed(tmp_path, pub, 'since = "100d"\n'), data)
    wider = set(pub.sitemaps_requested(mark))
    assert {"/sitemaps/m-1.xml", "/sitemaps/m-2.xml", "/sitemaps/m-3.xml"} <= wider
    assert "/sitemaps/m-4.xml" not in pub.sitemaps_requested(mark)
    assert _archived(data, pub) == _expected(pub, 100)


def test_an_index_whose_lastmods_lie_is_not_trusted(lying_publisher: Publisher, tmp_path: Path) -> None:
    """The index gives m-0 a lastmod 40 days old, but m-0 lists today's articles: the other months held
    back are fetched after all, and the crawl says so."""
    pub, data = lying_publisher, tmp_path / "data"
    out = _crawl(_seed(tmp_path, pub, 'since = "45d"\n'), data)
    assert "lastmods are not trusted" in out and f"{pub.base_url}/sitemaps/m-0.xml" in out
    assert MONTHS <= set(pub.sitemaps_requested())
    assert _archived(data, pub) == _expected(pub, 45)
    crawl = _last_crawl(data)
    # only the nested index (which did not lie) keeps its children back
    assert (crawl["lastmod_lies"], crawl["sitemaps_skipped_by_lastmod"]) == (1, 2)
    assert "1 index(es) with lastmods their sitemaps belie" in out


def test_a_first_crawl_stopped_early_has_the_newest_articles(publisher: Publisher, tmp_path: Path) -> None:
    pub, data = publisher, tmp_path / "data"
    _crawl(_seed(tmp_path, pub, "max_pages = 30\n"), data)
    archived = _archived(data, pub)
    ages = {path: pub.site.now - date for path, date in pub.site.articles().items()}
    newest_week = {path for path, age in ages.items() if age < timedelta(days=7)}
    assert len(newest_week) == 12 and newest_week <= archived
    # priorities step by doublings of age (crawler.lastmod.priority). While the newest sitemap's entries are
    # still being parsed, the downloader may take an older request that is already queued (how many
    # depends on timing), so the check is on the bulk: three in four from the newest month
    older = [path for path in archived if ages[path] >= timedelta(days=31)]
    assert len(archived) >= 20 and len(older) * 4 <= len(archived), sorted(older)
    assert len(pub.sitemaps_requested()) < CHILDREN  # the older months were not even read yet


# -- plain values ---------------------------------------------------------------------------------------
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_lastmod_gate_decisions() -> None:
    day = timedelta(days=1)
    copies = {"https://x/m-1.xml": (NOW - 20 * day, 7), "https://x/m-2.xml": (NOW - 20 * day, 8)}
    gate = LastmodGate(now=NOW, since=NOW - 45 * day, margin=2 * day, within=3 * day, copy_of=copies.get,
                       crawls={7: NOW - 65 * day, 8: NOW - 10 * day})
    assert gate.skip_reason("https://x/a.xml", None) is None  # no lastmod: always fetched
    assert gate.skip_reason("https://x/a.xml", NOW - 50 * day) is not None  # before the cut-off
    assert gate.skip_reason("https://x/a.xml", NOW - 46 * day) is None  # before it, within the margin
    assert gate.skip_reason("https://x/m-1.xml", NOW - 30 * day) is not None  # unchanged since crawl 7
    assert gate.skip_reason("https://x/m-1.xml", NOW - 19 * day) is None  # changed after our copy
    assert gate.skip_reason("https://x/m-1.xml", NOW - 2 * day) is None  # within recrawl_within
    assert gate.skip_reason("https://x/m-2.xml", NOW - 30 * day) is None  # crawl 8 had a later cut-off
    assert LastmodGate(now=NOW, since=NOW - 45 * day, enabled=False).skip_reason("u", NOW - 900 * day) is None

    assert gate.admit("idx", "https://x/old.xml", NOW - 300 * day) is not None
    assert gate.admit("idx", "https://x/new.xml", NOW) is None
    assert (gate.listed, gate.skipped) == (2, 1)
    assert not gate.belies(NOW - 10 * day, NOW - 9 * day)  # within the margin
    assert gate.belies(NOW - 10 * day, NOW)
    assert gate.distrust("idx") == [("https://x/old.xml", NOW - 300 * day)]
    assert (gate.skipped, gate.lies, gate.distrust("idx")) == (0, 1, None)
    assert gate.admit("idx", "https://x/older.xml", NOW - 900 * day) is None  # no longer trusted


def test_priorities_put_the_newest_first() -> None:
    ages = [0, 0.5, 2, 5, 10, 20, 45, 400, 8000]
    ranks = [priority(NOW - timedelta(days=a), NOW) for a in ages]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] == 0 and len(set(ranks)) > 6
    assert priority(None, NOW) == 0 and priority(NOW + timedelta(days=3), NOW) == 0
    assert min(ranks) >= -16


def test_streaming_parse_of_a_large_gzipped_sitemap() -> None:
    entries = "".join(f"<url><loc>https://x/a/{i}</loc><lastmod>2026-05-{1 + i % 28:02d}</lastmod></url>"
                      for i in range(60_000))
    body = gzip.compress(f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
                         .encode())
    kind, found = iter_sitemap(body, max_size=50 * 1024 * 1024)
    assert kind == "urlset"
    count, last = 0, None
    for count, last in enumerate(found, 1):  # noqa: B007 - the last entry is what is checked
        pass
    assert count == 60_000 and last is not None and last.url == "https://x/a/59999"
    kind, found = iter_sitemap(body, max_size=100_000)
    with pytest.raises(SitemapTooLarge):
        list(found)
    rss = b'<rss version="2.0"><channel><item><link>https://x/a/1</link></item></channel></rss>'
    assert parse_sitemap(rss)[0] == "feed" and parse_sitemap(rss)[1][0].url == "https://x/a/1"
    # a nested <url> inside a <url> is not a second entry
    odd = b"<urlset><url><loc>https://x/1</loc><url><loc>https://x/2</loc></url></url></urlset>"
    assert [e.url for e in parse_sitemap(odd)[1]] == ["https://x/1"]
