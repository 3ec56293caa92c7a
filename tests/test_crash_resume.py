"""kill -9 in the middle of real crawls, then crawl again: the archive is finished, verified and whole.

Precisely: after the final crawl ``morgue verify`` passes (no ``.open`` file, every record indexed, every
index row on its record), every article of the site is in the index exactly once (one version, latest), and
no two response records in the WARC files hold the same URL with the same payload digest: a page fetched
again with an unchanged payload must be archived as a revisit, never as a second copy.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import REPO, run_morgue
from tests.hostile_server import marker, running
from tests.requisite_site import stop_holding

ARTICLES = 120


@pytest.fixture
def big_site() -> Iterator[str]:
    with running("--articles", str(ARTICLES), "--delay", "0.02") as base_url:
        yield base_url


def _captures(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM captures").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _crawl_and_kill(seed: Path, data: Path, after: int) -> bool:
    """Start a crawl and kill -9 its whole process group once it indexed ``after`` captures; False if
    the crawl finished first."""
    after += _captures(data / "morgue.db")  # progress of this crawl, not of the earlier ones
    proc = subprocess.Popen([sys.executable, "-m", "morgue.cli", "crawl", str(seed), "--data", str(data)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        while proc.poll() is None:
            if _captures(data / "morgue.db") >= after:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return True
            time.sleep(0.02)
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_kill_9_mid_crawl_then_resume_and_verify(tmp_path: Path, big_site: str) -> None:
    seed = tmp_path / "big.toml"
    seed.write_text(f'name = "big"\nsitemaps = ["{big_site}/normal-sitemap.xml"]\n'
                    "\n[settings]\nDOWNLOAD_DELAY = 0\nAUTOTHROTTLE_ENABLED = false\n"
                    "CONCURRENT_REQUESTS_PER_DOMAIN = 4\n", encoding="utf-8")
    data = tmp_path / "data"
    rng = random.Random(int(os.environ.get("MORGUE_CRASH_SEED", "8")))
    points = [rng.randrange(3, ARTICLES // 4) for _ in range(3)]  # captures into each killed crawl
    killed = [_crawl_and_kill(seed, data, after) for after in points]
    assert all(killed), f"the crawl finished before a kill point {points}: make the site bigger"
    assert list((data / "warc").glob("*.open")), "a kill -9 should leave an .open WARC file behind"

    final = run_morgue("crawl", str(seed), "--data", str(data))
    assert final.code == 0, final.stdout + final.stderr
    assert "recovery:" in final.stderr

    check = run_morgue("verify", "--data", str(data))
    assert check.code == 0, check.stdout + check.stderr
    assert not list((data / "warc").glob("*.open"))

    db = sqlite3.connect(data / "morgue.db")
    rows = db.execute("SELECT url, version, latest, text FROM articles").fetchall()
    by_url = Counter(url for url, *_ in rows)
    expected = {f"{big_site}/articles/normal-{n}.html" for n in range(ARTICLES)}
    assert set(by_url) == expected
    assert all(count == 1 for count in by_url.values()), [u for u, c in by_url.items() if c > 1]
    texts = {url: text for url, _, _, text in rows}
    for n in range(ARTICLES):
        assert marker(n) in texts[f"{big_site}/articles/normal-{n}.html"]
    crashed = db.execute("SELECT count(*) FROM crawls WHERE status = 'crashed'").fetchone()[0]
    assert crashed == 3

    responses: Counter[tuple[str, str]] = Counter()
    for path in sorted((data / "warc").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "response":
                    responses[(record.rec_headers.get_header("WARC-Target-URI"),
                               record.rec_headers.get_header("WARC-Payload-Digest"))] += 1
    duplicates = {key: n for key, n in responses.items() if n > 1}
    assert not duplicates, duplicates


# -- requisites queued at the kill ----------------------------------------------------------------------

STYLED_PAGES = ["/news/styled.html", "/news/second.html", "/news/plain-1.html", "/news/plain-3.html"]


def _warc_records(data: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Response/revisit records by target URI (the last of each), and pageinfo JSON by page URL; a
    killed crawl's ``.open`` file is read up to its last complete record."""
    records: dict[str, Any] = {}
    pageinfo: dict[str, Any] = {}
    for path in sorted((data / "warc").glob("*.warc.gz*")):
        with open(path, "rb") as fh:
            for record in _complete(ArchiveIterator(fh), open_file=path.suffix == ".open"):
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                if record.rec_type in ("response", "revisit"):
                    status = record.http_headers.get_statuscode() if record.http_headers else None
                    records[uri] = (record.rec_type, status, record.content_stream().read())
                elif record.rec_type == "resource" and uri.startswith("urn:pageinfo:"):
                    assert uri.removeprefix("urn:pageinfo:") not in pageinfo, f"two pageinfo records: {uri}"
                    pageinfo[uri.removeprefix("urn:pageinfo:")] = json.loads(record.content_stream().read())
    return records, pageinfo


