"""Page requisites: found in HTML and CSS (pure parsing), then fetched by a real crawl of a site on two
loopback hosts with hostile requisites, archived as captures of their own kind, reported, re-indexed."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.requisites import css_requisites, html_requisites, not_an_image, page_requisites, srcset_urls
from morgue.errors import SeedError
from morgue.seeds import parse_seed
from tests.conftest import run_morgue
from tests.requisite_site import PNG, SiteState, serving

BASE = "https://news.example/2026/story.html"


def _found(html: str, **kw: bool) -> list[tuple[str, str]]:
    return [(r.url, r.resource_type) for r in html_requisites(html.encode(), BASE, **kw)]


def test_html_requisites_follow_link_tokens_srcset_lazy_attributes_and_styles() -> None:
    html = """<html><head>
      <link rel="preload" as="font" href="/f.woff2"><link rel="alternate stylesheet" href="alt.css">
      <link rel="shortcut icon" href="/favicon.ico"><link rel="preload" as="script" href="/x.js">
      <link rel="canonical" href="/other.html"><style>@import "/imp.css"; b{background:url('bg.png')}</style>
      </head><body style="background-image:url(/body.jpg)">
      <img src="a.png" srcset="https://cdn.example/w_100,h_50/a.png 1x, b@2x.png 2x">
      <picture><source srcset="/c.webp"></picture>
      <img data-src="/lazy.jpg" data-srcset="/l1.jpg 1x, /l2.jpg 2x">
      <div data-hero="/hero.jpg" data-track="/not-an-image"></div><video poster="/poster.jpg"></video>
      <img src="data:image/png;base64,AAAA"><img src="javascript:alert(1)"><img src="#frag">
      <script src="/app.js"></script></body></html>"""
    found = _found(html)
    urls = [u for u, _ in found]
    assert [t for _, t in found[:2]] == ["stylesheet", "stylesheet"]  # style sheets first
    assert {u for u, t in found if t == "stylesheet"} == {"https://news.example/2026/alt.css",
                                                         "https://news.example/imp.css"}
    assert ("https://news.example/f.woff2", "font") in found
    for url in ("https://news.example/favicon.ico", "https://news.example/2026/a.png",
                "https://cdn.example/w_100,h_50/a.png", "https://news.example/2026/b@2x.png",
                "https://news.example/c.webp", "https://news.example/lazy.jpg", "https://news.example/l1.jpg",
                "https://news.example/l2.jpg", "https://news.example/hero.jpg",
                "https://news.example/poster.jpg", "https://news.example/body.jpg"):
        assert url in urls, url
    assert not any(u.startswith(("data:", "javascript:")) or u.endswith(("app.js", "x.js", "other.html",
                                                                          "not-an-image")) for u in urls)
    assert "https://news.example/app.js" in [u for u, _ in _found(html, scripts=True)]
    assert len(urls) == len(set(urls))


def test_a_page_naming_no_icon_implies_its_origins_favicon() -> None:
    def favicon(html: str, url: str = BASE) -> str | None:
        found = page_requisites(html.encode(), url).favicon
        assert found is None or found.resource_type == "image"
        return found.url if found else None

    # the page's own origin (port kept), not its <base>: browsers ask the document's host
    assert favicon('<base href="https://cdn.example/x/"><img src="a.png">') == "https://news.example/favicon.ico"
    assert favicon("<p>x</p>", "http://127.0.0.1:8080/a/b.html?q=1") == "http://127.0.0.1:8080/favicon.ico"
    for names_icon in ('<link rel="icon" href="/i.png">', '<link rel="Shortcut Icon" href="/f.ico">',
                       '<link rel="apple-touch-icon" href="/t.png">', '<link rel="icon" href="data:,">'):
        assert favicon(names_icon + "<p>x</p>") is None, names_icon
    # not among what the page names (the reading room's list of what the archive lacks)
    assert page_requisites(b'<img src="a.png">', BASE).named == html_requisites(b'<img src="a.png">', BASE)


def test_srcset_keeps_commas_inside_urls_and_caps_candidates() -> None:
    assert srcset_urls("a.jpg 1x,b.jpg 2x") == ["a.jpg", "b.jpg"]
    assert srcset_urls("https://c.example/w_1,h_2/x.jpg 400w, y.jpg 800w") == [
        "https://c.example/w_1,h_2/x.jpg", "y.jpg"]
    assert len(srcset_urls(", ".join(f"{n}.jpg {n}w" for n in range(1, 40)))) == 8


def test_css_requisites_imports_fonts_and_backgrounds() -> None:
    css = """/* url(commented.png) */ @import url("print.css") print; @import 'x.css';
    @font-face { src: url(fonts/a.woff2) format("woff2"), url('fonts/a.ttf'); }
    .hero { background: url( "../img/hero.jpg" ) } .i { mask: url(#id) } .d { background: url(data:x) }"""
    found = [(r.url, r.resource_type) for r in css_requisites(css, "https://cdn.example/css/site.css")]
    assert found == [("https://cdn.example/css/print.css", "stylesheet"),
                     ("https://cdn.example/css/x.css", "stylesheet"),
                     ("https://cdn.example/css/fonts/a.woff2", "font"),
                     ("https://cdn.example/css/fonts/a.ttf", "font"),
                     ("https://cdn.example/img/hero.jpg", "image")]


def test_not_an_image() -> None:
    assert not_an_image(PNG, "image/png") is None
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>'
    assert not_an_image(svg, "image/svg+xml") is None
    problem = not_an_image(b"<html>Sorry</html>", "image/png")
    assert problem is not None and "image/png" in problem and "<html>" in problem


def test_seed_requisites_option() -> None:
    base = {"name": "s", "start_urls": ["https://a.example/"]}
    assert parse_seed(base).requisites == "article"
    assert parse_seed({**base, "requisites": "all"}).requisites == "all"
    with pytest.raises(SeedError, match='requisites must be "article", "all-pages", "all", "none"'):
        parse_seed({**base, "requisites": "everything"})


# -- a real crawl --------------------------------------------------------------------------------------

def _seed(tmp: Path, base: str, extra: str = "", timeout: int = 2) -> Path:
    seed = tmp / "styled.toml"
    seed.write_text(f'name = "styled"\nsitemaps = ["{base}/sitemap.xml"]\n{extra}'
                    "\n[settings]\nDOWNLOAD_DELAY = 0\nAUTOTHROTTLE_ENABLED = false\n"
                    f"DOWNLOAD_TIMEOUT = {timeout}\n", encoding="utf-8")
    return seed


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, SiteState, Path, str]]:
    tmp = tmp_path_factory.mktemp("requisites")
    with serving() as (base, state):
        result = run_morgue("crawl", str(_seed(tmp, base)), "--data", str(tmp / "data"))
        assert result.code == 0, result.stdout + result.stderr
        yield base, state, tmp, result.stdout


