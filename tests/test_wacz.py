"""WACZ export: checked by py-wacz's validator, then read back by hand (its structure checks are lax):
every file's sha256 in datapackage.json, the digest file, pages.jsonl with titles and text, CDXJ lines
pointing at the right records, ZIP headers a range reader can follow; replayed by pywb (both versions of
an edited page) and by ReplayWeb.page in headless Chromium (title, style sheet and image of an article).

The archive is the demo site crawled twice; its style sheet and logo are archived by the crawl itself (page
requisites), so the replay test, which runs after the site has stopped, sees only what came from the WACZ.
(A ``wget --page-requisites`` copy used to be imported for them, before the crawler fetched requisites: the
imported copy of the page sometimes became a spurious third version.)"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import REPO, run_morgue
from tests.pywb_server import running_wayback
from tests.replay_host import REPLAY_BASE, replaywebpage_dir, serve_replay
from tests.test_reindex import EDITED, build_archive

SCREENSHOTS = REPO / "tests" / "artifacts" / "screenshots"



@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    base = tmp_path_factory.mktemp("wacz")
    data, base_url = build_archive(base)  # the crawl archives the requisites (module docstring)
    out = base / "gazette.wacz"
    result = run_morgue("export", "--wacz", str(out), "--data", str(data))
    assert result.code == 0, result.stderr
    return data, base_url, out


def _cdxj(zf: zipfile.ZipFile) -> list[str]:
    """The index's lines: indexes/index.cdx.gz is gzip members of CDXJ lines (index.idx lists them)."""
    return gzip.decompress(zf.read("indexes/index.cdx.gz")).decode().splitlines()


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(path)],
                          capture_output=True, text=True)


def test_passes_the_validator(exported: tuple[Path, str, Path], tmp_path: Path) -> None:
    # on a copy: the module's tests share the export, and `wacz validate` must not be able to touch it
    copy = tmp_path / exported[2].name
    shutil.copyfile(exported[2], copy)
    check = _validate(copy)
    assert check.returncode == 0 and "Validation succeeded" in check.stdout, check.stdout + check.stderr


def test_read_back(exported: tuple[Path, str, Path]) -> None:
    data, base_url, out = exported
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        package = json.loads(zf.read("datapackage.json"))
        assert package["wacz_version"] == "1.1.1" and package["profile"] == "data-package"
        digest = json.loads(zf.read("datapackage-digest.json"))
        assert digest["hash"] == "sha256:" + hashlib.sha256(zf.read("datapackage.json")).hexdigest()
        listed = {r["path"] for r in package["resources"]}
        assert listed == names - {"datapackage.json", "datapackage-digest.json"}
        for resource in package["resources"]:
            content = zf.read(resource["path"])
            assert resource["hash"] == "sha256:" + hashlib.sha256(content).hexdigest(), resource["path"]
            assert resource["bytes"] == len(content)
        warcs = sorted(n for n in names if n.startswith("archive/"))
        assert all(zf.getinfo(n).compress_type == zipfile.ZIP_STORED for n in warcs)
        # no filter: the archive's WARC files, byte for byte
        originals = sorted((data / "warc").glob("*.warc.gz"))
        assert [n.removeprefix("archive/") for n in warcs] == [p.name for p in originals]
        for name, path in zip(warcs, originals, strict=True):
            assert zf.read(name) == path.read_bytes()
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()]
        assert pages[0]["format"] == "json-pages-1.0"
        edited = [p for p in pages[1:] if p["url"] == base_url + EDITED]
        assert len(edited) == 2 and all(p["title"] and p["text"] for p in edited)
        assert "bathymetric" in edited[0]["text"] and "hydrographic" in edited[1]["text"]
        cdx = _cdxj(zf)
        assert cdx == sorted(cdx)
        assert not [line for line in cdx if '"status": "304"' in line]  # served as empty 304s otherwise
        blocks = zf.read("indexes/index.idx").decode().splitlines()
        assert json.loads(blocks[0].split(" ", 2)[2])["format"] == "cdxj-gzip-1.0"
        data_bytes = zf.read("indexes/index.cdx.gz")
        for block in blocks[1:]:
            key, ts, where = block.split(" ", 2)
            span = json.loads(where)
            first = gzip.decompress(data_bytes[span["offset"]:span["offset"] + span["length"]])
            assert first.decode().startswith(f"{key} {ts} ")
        checked = 0
        for line in cdx:
            _, _, fields = line.split(" ", 2)
            entry = json.loads(fields)
            if entry.get("mime") == "warc/revisit" or "digest" not in entry:
                continue
            member = zf.read("archive/" + entry["filename"])
            start = int(entry["offset"])
            record = next(iter(ArchiveIterator(io.BytesIO(member[start:start + int(entry["length"])]))))
            assert record.rec_headers.get_header("WARC-Target-URI") == entry["url"]
            checked += 1
        assert checked >= len(pages) - 1