def _complete(records: Iterator[Any], *, open_file: bool) -> Iterator[Any]:
    try:
        yield from records
    except Exception:
        if not open_file:  # only a killed crawl's file may end in half a record
            raise


def _assert_pages_have_their_requisites(data: Path, state: Any,
                                        articles: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The archive verifies, and every article has its pageinfo record, listing everything it names (and
    what its style sheets name) as archived without error, the robots-blocked image as ``blocked`` and
    not archived; the records and pageinfo records as ``_warc_records`` gives them."""
    from archive.requisites import page_requisites

    check = run_morgue("verify", "--data", str(data))
    assert check.code == 0, check.stdout + check.stderr
    records, pageinfo = _warc_records(data)  # asserts one pageinfo record per page at most
    blocked = f"{state.cdn}/private/secret.png"
    for url in articles:
        assert url in pageinfo, f"no pageinfo record for {url}"
        kind, status, body = records[url]
        assert kind == "response" and status == "200"
        named = {r.url for r in page_requisites(body, url).named}
        listed = pageinfo[url]["urls"]
        assert named <= set(listed), (url, named - set(listed))
        for requisite, outcome in listed.items():
            if requisite == blocked:
                assert outcome["error"] == "blocked"
                assert requisite not in records
                continue
            assert requisite in records, f"{url} names {requisite}, which is not archived"
            assert outcome.get("status") in (200, 404) and "error" not in outcome, (url, requisite, outcome)
    return records, pageinfo


def _styled_seed(tmp_path: Path, base: str) -> Path:
    """The seed of the requisites site's sitemap, politeness off for loopback."""
    seed = tmp_path / "styled.toml"
    seed.write_text(f'name = "styled"\nsitemaps = ["{base}/sitemap.xml"]\n'
                    "\n[settings]\nDOWNLOAD_DELAY = 0\nAUTOTHROTTLE_ENABLED = false\n"
                    "DOWNLOAD_TIMEOUT = 120\n", encoding="utf-8")
    return seed


def _kill_while_held(seed: Path, data: Path, state: Any, ready: Any, log: Path) -> None:
    """Crawl with every requisite request held unanswered by the site; kill -9 the crawl once
    ``ready(state)``. Not a timing: no requisite can be answered before the kill, whenever the loop sees
    the crawl ready (the bound only keeps a broken crawl from hanging the test). Its stderr: ``log``."""
    import threading

    state.hold = release = threading.Event()
    state.held = 0
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "morgue.cli", "crawl", str(seed), "--data", str(data)],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        try:
            for _ in range(6000):
                assert proc.poll() is None, "the crawl ended although its requisites were held"
                if ready(state):
                    break
                time.sleep(0.02)
            else:
                pytest.fail(f"the crawl never got ready to kill ({state.held} requisite requests held)")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            stop_holding(state, release, proc)