def _captures(data: Path) -> dict[str, list[sqlite3.Row]]:
    conn = sqlite3.connect(data / "morgue.db")
    conn.row_factory = sqlite3.Row
    out: dict[str, list[sqlite3.Row]] = {}
    for row in conn.execute("SELECT * FROM captures ORDER BY captured_at"):
        out.setdefault(row["url"], []).append(row)
    conn.close()
    return out


def test_requisites_are_archived_as_captures_of_their_own_kind(crawled: tuple[str, SiteState, Path, str]
                                                               ) -> None:
    base, state, tmp, stdout = crawled
    captures = _captures(tmp / "data")
    expected = [f"{base}{p}" for p in ("/css/site.css", "/css/a.css", "/css/b.css", "/img/bg.png",
                                       "/fonts/serif.woff2", "/favicon.ico", "/img/logo.png",
                                       "/img/logo@2x.png", "/img/lazy.png", "/img/missing.png",
                                       "/img/fake.png")] + [f"{state.cdn}/photos/harbour.png"]
    for url in expected:
        assert [row["kind"] for row in captures.get(url, [])] == ["requisite"], url
    assert captures[f"{base}/img/missing.png"][0]["status"] == 404
    assert captures[f"{base}/css/site.css"][0]["content_type"] == "text/css"
    # never fetched: scripts (requisites = "article"), data:/javascript:, the CDN's robots-blocked path
    for url in (f"{base}/js/app.js", f"{state.cdn}/private/secret.png"):
        assert url not in captures
    assert not any(path.startswith(("/js/", "data:", "javascript:")) for _, path, _ in state.log)
    # the shared style sheet fetched once, although three pages name it; the @import loop ends
    gets = [path for host, path, _ in state.log if host == "site"]
    assert [gets.count(f"/css/{name}.css") for name in ("site", "a", "b")] == [1, 1, 1]
    # 5,000 <img>: the per-page cap
    many = [u for u in captures if "/img/many/" in u]
    assert len(many) == 150
    # pages are articles, requisites never
    conn = sqlite3.connect(tmp / "data" / "morgue.db")
    titles = sorted(t for (t,) in conn.execute("SELECT title FROM articles"))
    assert titles == ["Five thousand pictures report", "Hostile images report", "Styled harbour report"]
    crawl = conn.execute("SELECT * FROM crawls").fetchone()
    cols = [d[0] for d in conn.execute("SELECT * FROM crawls").description]
    row = dict(zip(cols, crawl, strict=True))
    conn.close()
    assert row["requisites"] == sum(1 for rows in captures.values() if rows[0]["kind"] == "requisite")
    assert json.loads(row["requisites_blocked_urls"]) == [f"{state.cdn}/private/secret.png"]
    assert row["requisites_blocked"] == 1 and row["robots_blocked"] == 0
    # pages without the requisites: both hosts' robots.txt, the sitemap and the three articles
    assert row["pages"] == 6 and f"— 6 pages, {row['captures']} archived" in stdout


