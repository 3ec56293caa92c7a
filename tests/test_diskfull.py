"""Disk full while writing: the crawl stops with a clear one-line error and a non-zero exit, what was
written before is intact (verify passes), and the next crawl with room finishes the job.

The "disk" is a file-size limit (RLIMIT_FSIZE with SIGXFSZ ignored, so writes fail with EFBIG as they
fail with ENOSPC on a full filesystem); it needs no mount privileges.
"""

from __future__ import annotations

import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, run_morgue
from tests.hostile_server import running

LIMIT = 8_000_000


@pytest.fixture
def bulky_site() -> Iterator[str]:
    with running("--articles", "12") as base_url:
        yield base_url


def _small_disk() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def test_disk_full_stops_cleanly_and_leaves_a_sound_archive(tmp_path: Path, bulky_site: str) -> None:
    seed = tmp_path / "bulky.toml"
    seed.write_text(f'name = "bulky"\nsitemaps = ["{bulky_site}/bulky-sitemap.xml"]\n'
                    "\n[settings]\nDOWNLOAD_DELAY = 0\nAUTOTHROTTLE_ENABLED = false\n"
                    "MORGUE_EXTRACT_WORKERS = 0\n", encoding="utf-8")
    data = tmp_path / "data"
    full = subprocess.run([sys.executable, "-m", "morgue.cli", "crawl", str(seed), "--data", str(data)],
                          cwd=REPO, capture_output=True, text=True, timeout=240, preexec_fn=_small_disk)
    assert full.returncode == 1, full.stdout + full.stderr
    errors = [line for line in full.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, full.stderr
    assert "warc_write_failed" in errors[0] and "File too large" in errors[0], errors[0]
    assert "Traceback" not in full.stderr
    warcs = list((data / "warc").glob("*.warc.gz"))
    assert warcs and all(p.stat().st_size <= LIMIT for p in warcs)
    assert not list((data / "warc").glob("*.open"))

    check = run_morgue("verify", "--data", str(data))
    assert check.code == 0, check.stdout + check.stderr
    db = sqlite3.connect(data / "morgue.db")
    before = db.execute("SELECT count(*) FROM captures").fetchone()[0]
    assert before > 0
    db.close()

    again = run_morgue("crawl", str(seed), "--data", str(data))
    assert again.code == 0, again.stdout + again.stderr
    check = run_morgue("verify", "--data", str(data))
    assert check.code == 0, check.stdout + check.stderr
    db = sqlite3.connect(data / "morgue.db")
    assert db.execute("SELECT count(*) FROM articles").fetchone()[0] == 12
