"""``morgue render`` end to end: an archive made by wget (page requisites included) and imported, rendered
by headless Chromium from the archive alone; what Chromium drew is read back pixel by pixel, the records
with warcio, then cite, verify (a tampered screenshot), reindex and the bad inputs: a page that never
finishes loading, a missing requisite, an image capture, a browser killed mid-run."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import psutil
import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import run_morgue
from tests.render_fixtures import (
    BACKGROUND,
    BANNER_AT,
    BLUE,
    GREEN,
    LAZY_AT,
    MISSING_AT,
    PHOTO_AT,
    RED,
    YELLOW,
    build_render_archive,
    read_png,
)

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("MORGUE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{CHROMIUM} is required here (MORGUE_REQUIRE_BROWSER=1) but missing")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")


class Rendered:
    def __init__(self, tmp: Path, urls: dict[str, str], output: Any) -> None:
        self.tmp, self.urls, self.output = tmp, urls, output
        self.data = tmp / "data"

    def db(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.data / "morgue.db")
        conn.row_factory = sqlite3.Row
        return conn

    def capture_id(self, key: str) -> str:
        with self.db() as conn:
            return conn.execute("SELECT id FROM captures WHERE url = ?", [self.urls[key]]).fetchone()[0]

    def records(self) -> dict[str, Any]:
        """Every render record by target URI (the latest one of each), read with warcio."""
        out: dict[str, Any] = {}
        for path in sorted((self.data / "warc").glob("morgue-render-*.warc.gz")):
            with open(path, "rb") as fh:
                for record in ArchiveIterator(fh):
                    if record.rec_type == "resource":
                        uri = record.rec_headers.get_header("WARC-Target-URI")
                        out[uri] = (record.rec_headers, record.content_stream().read())
        return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    _require_chromium()
    tmp = tmp_path_factory.mktemp("render")
    urls = build_render_archive(tmp)
    result = run_morgue("render", "--data", str(tmp / "data"), "--timeout", "6")
    return Rendered(tmp, urls, result)


def test_render_summary_says_what_happened(rendered: Rendered) -> None:
    out = rendered.output
    assert out.code == 0, out.stderr
    assert "rendered 2 pages" in out.stdout and "1 timed out" in out.stdout
    assert "2 requisites missing" in out.stdout
    assert f"({rendered.urls['hang']}): render timeout" in out.stdout
    assert "unfetched.png" in out.stdout
    again = run_morgue("render", "--data", str(rendered.data))
    assert again.code == 0 and "nothing to render" in again.stdout


def test_records_are_browsertrix_named_resources_pointing_at_the_page(rendered: Rendered) -> None:
    records = rendered.records()
    url = rendered.urls["lights"]
    with rendered.db() as conn:
        page_record = conn.execute("SELECT record_id FROM captures WHERE url = ?", [url]).fetchone()[0]
    expected = {"view": "image/png", "fullPage": "image/png", "thumbnail": "image/jpeg",
                "pdf": "application/pdf", "renderinfo": "application/json"}
    for view, media in expected.items():
        headers, body = records[f"urn:{view}:{url}"]
        assert headers.get_header("WARC-Type") == "resource"
        assert headers.get_header("Content-Type") == media
        assert headers.get_header("WARC-Refers-To") == page_record
        assert headers.get_header("WARC-Refers-To-Target-URI") == url
        assert body
    view = read_png(records[f"urn:view:{url}"][1])
    assert (view.width, view.height) == (1280, 720)
    assert records[f"urn:pdf:{url}"][1].startswith(b"%PDF-")
    assert _jpeg_size(records[f"urn:thumbnail:{url}"][1]) == (640, 360)
    with rendered.db() as conn:
        rows = {r["view"]: dict(r) for r in conn.execute(
            "SELECT * FROM renders WHERE capture_id = ?", [rendered.capture_id("lights")])}
    assert set(rows) == set(expected)
    assert rows["renderinfo"]["status"] == "ok"


def test_chromium_drew_the_archived_requisites(rendered: Rendered) -> None:
    records = rendered.records()
    url = rendered.urls["lights"]
    view = read_png(records[f"urn:view:{url}"][1])
    assert view.at(5, 5) == BACKGROUND  # the (gzip-served) style sheet applied
    assert view.at(*PHOTO_AT) == RED  # <img src>
    assert view.at(*BANNER_AT) == GREEN  # CSS url() background
    assert view.at(*MISSING_AT) != YELLOW  # data-src image wget never fetched: not in the archive
    full = read_png(records[f"urn:fullPage:{url}"][1])
    assert full.height > 1700 and full.at(*LAZY_AT) == BLUE  # loading=lazy, far below the fold


def test_renderinfo_lists_served_and_missing(rendered: Rendered) -> None:
    records = rendered.records()
    url = rendered.urls["lights"]
    info = json.loads(records[f"urn:renderinfo:{url}"][1])
    served = {s["url"].rsplit("/", 1)[1]: s for s in info["served"]}
    assert {"style.css", "photo.png", "banner.png", "lazy.png"} <= set(served)
    with rendered.db() as conn:
        css = conn.execute("SELECT record_id FROM captures WHERE url LIKE '%/static/style.css'").fetchone()[0]
    assert served["style.css"]["record_id"] == css
    assert [m["url"].rsplit("/", 1)[1] for m in info["missing"]] == ["unfetched.png"]
    assert info["status"] == "ok" and info["browser"]["version"]
    assert set(info["records"]) == {"view", "fullPage", "thumbnail", "pdf"}


def test_a_page_that_never_loads_is_recorded_as_a_timeout(rendered: Rendered) -> None:
    records = rendered.records()
    url = rendered.urls["hang"]
    info = json.loads(records[f"urn:renderinfo:{url}"][1])
    assert info["status"] == "timeout" and "timeout" in info["error"]
    assert f"urn:view:{url}" not in records
    with rendered.db() as conn:
        row = conn.execute("SELECT status, note FROM renders WHERE capture_id = ? AND view = 'renderinfo'",
                           [rendered.capture_id("hang")]).fetchone()
    assert row["status"] == "timeout"


def test_two_renders_draw_the_same_pixels(rendered: Rendered, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(rendered.data, data)
    capture_id = rendered.capture_id("lights")
    first = rendered.records()[f"urn:view:{rendered.urls['lights']}"][1]
    result = run_morgue("render", capture_id, "--again", "--data", str(data))
    assert result.code == 0, result.stderr
    with sqlite3.connect(data / "morgue.db") as conn:
        times = conn.execute("SELECT DISTINCT rendered_at FROM renders WHERE capture_id = ? "
                             "AND view = 'view'", [capture_id]).fetchall()
    assert len(times) == 2
    copy = Rendered(tmp_path, rendered.urls, result)
    second = copy.records()[f"urn:view:{rendered.urls['lights']}"][1]
    assert read_png(first).rows == read_png(second).rows
    # the PDF too, byte for byte: its dates are the capture's, not the render's
    pdf = f"urn:pdf:{rendered.urls['lights']}"
    first_pdf, second_pdf = rendered.records()[pdf][1], copy.records()[pdf][1]
    assert first_pdf == second_pdf
    assert b"/CreationDate (D:" in first_pdf and first_pdf.startswith(b"%PDF-")


def test_cite_names_screenshot_and_pdf_in_every_format(rendered: Rendered) -> None:
    capture_id = rendered.capture_id("lights")
    with rendered.db() as conn:
        rows = {r["view"]: dict(r) for r in conn.execute(
            "SELECT * FROM renders WHERE capture_id = ?", [capture_id])}
    for fmt in ("text", "json", "bibtex", "csl-json"):
        result = run_morgue("cite", capture_id, "--format", fmt, "--data", str(rendered.data))
        assert result.code == 0, result.stderr
        for view in ("view", "fullPage", "pdf"):
            assert rows[view]["record_id"] in result.stdout, (fmt, view)
            assert rows[view]["payload_digest"] in result.stdout, (fmt, view)
    result = run_morgue("cite", capture_id, "--format", "json", "--data", str(rendered.data))
    cited = json.loads(result.stdout)
    assert [r["view"] for r in cited["renders"]] == ["view", "fullPage", "pdf"]


def test_verify_passes_and_catches_a_tampered_screenshot(rendered: Rendered, tmp_path: Path) -> None:
    ok = run_morgue("verify", "--data", str(rendered.data))
    assert ok.code == 0, ok.stdout + ok.stderr
    data = tmp_path / "data"
    shutil.copytree(rendered.data, data)
    with sqlite3.connect(data / "morgue.db") as conn:
        name, offset, length = conn.execute(
            "SELECT warc_file, warc_offset, warc_length FROM renders WHERE capture_id = ? AND view = 'view'",
            [rendered.capture_id("lights")]).fetchone()
    path = data / "warc" / name
    raw = path.read_bytes()
    member = bytearray(gzip.decompress(raw[offset:offset + length]))
    spot = member.index(b"IDAT") + 40  # a byte of the image data, not of the headers
    member[spot] ^= 0xFF
    path.write_bytes(raw[:offset] + gzip.compress(bytes(member)) + raw[offset + length:])
    bad = run_morgue("verify", "--data", str(data))
    assert bad.code == 1
    assert "block-digest" in bad.stdout and "urn:uuid" in bad.stdout
    assert f"{name} offset {offset}: block-digest" in bad.stdout


def test_reindex_rebuilds_the_renders_rows(rendered: Rendered, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(rendered.data, data)
    query = "SELECT * FROM renders ORDER BY id"
    with sqlite3.connect(data / "morgue.db") as conn:
        before = conn.execute(query).fetchall()
    (data / "morgue.db").unlink()
    result = run_morgue("reindex", "--data", str(data))
    assert result.code == 0, result.stderr
    with sqlite3.connect(data / "morgue.db") as conn:
        after = conn.execute(query).fetchall()
    assert len(before) == 11 and after == before


def test_an_image_capture_is_skipped_and_said(rendered: Rendered, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(rendered.data, data)
    with sqlite3.connect(data / "morgue.db") as conn:
        photo = conn.execute("SELECT id FROM captures WHERE url LIKE '%/photo.png'").fetchone()[0]
    result = run_morgue("render", photo, "--data", str(data))
    assert result.code == 0, result.stderr
    assert f"skipped {photo}" in result.stdout and "image/png" in result.stdout
    assert "0 skipped" not in result.stdout


def test_unknown_id_is_one_line_and_exit_1(rendered: Rendered) -> None:
    result = run_morgue("render", "zzzzzzzzzzzz", "--data", str(rendered.data))
    assert result.code == 1 and "no capture with id 'zzzzzzzzzzzz'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_without_chromium_render_says_how_to_install(rendered: Rendered) -> None:
    result = run_morgue("render", "--data", str(rendered.data), "--again",
                        env={"MORGUE_CHROMIUM": "/nonexistent/chromium"})
    assert result.code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'morgue[render]'" in lines[0]
    assert "apt-get install chromium" in lines[0]
    assert "/nonexistent/chromium" in lines[0]


def test_a_killed_browser_is_restarted_and_nothing_is_lost(rendered: Rendered, tmp_path: Path) -> None:
    from archive.index import Index
    from render.browser import BrowserSettings
    from render.run import render_archive, select_captures

    data = tmp_path / "data"
    shutil.copytree(rendered.data, data)
    wanted = [rendered.capture_id("lights"), rendered.capture_id("ferry")]
    killed: list[int] = []

    def kill_browser(page: Any) -> None:
        if killed:
            return
        for child in psutil.Process().children(recursive=True):
            try:
                main = child.name().startswith(("chrome", "chromium")) and child.status() != "zombie" \
                    and "--type=" not in " ".join(child.cmdline())
                if main:  # the browser process itself, not one of its renderers
                    child.kill()
                    killed.append(child.pid)
            except psutil.Error:
                continue

    with Index(data / "morgue.db") as index:
        captures = select_captures(index, capture_ids=wanted, again=True)
        summary = render_archive(data, index, captures, settings=BrowserSettings(timeout_s=20),
                                 after_page=kill_browser)
    assert killed, "no Chromium process was found to kill"
    assert summary.rendered == 2 and summary.errors == 0 and summary.restarts == 1, summary
    with sqlite3.connect(data / "morgue.db") as conn:
        ok = conn.execute("SELECT count(*) FROM renders WHERE view = 'renderinfo' AND status = 'ok' "
                          "AND rendered_at > ?", [_first_render(rendered)]).fetchone()[0]
    assert ok == 2
    assert run_morgue("verify", "--data", str(data)).code == 0


def _first_render(rendered: Rendered) -> str:
    with rendered.db() as conn:
        return conn.execute("SELECT max(rendered_at) FROM renders").fetchone()[0]


def _jpeg_size(data: bytes) -> tuple[int, int]:
    stream = io.BytesIO(data)
    assert stream.read(2) == b"\xff\xd8"
    while True:
        marker = stream.read(2)
        size = int.from_bytes(stream.read(2), "big")
        if marker[1] in (0xC0, 0xC1, 0xC2):
            stream.read(1)
            height = int.from_bytes(stream.read(2), "big")
            width = int.from_bytes(stream.read(2), "big")
            return width, height
        stream.read(size - 2)


def test_the_reading_room_shows_the_thumbnail_and_links_the_views(rendered: Rendered) -> None:
    import asyncio
    from html import escape

    from archive.reading_room import make_datasette

    ds = make_datasette(rendered.data)
    capture_id = rendered.capture_id("lights")
    with rendered.db() as conn:
        rows = {r["view"]: dict(r) for r in conn.execute(
            "SELECT * FROM renders WHERE capture_id = ?", [capture_id])}
    page = asyncio.run(ds.client.get(f"/-/article/{capture_id}"))
    assert page.status_code == 200
    html = page.text
    assert f'<img src="/-/render/{rows["thumbnail"]["id"]}"' in html
    for view in ("view", "fullPage", "pdf"):
        assert f'href="/-/render/{rows[view]["id"]}"' in html
    assert escape(rows["view"]["record_id"]) in html  # the citation names the screenshot record
    records = rendered.records()
    url = rendered.urls["lights"]
    for view, media in (("thumbnail", "image/jpeg"), ("view", "image/png"), ("pdf", "application/pdf")):
        served = asyncio.run(ds.client.get(f"/-/render/{rows[view]['id']}"))
        assert served.status_code == 200
        assert served.headers["content-type"] == media
        assert served.headers["content-security-policy"].startswith("sandbox")
        assert served.content == records[f"urn:{view}:{url}"][1]
    info = asyncio.run(ds.client.get(f"/-/render/{rows['renderinfo']['id']}"))
    assert info.status_code == 404
    unrendered = asyncio.run(ds.client.get(f"/-/article/{rendered.capture_id('hang')}"))
    assert unrendered.status_code == 200 and "/-/render/" not in unrendered.text


def test_crawl_render_needs_a_browser_and_a_seed_option_only_warns(tmp_path: Path) -> None:
    from tests.conftest import start_site
    from tests.render_fixtures import write_site

    root = tmp_path / "site"
    write_site(root)
    site = start_site(root, tmp_path / "requests.jsonl")
    try:
        seed = tmp_path / "s.toml"
        seed.write_text(f'name = "s"\nstart_urls = ["{site.base_url}/"]\nallow = ["/news/"]\nrender = true\n'
                        '[settings]\nDOWNLOAD_DELAY = 0\nAUTOTHROTTLE_ENABLED = false\n', encoding="utf-8")
        nobrowser = {"MORGUE_CHROMIUM": str(tmp_path / "no-chromium")}
        refused = run_morgue("crawl", str(seed), "--render", "--data", str(tmp_path / "a"), env=nobrowser)
        assert refused.code == 1 and "pip install 'morgue[render]'" in refused.stderr
        assert not site.requests(), "--render without a browser must refuse before fetching anything"
        warned = run_morgue("crawl", str(seed), "--data", str(tmp_path / "b"), env=nobrowser)
        assert warned.code == 0, warned.stderr
        assert "2 new articles" in warned.stdout
        assert "warning: s not rendered: morgue render needs Playwright and Chromium" in warned.stderr
        done = run_morgue("crawl", str(seed), "--data", str(tmp_path / "c"))
        assert done.code == 0, done.stderr
        assert "rendering s:" in done.stdout and "rendered 2 pages" in done.stdout
    finally:
        site.process.terminate()
        site.process.wait(timeout=10)
    with sqlite3.connect(tmp_path / "c" / "morgue.db") as conn:
        views = {v for (v,) in conn.execute("SELECT view FROM renders")}
    assert views == {"view", "fullPage", "thumbnail", "pdf", "renderinfo"}


def test_the_wacz_export_carries_the_rendered_views(rendered: Rendered, tmp_path: Path) -> None:
    import subprocess
    import sys
    import zipfile

    url = rendered.urls["lights"]
    for args in ((), ("--site", "127.0.0.1")):
        out = tmp_path / f"export{len(args)}.wacz"
        result = run_morgue("export", "--wacz", str(out), "--data", str(rendered.data), *args)
        assert result.code == 0, result.stderr
        check = subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(out)],
                               capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr
        with zipfile.ZipFile(out) as zf:
            names = zf.namelist()
            cdx = gzip.decompress(zf.read("indexes/index.cdx.gz")).decode("utf-8")
            render_files = [n for n in names if n.startswith("archive/morgue-render-")]
            assert render_files, names
            views = set()
            for name in render_files:
                for record in ArchiveIterator(io.BytesIO(zf.read(name))):
                    if record.rec_type == "resource":
                        views.add(record.rec_headers.get_header("WARC-Target-URI"))
        for view in ("view", "fullPage", "thumbnail", "pdf", "renderinfo"):
            assert f"urn:{view}:{url}" in views
        assert f"urn:thumbnail:{url}" in cdx  # ReplayWeb.page finds a page's thumbnail through the index


def test_an_unreadable_page_record_fails_that_page_only(rendered: Rendered, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(rendered.data, data)
    lights, ferry = rendered.capture_id("lights"), rendered.capture_id("ferry")
    with sqlite3.connect(data / "morgue.db") as conn:
        conn.execute("UPDATE captures SET warc_offset = 1 WHERE id = ?", [lights])
        before = conn.execute("SELECT count(*) FROM renders").fetchone()[0]
    result = run_morgue("render", lights, ferry, "--again", "--data", str(data))
    assert result.code == 1
    assert f"{lights} ({rendered.urls['lights']}): cannot read the archived page" in result.stdout
    assert result.stderr.strip() == ("Error: 1 page could not be rendered (listed above); the next morgue "
                                     "render tries them again")
    with sqlite3.connect(data / "morgue.db") as conn:
        statuses = dict(conn.execute(
            "SELECT capture_id, status FROM renders WHERE view = 'renderinfo' AND rendered_at > ?",
            [_first_render(rendered)]).fetchall())
        after = conn.execute("SELECT count(*) FROM renders").fetchone()[0]
    assert statuses == {lights: "error", ferry: "ok"}
    assert after == before + 6  # ferry's five records and lights' renderinfo saying why


_THUMBNAILS = """() => {
  const found = [];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'WR-PAGE-ENTRY' && el.shadowRoot) {
        const img = el.shadowRoot.querySelector('img.thumbnail');
        found.push({url: el.page ? el.page.url : '', src: img ? img.src : '',
                    loaded: !!img && img.complete && img.naturalWidth > 0,
                    width: img ? img.naturalWidth : 0, height: img ? img.naturalHeight : 0});
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return found;
}"""


def test_replaywebpage_shows_the_thumbnail_in_its_page_list(rendered: Rendered, tmp_path: Path) -> None:
    """The exported WACZ opened in the real ReplayWeb.page (ui.js + service worker, headless Chromium):
    its page list draws each rendered article's ``urn:thumbnail:`` record, the 640x360 JPEG morgue wrote;
    an article that was never rendered shows ReplayWeb.page's placeholder."""
    from playwright.sync_api import sync_playwright

    from tests.replay_host import replaywebpage_dir, serve_replay
    from tests.test_browser_reading_room import CHROMIUM_ARGS

    try:
        rwp = replaywebpage_dir()
    except RuntimeError as exc:
        if os.environ.get("MORGUE_REQUIRE_BROWSER") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    out = tmp_path / "export.wacz"
    result = run_morgue("export", "--wacz", str(out), "--data", str(rendered.data))
    assert result.code == 0, result.stderr
    rendered_urls = {rendered.urls["lights"], rendered.urls["ferry"]}
    args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    with serve_replay(rwp, out) as host, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(host.pages_url())
            entries = _page_list(page, rendered_urls)
            if not entries and "/export.wacz" not in host.requests:
                # ReplayWeb.page's service worker missed its first load and never asked for the WACZ
                # (webrecorder/replayweb.page#412, as in test_wacz._open_replay): reloaded once, as a reader
                # would; a WACZ that was read and whose list stays empty still fails
                page.reload()
                entries = _page_list(page, rendered_urls)
            by_url = {e["url"]: e for e in entries}
            for url in rendered_urls:
                assert url in by_url, f"{url} not in ReplayWeb.page's page list: {entries}"
                entry = by_url[url]
                assert entry["loaded"], f"the thumbnail of {url} did not load: {entry}"
                assert (entry["width"], entry["height"]) == (640, 360)
                assert entry["src"].endswith("/urn:thumbnail:" + url)
            hang = by_url.get(rendered.urls["hang"])
            assert hang is not None and not hang["loaded"], entries  # timed out: no thumbnail to show
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "replaywebpage-thumbnails.png"))
        finally:
            browser.close()


def _page_list(page: Any, rendered_urls: set[str], seconds: float = 60) -> list[dict[str, Any]]:
    """ReplayWeb.page's page list with its thumbnails, once the rendered ones have loaded (or at the end)."""
    entries: list[dict[str, Any]] = []
    for _ in range(int(seconds * 4)):  # the list fills once the WACZ is loaded; thumbnails load lazily after
        entries = [e for frame in page.frames for e in _frame_thumbnails(frame)]
        shown = {e["url"] for e in entries if e["loaded"]}
        if rendered_urls <= shown and len(entries) >= 3:
            break
        page.wait_for_timeout(250)
    return entries


def _frame_thumbnails(frame: Any) -> list[dict[str, Any]]:
    try:
        return list(frame.evaluate(_THUMBNAILS))
    except Exception:  # noqa: BLE001 - a frame navigating away: read it on the next round
        return []