def test_every_bad_requisite_gets_a_line_in_the_summary(crawled: tuple[str, SiteState, Path, str]) -> None:
    base, state, tmp, stdout = crawled
    lines = stdout.splitlines()

    def line(prefix: str, url: str) -> str:
        hits = [x for x in lines if x.startswith(f"  requisite {prefix}: {url}")]
        assert len(hits) == 1, (prefix, url, stdout)
        return hits[0]

    assert "byte cap" in line("too_large", f"{base}/img/huge.png")
    assert "HTTP 404" in line("http_error", f"{base}/img/missing.png")
    assert "image/png" in line("not_an_image", f"{base}/img/fake.png")
    line("timeout", f"{base}/img/stall.png")
    assert "names 5000 requisites; the first 150" in line("over_page_cap", f"{base}/news/many.html")
    assert "@import loop" in line("import_loop", f"{base}/css/a.css")
    line("blocked by robots.txt", f"{state.cdn}/private/secret.png")
    assert any(x.startswith("  requisites: ") and " archived" in x for x in lines)
    # nothing of the huge images reached the archive
    assert sum(p.stat().st_size for p in (tmp / "data" / "warc").glob("*.warc.gz")) < 5 * 1024 * 1024


def test_requisite_records_carry_their_resource_type(crawled: tuple[str, SiteState, Path, str]) -> None:
    base, _, tmp, _ = crawled
    types = {}
    for path in (tmp / "data" / "warc").glob("*.warc.gz"):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "response":
                    types[record.rec_headers.get_header("WARC-Target-URI")] = record.rec_headers.get_header(
                        "WARC-Resource-Type")
    assert types[f"{base}/css/site.css"] == "stylesheet"
    assert types[f"{base}/fonts/serif.woff2"] == "font"
    assert types[f"{base}/img/logo@2x.png"] == "image"
    assert types[f"{base}/news/styled.html"] is None