def _extra_ids(extra: bytes) -> list[int]:
    ids, at = [], 0
    while at + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, at)
        ids.append(kind)
        at += 4 + size
    return ids


def test_entries_read_by_range_as_replaywebpage_reads_them(exported: tuple[Path, str, Path]) -> None:
    """wabac.js (ReplayWeb.page) takes an entry's data to start 30 + name length bytes after its local
    header when the central directory gives it no extra field, and reads the local header otherwise.
    Both ways must land on the entry's bytes (a ZIP64 field in local headers only broke every read)."""
    raw = exported[2].read_bytes()
    with zipfile.ZipFile(exported[2]) as zf:
        for info in zf.infolist():
            at = info.header_offset
            assert raw[at:at + 4] == b"PK\x03\x04"
            name_len, extra_len = struct.unpack_from("<HH", raw, at + 26)
            local_extra = raw[at + 30 + name_len:at + 30 + name_len + extra_len]
            start = at + 30 + name_len + extra_len
            if not info.extra:
                assert extra_len == 0, info.filename
            assert 1 not in _extra_ids(local_extra), f"{info.filename}: ZIP64 field for a small entry"
            data = raw[start:start + info.compress_size]
            if info.compress_type == zipfile.ZIP_STORED:
                assert data == zf.read(info.filename), info.filename
            else:
                assert zlib.decompress(data, -15) == zf.read(info.filename), info.filename


def test_filters_by_capture_time_and_keeps_revisit_targets(exported: tuple[Path, str, Path],
                                                          tmp_path: Path) -> None:
    data, base_url, _ = exported
    # from the second crawl's start on (its files: its own and its requisite fetcher's)
    with sqlite3.connect(data / "morgue.db") as db:
        started = db.execute("SELECT started_at FROM crawls ORDER BY id DESC LIMIT 1").fetchone()[0]
    stamp = started[:19]
    out = tmp_path / "later.wacz"
    result = run_morgue("export", "--wacz", str(out), "--data", str(data), "--since", stamp)
    assert result.code == 0, result.stderr
    nowhere = tmp_path / "no.wacz"
    bad = run_morgue("export", "--wacz", str(nowhere), "--data", str(data), "--until", "yesterday")
    assert bad.code != 0 and "'yesterday' is not a date" in bad.stderr and "--until" in bad.stderr
    assert not nowhere.exists()
    assert _validate(out).returncode == 0
    with zipfile.ZipFile(out) as zf:
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()][1:]
        assert [p["url"] for p in pages] == [base_url + EDITED]
        records = {}
        for name in zf.namelist():
            if name.startswith("archive/"):
                for record in ArchiveIterator(io.BytesIO(zf.read(name))):
                    records[record.rec_headers.get_header("WARC-Record-ID")] = record.rec_type
        revisit_targets = []  # of the second crawl's revisits, each exported with the response it names
        for name in zf.namelist():
            if name.startswith("archive/") and not name.endswith("-subset.warc.gz"):
                for record in ArchiveIterator(io.BytesIO(zf.read(name))):
                    if record.rec_type == "revisit":
                        revisit_targets.append(record.rec_headers.get_header("WARC-Refers-To"))
        assert revisit_targets and all(records.get(t) == "response" for t in revisit_targets)
        assert any(n.endswith("-subset.warc.gz") for n in zf.namelist())
    empty = run_morgue("export", "--wacz", str(tmp_path / "none.wacz"), "--data", str(data), "--site", "nope")
    assert empty.code == 1 and "no captures match" in empty.stderr


def _wayback() -> str | None:
    candidates = [os.environ.get("MORGUE_PYWB_WAYBACK"), shutil.which("wayback")]
    return next((c for c in candidates if c and Path(c).exists()), None)