def test_kill_9_while_requisites_are_queued_then_the_next_crawl_fetches_them(tmp_path: Path) -> None:
    """The crawl is killed once its articles are archived and while every requisite request is held
    unanswered by the site; so is the next one, once it asks for those requisites again. The crawl after
    that (which does not fetch the articles again: skipped or 304) still archives every requisite those
    pages name, and writes each page's pageinfo record."""
    from archive.requisites import page_requisites
    from tests.requisite_site import serving

    with serving() as (base, state):
        state.pages[:] = STYLED_PAGES
        seed = _styled_seed(tmp_path, base)
        data = tmp_path / "data"
        articles = [base + p for p in STYLED_PAGES]
        _kill_while_held(seed, data, state, lambda s: s.held and set(articles) <= _urls(data / "morgue.db"),
                         tmp_path / "first.log")
        archived, before = _warc_records(data)
        lacking = set(articles) - set(before)
        assert lacking, "some pages should lack pageinfo at the kill"
        naming_none = {url for url in lacking if not page_requisites(archived[url][2], url).named}

        # the next crawl is killed too, once it asks for the requisites of those pages and the listed pages
        # naming none have their pageinfo (the crawl takes the listed pages one by one: killed at its first
        # held request, a page naming none may not have been reached yet)
        _kill_while_held(seed, data, state,
                         lambda s: s.held > 0 and not _awaiting(data / "morgue.db") & naming_none,
                         tmp_path / "second.log")
        second = (tmp_path / "second.log").read_text()
        assert f"styled: {len(lacking)} archived page(s) of the crashed crawl never got their requisites" \
            in second, second
        assert "the next crawl of styled fetches them from the archived pages" in second, second
        assert f"styled: {len(lacking)} archived page(s) from a stopped or crashed crawl get their " \
            "requisites now" in second, second
        db = sqlite3.connect(data / "morgue.db")
        waiting = {u for (u,) in db.execute("SELECT url FROM pages_awaiting_requisites")}
        db.close()
        records, infos = _warc_records(data)
        names = {url for url in lacking if page_requisites(records[url][2], url).named}
        # still listed: their pageinfo was not written before this kill; a page naming none got its own
        assert waiting == names and lacking - names <= set(infos), (waiting, names, set(infos))
        # a reindex (after recovery) keeps the list: WARC files cannot hold it
        recovered = run_morgue("verify", "--repair", "--data", str(data))
        assert recovered.code == 0, recovered.stdout + recovered.stderr
        rebuilt = run_morgue("reindex", "--data", str(data))
        assert rebuilt.code == 0, rebuilt.stdout + rebuilt.stderr
        db = sqlite3.connect(data / "morgue.db")
        assert {u for (u,) in db.execute("SELECT url FROM pages_awaiting_requisites")} == waiting
        db.close()

        first = len(state.log)
        final = run_morgue("crawl", str(seed), "--data", str(data))
        assert final.code == 0, final.stdout + final.stderr
        statuses = {path: status for host, path, status in state.log[first:] if host == "site"}
    # the articles were not fetched again (skipped as known, or re-checked: 304)
    assert all(statuses.get(path, 304) == 304 for path in STYLED_PAGES), statuses
    assert f"{len(waiting)} archived page(s) from a stopped or crashed crawl get their requisites " \
        "now" in final.stderr
    summary = (f"requisites left waiting: {len(waiting)} archived page(s) from a stopped or crashed crawl "
               f"got their requisites now, {len(waiting)} with their pageinfo record written")
    assert summary in final.stdout, final.stdout

    records, pageinfo = _assert_pages_have_their_requisites(data, state, articles)
    assert f"{base}/css/a.css" in pageinfo[f"{base}/news/styled.html"]["urls"]  # the @import chain too
    assert f"{base}/img/plain.png" in records and f"{base}/favicon.ico" in records
    db = sqlite3.connect(data / "morgue.db")
    assert db.execute("SELECT count(*) FROM pages_awaiting_requisites").fetchone()[0] == 0
    # a third crawl has nothing left to finish
    again = run_morgue("crawl", str(seed), "--data", str(data))
    assert again.code == 0 and "requisites left waiting" not in again.stdout, again.stdout


