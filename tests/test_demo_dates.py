"""The demo site served "as of" a day (``morgue demo`` serves it as of today): every date and dated path
moves together, so a re-crawl of the demo re-checks the fresh articles in any year."""

from __future__ import annotations

import gzip
import re
import shutil
import sqlite3
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from xml.etree import ElementTree

import feedparser
import pytest

from morgue.demo_dates import DateShift, newest_date
from morgue.demo_server import DEFAULT_ROOT, DemoServer
from tests.conftest import REPO, run_morgue, write_seed

# Far from the site's own November 2026, in both directions, and a leap day.
MOMENTS = [datetime(2028, 6, 3, 9, 0, tzinfo=UTC), datetime(2031, 2, 28, 23, 59, tzinfo=UTC),
           datetime(2024, 2, 29, 12, 0, tzinfo=UTC)]
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def _json_ld_published(page: bytes) -> datetime:
    match = re.search(rb'"datePublished"\s*:\s*"([^"]+)"', page)
    assert match, "no datePublished in the article"
    return datetime.fromisoformat(match.group(1).decode())


@pytest.mark.parametrize("moment", MOMENTS, ids=lambda m: m.date().isoformat())
def test_every_date_and_path_moves_together(moment: datetime) -> None:
    with DemoServer(as_of=moment) as site:
        status, index = _get(site.url("/sitemap_index.xml"))
        assert status == 200
        children = [e.text or "" for e in ElementTree.fromstring(index).iter(f"{SM}loc")]
        entries: list[tuple[str, datetime]] = []
        for child in children:
            status, body = _get(child)
            assert status == 200, child
            if child.endswith(".gz"):
                body = gzip.decompress(body)
            for url in ElementTree.fromstring(body).iter(f"{SM}url"):
                lastmod = url.findtext(f"{SM}lastmod") or url.findtext(f"{NEWS}news/{NEWS}publication_date")
                assert lastmod, "every demo sitemap entry is dated"
                entries.append((url.findtext(f"{SM}loc") or "", datetime.fromisoformat(lastmod)))
        assert len({url for url, _ in entries}) >= 12
        newest = max(when for _, when in entries)
        assert moment - timedelta(days=1) < newest <= moment, "the newest article is from the day asked for"
        for url, _ in entries:
            status, page = _get(url)
            if status == 500:  # FLAKY_PATHS answer 500 once, the shifted path as the original one
                status, page = _get(url)
            assert status == 200, url
            published = _json_ld_published(page).astimezone(UTC)
            year, month = re.search(r"/(\d{4})/(\d{2})/", url).groups()  # type: ignore[union-attr]
            assert (int(year), int(month)) == (published.year, published.month), url
            assert published <= moment
            assert f"&copy; {newest.year}".encode() in page
            # the address the article had before the shift is gone, as on a site that moved
            unshifted = url.replace(f"/{year}/{month}/", "/2026/11/")
            if unshifted != url:
                assert _get(unshifted)[0] == 404
        feed = feedparser.parse(_get(site.url("/feed.xml"))[1])
        assert not feed.bozo
        stamps = [datetime(*e.published_parsed[:6], tzinfo=UTC) for e in feed.entries]
        assert moment - timedelta(days=2) < max(stamps) <= moment  # published a few hours before its update
        for entry in feed.entries:  # RFC 822 weekday names are recomputed for the new dates
            assert parsedate_to_datetime(entry.published).strftime("%a") == entry.published[:3]
        assert all(_get(e.link)[0] == 200 for e in feed.entries)
        atom = feedparser.parse(_get(site.url("/atom.xml"))[1])
        assert not atom.bozo and atom.entries


def test_unshifted_site_keeps_its_own_dates() -> None:
    assert newest_date(DEFAULT_ROOT) == datetime(2026, 11, 28, 11, 5, tzinfo=UTC)
    text = (DEFAULT_ROOT / "feed.xml").read_bytes()
    assert DateShift(0).apply(text) == text
    with DemoServer() as site:
        assert _get(site.url("/news/2026/11/harbour-dredging.html"))[0] == 200


def test_a_recrawl_of_todays_demo_rechecks_its_fresh_articles(tmp_path: Path) -> None:
    """What `morgue demo` shows in any year: the default recrawl_within (3 days) reaches the newest
    articles, so an edit between two crawls becomes a new version and older articles are not re-fetched."""
    import subprocess
    import sys

    root = tmp_path / "site"
    shutil.copytree(DEFAULT_ROOT, root)
    log = tmp_path / "requests.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "morgue.demo_server", "--root", str(root), "--port", "0", "--log", str(log),
         "--as-of", "now"], stdout=subprocess.PIPE, text=True, cwd=REPO,
    )
    try:
        assert process.stdout is not None
        base = process.stdout.readline().strip().split(" ", 1)[1]
        seed = write_seed(tmp_path / "gazette.toml", base)  # recrawl_within = "3d"
        data = tmp_path / "data"
        first = run_morgue("crawl", str(seed), "--data", str(data))
        assert first.code == 0, first.stderr
        assert "14 new articles" in first.stdout, first.stdout
        conn = sqlite3.connect(data / "morgue.db")
        published = [datetime.fromisoformat(p) for (p,) in conn.execute("SELECT published FROM articles")]
        conn.close()

        def fresh() -> int:
            return sum(1 for p in published if p >= datetime.now(UTC) - timedelta(days=3))

        before = fresh()
        assert 2 <= before < len(published), "today's demo has a few articles of the last three days"
        page = root / "news/2026/11/harbour-dredging.html"  # the newest article, whatever its URL is now
        page.write_text(page.read_text(encoding="utf-8").replace(
            "will last about eleven weeks", "will last about fourteen weeks, the authority said"),
            encoding="utf-8")
        second = run_morgue("crawl", str(seed), "--data", str(data))
        after = fresh()  # an article may have aged past the window while the crawl ran
        assert second.code == 0, second.stderr
        assert "1 new versions" in second.stdout, second.stdout
        counts = re.search(r"(\d+) known articles re-checked, (\d+) known articles not re-fetched",
                           second.stdout)
        assert counts, second.stdout
        rechecked, skipped = int(counts.group(1)), int(counts.group(2))
        # the archive sitemap, the only page listing one old article, is unchanged and older than
        # recrawl_within: it is not fetched again (its lastmod says so), so that article is not seen at all
        assert "1 skipped by lastmod" in second.stdout, second.stdout
        assert after <= rechecked <= before and rechecked + skipped == len(published) - 1, second.stdout
    finally:
        process.terminate()
        process.wait(timeout=10)
