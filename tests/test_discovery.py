"""Discovery: sitemap/feed parsing and link heuristics on the demo site's real files, the re-crawl policy
on plain values, and the --since cut-off in a real crawl (old articles skipped without a request)."""

from __future__ import annotations

import gzip
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crawler.discovery import date_from_url, looks_like_article, parse_feed, parse_sitemap
from crawler.incremental import FETCH, RECHECK, SKIP, KnownPage, RecrawlPolicy
from morgue.demo_server import DEFAULT_ROOT
from tests.conftest import SiteProcess, run_morgue, write_seed
from tests.demo_articles import ARTICLES

BASE = "http://127.0.0.1:8000"


def _site_file(name: str) -> bytes:
    data = (DEFAULT_ROOT / name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.replace(b"{{BASE}}", BASE.encode())


def test_sitemap_index_gzipped_and_news_sitemaps() -> None:
    kind, children = parse_sitemap(_site_file("sitemap_index.xml"))
    assert kind == "sitemapindex"
    assert [c.url for c in children] == [f"{BASE}/sitemaps/news-1.xml", f"{BASE}/sitemaps/archive-1.xml.gz"]
    kind, archive = parse_sitemap(_site_file("sitemaps/archive-1.xml.gz"))
    assert kind == "urlset"
    assert f"{BASE}/news/2026/10/storm-ingrid-anniversary.html" in [e.url for e in archive]
    assert archive[0].lastmod == datetime(2026, 11, 17, 9, tzinfo=UTC)
    kind, news = parse_sitemap(_site_file("news-sitemap.xml"))
    assert news[0].published == datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    assert news[0].title and news[0].title.startswith("Harbour dredging")
    assert parse_sitemap(b"<html><body>not a sitemap</body></html>") == ("invalid", [])


def test_rss_and_atom_feeds_with_dates() -> None:
    rss = parse_feed(_site_file("feed.xml"))
    assert rss and all("utm_source=rss" in e.url for e in rss)
    assert rss[0].published == datetime(2026, 11, 28, 7, 30, tzinfo=UTC)
    german = next(e for e in rss if "partnerstadt" in e.url)
    assert german.published == datetime(2026, 11, 22, 13, 0, tzinfo=UTC)  # +0100 converted to UTC
    atom = parse_feed(_site_file("atom.xml"))
    assert atom and all(e.published is not None for e in atom)


def test_article_heuristics_on_links_of_the_demo_site() -> None:
    for path in ARTICLES:
        assert looks_like_article(BASE + path), path
    for path in ("/", "/news/", "/tag/harbour/", "/author/priya-raman/", "/about.html", "/feed.xml",
                 "/static/logo.svg", "/newsletter/signup"):
        assert not looks_like_article(BASE + path), path


def test_dates_in_paths_are_the_latest_moment_they_allow() -> None:
    assert date_from_url(f"{BASE}/news/2026/10/x.html") == datetime(2026, 11, 1, tzinfo=UTC) - timedelta(
        microseconds=1)
    assert date_from_url(f"{BASE}/2026/02/29/x") is None  # no such day
    assert date_from_url(f"{BASE}/about.html") is None


NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def _page(url: str, *, status: int = 200, published: datetime | None = None,
          captured: datetime = NOW - timedelta(days=1)) -> KnownPage:
    return KnownPage(url=url, status=status, captured_at=captured, first_captured_at=captured,
                     etag='"abc"', last_modified="Sat, 28 Nov 2026 10:00:00 GMT", published=published,
                     warc_file="f.warc.gz", warc_offset=0)


def test_recrawl_policy() -> None:
    fresh = _page(f"{BASE}/a", published=NOW - timedelta(days=1))
    old = _page(f"{BASE}/b", published=NOW - timedelta(days=30))
    moved = _page(f"{BASE}/old/b", status=301)
    gone = _page(f"{BASE}/c", status=404)
    pages = {p.url: p for p in (fresh, old, moved, gone)}
    policy = RecrawlPolicy(pages, within=timedelta(days=3), now=NOW,
                           fetched_for={f"{BASE}/canonical-a": f"{BASE}/a"},
                           location_of=lambda page: "/b" if page.url.endswith("/old/b") else None)
    assert policy.decide(f"{BASE}/new").action == FETCH
    recheck = policy.decide(f"{BASE}/a")
    assert recheck.action == RECHECK
    assert recheck.headers == {"If-None-Match": '"abc"', "If-Modified-Since": "Sat, 28 Nov 2026 10:00:00 GMT"}
    assert policy.decide(f"{BASE}/canonical-a").url == f"{BASE}/a"
    assert policy.decide(f"{BASE}/b").action == SKIP
    assert policy.decide(f"{BASE}/old/b").action == SKIP  # the archived redirect leads to a settled article
    assert policy.decide(f"{BASE}/c").action == FETCH  # last answer an error: try again, unconditionally
    # a sitemap lastmod newer than our copy re-checks even a settled article
    assert policy.decide(f"{BASE}/b", lastmod=NOW - timedelta(hours=1)).action == RECHECK
    assert policy.decide(f"{BASE}/b", lastmod=NOW - timedelta(days=5)).action == SKIP
    # no article date: the listed date, else the first capture, decides
    undated = RecrawlPolicy({f"{BASE}/d": _page(f"{BASE}/d", captured=NOW - timedelta(days=10))},
                            within=timedelta(days=3), now=NOW)
    assert undated.decide(f"{BASE}/d").action == SKIP
    assert undated.decide(f"{BASE}/d", published=NOW - timedelta(hours=5)).action == RECHECK
    assert [p.url for p in policy.fresh_pages([f"{BASE}/a", f"{BASE}/b"])] == [f"{BASE}/a"]


def test_since_skips_old_articles_without_fetching_them(demo_site: SiteProcess, tmp_path: Path) -> None:
    seed = write_seed(tmp_path / "gazette.toml", demo_site.base_url)
    data = tmp_path / "data"
    result = run_morgue("crawl", str(seed), "--data", str(data), "--since", "2026-11-20")
    assert result.code == 0, result.stderr
    fetched = {str(r["path"]).split("?")[0] for r in demo_site.requests()}
    # dated paths before the cut-off (sitemap-only and section-only October articles) are never requested
    assert not [p for p in fetched if "/2026/10/" in p and not p.startswith("/old/")]
    conn = sqlite3.connect(data / "morgue.db")
    published = [row[0] for row in conn.execute("SELECT published FROM articles")]
    assert published and 0 < len(published) < len(ARTICLES)
    listed = {e.url.split("?")[0].replace(BASE, "") for e in parse_feed(_site_file("feed.xml"))
              if e.published and e.published >= datetime(2026, 11, 20, tzinfo=UTC)}
    urls = {row[0].replace(demo_site.base_url, "") for row in conn.execute("SELECT url FROM articles")}
    assert listed <= urls  # everything the feed dates after the cut-off was archived
    skipped = conn.execute("SELECT skipped_before_since FROM crawls").fetchone()[0]
    assert skipped > 0