def _awaiting(db_path: Path) -> set[str]:
    """The pages listed in pages_awaiting_requisites, as committed now."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
    try:
        return {u for (u,) in conn.execute("SELECT url FROM pages_awaiting_requisites")}
    finally:
        conn.close()


def _urls(db_path: Path) -> set[str]:
    if not db_path.exists():
        return set()
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            return {u for (u,) in conn.execute("SELECT url FROM captures WHERE status = 200")}
        finally:
            conn.close()
    except sqlite3.Error:
        return set()


# -- requisites waiting at a clean stop ------------------------------------------------------------------


def _stop_while_held(seed: Path, data: Path, state: Any, articles: list[str], log: Path) -> str:
    """Crawl with every requisite request held by the site; SIGTERM once the articles are archived, and
    release the hold only once Scrapy is closing (what was in flight is answered during the close, what
    was queued stays queued). The crawl's stdout; its stderr: ``log``."""
    import threading

    state.hold = release = threading.Event()
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "morgue.cli", "crawl", str(seed), "--data",
                                 str(data), "-v"], cwd=REPO, stdout=subprocess.PIPE, stderr=stderr,
                                start_new_session=True, text=True)
        try:
            for _ in range(6000):  # a bound for a broken crawl, not a timing
                assert proc.poll() is None, "the crawl ended although its requisites were held"
                if state.held and set(articles) <= _urls(data / "morgue.db"):
                    break
                time.sleep(0.02)
            else:
                pytest.fail("the crawl never archived its articles")
            proc.send_signal(signal.SIGTERM)
            for _ in range(6000):
                if "Closing spider (shutdown)" in log.read_text():
                    break
                time.sleep(0.02)
            else:
                pytest.fail("the crawl did not start closing on SIGTERM")
            release.set()  # what is in flight is answered now; nothing more is asked for
            out, _ = proc.communicate(timeout=120)
        finally:
            stop_holding(state, release, proc)
    return out


@pytest.mark.parametrize("restart", [False, True], ids=["resumed", "restarted"])
def test_crawl_stopped_while_requisites_wait_then_the_next_crawl_writes_their_pageinfo(
        tmp_path: Path, restart: bool) -> None:
    """SIGTERM once the articles are archived and while every requisite request is held by the site; the
    hold is released only once Scrapy is closing, so what was in flight is answered during the close and
    what was queued (and what the style sheets answered then name) stays in the saved queue. The next
    crawl (resumed from that queue, whose duplicate filter remembers every requisite asked for; or with
    ``--restart``, without it) writes each waiting page's pageinfo record: exactly one per article,
    listing every requisite the page names with its real outcome."""
    from tests.requisite_site import serving

    with serving() as (base, state):
        state.pages[:] = STYLED_PAGES
        seed = _styled_seed(tmp_path, base)
        data = tmp_path / "data"
        articles = [base + p for p in STYLED_PAGES]
        log = tmp_path / "first.log"
        out = _stop_while_held(seed, data, state, articles, log)
        assert "interrupted: the next crawl of styled resumes" in out, out
        db = sqlite3.connect(data / "morgue.db")
        db.row_factory = sqlite3.Row
        left = {r["url"]: json.loads(dict(r).get("requisites") or "{}")
                for r in db.execute("SELECT * FROM pages_awaiting_requisites")}
        db.close()
        _, before = _warc_records(data)
        assert left and not set(left) & set(before), (set(left), set(before))
        assert "page(s) still wait for requisites (crawl shutdown)" in log.read_text()
        # some requisites were answered while the crawl closed: the next crawl must not wait for them
        assert any(k.get("outcomes") for k in left.values()), left

        final = run_morgue("crawl", str(seed), "--data", str(data), *(["--restart"] if restart else []))
        assert final.code == 0, final.stdout + final.stderr
        fetched = [(host, path) for host, path, _ in state.log]  # both crawls
    assert f"{len(left)} archived page(s) from a stopped or crashed crawl got their requisites now, " \
        f"{len(left)} with their pageinfo record written" in final.stdout, final.stdout
    records, pageinfo = _assert_pages_have_their_requisites(data, state, articles)
    assert f"{base}/css/a.css" in pageinfo[f"{base}/news/styled.html"]["urls"]  # the @import chain too
    if not restart:  # resumed: nothing answered before the stop is asked for again
        requisites = [f for f in fetched if f[1].startswith(("/css/", "/img/", "/fonts/"))]
        assert len(requisites) == len(set(requisites)), fetched
    db = sqlite3.connect(data / "morgue.db")
    assert db.execute("SELECT count(*) FROM pages_awaiting_requisites").fetchone()[0] == 0


