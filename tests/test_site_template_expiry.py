"""Template expiry over real crawls: a site's stored template is used by the next crawl while it is
fresh, and learned again from that crawl's pages once it is older than ``TTL_DAYS``. The stored row's
dates are written relative to now (never to a fixed day), so the test passes on any date."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from archive.site_templates import TTL_DAYS
from tests.conftest import run_morgue, start_site
from tests.template_site import page, paragraphs, write_seed, write_site, write_sitemap


def _templates(data: Path) -> list[dict]:
    conn = sqlite3.connect(data / "morgue.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(
            "SELECT version, status, learned_at, expires_at, pages_learned, fitted "
            "FROM site_templates WHERE site = 'harbour' ORDER BY version")]
    finally:
        conn.close()


def _age(data: Path, days: int) -> None:
    """Move the active template's learning back ``days`` days from now (its expiry with it)."""
    learned = datetime.now(UTC) - timedelta(days=days)
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    conn = sqlite3.connect(data / "morgue.db")
    try:
        conn.execute("UPDATE site_templates SET learned_at = ?, expires_at = ? WHERE status = 'active'",
                     [learned.strftime(stamp), (learned + timedelta(days=TTL_DAYS)).strftime(stamp)])
        conn.commit()
    finally:
        conn.close()


def _add_articles(root: Path, base_url: str, numbers: range) -> None:
    """Fresh articles in the same template; the sitemap lists only them (what the next crawl fetches)."""
    paths = []
    for n in numbers:
        (root / "news" / f"{n}.html").write_text(page(n, "a"), encoding="utf-8")
        paths.append(f"/news/{n}.html")
    write_sitemap(root, base_url, paths)


def _crawl(tmp: Path, base_url: str, data: Path) -> str:
    result = run_morgue("crawl", str(write_seed(tmp, base_url)), "--data", str(data),
                        "-s", "MORGUE_EXTRACT_WORKERS=1")
    assert result.code == 0, result.stderr
    return result.stdout


def _texts_complete(data: Path) -> None:
    conn = sqlite3.connect(data / "morgue.db")
    try:
        for url, text in conn.execute("SELECT url, text FROM articles"):
            n = int(url.rsplit("/", 1)[1].split(".")[0])
            assert [p for p in paragraphs(n) if p not in " ".join(text.split())] == [], url
    finally:
        conn.close()


def test_a_fresh_template_is_reused_and_an_expired_one_is_learned_again(tmp_path: Path) -> None:
    root = tmp_path / "site"
    paths = write_site(root, ["a"] * 8)
    site = start_site(root, tmp_path / "requests.jsonl")
    data = tmp_path / "data"
    try:
        write_sitemap(root, site.base_url, paths)
        _crawl(tmp_path, site.base_url, data)
        first = _templates(data)
        assert [(t["version"], t["status"]) for t in first] == [(1, "active")], first

        # one day short of the limit: the next crawl extracts its pages through the stored v1
        _age(data, TTL_DAYS - 1)
        _add_articles(root, site.base_url, range(9, 15))
        _crawl(tmp_path, site.base_url, data)
        kept = _templates(data)
        assert [(t["version"], t["status"]) for t in kept] == [(1, "active")], kept
        assert kept[0]["fitted"] > first[0]["fitted"]  # the new pages went through it

        # one day past it: v1 is marked expired and v2 is learned from this crawl's fresh pages
        _age(data, TTL_DAYS + 1)
        _add_articles(root, site.base_url, range(15, 23))
        _crawl(tmp_path, site.base_url, data)
        relearned = _templates(data)
        assert [(t["version"], t["status"]) for t in relearned] == [(1, "expired"), (2, "active")], relearned
        v2 = relearned[1]
        now = datetime.now(UTC)
        learned_at = datetime.strptime(v2["learned_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs(now - learned_at) < timedelta(hours=1)
        assert v2["expires_at"] > now.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert v2["pages_learned"] > 0
        shown = run_morgue("templates", "harbour", "--data", str(data))
        assert shown.code == 0, shown.stderr
        assert "harbour v1 [expired]" in shown.stdout and "harbour v2 [active]" in shown.stdout
        _texts_complete(data)
    finally:
        site.process.terminate()
        site.process.wait(timeout=10)