def test_reindex_and_verify_treat_requisites_as_captures(crawled: tuple[str, SiteState, Path, str]) -> None:
    _, _, tmp, _ = crawled
    data = tmp / "data"
    conn = sqlite3.connect(data / "morgue.db")
    before = sorted(conn.execute("SELECT id, url, kind, status, record_type FROM captures").fetchall())
    conn.close()
    result = run_morgue("verify", "--data", str(data))
    assert result.code == 0, result.stdout + result.stderr
    result = run_morgue("reindex", "--data", str(data))
    assert result.code == 0, result.stdout + result.stderr
    conn = sqlite3.connect(data / "morgue.db")
    after = sorted(conn.execute("SELECT id, url, kind, status, record_type FROM captures").fetchall())
    assert after == before
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 3


def test_recrawl_asks_for_archived_requisites_conditionally(tmp_path: Path) -> None:
    with serving() as (base, state):
        seed = _seed(tmp_path, base)
        data = tmp_path / "data"
        state.pages[:] = ["/news/styled.html"]
        assert run_morgue("crawl", str(seed), "--data", str(data)).code == 0
        state.pages.append("/news/second.html")  # a new article naming the same style sheet
        state.log.clear()
        result = run_morgue("crawl", str(seed), "--data", str(data))
        assert result.code == 0, result.stderr
    statuses = {path: status for host, path, status in state.log if host == "site"}
    assert statuses["/news/second.html"] == 200
    assert statuses["/css/site.css"] == 304 and statuses["/css/a.css"] == 304  # a.css via the archived copy
    conn = sqlite3.connect(data / "morgue.db")
    rows = conn.execute("SELECT kind, record_type, revisit_profile FROM captures WHERE url = ? "
                        "ORDER BY captured_at", [f"{base}/css/site.css"]).fetchall()
    assert [r[:2] for r in rows] == [("requisite", "response"), ("requisite", "revisit")]
    assert rows[1][2].endswith("server-not-modified")
    assert "unchanged since an earlier crawl" in result.stdout


def test_an_image_without_end_or_length_is_capped(tmp_path: Path) -> None:
    """Served with neither Content-Length nor an end: Scrapy stops reading it at the cap (with a timeout
    long enough that the cap, not the clock, ends the download)."""
    with serving() as (base, state):
        state.pages[:] = ["/news/endless.html"]
        seed = _seed(tmp_path, base, timeout=120)
        result = run_morgue("crawl", str(seed), "--data", str(tmp_path / "data"))
        assert result.code == 0, result.stderr
    cap = "larger than the 10,485,760 byte cap"
    assert f"  requisite too_large: {base}/img/endless.png: {cap}" in result.stdout
    assert "1 new articles" in result.stdout
    assert sum(p.stat().st_size for p in (tmp_path / "data" / "warc").glob("*.warc.gz")) < 1024 * 1024


def test_requisites_none_fetches_nothing_but_pages(tmp_path: Path) -> None:
    with serving() as (base, state):
        state.pages[:] = ["/news/styled.html", "/news/many.html"]
        result = run_morgue("crawl", str(_seed(tmp_path, base, 'requisites = "none"\n')),
                            "--data", str(tmp_path / "data"))
        assert result.code == 0, result.stderr
    paths = {path for _, path, _ in state.log}
    assert paths == {"/robots.txt", "/sitemap.xml", "/news/styled.html", "/news/many.html"}
    assert "requisites:" not in result.stdout


