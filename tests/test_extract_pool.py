"""The extraction pool is replaced every MORGUE_EXTRACT_TASKS_PER_WORKER pages (memory stays flat on long
crawls); a crawl must go on across those replacements and lose no page."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.conftest import SiteProcess, run_morgue, write_seed
from tests.demo_articles import ARTICLES


def test_a_crawl_survives_many_pool_replacements(demo_site: SiteProcess, tmp_path: Path) -> None:
    seed = write_seed(tmp_path / "gazette.toml", demo_site.base_url)
    data = tmp_path / "data"
    result = run_morgue("crawl", str(seed), "--data", str(data), "-s", "MORGUE_EXTRACT_TASKS_PER_WORKER=1",
                        "-s", "MORGUE_EXTRACT_WORKERS=2", timeout=180)
    assert result.code == 0, result.stderr
    with sqlite3.connect(data / "morgue.db") as db:
        urls = {row[0] for row in db.execute("SELECT url FROM articles")}
    assert urls == {demo_site.url(path) for path in ARTICLES}  # every page extracted, pool replaced ~7 times
