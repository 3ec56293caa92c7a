"""import: a WARC written by ``wget --warc-file`` against the demo site, indexed unchanged and searchable."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import SiteProcess, run_morgue


def _wget() -> str:
    path = shutil.which("wget")
    if path is None:
        if os.environ.get("CI") or os.environ.get("MORGUE_REQUIRE_SHARED") == "1":
            pytest.fail("wget is required here (.ci/run installs it) but missing")
        pytest.skip("wget is not installed")
    return path


@pytest.fixture
def wget_warc(demo_site: SiteProcess, tmp_path: Path) -> Path:
    work = tmp_path / "wget"
    work.mkdir()
    subprocess.run([_wget(), "-q", "--warc-file=" + str(tmp_path / "gazette-wget"), "-r", "-l", "1",
                    "--no-verbose", demo_site.url("/news/")], cwd=work, check=False, timeout=120)
    path = tmp_path / "gazette-wget.warc.gz"
    assert path.exists()
    return path


def test_a_wget_warc_is_imported_unchanged_and_searchable(demo_site: SiteProcess, wget_warc: Path,
                                                          tmp_path: Path) -> None:
    data = tmp_path / "data"
    original = wget_warc.read_bytes()
    result = run_morgue("import", str(wget_warc), "--data", str(data))
    assert result.code == 0, result.stderr
    assert (data / "warc" / wget_warc.name).read_bytes() == original  # copied, never rewritten
    hits = [json.loads(line) for line in
            run_morgue("search", "bathymetric", "--data", str(data), "--json").stdout.splitlines()]
    assert [h["url"] for h in hits] == [demo_site.url("/news/2026/11/harbour-dredging.html")]
    # section pages are not filed as articles by default
    sections = run_morgue("versions", demo_site.url("/news/"), "--data", str(data))
    assert sections.code == 1
    verify = run_morgue("verify", "--data", str(data))
    assert verify.code == 0, verify.stdout + verify.stderr
    cite = run_morgue("cite", hits[0]["id"], "--format", "json", "--data", str(data))
    assert cite.code == 0 and json.loads(cite.stdout)["payload_digest"].startswith("sha1:")
    again = run_morgue("import", str(wget_warc), "--data", str(data))
    assert again.code == 0 and "0 new captures" in again.stdout and "1 already here" in again.stdout


def _members(path: Path) -> list[tuple[int, str, str]]:
    """(offset, record type, target URI) of each record, as warcio reads them."""
    found = []
    with open(path, "rb") as fh:
        records = ArchiveIterator(fh)
        for record in records:
            found.append((records.get_record_offset(), record.rec_type,
                          record.rec_headers.get_header("WARC-Target-URI") or ""))
    return found


def test_a_damaged_warc_keeps_what_can_be_read(demo_site: SiteProcess, wget_warc: Path,
                                               tmp_path: Path) -> None:
    """A corrupt gzip member in the middle and a file cut short: the records before, between and after
    are imported; the stretches are reported with their offsets, the file is kept byte for byte (its
    sha256 is the original's), and verify knows the damage from the import from new damage."""
    records = _members(wget_warc)
    article = demo_site.url("/news/2026/11/harbour-dredging.html")
    at = next(i for i, (_, kind, uri) in enumerate(records) if kind == "response" and uri == article)
    hit = next(i for i in range(1, at) if records[i][1] == "response")  # a response before the article
    raw = bytearray(wget_warc.read_bytes())
    start, end = records[hit][0], records[hit + 1][0]
    raw[start + (end - start) // 2: start + (end - start) // 2 + 16] = b"\xff" * 16
    cut = records[-1][0] + 10  # the last member loses all but its first bytes
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(bytes(raw[:cut]))
    data = tmp_path / "data"
    result = run_morgue("import", str(broken), "--data", str(data))
    assert result.code == 0, result.stderr
    assert f"damaged: broken.warc.gz offset {start}: corrupt-gzip:" in result.stderr
    assert f"damaged: broken.warc.gz offset {records[-1][0]}: truncated-gzip:" in result.stderr
    assert "2 unreadable stretches (listed above; the records around them are imported)" in result.stdout
    responses = sum(1 for i, (_, kind, _) in enumerate(records) if kind == "response" and i != hit
                    and i != len(records) - 1)
    assert f": {responses} new captures," in result.stdout
    kept = data / "warc" / "broken.warc.gz"
    assert kept.read_bytes() == broken.read_bytes()
    imported = sqlite3.connect(data / "morgue.db").execute("SELECT sha256 FROM imports").fetchone()[0]
    assert imported == hashlib.sha256(broken.read_bytes()).hexdigest()
    hits = run_morgue("search", "bathymetric", "--data", str(data), "--json").stdout.splitlines()
    assert [json.loads(h)["url"] for h in hits] == [article]  # found after the corrupt member
    verify = run_morgue("verify", "--data", str(data))
    assert verify.code == 0, verify.stdout + verify.stderr
    assert f"damaged since it was imported (its records here were not imported): broken.warc.gz offset " \
           f"{start}: corrupt-gzip" in verify.stdout
    assert "2 unreadable stretches in imported files, known since their import" in verify.stderr
    again = run_morgue("import", str(broken), "--data", str(data))
    assert again.code == 0 and "0 new captures" in again.stdout and "1 already here" in again.stdout
    kept.write_bytes(kept.read_bytes()[:-1])  # damage after the import is damage
    verify = run_morgue("verify", "--data", str(data))
    assert verify.code == 1 and "changed-since-import" in verify.stdout
    assert f"broken.warc.gz offset {start}: corrupt-gzip" in verify.stdout


def test_a_file_with_nothing_readable_is_refused(wget_warc: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.warc.gz"
    raw = wget_warc.read_bytes()
    broken.write_bytes(raw[:300])  # not even the first record
    data = tmp_path / "data"
    result = run_morgue("import", str(wget_warc), str(broken), "--data", str(data))
    assert result.code == 1
    assert f"{broken}: truncated-gzip at offset 0" in result.stderr
    assert "nothing was imported" in result.stderr
    assert not (data / "warc" / wget_warc.name).exists()
    not_warc = tmp_path / "notes.txt"
    not_warc.write_text("hello")
    refused = run_morgue("import", str(not_warc), "--data", str(data))
    assert "not a WARC, ARC or WACZ file name" in refused.stderr