def test_replays_in_pywb(exported: tuple[Path, str, Path], tmp_path: Path) -> None:
    wayback = _wayback()
    if wayback is None:
        if os.environ.get("MORGUE_REQUIRE_PYWB") == "1":
            pytest.fail("pywb is required here (MORGUE_REQUIRE_PYWB=1) but MORGUE_PYWB_WAYBACK is not set")
        pytest.skip("pywb is not installed (it pins redis<3, which conflicts with the cluster extra); "
                    "set MORGUE_PYWB_WAYBACK to a wayback binary from its own venv")
    _, base_url, out = exported
    collection = tmp_path / "collections" / "morgue"
    (collection / "archive").mkdir(parents=True)
    (collection / "indexes").mkdir()
    with zipfile.ZipFile(out) as zf:
        for name in zf.namelist():
            if name.startswith("archive/"):
                (collection / name).write_bytes(zf.read(name))
        (collection / "indexes" / "index.cdxj").write_text("\n".join(_cdxj(zf)) + "\n")
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()][1:]
    with running_wayback(wayback, tmp_path) as port:
        edited = [p for p in pages if p["url"] == base_url + EDITED]
        for page, word in zip(edited, ("bathymetric", "hydrographic"), strict=True):
            ts = "".join(ch for ch in page["ts"] if ch.isdigit())[:14]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/morgue/{ts}id_/{page['url']}",
                                        timeout=20) as response:
                body = response.read()
                if response.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
            assert word.encode() in body


def _replay_frame(page: Any, url: str, seconds: float = 120) -> Any:
    """The frame in which ReplayWeb.page shows ``url`` (inside its shadow DOM and iframes), once its page
    has a body; None when that does not happen within ``seconds``."""
    for _ in range(int(seconds * 4)):
        for frame in page.frames:
            if "mp_/" in frame.url and frame.url.endswith(url):
                try:
                    if frame.evaluate("document.readyState === 'complete' && !!document.body"):
                        return frame
                except Exception:  # noqa: BLE001 - navigating: try again
                    pass
        page.wait_for_timeout(250)
    return None


def _open_replay(page: Any, host: Any, embed_url: str, url: str) -> Any:
    """Open ``embed_url`` and return the frame showing ``url`` (see ``_replay_frame``). On a browser's first
    visit ReplayWeb.page's service worker can miss the replay frame's first request, which then loads the
    host's 404 and sometimes stays there until the reader refreshes (webrecorder/replayweb.page#412). Only
    when that happened, before the WACZ was even asked for, the page is reloaded once, as a reader would:
    a WACZ that ReplayWeb.page read and could not show still fails."""
    asked_before = len(host.requests)
    page.goto(embed_url)
    frame = _replay_frame(page, url, seconds=60)
    if frame is None and "/export.wacz" not in host.requests[asked_before:]:
        page.reload()
        frame = _replay_frame(page, url)
    return frame


def _replay_fetch_json(page: Any, replay_url: str, url: str, prefix: str) -> Any:
    """``prefix + url`` (a ``urn:`` record) fetched through ReplayWeb.page's service worker as it is, at the
    time of ``replay_url`` (a frame's ``.../w/<coll>/<ts>mp_/<url>``), from ReplayWeb.page's own frame."""
    head, _, _ = replay_url.rpartition("mp_/" + url)
    target = f"{head}id_/{prefix}{url}"
    ui = next(f for f in page.frames if REPLAY_BASE in f.url and "mp_/" not in f.url)
    return ui.evaluate("async (u) => { const r = await fetch(u); "
                       "return r.ok ? await r.json() : {status: r.status}; }", target)


_SEEN = """() => {
  const logo = document.querySelector(".logo img[src*='logo-1x.png']");
  return {h1: (document.querySelector('h1') || {}).textContent || '', text: document.body.innerText,
          logo: !!logo && logo.complete && logo.naturalWidth > 0,
          maxWidth: getComputedStyle(document.body).maxWidth};
}"""


