"""The requisite fetcher process (crawler.requisite_fetcher): what it archives is what Scrapy's path
archives; what it hands back (a redirect, a 503, a truncated body) Scrapy fetches; if it dies, Scrapy
fetches the rest. Real crawls of the requisites site on two loopback hosts, WARC files read with warcio."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import REPO, run_morgue
from tests.requisite_site import serving, stop_holding


@pytest.mark.parametrize("block", [
    b"Content-Type: image/png\r\nContent-Length: 67\r\nETag: \"abc\"\r\n\r\n",
    b"Set-Cookie: a=1\r\nset-cookie: b=2\r\nX-Empty:\r\nX-Spaces:   padded  \r\n\r\n",
    b"Server: caf\xe9\r\nDate: Thu, 03 Dec 2026 13:45:00 GMT\n\n",
    b"X-Folded: one\r\n two\r\nVary: Accept\r\n\r\n",  # folded: the standard parser's answer
    b"Content-Type: text/css\r\nnot a header line\r\nX-After: 1\r\n\r\n",
    b"\r\n",
])
def test_the_fetchers_header_parser_reads_what_http_client_reads(block: bytes) -> None:
    import http.client
    import io

    from crawler.requisite_fetcher import parse_headers_quickly

    ours, theirs = parse_headers_quickly(io.BytesIO(block + b"body")), http.client.parse_headers(
        io.BytesIO(block + b"body"))
    assert ours.items() == theirs.items()
    assert ours.get("content-type") == theirs.get("content-type")
    assert ours.get_all("set-cookie") == theirs.get_all("set-cookie")


def _seed(tmp: Path, base: str, timeout: int = 2) -> Path:
    seed = tmp / "styled.toml"
    seed.write_text(f'name = "styled"\nsitemaps = ["{base}/sitemap.xml"]\n'
                    "\n[settings]\nDOWNLOAD_DELAY = 0\nAUTOTHROTTLE_ENABLED = false\n"
                    f"DOWNLOAD_TIMEOUT = {timeout}\n", encoding="utf-8")
    return seed


def _records(data: Path) -> list[tuple[str, str, str, int | None, Any]]:
    """(file, record type, target URI, HTTP status, record) of every response/revisit/pageinfo record."""
    out = []
    for path in sorted((data / "warc").glob("*.warc.gz")):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                if record.rec_type in ("response", "revisit"):
                    status = int(record.http_headers.get_statuscode()) if record.http_headers else None
                    out.append((path.name, record.rec_type, uri, status, None))
                elif record.rec_type == "resource" and uri.startswith("urn:pageinfo:"):
                    out.append((path.name, "pageinfo", uri.removeprefix("urn:pageinfo:"), None,
                                json.loads(record.content_stream().read())))
    return out


def _pid(name: str) -> str:
    return name.split("-")[-1].split(".")[0]  # morgue-<stamp>-<serial>-<host>-<pid>.warc.gz


def test_handed_back_requisites_are_fetched_by_scrapy_and_a_gzipped_style_sheet_is_read(tmp_path: Path
                                                                                        ) -> None:
    with serving() as (base, state):
        state.pages[:] = ["/news/handback.html"]
        data = tmp_path / "data"
        result = run_morgue("crawl", str(_seed(tmp_path, base)), "--data", str(data), "-v")
        assert result.code == 0, result.stdout + result.stderr
        asked = [(path, status) for host, path, status in state.log if host == "site"]
    records = _records(data)
    files = {uri: name for name, kind, uri, _, _ in records if kind == "response"}
    page_file = files[f"{base}/news/handback.html"]
    # the style sheet and what its gzipped text names: fetched and archived by the fetcher process
    for path in ("/css/gz.css", "/img/from-gzip.png"):
        assert _pid(files[base + path]) != _pid(page_file), (path, files)
    # a redirect: the fetcher saw the 302 and handed it back; Scrapy archived the hop and its target
    assert asked.count(("/img/moved.png", 302)) == 2 and ("/img/target.png", 200) in asked
    statuses = {(uri, status) for _, kind, uri, status, _ in records if kind == "response"}
    assert {(f"{base}/img/moved.png", 302), (f"{base}/img/target.png", 200)} <= statuses
    # a 503: not archived by the fetcher; Scrapy's fetch counts as the retry, and gets the image
    assert [s for p, s in asked if p == "/img/flaky.png"] == [503, 200]
    assert (f"{base}/img/flaky.png", 200) in statuses
    assert _pid(files[f"{base}/img/flaky.png"]) == _pid(page_file)
    # a truncated body: archived once, by Scrapy, with its dataloss note
    assert sum(1 for _, kind, uri, _, _ in records if uri == f"{base}/img/short.png") == 1
    conn = sqlite3.connect(data / "morgue.db")
    note = conn.execute("SELECT note FROM captures WHERE url = ?", [f"{base}/img/short.png"]).fetchone()[0]
    handed = conn.execute("SELECT errors_by_kind FROM crawls").fetchone()[0]
    conn.close()
    assert note.startswith("truncated"), note
    assert json.loads(handed).get("dataloss") == 1, handed
    assert "'morgue/requisites/handed_to_scrapy': 3" in result.stderr, result.stderr[-3000:]
    # the page's pageinfo record has every outcome, the redirect's by its first URL
    [info] = [r for _, kind, uri, _, r in records if kind == "pageinfo" and uri.endswith("/handback.html")]
    outcome = {url.removeprefix(base): (v.get("status"), v.get("type")) for url, v in info["urls"].items()}
    assert outcome == {"/news/handback.html": (200, "Document"), "/css/gz.css": (200, "Stylesheet"),
                       "/img/from-gzip.png": (200, "Image"), "/img/moved.png": (200, "Image"),
                       "/img/flaky.png": (200, "Image"), "/img/short.png": (200, "Image")}, outcome


def _outcomes(data: Path, base: str, cdn: str) -> tuple[set[Any], dict[str, Any]]:
    """What a crawl archived (URL, record type, status) and each page's pageinfo outcomes, host-free."""
    def plain(url: str) -> str:
        return url.replace(base, "site:").replace(cdn, "cdn:")

    records = _records(data)
    archived = {(plain(uri), kind, status) for _, kind, uri, status, _ in records if kind != "pageinfo"}
    pages = {plain(uri): {plain(u): (v.get("status"), v.get("type"), v.get("error"))
                          for u, v in info["urls"].items()}
             for _, kind, uri, _, info in records if kind == "pageinfo"}
    return archived, pages