def test_styled_view_lists_the_requisites_the_archive_lacks(
        crawled: tuple[str, SiteState, Path, str]) -> None:
    import asyncio

    from archive.reading_room import make_datasette

    base, state, tmp, _ = crawled
    data = tmp / "data"
    conn = sqlite3.connect(data / "morgue.db")
    bad, styled = (conn.execute("SELECT id FROM articles WHERE title = ?", [t]).fetchone()[0]
                   for t in ("Hostile images report", "Styled harbour report"))
    conn.close()
    room = make_datasette(data)

    def get(path: str) -> Any:
        return asyncio.run(room.client.get(path))

    page = get(f"/-/archived/{bad}").text
    notice = page[page.index('class="morgue-missing"'):]
    notice = notice[:notice.index("</details>")]
    for url, reason in ((f"{base}/img/huge.png", "too_large"),
                        (f"{base}/img/missing.png", "archived as HTTP 404"),
                        (f"{base}/img/stall.png", "timeout")):
        assert re.search(re.escape(url) + r"</span> — " + re.escape(reason), notice), (url, notice)
    assert "lacks 3 of the" in notice
    page = get(f"/-/archived/{styled}").text
    assert f"{state.cdn}/private/secret.png</span> — blocked by robots.txt" in page
    # the frame's page: its style sheet, images and links rewritten to the replay endpoint
    frame_src = re.search(r'<iframe[^>]+src="([^"]+)"', page).group(1)
    framed = get(frame_src)
    assert framed.status_code == 200 and "sandbox" in framed.headers["content-security-policy"]
    ts = frame_src.split("/")[3].split("-")[0]
    assert f'href="/-/replay/{ts}/{base}/css/site.css"' in framed.text
    assert f'src="/-/replay/{ts}/{state.cdn}/photos/harbour.png"' in framed.text
    assert f'src="/-/replay/{ts}/{base}/img/lazy.png"' in framed.text  # the lazy image made eager
    sheet = get(f"/-/replay/{ts}/{base}/css/site.css")
    assert sheet.status_code == 200 and f'url("/-/replay/{ts}/{base}/css/a.css")' in sheet.text
    font = get(f"/-/replay/{ts}/{base}/fonts/serif.woff2")
    assert font.content == b"wOF2" + bytes(60) and font.headers["access-control-allow-origin"] == "*"
    assert get(f"/-/replay/{ts}/{base}/img/missing.png").status_code == 404  # as archived
    assert get(f"/-/replay/{ts}/{base}/img/huge.png").status_code == 404  # not in the archive


def test_rewrite_html_points_every_load_and_link_at_the_archive() -> None:
    from archive.rewrite import rewrite_css, rewrite_html

    page = ('<!DOCTYPE html><html><head><base href="/2026/">'
            '<meta http-equiv="refresh" content="5; url=/next">'
            '<link rel="stylesheet" href="s.css" integrity="sha384-x">'
            '<style>b{background:url(bg.png)}</style>'
            '</head><body><p class="x">Caf&eacute; &amp; <b>bold</b></p><img src="data:image/gif;base64,R0" '
            'data-src="/lazy.jpg" data-srcset="/l1.jpg 1x, /l2.jpg 2x"><a href="https://other.example/x">x</a>'
            '<div style="background:url(\'/d.png\')"></div><script>var a = "<b>";</script></body></html>')
    out = rewrite_html(page, "https://news.example/index.html", "20261201120000")
    r = "/-/replay/20261201120000/"
    assert f'href="{r}https://news.example/2026/s.css"' in out and "integrity" not in out
    assert f"url({r}https://news.example/2026/bg.png)" in out
    assert f'content="5; url={r}https://news.example/next"' in out
    assert f'src="{r}https://news.example/lazy.jpg"' in out
    assert f'srcset="{r}https://news.example/l1.jpg 1x, {r}https://news.example/l2.jpg 2x"' in out
    assert f'href="{r}https://other.example/x"' in out
    assert f"url(&#x27;{r}https://news.example/d.png&#x27;)" in out
    assert "<base>" in out and '<p class="x">Caf&eacute; &amp; <b>bold</b></p>' in out
    assert '<script>var a = "<b>";</script>' in out and out.startswith("<!DOCTYPE html>")
    css = rewrite_css('@import "a.css"; x{src:url(f.woff2)} y{mask:url(#m)} z{background:url(data:x)}',
                      "https://cdn.example/c/s.css", "20261201120000")
    assert css == (f'@import "{r}https://cdn.example/c/a.css"; '
                   f"x{{src:url({r}https://cdn.example/c/f.woff2)}} "
                   "y{mask:url(#m)} z{background:url(data:x)}")