@pytest.mark.browser
def test_replays_in_replaywebpage(exported: tuple[Path, str, Path]) -> None:
    """The export opened by the real consumer: ReplayWeb.page's ui.js and service worker in headless
    Chromium, with the live site stopped and every other host unresolvable."""
    from tests.test_browser_reading_room import CHROMIUM, CHROMIUM_ARGS, _require_chromium

    _require_chromium()
    try:
        rwp = replaywebpage_dir()
    except RuntimeError as exc:
        if os.environ.get("MORGUE_REQUIRE_BROWSER") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    if not shutil.which("wget"):
        if os.environ.get("CI") or os.environ.get("MORGUE_REQUIRE_BROWSER") == "1":
            pytest.fail("wget is required here (.ci/run installs it) but missing")
        pytest.skip("wget is not installed: the archive has no requisites to replay")
    from playwright.sync_api import sync_playwright

    _, base_url, out = exported
    with zipfile.ZipFile(out) as zf:
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()][1:]
    edited = [p for p in pages if p["url"] == base_url + EDITED]
    args = [*CHROMIUM_ARGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
    with serve_replay(rwp, out) as host, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            elsewhere: list[str] = []
            for page_entry, word in zip(edited, ("bathymetric", "hydrographic"), strict=True):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                context.on("request", lambda r: None if r.url.startswith(host.base_url)
                           else elsewhere.append(r.url))
                page = context.new_page()
                ts = "".join(ch for ch in page_entry["ts"] if ch.isdigit())[:14]
                frame = _open_replay(page, host, host.embed_url(page_entry["url"], ts), page_entry["url"])
                assert frame is not None, (f"ReplayWeb.page did not show {page_entry['url']} at {ts}; "
                                           f"frames: {[f.url for f in page.frames]}; asked: {host.requests}")
                seen = frame.evaluate(_SEEN)
                assert "Archived Page Not Found" not in seen["text"] and word in seen["text"], seen["text"]
                assert seen["h1"].strip() == page_entry["title"]
                assert seen["logo"], "the archived logo did not load in the replay"
                assert seen["maxWidth"] == "736px", "the archived style sheet (body 46rem wide) not applied"
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / f"replaywebpage-{word}.png"))
                # the page's urn:pageinfo: record, answered by ReplayWeb.page's service worker from the WACZ
                info = _replay_fetch_json(page, frame.url, page_entry["url"], "urn:pageinfo:")
                assert info["pageid"] == page_entry["id"] and info["url"] == page_entry["url"], info
                context.close()
            # the home page's latest capture is a 304 revisit: the replay shows the page it refers to
            context = browser.new_context()
            context.on("request", lambda r: None if r.url.startswith(host.base_url)
                       else elsewhere.append(r.url))
            page = context.new_page()
            home = _open_replay(page, host, host.embed_url(base_url + "/"), base_url + "/")
            assert home is not None and "The Harbour Gazette" in home.evaluate("document.body.innerText")
            context.close()
            assert elsewhere == []
            assert {p for p in host.requests if p.startswith(REPLAY_BASE)} <= {
                REPLAY_BASE, REPLAY_BASE + "sw.js", REPLAY_BASE + "ui.js"}, host.requests
        finally:
            browser.close()



def _wacz_pageinfo(path: Path) -> dict[str, dict[str, Any]]:
    """The ``urn:pageinfo:`` records of a WACZ's WARC files, by pageid, read with warcio."""
    found: dict[str, dict[str, Any]] = {}
    with zipfile.ZipFile(path) as zf:
        for name in (n for n in zf.namelist() if n.startswith("archive/")):
            for record in ArchiveIterator(io.BytesIO(zf.read(name))):
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                if record.rec_type == "resource" and uri.startswith("urn:pageinfo:"):
                    info = json.loads(record.content_stream().read())
                    assert uri == "urn:pageinfo:" + info["url"]
                    found[info["pageid"]] = info
    return found


def test_pageinfo_records_name_the_pages_of_pages_jsonl(exported: tuple[Path, str, Path],
                                                        tmp_path: Path) -> None:
    """Every article page the crawl fetched requisites for has Browsertrix's ``urn:pageinfo:`` record in
    the export, indexed, its ``pageid`` the page's ``id`` in pages.jsonl, listing the style sheet, font and
    logo the replay needs; an export of one article by time carries that article's record along."""
    data, base_url, out = exported
    with zipfile.ZipFile(out) as zf:
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()][1:]
    infos = _wacz_pageinfo(out)
    first = [p for p in pages if p["url"] == base_url + EDITED][0]
    assert first["id"] in infos
    for page in pages:
        info = infos.get(page["id"])
        if info is None:
            continue
        assert info["url"] == page["url"] and info["urls"][page["url"]]["type"] == "Document"
    urls = infos[first["id"]]["urls"]
    kinds = {entry["type"] for entry in urls.values()}
    assert {"Document", "Stylesheet", "Font", "Image"} <= kinds, urls
    assert all(entry.get("status") in (200, 304) for entry in urls.values()), urls
    assert any(u.endswith("logo-1x.png") for u in urls)
    assert ("urn:pageinfo:" + first["url"]) in {url for url, _ in _index_urls(out)}
    conn = sqlite3.connect(data / "morgue.db")
    try:
        captured_at = conn.execute("SELECT captured_at FROM captures WHERE id = ?",
                                   [first["id"]]).fetchone()[0]
        until = conn.execute("SELECT min(captured_at) FROM captures WHERE captured_at > ?",
                             [captured_at]).fetchone()[0]  # a window of milliseconds
    finally:
        conn.close()
    one = tmp_path / "one.wacz"
    result = run_morgue("export", "--wacz", str(one), "--data", str(data), "--since", captured_at,
                        "--until", until)
    assert result.code == 0, result.stderr
    assert first["id"] in _wacz_pageinfo(one)


