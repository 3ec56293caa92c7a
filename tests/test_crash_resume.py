"""kill -9 in the middle of real crawls, then crawl again: the archive is finished, verified and whole.

Precisely: after the final crawl ``morgue verify`` passes (no ``.open`` file, every record indexed, every
index row on its record), every article of the site is in the index exactly once (one version, latest), and
no two response records in the WARC files hold the same URL with the same payload digest: a page fetched
again with an unchanged payload must be archived as a revisit, never as a second copy.
"""

from __future__ import annotations

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

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import REPO, run_morgue
from tests.hostile_server import marker, running

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