def _pageinfo(data: Path) -> dict[str, tuple[Any, dict[str, Any]]]:
    """Every ``urn:pageinfo:`` record by page URL: (WARC headers, JSON), read with warcio."""
    out = {}
    for path in sorted((data / "warc").glob("*.warc.gz")):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                uri = record.rec_headers.get_header("WARC-Target-URI")
                if record.rec_type == "resource" and uri.startswith("urn:pageinfo:"):
                    assert record.rec_headers.get_header("Content-Type") == "application/json"
                    out[uri.removeprefix("urn:pageinfo:")] = (
                        record.rec_headers, json.loads(record.content_stream().read()))
    return out


def test_each_page_gets_a_browsertrix_pageinfo_record(crawled: tuple[str, SiteState, Path, str]) -> None:
    """Browsertrix's ``urn:pageinfo:<url>`` per article: what the page needed, with each requisite's status
    and type, errors for what was not archived; pageid is the page's id in the WACZ's pages.jsonl, and the
    record refers to the page's response record."""
    base, state, tmp, _ = crawled
    infos = _pageinfo(tmp / "data")
    assert set(infos) == {f"{base}/news/{name}.html" for name in ("styled", "bad", "many")}
    captures = _captures(tmp / "data")
    for url, (headers, info) in infos.items():
        page = captures[url][0]
        assert info["pageid"] == page["id"] and info["url"] == url and info["ts"] == page["captured_at"]
        assert headers.get_header("WARC-Refers-To") == page["record_id"]
        assert info["urls"][url] == {"status": 200, "mime": "text/html", "type": "Document"}
        # the shared style sheet was fetched once, for the first page: every page lists it and what it
        # names (the @import chain, its background image and font)
        for path, kind, mime in (("/css/site.css", "Stylesheet", "text/css"), ("/css/a.css", "Stylesheet",
                                 "text/css"), ("/css/b.css", "Stylesheet", "text/css"),
                                 ("/img/bg.png", "Image", "image/png"), ("/fonts/serif.woff2", "Font",
                                                                         "font/woff2")):
            if url.endswith("many.html"):
                break  # names no style sheet
            assert info["urls"][base + path] == {"status": 200, "mime": mime, "type": kind}, (url, path)
    styled = infos[f"{base}/news/styled.html"][1]["urls"]
    assert styled[f"{state.cdn}/photos/harbour.png"] == {"status": 200, "mime": "image/png", "type": "Image"}
    assert styled[f"{state.cdn}/private/secret.png"] == {"status": 0, "error": "blocked", "type": "Image"}
    assert styled[f"{base}/img/logo@2x.png"]["status"] == 200
    assert f"{base}/js/app.js" not in styled  # scripts only with requisites = "all"
    bad = infos[f"{base}/news/bad.html"][1]["urls"]
    assert bad[f"{base}/img/missing.png"] == {"status": 404, "mime": "text/html", "type": "Image"}
    assert bad[f"{base}/img/huge.png"] == {"status": 0, "error": "too_large", "type": "Image"}
    assert bad[f"{base}/img/stall.png"] == {"status": 0, "error": "timeout", "type": "Image"}
    assert bad[f"{base}/img/fake.png"]["status"] == 200  # archived as received (reported apart)
    many = infos[f"{base}/news/many.html"][1]["urls"]
    assert len(many) == 1 + 150  # the page and the per-page cap of requisites


def _plain_crawl(tmp_path: Path, favicon: bool, crawls: int = 1) -> tuple[str, SiteState, Path, list[str]]:
    """Crawls of two articles that name no icon; the second (if any) after a third article appeared."""
    outputs = []
    with serving() as (base, state):
        state.favicon = favicon
        state.pages[:] = ["/news/plain-1.html"]
        data = tmp_path / "data"
        for _ in range(crawls):
            state.pages.append(f"/news/plain-{len(state.pages) + 1}.html")
            result = run_morgue("crawl", str(_seed(tmp_path, base)), "--data", str(data))
            assert result.code == 0, result.stdout + result.stderr
            outputs.append(result.stdout)
    return base, state, data, outputs


