"""Two morgue processes on one data directory: a second writer refuses with a clear message while a
crawl runs; readers keep working; nothing is written twice."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, run_morgue
from tests.hostile_server import running


def test_second_writer_refuses_while_a_crawl_runs(tmp_path: Path) -> None:
    release = tmp_path / "release"  # the site answers its held page, and the crawl can end, once it exists
    with running("--articles", "120", "--delay", "0.02", "--hold", str(release)) as site:
        _second_writer_refuses(tmp_path, site, release)


def _second_writer_refuses(tmp_path: Path, big_site: str, release: Path) -> None:
    seed = tmp_path / "big.toml"
    seed.write_text(f'name = "big"\nsitemaps = ["{big_site}/normal-sitemap.xml"]\n'
                    "\n[settings]\nDOWNLOAD_DELAY = 0\nAUTOTHROTTLE_ENABLED = false\n"
                    "DOWNLOAD_TIMEOUT = 900\n", encoding="utf-8")
    data = tmp_path / "data"
    first = subprocess.Popen([sys.executable, "-m", "morgue.cli", "crawl", str(seed), "--data", str(data)],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        db = data / "morgue.db"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if db.exists():
                try:
                    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                    if conn.execute("SELECT count(*) FROM articles").fetchone()[0] >= 3:
                        break
                except sqlite3.Error:
                    pass
            time.sleep(0.05)
        assert first.poll() is None, "the first crawl ended before the second process could try"
        for args in (("crawl", str(seed)), ("reindex",), ("verify", "--repair")):
            second = run_morgue(*args, "--data", str(data))
            message = second.stdout + second.stderr
            assert second.code != 0, (args, message)
            assert "another morgue process" in message and "Traceback" not in message, (args, message)
            if args[0] == "crawl":
                assert f"pid {first.pid}" in message, message
        reader = run_morgue("search", "harbour", "--data", str(data))
        assert reader.code == 0, reader.stderr
        assert first.poll() is None, "the first crawl must still be running for the checks to mean much"
    finally:
        release.touch()
        out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err[-2000:]
    check = run_morgue("verify", "--data", str(data))
    assert check.code == 0, check.stdout + check.stderr