def test_a_page_edited_after_a_stopped_crawl_gets_a_pageinfo_record_per_capture(tmp_path: Path) -> None:
    """A stopped crawl leaves its pages waiting; the site then edits one (a new paragraph and one more
    image). The next crawl archives the edited page again (it is re-checked: fresh) and finishes the
    waiting one: the URL is two captures, each with its own pageinfo record that refers to it and lists
    what that capture names, not one record with both merged."""
    from warcio.archiveiterator import ArchiveIterator

    from archive.requisites import page_requisites
    from tests.requisite_site import serving

    with serving() as (base, state):
        state.pages[:] = STYLED_PAGES
        seed = _styled_seed(tmp_path, base)
        # every archived article is re-checked (its fixture date may be any age by the time this runs)
        seed.write_text(seed.read_text().replace('name = "styled"\n',
                                                 'name = "styled"\nrecrawl_within = "36500d"\n'))
        data = tmp_path / "data"
        articles = [base + p for p in STYLED_PAGES]
        out = _stop_while_held(seed, data, state, articles, tmp_path / "first.log")
        assert "interrupted" in out, out
        db = sqlite3.connect(data / "morgue.db")
        waiting = {u for (u,) in db.execute("SELECT url FROM pages_awaiting_requisites")}
        db.close()
        styled = f"{base}/news/styled.html"
        assert styled in waiting, waiting
        state.edition = 2
        final = run_morgue("crawl", str(seed), "--data", str(data), "--restart")
        assert final.code == 0, final.stdout + final.stderr
    responses: dict[str, bytes] = {}  # record id -> payload, of the styled page's response records
    infos: list[tuple[str, dict[str, Any]]] = []  # (WARC-Refers-To, JSON) of its pageinfo records
    for path in sorted((data / "warc").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                header = record.rec_headers.get_header
                uri = header("WARC-Target-URI")
                if record.rec_type == "response" and uri == styled:
                    responses[header("WARC-Record-ID")] = record.content_stream().read()
                elif record.rec_type == "resource" and uri == "urn:pageinfo:" + styled:
                    infos.append((header("WARC-Refers-To"), json.loads(record.content_stream().read())))
    assert len(responses) == 2, "the edited page should be archived a second time"
    assert sorted(refers for refers, _ in infos) == sorted(responses), (infos, list(responses))
    edited = f"{base}/img/plain.png"
    for refers, info in infos:
        named = {r.url for r in page_requisites(responses[refers], styled).named}
        listed = set(info["urls"]) - {styled}
        assert named <= listed, (refers, named - listed)
        assert (edited in listed) == (b"edition 2" in responses[refers]), (refers, sorted(listed))
    db = sqlite3.connect(data / "morgue.db")
    assert db.execute("SELECT count(*) FROM pages_awaiting_requisites").fetchone()[0] == 0
    db.close()