def _problems(stdout: str, base: str, cdn: str) -> set[tuple[str, str]]:
    """The summary's requisite problems, (kind, URL) host-free."""
    return {(m[1], m[2].replace(base, "site:").replace(cdn, "cdn:"))
            for m in re.finditer(r"^  requisite ([a-z_ .]+): (\S+)", stdout, re.M)}


def test_the_fetcher_process_archives_what_scrapy_archives(tmp_path: Path) -> None:
    """The same site crawled with each fetcher: the same captures, the same pageinfo outcomes, the same
    problems in the summary (a cap, a 404, a non-image, a time-out, robots.txt on the CDN, an @import
    loop)."""
    seen = {}
    for fetcher in ("process", "scrapy"):
        with serving() as (base, state):
            state.pages[:] = ["/news/styled.html", "/news/second.html", "/news/plain-1.html",
                              "/news/bad.html"]
            data = tmp_path / fetcher
            result = run_morgue("crawl", str(_seed(tmp_path, base)), "--data", str(data),
                                "-s", f"MORGUE_REQUISITES_FETCHER={fetcher}")
            assert result.code == 0, result.stdout + result.stderr
            archived, pages = _outcomes(data, base, state.cdn)
            seen[fetcher] = (archived, pages, _problems(result.stdout, base, state.cdn))
    assert seen["process"][0] == seen["scrapy"][0]
    assert seen["process"][1] == seen["scrapy"][1]
    assert seen["process"][2] == seen["scrapy"][2]
    problems = {p for p, _ in seen["process"][2]}
    assert {"too_large", "http_error", "not_an_image", "timeout", "import_loop"} <= problems, problems
    assert len(seen["process"][1]) == 4


