"""import: a WARC written by ``wget --warc-file`` against the demo site, indexed unchanged and searchable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

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


def test_a_broken_warc_is_refused_before_anything_is_indexed(wget_warc: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.warc.gz"
    raw = wget_warc.read_bytes()
    broken.write_bytes(raw[: len(raw) - 100])
    data = tmp_path / "data"
    result = run_morgue("import", str(wget_warc), str(broken), "--data", str(data))
    assert result.code == 1
    assert f"{broken}: truncated-gzip at offset" in result.stderr and "nothing was imported" in result.stderr
    assert not (data / "warc" / wget_warc.name).exists()
    not_warc = tmp_path / "notes.txt"
    not_warc.write_text("hello")
    assert "not a WARC file name" in run_morgue("import", str(not_warc), "--data", str(data)).stderr
