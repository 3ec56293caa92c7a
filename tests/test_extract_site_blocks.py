"""Repeated-block learning across a real crawl of the demo site, and on reindex.

Every demo article carries the same donation box and newsletter box. The test copy of the site also gets
a house notice that no phrase or structure rule knows (it asks for nothing), appended to every article
body: only learning what the site repeats can remove it, including from the articles crawled before it
was learned.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from lxml import html as lxml_html

from extract import block_hash as _hash
from tests.conftest import SiteProcess, run_morgue, write_seed
from tests.demo_articles import ARTICLES

HOUSE = ("The Harbour Gazette is printed at the Quay Street works on paper from the Tamar mill and "
         "delivered by the harbour rounds team before six each morning.")
DONATION = "Support independent local journalism"
NEWSLETTER = "Sign up for our free morning briefing"


def _add_house_notice(root: Path) -> None:
    for path in ARTICLES:
        page = root / path.lstrip("/")
        text = page.read_text(encoding="utf-8")
        marker = '<nav class="sc-p4n2zq"'
        assert marker in text, page
        page.write_text(text.replace(marker, f"<p>{HOUSE}</p>\n{marker}", 1), encoding="utf-8")


def _body_paragraphs(page: Path) -> list[str]:
    """The article's own paragraphs: direct <p> children of the article body (boxes are nested)."""
    tree = lxml_html.fromstring(page.read_bytes())
    paras = tree.xpath("//div[contains(@class, 'article-body')]/p")
    return [" ".join(p.text_content().split()) for p in paras if HOUSE not in p.text_content()]


def _query(data: Path, sql: str) -> list[dict]:
    """Rows as dicts, the connection closed again (reindex needs the database to itself)."""
    conn = sqlite3.connect(data / "morgue.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(sql)]
    finally:
        conn.close()


def _check_articles(site: SiteProcess, data: Path) -> list[dict]:
    rows = _query(data, "SELECT url, text, removed FROM articles WHERE latest = 1")
    assert sorted(r["url"] for r in rows) == sorted(site.url(p) for p in ARTICLES)
    by_url = {r["url"]: r for r in rows}
    for path in ARTICLES:
        row = by_url[site.url(path)]
        text = row["text"]
        flat = " ".join(text.split())
        assert HOUSE not in text and DONATION not in text and NEWSLETTER not in text, path
        assert "Donate now" not in text and "in your inbox" not in text, path
        missing = [p for p in _body_paragraphs(site.root / path.lstrip("/")) if p not in flat]
        assert missing == [], (path, missing)
        removed = json.loads(row["removed"])
        assert any(b["reason"] == "repeated" and b["text"] == HOUSE for b in removed), path
    return rows


def test_crawl_learns_repeated_blocks_and_keeps_every_body_paragraph(demo_site: SiteProcess,
                                                                     tmp_path: Path) -> None:
    _add_house_notice(demo_site.root)
    seed = write_seed(tmp_path / "gazette.toml", demo_site.base_url)
    data = tmp_path / "data"
    result = run_morgue("crawl", str(seed), "--data", str(data), "-s", "MORGUE_EXTRACT_WORKERS=1")
    assert result.code == 0, result.stderr
    _check_articles(demo_site, data)

    blocks = _query(data, "SELECT site, hash, text, pages, learned_at FROM site_blocks")
    texts = {b["text"]: b for b in blocks}
    assert all(b["site"] == "gazette" and re.fullmatch(r"[0-9a-f]{16}", b["hash"]) for b in blocks)
    assert HOUSE in texts and texts[HOUSE]["pages"] >= len(ARTICLES) - 1
    assert any(DONATION in t for t in texts), sorted(texts)
    assert any(NEWSLETTER in t for t in texts), sorted(texts)
    # No body paragraph was learned as boilerplate.
    body = {p for path in ARTICLES for p in _body_paragraphs(demo_site.root / path.lstrip("/"))}
    assert not body & set(texts)

    # The explainer shows the learned blocks when pointed at the data directory.
    page = demo_site.root / "news/2026/11/harbour-dredging.html"
    shown = run_morgue("extract", str(page), "--data", str(data), "--site", "gazette", "--explain", "--json")
    assert shown.code == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert HOUSE not in record["text"] and "bathymetric" in record["text"]
    assert {"text": HOUSE, "reason": "repeated"} in [{k: b[k] for k in ("text", "reason")}
                                                    for b in record["removed"]]
    assert "learned repeated block" in shown.stderr and f"[repeated] block {_hash(HOUSE)}" in shown.stderr
    plain = run_morgue("extract", str(page), "--explain")  # without the site's blocks, the notice stays
    assert plain.code == 0 and HOUSE in plain.stdout and "[repeated]" not in plain.stdout

    # A reindex from the WARC files reproduces clean texts with the stored blocks.
    again = run_morgue("reindex", "--data", str(data))
    assert again.code == 0, again.stderr
    _check_articles(demo_site, data)
    after = {r["text"] for r in _query(data, "SELECT text FROM site_blocks")}
    assert HOUSE in after