def test_a_fetcher_process_that_dies_leaves_its_requisites_to_scrapy(tmp_path: Path) -> None:
    """kill -9 of the fetcher process while the site holds its requisite requests: the crawl goes on,
    Scrapy fetches what the fetcher had been given, every page gets its pageinfo record."""
    with serving() as (base, state):
        state.pages[:] = ["/news/styled.html", "/news/second.html", "/news/plain-1.html"]
        data = tmp_path / "data"
        state.hold = release = threading.Event()
        port = int(base.rsplit(":", 1)[1])
        log = tmp_path / "crawl.log"
        with log.open("w") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "morgue.cli", "crawl", str(_seed(tmp_path, base, timeout=30)),
                 "--data", str(data)], cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True,
                start_new_session=True)
            try:
                fetcher = None
                for _ in range(6000):  # a bound for a broken crawl, not a timing
                    assert proc.poll() is None, "the crawl ended although its requisites were held"
                    if state.held:
                        fetcher = _holding(psutil.Process(proc.pid), port)
                        if fetcher is not None:
                            break
                    time.sleep(0.02)
                else:
                    pytest.fail("no process of the crawl but its own holds a requisite request")
                fetcher.send_signal(signal.SIGKILL)
                fetcher.wait(timeout=30)
                release.set()
                out, _ = proc.communicate(timeout=300)
            finally:
                stop_holding(state, release, proc)
        assert proc.returncode == 0, out + log.read_text()[-3000:]
    assert "the requisite fetcher process ended unexpectedly" in log.read_text()
    _, pages = _outcomes(data, base, state.cdn)
    assert set(pages) == {"site:/news/styled.html", "site:/news/second.html", "site:/news/plain-1.html"}
    styled = pages["site:/news/styled.html"]
    assert styled["site:/css/site.css"][0] == 200 and styled["site:/img/logo.png"][0] == 200, styled
    assert styled["cdn:/photos/harbour.png"][0] == 200, styled
    # the dead fetcher's file is left .open; the next crawl's recovery finishes it
    again = run_morgue("crawl", str(_seed(tmp_path, base)), "--data", str(data))
    assert again.code == 0, again.stdout + again.stderr
    assert not list((data / "warc").glob("*.open"))


def _holding(crawl: psutil.Process, port: int) -> psutil.Process | None:
    """The crawl's child process with a connection to the site (the fetcher's held requests)."""
    for child in crawl.children(recursive=True):
        try:
            if any(c.raddr and c.raddr.port == port for c in child.net_connections(kind="tcp")):
                return child
        except psutil.Error:
            continue
    return None


def test_jobs_larger_than_the_pipe_wait_in_the_crawl_process_not_in_a_write() -> None:
    """A page's body goes to the fetcher with its FindJob: a message the pipe cannot take (64 KiB on
    Linux) is kept and written as the pipe drains, in order, and the crawl's reactor thread never blocks
    on it; a fetcher gone (its end closed) is reported as lost."""
    import multiprocessing
    import os
    import select

    from crawler.requisite_process import _PipeWriter

    reader, ours = multiprocessing.Pipe(duplex=False)
    lost: list[bool] = []
    writer = _PipeWriter(ours, lambda: lost.append(True))
    body = os.urandom(4_000_000)
    writer.send(("batch", [body]))  # nobody reads yet: returns with most of it kept
    assert len(writer._buffer) > 3_000_000 and writer._watched
    writer.send(("synced", 3))  # behind it, in order
    received: list[Any] = []
    thread = threading.Thread(target=lambda: received.extend([reader.recv(), reader.recv()]))
    thread.start()
    try:
        while writer._buffer:  # what the reactor does when the pipe is writable
            select.select([], [writer.fileno()], [], 10)
            writer.doWrite()
    finally:
        thread.join(30)
    assert received == [("batch", [body]), ("synced", 3)]
    assert not writer._watched and not lost
    reader.close()
    writer.send(("batch", []))
    assert lost == [True] and not writer._watched
    ours.close()


