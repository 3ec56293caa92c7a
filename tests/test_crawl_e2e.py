"""End to end: a real crawl of the demo site (served over HTTP in a subprocess) through the CLI, then
the WARC files read back with warcio, the index checked against them, and search through the CLI."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.records import sha256_digest
from tests.conftest import SiteProcess, run_morgue, write_seed
from tests.demo_articles import ARTICLES, DISALLOWED


@pytest.fixture
def crawled(demo_site: SiteProcess, tmp_path: Path) -> tuple[SiteProcess, Path, str]:
    seed = write_seed(tmp_path / "gazette.toml", demo_site.base_url)
    data = tmp_path / "data"
    result = run_morgue("crawl", str(seed), "--data", str(data))
    assert result.code == 0, result.stderr
    return demo_site, data, result.stdout


def _db(data: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(data / "morgue.db")
    conn.row_factory = sqlite3.Row
    return conn


def test_every_article_captured_once(crawled: tuple[SiteProcess, Path, str]) -> None:
    site, data, stdout = crawled
    rows = _db(data).execute("SELECT url, title, version FROM articles").fetchall()
    urls = sorted(row["url"] for row in rows)
    assert urls == sorted(site.url(path) for path in ARTICLES)
    assert all(row["version"] == 1 and row["title"] for row in rows)
    assert f"{len(ARTICLES)} new articles" in stdout
    fetched = [r["path"] for r in site.requests() if r["method"] == "GET"]
    assert DISALLOWED not in fetched  # robots.txt obeyed
    article_gets = [p for p in fetched if str(p).split("?")[0] in ARTICLES]
    # each article fetched once; the flaky one once more after its 500
    assert len(article_gets) == len(ARTICLES) + 1


def test_warc_files_are_valid_and_match_the_index(crawled: tuple[SiteProcess, Path, str]) -> None:
    _, data, _ = crawled
    files = sorted((data / "warc").glob("*.warc.gz"))
    assert files and not list((data / "warc").glob("*.open"))
    for path in files:
        check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", str(path)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    db = _db(data)
    captures = db.execute("SELECT * FROM captures").fetchall()
    assert len(captures) >= len(ARTICLES) + 5
    for row in captures:
        with open(data / "warc" / row["warc_file"], "rb") as fh:
            fh.seek(row["warc_offset"])
            member = fh.read(row["warc_length"])
        record = next(iter(ArchiveIterator(__import__("io").BytesIO(member))))
        assert record.rec_headers.get_header("WARC-Record-ID") == row["record_id"]
        assert record.rec_headers.get_header("WARC-Target-URI") == row["url"]
        assert record.rec_headers.get_header("WARC-Payload-Digest") == row["payload_digest"]
        if record.rec_type == "response":
            body = record.raw_stream.read()
            assert sha256_digest(body) == row["payload_digest"]
    for article in db.execute("SELECT a.*, c.url AS cap_url FROM articles a JOIN captures c "
                              "ON c.id = a.capture_id").fetchall():
        assert article["record_id"] and article["warc_file"]
        assert article["cap_url"] == article["fetched_url"]


def test_bodies_archived_as_received_before_decompression(crawled: tuple[SiteProcess, Path, str]) -> None:
    """The demo server gzips HTML when asked: the WARC must hold the gzip bytes and say so."""
    _, data, _ = crawled
    seen_gzip = False
    for path in sorted((data / "warc").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type != "response":
                    continue
                assert record.http_headers.get_header("Transfer-Encoding") is None
                if record.http_headers.get_header("Content-Encoding") == "gzip":
                    raw = record.raw_stream.read()
                    assert raw[:2] == b"\x1f\x8b"
                    assert gzip.decompress(raw).lstrip().startswith((b"<!DOCTYPE", b"<html", b"<?xml"))
                    length = record.http_headers.get_header("Content-Length")
                    assert length == str(len(raw))
                    seen_gzip = True
    assert seen_gzip


def test_search_finds_an_article_by_a_word_of_its_body(crawled: tuple[SiteProcess, Path, str]) -> None:
    site, data, _ = crawled
    for path, word in ARTICLES.items():
        if not word:
            continue
        result = run_morgue("search", word, "--data", str(data), "--json")
        assert result.code == 0, result.stderr
        hits = [json.loads(line) for line in result.stdout.splitlines()]
        assert site.url(path) in [hit["url"] for hit in hits], (word, hits)
    human = run_morgue("search", "cultch", "--data", str(data))
    assert "oyster" in human.stdout.lower() and "cultch" in human.stdout


def test_search_says_what_it_searched_for_instead(crawled: tuple[SiteProcess, Path, str]) -> None:
    site, data, _ = crawled
    result = run_morgue("search", '"cultch', "--data", str(data), "--json")
    assert result.code == 0, result.stderr
    assert site.url("/news/2026/11/oyster-beds-return.html") in result.stdout
    assert result.stderr.strip() == "The closing quote was missing: searched for cultch instead."
    nothing = run_morgue("search", "--data", str(data), "--", "-cultch")  # -- : not an option
    assert nothing.code != 0 and "Traceback" not in nothing.stderr
    assert "Nothing to search for: -cultch only says what to leave out" in nothing.stderr


def test_progress_lines_count_errors_as_the_summary_does(demo_site: SiteProcess, tmp_path: Path) -> None:
    """The demo site's robots.txt refuses one page: not an error, neither in the summary nor in the
    progress lines printed while the crawl runs."""
    seed = write_seed(tmp_path / "gazette.toml", demo_site.base_url)
    result = run_morgue("crawl", str(seed), "--data", str(tmp_path / "data"),
                        "-s", "MORGUE_PROGRESS_INTERVAL=0.1", "-s", "DOWNLOAD_DELAY=0.05")
    assert result.code == 0, result.stderr
    assert "1 blocked by robots.txt, 0 errors" in result.stdout
    progress = [line for line in result.stderr.splitlines() if line.startswith("[gazette]")]
    assert progress, result.stderr
    assert all(line.endswith("· 0 errors") for line in progress), progress