def test_pages_naming_no_icon_get_the_hosts_favicon_once(tmp_path: Path) -> None:
    base, state, data, (stdout,) = _plain_crawl(tmp_path, favicon=True)
    gets = [path for host, path, _ in state.log if host == "site"]
    assert gets.count("/favicon.ico") == 1  # two pages name no icon: asked once per host per crawl
    rows = _captures(data)[f"{base}/favicon.ico"]
    assert [(r["kind"], r["status"]) for r in rows] == [("requisite", 200)]
    types = {}
    for path in (data / "warc").glob("*.warc.gz"):
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                if record.rec_type == "response":
                    uri = record.rec_headers.get_header("WARC-Target-URI")
                    types[uri] = (record.rec_headers.get_header("WARC-Resource-Type"),
                                  record.content_stream().read())
    assert types[f"{base}/favicon.ico"] == ("image", PNG)  # the bytes as served
    # the pages' pageinfo lists what they name, not the implicit icon
    infos = _pageinfo(data)
    assert set(infos[f"{base}/news/plain-1.html"][1]["urls"]) == {f"{base}/news/plain-1.html",
                                                                 f"{base}/img/plain.png"}
    assert "favicon" not in stdout and "2 new articles" in stdout


def test_a_host_without_favicon_is_no_problem(tmp_path: Path) -> None:
    import asyncio

    from archive.reading_room import make_datasette

    base, state, data, (first, second) = _plain_crawl(tmp_path, favicon=False, crawls=2)
    assert [s for h, p, s in state.log if p == "/favicon.ico"] == [404, 404]  # asked by each crawl
    # archived as received; the second crawl's identical 404 is a revisit, not a second copy
    rows = _captures(data)[f"{base}/favicon.ico"]
    assert [(r["kind"], r["status"], r["record_type"]) for r in rows] == [
        ("requisite", 404, "response"), ("requisite", 404, "revisit")]
    assert rows[1]["revisit_profile"].endswith("identical-payload-digest")
    # neither the summary nor the crawls row nor the reading room call it missing
    for stdout in (first, second):
        assert "requisite http_error" not in stdout and "0 problems" in stdout, stdout
    conn = sqlite3.connect(data / "morgue.db")
    assert [json.loads(p) for (p,) in conn.execute("SELECT requisite_problems FROM crawls")] == [[], []]
    article = conn.execute("SELECT id FROM articles WHERE title = 'Plain report one'").fetchone()[0]
    conn.close()
    room = make_datasette(data)
    page = asyncio.run(room.client.get(f"/-/archived/{article}")).text
    assert "favicon" not in page and "morgue-missing" not in page
    ts = rows[1]["captured_at"][:19].replace("-", "").replace(":", "").replace("T", "")
    replayed = asyncio.run(room.client.get(f"/-/replay/{ts}/{base}/favicon.ico"))
    assert replayed.status_code == 404 and replayed.content == b"<html><body>not found</body></html>"


@pytest.mark.shared
def test_skipping_elements_misses_nothing_on_real_pages(shared: Path) -> None:
    """page_requisites hands Python only the elements that can name something (by tag, or a ``style`` or
    ``data-*`` attribute): on every real page of the corpus it finds what a look at every element finds."""
    import gzip

    from lxml import etree

    from archive import requisites

    pages = sorted((shared / "corpus").glob("*/*.html.gz"))
    assert len(pages) > 500
    named = 0
    for path in pages:
        body = gzip.decompress(path.read_bytes())
        found = page_requisites(body, "https://news.example/section/page.html", scripts=True)
        root = requisites._document(body, None)
        if root is None:
            assert found.named == []
            continue
        every = []
        for element in root.iter(etree.Element):
            if element.tag == "style":
                references = list(requisites.css_references("".join(element.itertext())))
            else:
                references = list(requisites._element_references(element, True))
            for reference, kind in references:
                url = requisites.resolve("https://news.example/section/page.html", reference)
                if url is not None:
                    every.append(requisites.Requisite(url, kind))
        # (a <base href> would change the resolved URLs; so the comparison is by the set of references)
        if not any(True for _ in root.iter("base")):
            every.sort(key=lambda r: r.resource_type != requisites.STYLESHEET)
            assert found.named == requisites._unique(every), path.name
            named += len(found.named)
    assert named > 10_000
