"""Politeness over real HTTP: a User-Agent naming morgue and the operator's contact URL, robots.txt obeyed
with a report of what it blocked, an explicit and logged override, and back-off before a retry."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from crawler.backoff import retry_after_seconds
from morgue import __version__
from tests.conftest import SiteProcess, run_morgue, write_seed
from tests.demo_articles import DISALLOWED

FLAKY = "/news/2026/11/ferry-timetable-chaos.html"


def _crawl(site: SiteProcess, tmp_path: Path, *args: str, extra: str = "") -> tuple[Path, str, str]:
    seed = write_seed(tmp_path / "gazette.toml", site.base_url, extra=extra)
    data = tmp_path / "data"
    result = run_morgue("crawl", str(seed), "--data", str(data), *args)
    assert result.code == 0, result.stderr
    return data, result.stdout, result.stderr


def test_user_agent_names_morgue_and_the_contact_url(demo_site: SiteProcess, tmp_path: Path) -> None:
    _crawl(demo_site, tmp_path, "-s", "MORGUE_CONTACT_URL=https://archive.example.org/about-our-crawler")
    agents = {r["user_agent"] for r in demo_site.requests()}
    assert agents == {f"morgue/{__version__} (+https://archive.example.org/about-our-crawler)"}


def test_robots_txt_blocks_are_reported(demo_site: SiteProcess, tmp_path: Path) -> None:
    data, stdout, _ = _crawl(demo_site, tmp_path)
    blocked_url = demo_site.url(DISALLOWED)
    assert DISALLOWED not in [r["path"] for r in demo_site.requests()]
    assert f"blocked by robots.txt: {blocked_url}" in stdout
    row = sqlite3.connect(data / "morgue.db").execute(
        "SELECT robots_blocked, robots_blocked_urls FROM crawls").fetchone()
    assert row[0] == 1 and json.loads(row[1]) == [blocked_url]
    robots_gets = [r for r in demo_site.requests() if r["path"] == "/robots.txt"]
    assert len(robots_gets) == 1  # read once, for both the rules and its Sitemap: lines


def test_ignoring_robots_txt_is_explicit_and_logged(demo_site: SiteProcess, tmp_path: Path) -> None:
    data, _, stderr = _crawl(demo_site, tmp_path, extra='robots = "ignore"\n')
    assert 'gazette: robots.txt is IGNORED for this site (robots = "ignore" in' in stderr
    assert DISALLOWED in [r["path"] for r in demo_site.requests()]
    policies = set()
    for path in (data / "warc").glob("*.warc.gz"):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "warcinfo":
                    fields = dict(line.split(": ", 1) for line in
                                  record.content_stream().read().decode().splitlines() if ": " in line)
                    policies.add(fields.get("robots"))
    assert policies == {"ignore"}


def test_ignoring_robots_txt_by_setting_is_logged_too(demo_site: SiteProcess, tmp_path: Path) -> None:
    _, _, stderr = _crawl(demo_site, tmp_path, "-s", "ROBOTSTXT_OBEY=False")
    assert "gazette: robots.txt is IGNORED for this site (a setting)" in stderr


def test_a_500_is_retried_after_backing_off(demo_site: SiteProcess, tmp_path: Path) -> None:
    data, _, _ = _crawl(demo_site, tmp_path, "-s", "MORGUE_BACKOFF_BASE=1.5",
                        "-s", "RANDOMIZE_DOWNLOAD_DELAY=False")
    hits = [r for r in demo_site.requests() if str(r["path"]).split("?")[0] == FLAKY]
    assert [r["status"] for r in hits] == [500, 200]
    # the host's delay was raised to 1.5 s before the retry was sent (a lower bound, not a speed claim)
    assert float(hits[1]["time"]) - float(hits[0]["time"]) >= 1.4
    conn = sqlite3.connect(data / "morgue.db")
    url = demo_site.url(FLAKY)
    assert conn.execute("SELECT count(*) FROM articles WHERE url = ?", [url]).fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM captures WHERE url = ? AND status = 500",
                        [demo_site.url(FLAKY)]).fetchone()[0] == 1  # the failure is archived too


def test_retry_after_header() -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert retry_after_seconds("120") == 120
    later = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert retry_after_seconds(later, now) == 90
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
