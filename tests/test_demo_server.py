"""The demo news site over real HTTP: the crawler's end-to-end tests rely on each of these behaviours."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.client import HTTPResponse
from pathlib import Path

import pytest

from morgue.demo_server import DEFAULT_ROOT, FLAKY_PATHS, DemoServer, serve_site

ARTICLE = "/news/2026/11/harbour-dredging.html"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    """GET without following redirects; HTTP errors come back as statuses, not exceptions."""
    opener = urllib.request.build_opener(_NoRedirect)
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        resp: HTTPResponse = opener.open(req, timeout=10)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()
    with resp:
        return resp.status, dict(resp.headers), resp.read()


@pytest.fixture()
def site() -> Iterator[DemoServer]:
    with serve_site() as server:
        yield server


@pytest.fixture()
def site_copy(tmp_path: Path) -> Iterator[tuple[DemoServer, Path]]:
    root = tmp_path / "site"
    shutil.copytree(DEFAULT_ROOT, root)
    with serve_site(root) as server:
        yield server, root


def test_placeholder_substituted_in_html_and_feeds(site: DemoServer) -> None:
    for path in ("/", ARTICLE, "/feed.xml", "/atom.xml", "/sitemap_index.xml", "/robots.txt"):
        status, headers, body = fetch(site.url(path))
        assert status == 200, path
        assert b"{{BASE}}" not in body, path
        assert "charset=utf-8" in headers["Content-Type"], path
    _, _, body = fetch(site.url(ARTICLE))
    assert f'<link rel="canonical" href="{site.base_url}{ARTICLE}">'.encode() in body


def test_rss_links_carry_tracking_parameters(site: DemoServer) -> None:
    _, headers, body = fetch(site.url("/feed.xml"))
    assert headers["Content-Type"].startswith("application/rss+xml")
    links = [el.text for el in ET.fromstring(body).iter("link")]
    items = [x for x in links if x and "/news/" in x]
    assert items and all(x.startswith(site.base_url) and "utm_source=rss" in x for x in items)
    # the tracking query does not stop the article being served
    assert fetch(items[0])[0] == 200


def test_sitemap_index_and_gzipped_sitemap(site: DemoServer) -> None:
    _, _, body = fetch(site.url("/sitemap_index.xml"))
    locs = [el.text for el in ET.fromstring(body).iter(f"{SM}loc")]
    assert locs == [site.url("/sitemaps/news-1.xml"), site.url("/sitemaps/archive-1.xml.gz")]
    status, headers, raw = fetch(locs[1], {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in headers  # the file itself is gzip; no second layer
    urls = [el.text for el in ET.fromstring(gzip.decompress(raw)).iter(f"{SM}loc")]
    assert urls and all(u.startswith(site.base_url + "/") for u in urls)
    assert site.url("/news/2026/10/storm-ingrid-anniversary.html") in urls
    # every URL a sitemap lists actually exists
    for u in urls:
        assert fetch(u)[0] in (200, 500), u


def test_news_sitemap_has_publication_dates(site: DemoServer) -> None:
    _, _, body = fetch(site.url("/news-sitemap.xml"))
    dates = [
        el.text
        for el in ET.fromstring(body).iter("{http://www.google.com/schemas/sitemap-news/0.9}publication_date")
    ]
    assert dates and all(d and d.startswith("2026-11-") and "+" in d for d in dates)


def test_conditional_get_gives_304(site: DemoServer) -> None:
    status, headers, _ = fetch(site.url(ARTICLE))
    assert status == 200
    etag, last_modified = headers["ETag"], headers["Last-Modified"]
    status, headers, body = fetch(site.url(ARTICLE), {"If-None-Match": etag})
    assert (status, body) == (304, b"")
    assert headers["ETag"] == etag
    assert fetch(site.url(ARTICLE), {"If-Modified-Since": last_modified})[0] == 304
    assert fetch(site.url(ARTICLE), {"If-None-Match": '"something-else"'})[0] == 200
    logged = site.requests_for(ARTICLE)
    assert [r.status for r in logged] == [200, 304, 304, 200]
    assert logged[1].headers["If-None-Match"] == etag


def test_edit_on_disk_changes_etag(site_copy: tuple[DemoServer, Path]) -> None:
    server, root = site_copy
    _, headers, _ = fetch(server.url(ARTICLE))
    old = headers["ETag"]
    file = root / ARTICLE.lstrip("/")
    edited = file.read_text(encoding="utf-8").replace("eleven weeks", "twelve weeks")
    file.write_text(edited, encoding="utf-8")
    status, headers, body = fetch(server.url(ARTICLE), {"If-None-Match": old})
    assert status == 200 and headers["ETag"] != old and b"twelve weeks" in body


def test_redirect_flaky_404_and_head(site: DemoServer) -> None:
    status, headers, _ = fetch(site.url("/old/culture/2026/10/bookshop-closes.html"))
    assert status == 301 and headers["Location"] == site.url("/culture/2026/10/bookshop-closes.html")
    (flaky,) = FLAKY_PATHS
    assert [fetch(site.url(flaky))[0] for _ in range(3)] == [500, 200, 200]
    assert fetch(site.url("/news/2026/11/culver-street-overflow-statement.html"))[0] == 404
    assert fetch(site.url("/../../etc/passwd"))[0] == 404
    status, headers, body = fetch(site.url(ARTICLE), method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 1000
    status, headers, _ = fetch(site.url("/sport"))
    assert status == 301 and headers["Location"] == site.url("/sport/")


def test_robots_txt(site: DemoServer) -> None:
    _, headers, body = fetch(site.url("/robots.txt"))
    text = body.decode()
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "Disallow: /private/" in text
    assert f"Sitemap: {site.base_url}/sitemap_index.xml" in text
    assert f"Sitemap: {site.base_url}/news-sitemap.xml" in text


def test_gzip_content_encoding_round_trip(site: DemoServer) -> None:
    _, plain_headers, plain = fetch(site.url(ARTICLE))
    status, headers, raw = fetch(site.url(ARTICLE), {"Accept-Encoding": "gzip, deflate"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert int(headers["Content-Length"]) == len(raw) < len(plain)
    assert gzip.decompress(raw) == plain
    assert headers["ETag"] != plain_headers["ETag"]  # distinct representations, distinct ETags
    # either ETag validates the resource
    conditional = {"If-None-Match": plain_headers["ETag"], "Accept-Encoding": "gzip"}
    assert fetch(site.url(ARTICLE), conditional)[0] == 304
    _, pdf_headers, pdf = fetch(site.url("/files/report.pdf"), {"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in pdf_headers and pdf.startswith(b"%PDF-")


def test_article_markup(site: DemoServer) -> None:
    _, _, body = fetch(site.url(ARTICLE))
    text = body.decode()
    assert '"@type": "NewsArticle"' in text and '"isAccessibleForFree": true' in text
    assert "Support independent local journalism" in text and 'class="sc-7hd02m"' in text
    _, _, body = fetch(site.url("/news/2026/11/council-budget-leak.html"))
    paywalled = body.decode()
    assert "Subscribe to continue reading" in paywalled and '"isAccessibleForFree": false' in paywalled


def test_subprocess_mode_prints_ready_and_logs(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "morgue.demo_server", "--port", "0", "--log", str(log)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        base = line.split(" ", 1)[1]
        assert fetch(base + "/robots.txt", {"User-Agent": "morgue-test"})[0] == 200
        deadline = time.monotonic() + 5
        while not (log.exists() and log.read_text().endswith("\n")) and time.monotonic() < deadline:
            time.sleep(0.05)
        entry = json.loads(log.read_text().splitlines()[0])
        assert (entry["path"], entry["status"], entry["user_agent"]) == ("/robots.txt", 200, "morgue-test")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
