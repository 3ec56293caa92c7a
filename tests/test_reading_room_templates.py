"""The reading room names the site template as the reason for the furniture it removed: a real crawl of
the generated template site (tests/template_site.py), then the article page through datasette's
in-process client."""

from __future__ import annotations

import asyncio
import html
import json
import re
import sqlite3
from pathlib import Path

from archive.reading_room import make_datasette
from tests.conftest import run_morgue, start_site
from tests.template_site import SHARE, write_seed, write_site, write_sitemap


def test_article_page_lists_blocks_the_template_dropped_with_their_reason(tmp_path: Path) -> None:
    root = tmp_path / "site"
    paths = write_site(root, ["a"] * 8)
    site = start_site(root, tmp_path / "requests.jsonl")
    data = tmp_path / "data"
    try:
        write_sitemap(root, site.base_url, paths)
        result = run_morgue("crawl", str(write_seed(tmp_path, site.base_url)), "--data", str(data),
                            "-s", "MORGUE_EXTRACT_WORKERS=1")
        assert result.code == 0, result.stderr
    finally:
        site.process.terminate()
        site.process.wait(timeout=10)

    conn = sqlite3.connect(data / "morgue.db")
    try:
        rows = conn.execute("SELECT id, removed FROM articles ORDER BY url").fetchall()
    finally:
        conn.close()
    through = [(i, [b for b in json.loads(r) if b["reason"] == "template"]) for i, r in rows]
    through = [(i, blocks) for i, blocks in through if blocks]
    assert through, "the crawl extracted its pages through the learned template"
    article_id, blocks = through[0]
    share = next(b for b in blocks if SHARE[:20] in " ".join(b["text"].split()))
    assert "furniture on" in share["detail"]

    room = make_datasette(data)
    response = asyncio.run(room.client.get(f"/-/article/{article_id}"))
    assert response.status_code == 200
    page = response.text
    section = re.search(r'<section class="morgue-removed".*?</section>', page, re.S)
    assert section, "the article page lists the removed boilerplate"
    reasons = [html.unescape(r) for r in
               re.findall(r'<span class="morgue-reason">(.*?)</span>', section.group(0), re.S)]
    assert f"template: {share['detail']}" in reasons, reasons
    assert SHARE[:20] in " ".join(html.unescape(section.group(0)).split())
    assert SHARE[:20] not in page.split('<section class="morgue-removed"')[0]  # not in the article text
