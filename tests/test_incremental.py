"""Incremental re-crawls of the demo site over real HTTP: the second crawl sends conditional GETs for the
fresh articles only and adds no article rows; a stealth edit becomes exactly one new version; an
interrupted crawl resumes without duplicating records."""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from tests.conftest import REPO, SiteProcess, run_morgue, write_seed
from tests.demo_articles import ARTICLES

# Articles published after this are "fresh" in these tests (the demo site's articles are dated
# 16 Oct - 28 Nov 2026); the seed's recrawl_within is set so that now - recrawl_within == CUTOFF.
CUTOFF = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EDITED = "/news/2026/11/harbour-dredging.html"
RELOADED = "/news/2026/11/lighthouse-keeper-cottage.html"  # bytes change, text does not (an ad slot)


def _db(data: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(data / "morgue.db")
    conn.row_factory = sqlite3.Row
    return conn


def _seed(tmp_path: Path, site: SiteProcess) -> Path:
    return write_seed(tmp_path / "gazette.toml", site.base_url, fresh_after=CUTOFF)


def _crawl(seed: Path, data: Path) -> str:
    result = run_morgue("crawl", str(seed), "--data", str(data))
    assert result.code == 0, result.stderr
    return result.stdout


def _article_requests(site: SiteProcess, since: int) -> list[dict[str, object]]:
    return [r for r in site.requests()[since:]
            if str(r["path"]).split("?")[0] in ARTICLES or str(r["path"]).startswith("/old/")]


def test_recrawls_are_conditional_and_versions_come_from_text(demo_site: SiteProcess, tmp_path: Path) -> None:
    site, data = demo_site, tmp_path / "data"
    seed = _seed(tmp_path, site)
    _crawl(seed, data)
    db = _db(data)
    first = {row["url"]: dict(row) for row in db.execute("SELECT * FROM articles")}
    assert sorted(first) == sorted(site.url(p) for p in ARTICLES)
    fresh = {p for p in ARTICLES if datetime.fromisoformat(first[site.url(p)]["published"]) >= CUTOFF}
    assert EDITED in fresh and RELOADED in fresh and len(fresh) < len(ARTICLES)
    etags = {row["url"]: row["etag"] for row in db.execute(
        "SELECT url, etag FROM captures WHERE record_type = 'response' AND status = 200")}

    # Second crawl: only the fresh articles are requested, each with the validators of its capture.
    mark = len(site.requests())
    _crawl(seed, data)
    second = _article_requests(site, mark)
    assert sorted(str(r["path"]) for r in second) == sorted(fresh)
    for request in second:
        assert request["if_none_match"] == etags[site.url(str(request["path"]))]
        assert request["if_modified_since"]
        assert request["status"] == 304
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == len(ARTICLES)
    crawl = dict(db.execute("SELECT * FROM crawls ORDER BY id DESC LIMIT 1").fetchone())
    assert (crawl["new_articles"], crawl["new_versions"]) == (0, 0)
    assert crawl["not_modified"] == crawl["rechecked"] == len(fresh)
    # the archive sitemap changed (lastmod) before the first crawl read it and is older than recrawl_within:
    # it is not requested again, so the articles only it lists are not even looked at (crawler/lastmod.py)
    archive_sitemap = "/sitemaps/archive-1.xml.gz"
    assert archive_sitemap not in [r["path"] for r in site.requests()[mark:]]
    # the index, its news sitemap, robots.txt's news-sitemap.xml, and the archive sitemap not fetched
    assert (crawl["sitemaps"], crawl["sitemaps_skipped_by_lastmod"]) == (4, 1)
    only_there = _listed_only_in(site, archive_sitemap)
    assert only_there and crawl["skipped_known"] == len(ARTICLES) - len(fresh) - len(only_there)
    revisits = db.execute("SELECT * FROM captures WHERE crawl_id = ? AND kind = 'not-modified'",
                          [crawl["id"]]).fetchall()
    article_revisits = [r for r in revisits if r["url"] in first]
    assert len(article_revisits) == len(fresh)
    # the unchanged sitemaps, feed and section pages answered 304 too (test_unchanged_discovery_pages...)
    discovery = {site.url(str(r["path"])) for r in site.requests()[mark:] if r["status"] == 304} - set(first)
    assert {r["url"] for r in revisits} - set(first) == discovery and discovery
    for row in article_revisits:
        with open(data / "warc" / row["warc_file"], "rb") as fh:
            fh.seek(row["warc_offset"])
            record = next(iter(ArchiveIterator(io.BytesIO(fh.read(row["warc_length"])))))
        assert record.rec_type == "revisit"
        assert record.rec_headers.get_header("WARC-Profile").endswith("/revisit/server-not-modified")
        original = first[row["url"]]["record_id"]
        assert record.rec_headers.get_header("WARC-Refers-To") == original

    # A stealth edit to one article, and a page whose bytes change but whose text does not.
    edited = site.root / EDITED.lstrip("/")
    edited.write_text(edited.read_text().replace("silt has made the quay unusable",
                                                 "silt and shingle have made the quay unusable"))
    reloaded = site.root / RELOADED.lstrip("/")
    reloaded.write_text(reloaded.read_text().replace("</head>", "<!-- ad slot 4711 --></head>"))
    _crawl(seed, data)
    rows = db.execute("SELECT * FROM articles WHERE url = ? ORDER BY version", [site.url(EDITED)]).fetchall()
    assert [(r["version"], r["latest"]) for r in rows] == [(1, 0), (2, 1)]
    assert "shingle" in rows[1]["text"] and "shingle" not in rows[0]["text"]
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == len(ARTICLES) + 1
    crawl = dict(db.execute("SELECT * FROM crawls ORDER BY id DESC LIMIT 1").fetchone())
    assert (crawl["new_articles"], crawl["new_versions"], crawl["unchanged"]) == (0, 1, 1)
    assert crawl["not_modified"] == len(fresh) - 2
    search = run_morgue("search", "shingle", "--data", str(data), "--json")
    assert [json.loads(line)["url"] for line in search.stdout.splitlines()] == [site.url(EDITED)]


def _listed_only_in(site: SiteProcess, sitemap: str) -> set[str]:
    """Article paths the demo site lists in ``sitemap`` and in none of its other discovery pages."""
    from crawler.discovery import parse_sitemap

    _, entries = parse_sitemap((site.root / sitemap.lstrip("/")).read_bytes())
    listed = {e.url.replace("{{BASE}}", "") for e in entries}
    others = [site.root / name for name in ("index.html", "news/index.html", "sport/index.html",
                                            "culture/index.html", "feed.xml", "news-sitemap.xml")]
    texts = "".join(path.read_text(encoding="utf-8") for path in others)
    return {path for path in listed if path not in texts}


def test_redirect_sources_and_tracking_urls_match_their_archived_article(demo_site: SiteProcess,
                                                                          tmp_path: Path) -> None:
    """The home page links /old/... (a 301) and the feed adds utm_ parameters: on a re-crawl both are
    recognised as archived articles and, being older than recrawl_within, not requested at all."""
    site, data = demo_site, tmp_path / "data"
    seed = _seed(tmp_path, site)
    _crawl(seed, data)
    requests = site.requests()
    assert any(str(r["path"]).startswith("/old/") for r in requests)  # the first crawl followed it
    assert any("utm_source" in str(r["path"]) for r in requests) is False  # tracking params stripped
    mark = len(requests)
    _crawl(seed, data)
    later = site.requests()[mark:]
    assert not [r for r in later if str(r["path"]).startswith("/old/")]
    assert not [r for r in later if str(r["path"]) == "/culture/2026/10/bookshop-closes.html"]


def _wait_for(predicate: object, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_interrupted_crawl_resumes_without_duplicates(demo_site: SiteProcess, tmp_path: Path) -> None:
    site, data = demo_site, tmp_path / "data"
    seed = write_seed(tmp_path / "gazette.toml", site.base_url)
    # one request at a time, slowly, so that the interruption lands mid-crawl
    seed.write_text(seed.read_text().replace("DOWNLOAD_DELAY = 0", "DOWNLOAD_DELAY = 0.4\n"
                                             "CONCURRENT_REQUESTS = 1\nCONCURRENT_REQUESTS_PER_DOMAIN = 1"))
    process = subprocess.Popen([sys.executable, "-m", "morgue.cli", "crawl", str(seed), "--data", str(data)],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: len(_article_requests(site, 0)) >= 4, "four article requests")
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode != 0, stdout + stderr
    assert "resumes where this one stopped" in stdout
    db = _db(data)
    interrupted = db.execute("SELECT count(*) FROM articles").fetchone()[0]
    assert 0 < interrupted < len(ARTICLES)
    assert (data / "jobs" / "gazette" / "requests.seen").exists()

    fast = seed.read_text().replace("DOWNLOAD_DELAY = 0.4", "DOWNLOAD_DELAY = 0")
    seed.write_text(fast)
    stdout = _crawl(seed, data)
    assert "(resumed)" in stdout
    assert not (data / "jobs" / "gazette").exists()  # finished: the next run starts afresh
    urls = [row[0] for row in db.execute("SELECT url FROM articles")]
    assert sorted(urls) == sorted(site.url(p) for p in ARTICLES)
    duplicated = db.execute(
        "SELECT url, count(*) FROM captures WHERE record_type = 'response' AND status = 200 "
        "GROUP BY url HAVING count(*) > 1").fetchall()
    assert [tuple(r) for r in duplicated] == []
    runs = [dict(r) for r in db.execute("SELECT status, resumed FROM crawls ORDER BY id")]
    assert runs == [{"status": "shutdown", "resumed": 0}, {"status": "finished", "resumed": 1}]


def test_restart_discards_saved_state(demo_site: SiteProcess, tmp_path: Path) -> None:
    site, data = demo_site, tmp_path / "data"
    seed = write_seed(tmp_path / "gazette.toml", site.base_url, extra="max_pages = 5\n")
    first = run_morgue("crawl", str(seed), "--data", str(data))
    assert first.code == 0, first.stderr
    assert (data / "jobs" / "gazette" / "requests.seen").exists()  # stopped at the page limit: resumable
    mark = len(site.requests())
    again = run_morgue("crawl", str(seed), "--data", str(data), "--restart")
    assert again.code == 0, again.stderr
    assert "(resumed)" not in again.stdout
    # a fresh start reads the sitemap index again (a resumed crawl would have it in its seen set)
    assert "/sitemap_index.xml" in [r["path"] for r in site.requests()[mark:]]


def test_unchanged_discovery_pages_cost_a_304_and_are_read_from_the_archive(demo_site: SiteProcess,
                                                                           tmp_path: Path) -> None:
    """Sitemaps, feeds and section pages are re-requested with the validators of their archived copy; an
    unchanged one is answered 304 and parsed from the WARC record, a changed one is fetched in full."""
    site, data = demo_site, tmp_path / "data"
    seed = _seed(tmp_path, site)
    _crawl(seed, data)
    seed_text = seed.read_text()
    discovery = {"/", "/news/", "/sport/", "/culture/", "/sitemap_index.xml", "/feed.xml"}
    assert all(f'"{site.base_url}{path}"' in seed_text for path in discovery)

    mark = len(site.requests())
    second = _crawl(seed, data)
    later = site.requests()[mark:]
    asked = {str(r["path"]): r for r in later if str(r["path"]) in discovery}
    assert set(asked) == discovery
    for path, request in asked.items():
        assert request["if_none_match"] and request["status"] == 304, path
    # the fresh articles were still found through the archived sitemaps and feed, and re-checked
    db = _db(data)
    crawl = dict(db.execute("SELECT * FROM crawls ORDER BY id DESC LIMIT 1").fetchone())
    fresh = [p for p in ARTICLES if datetime.fromisoformat(db.execute(
        "SELECT published FROM articles WHERE url = ?", [site.url(p)]).fetchone()[0]) >= CUTOFF]
    only_in_skipped = _listed_only_in(site, "/sitemaps/archive-1.xml.gz")  # not fetched: see above
    assert crawl["rechecked"] == len(fresh)
    assert crawl["skipped_known"] == len(ARTICLES) - len(fresh) - len(only_in_skipped)
    unchanged = len([r for r in later if r["status"] == 304]) - len(fresh)  # the rest are discovery pages
    assert crawl["discovery_not_modified"] == unchanged >= len(discovery)
    assert f"{unchanged} sitemaps/feeds/sections unchanged" in second

    # a new article, listed only in the feed: the changed feed is fetched in full and the article found
    new_path = "/news/2026/11/new-pontoon.html"
    source = site.root / EDITED.lstrip("/")
    (site.root / new_path.lstrip("/")).write_text(
        source.read_text(encoding="utf-8").replace("harbour-dredging", "new-pontoon"), encoding="utf-8")
    feed = site.root / "feed.xml"
    item = f"<item><title>New pontoon</title><link>{{{{BASE}}}}{new_path}</link></item>"
    feed.write_text(feed.read_text(encoding="utf-8").replace("</channel>", item + "</channel>"),
                    encoding="utf-8")
    mark = len(site.requests())
    _crawl(seed, data)
    later = site.requests()[mark:]
    assert [r["status"] for r in later if r["path"] == "/feed.xml"] == [200]
    assert [r["status"] for r in later if r["path"] == new_path] == [200]
    assert db.execute("SELECT count(*) FROM articles WHERE url = ?", [site.url(new_path)]).fetchone()[0] == 1