def test_child_processes_start_with_the_extractor_already_loaded() -> None:
    """Extraction workers and the fetcher fork from one forkserver that has imported the extractor and
    lxml: a child that imports nothing has them mapped (each child imported them itself before, 0.35-0.45
    CPU-s per child per crawl)."""
    from archive.forkserver import forkserver_context

    child = forkserver_context().Process(target=time.sleep, args=(60,), daemon=True)
    child.start()
    try:
        maps = Path(f"/proc/{child.pid}/maps").read_text()
        assert "lxml/etree" in maps and "_sqlite3" in maps
    finally:
        child.kill()
        child.join(10)


def test_a_pageinfo_record_never_waits_behind_a_rotation_that_waits_for_the_crawl(tmp_path: Path) -> None:
    """A fetch thread that fills the fetcher's file rotates it holding the writer's lock, and waits for
    the crawl's ``synced``, which only the fetcher's main thread reads. A pageinfo record arriving then
    must not make the main thread wait for that lock (it did: the crawl stalled 60 s per such moment, and a
    crawl rotating after every record, MORGUE_WARC_MAX_SIZE=1, timed out)."""
    import gzip
    import multiprocessing

    from crawler.requisite_fetcher import FetcherConfig, ResourceJob, Written, _Fetcher

    jobs_in, jobs_out = multiprocessing.Pipe(duplex=False)
    results_in, results_out = multiprocessing.Pipe(duplex=False)
    config = FetcherConfig(warc_dir=str(tmp_path), writer={"max_size": 1}, site=None, crawl_id=None)
    fetcher = _Fetcher(jobs_in, results_out, config)
    threading.Thread(target=fetcher._sender, daemon=True).start()
    threading.Thread(target=fetcher._write_resources, daemon=True).start()
    fetcher.writer.write_resource("urn:first", b"1", "text/plain")  # opens the file; the next rotates it

    def fetch_thread_write() -> None:
        with fetcher.write_lock:
            fetcher.writer.write_resource("urn:second", b"2", "text/plain")

    holder = threading.Thread(target=fetch_thread_write, daemon=True)
    holder.start()

    def crawl_hears(wanted: type | str) -> Any:
        while True:  # the crawl process's end: outcomes in batches
            for item in results_in.recv()[1]:
                if isinstance(item, tuple) and item[0] == wanted or isinstance(wanted, type) and \
                        isinstance(item, wanted):
                    return item

    sync = crawl_hears("sync")  # the holder is in its rotation, waiting for the crawl, the lock held
    main = threading.Thread(target=fetcher._handle, daemon=True, args=(("batch", [ResourceJob(
        7, "urn:pageinfo:x", b"{}", "application/json", "2026-01-01T00:00:00Z", {})]),))
    main.start()
    main.join(30)  # a bound for a broken fetcher (it waited for the lock), not a timing
    assert not main.is_alive(), "the main thread waits behind the rotation, which waits for it"
    assert holder.is_alive()  # the main thread came back while the rotation still waits
    fetcher._handle(("synced", sync[1]))
    holder.join(30)
    assert not holder.is_alive()
    sync = crawl_hears("sync")  # the pageinfo record's own rotation, on its thread
    fetcher._handle(("synced", sync[1]))
    assert crawl_hears(Written).key == 7
    fetcher.resources.put(None)
    jobs_out.send(("synced", 10**9))  # for the close's own sync, read on this (the main) thread
    fetcher.writer.close()
    records = [name for path in sorted(tmp_path.glob("*.warc.gz"))
               for name in re.findall(rb"WARC-Target-URI: (urn:\S+)", gzip.open(path).read())]
    assert sorted(records) == [b"urn:first", b"urn:pageinfo:x", b"urn:second"]