def _index_urls(path: Path) -> set[tuple[str, str]]:
    with zipfile.ZipFile(path) as zf:
        return {(json.loads(line.split(" ", 2)[2])["url"], line.split(" ", 2)[1]) for line in _cdxj(zf)}


def test_a_time_range_brings_the_crawls_requisites(exported: tuple[Path, str, Path], tmp_path: Path) -> None:
    """An article chosen by a narrow window comes with the non-HTML captures its crawl made before the
    window (robots.txt, feeds, sitemaps here; style sheets and images when the crawl fetches them), and
    without the crawl's other HTML pages."""
    data, base_url, _ = exported
    conn = sqlite3.connect(data / "morgue.db")
    try:
        first_crawl = conn.execute("SELECT min(crawl_id) FROM captures").fetchone()[0]
        rows = conn.execute("SELECT captured_at, kind, url FROM captures WHERE crawl_id = ? "
                            "ORDER BY captured_at", (first_crawl,)).fetchall()
    finally:
        conn.close()
    at = next(i for i, row in enumerate(rows) if row[1] == "article")
    since, article = rows[at][0], rows[at][2]
    until = next(row[0] for row in rows[at:] if row[0] > since)  # a window of milliseconds
    out = tmp_path / "one.wacz"
    result = run_morgue("export", "--wacz", str(out), "--data", str(data), "--since", since, "--until", until)
    assert result.code == 0, result.stderr
    assert _validate(out).returncode == 0
    with zipfile.ZipFile(out) as zf:
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()][1:]
    assert [p["url"] for p in pages] == [article]
    urls = {url for url, _ in _index_urls(out)}
    before = {row[2] for row in rows[:at]}
    assert base_url + "/robots.txt" in before and base_url + "/robots.txt" in urls
    assert base_url + "/feed.xml" in urls
    assert base_url + "/news/" in before and base_url + "/news/" not in urls


def test_records_derived_from_a_chosen_capture_come_along(exported: tuple[Path, str, Path],
                                                          tmp_path: Path) -> None:
    """A rendered record (a ``resource`` naming its capture in WARC-Refers-To, as issue 15's screenshots
    will) is exported with the capture it was made from, in whatever file it is, and not without it."""
    from warcio.warcwriter import WARCWriter

    data, base_url, _ = exported
    work = tmp_path / "data"
    shutil.copytree(data, work)
    conn = sqlite3.connect(work / "morgue.db")
    try:
        record_id, captured_at = conn.execute(
            "SELECT record_id, captured_at FROM captures WHERE url = ? AND kind = 'article' "
            "ORDER BY captured_at LIMIT 1", (base_url + EDITED,)).fetchone()
    finally:
        conn.close()
    with open(work / "warc" / "zz-render.warc.gz", "wb") as fh:
        writer = WARCWriter(fh, gzip=True, warc_version="WARC/1.1")
        view = writer.create_warc_record(
            "urn:view:" + base_url + EDITED, "resource", payload=io.BytesIO(b"\x89PNG not really"),
            warc_content_type="image/png", warc_headers_dict={"WARC-Refers-To": record_id})
        writer.write_record(view)
    out = tmp_path / "with-render.wacz"
    stamp = captured_at.split(".")[0]
    result = run_morgue("export", "--wacz", str(out), "--data", str(work), "--site", "gazette",
                        "--since", stamp)
    assert result.code == 0, result.stderr
    assert ("urn:view:" + base_url + EDITED) in {url for url, _ in _index_urls(out)}
    later = tmp_path / "later.wacz"
    second_crawl = sorted((work / "warc").glob("morgue-*.warc.gz"))[-1].name.split("-")[1]
    result = run_morgue("export", "--wacz", str(later), "--data", str(work), "--since",
                        f"{second_crawl[:4]}-{second_crawl[4:6]}-{second_crawl[6:8]}T{second_crawl[8:10]}:"
                        f"{second_crawl[10:12]}:{second_crawl[12:14]}")
    assert result.code == 0, result.stderr
    assert not [url for url, _ in _index_urls(later) if url.startswith("urn:view:")]
