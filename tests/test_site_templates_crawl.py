"""Site templates over a real crawl: a generated site served on 127.0.0.1 whose layout changes halfway
(10 articles in one template, 10 in another), crawled one page at a time. The index stores both
versions, no article loses body text, ``morgue templates`` and ``morgue extract --explain`` show what was
learned, and ``reindex`` learns the templates again from the WARC files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.conftest import run_morgue, start_site
from tests.template_site import (
    FAST,
    NEWSLETTER,
    SHARE,
    author,
    paragraphs,
    published,
    title,
    write_seed,
    write_site,
    write_sitemap,
)


def _rows(data: Path, sql: str) -> list[dict]:
    conn = sqlite3.connect(data / "morgue.db")
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def _check(data: Path, base_url: str, count: int) -> None:
    articles = _rows(data, "SELECT url, text, removed FROM articles WHERE latest = 1")
    assert len(articles) == count
    for row in articles:
        n = int(row["url"].rsplit("/", 1)[1].split(".")[0])
        flat = " ".join(row["text"].split())
        assert [p for p in paragraphs(n) if p not in flat] == [], row["url"]
        assert SHARE[:20] not in row["text"] and NEWSLETTER not in row["text"]
    templates = _rows(data, "SELECT * FROM site_templates WHERE site = 'harbour' ORDER BY version")
    assert [t["status"] for t in templates] == ["replaced", "active"], templates
    assert all(t["expires_at"] > t["learned_at"] for t in templates)
    # with the re-extraction at the end, every page went through the template of its design
    used = [r for r in articles if any(b["reason"] == "template" for b in json.loads(r["removed"]))]
    assert len(used) == count, [r["url"] for r in articles if r not in used]


def test_crawl_learns_a_template_survives_a_redesign_and_reindex_relearns_it(tmp_path: Path) -> None:
    root = tmp_path / "site"
    paths = write_site(root, ["a"] * 10 + ["b"] * 10)
    site = start_site(root, tmp_path / "requests.jsonl")
    try:
        write_sitemap(root, site.base_url, paths)
        seed = tmp_path / "harbour.toml"
        seed.write_text(f'name = "harbour"\nstart_urls = ["{site.base_url}/"]\n'
                        f'sitemaps = ["{site.base_url}/sitemap.xml"]\nallow = ["/news/"]\n'
                        # one page at a time, slowly enough for extraction to keep up (in a faster crawl the
                        # pages in flight while a template is learned are re-extracted at the end)
                        "[settings]\nDOWNLOAD_DELAY = 0.3\nRANDOMIZE_DOWNLOAD_DELAY = false\n"
                        "AUTOTHROTTLE_ENABLED = false\nCONCURRENT_REQUESTS = 1\n"
                        "CONCURRENT_REQUESTS_PER_DOMAIN = 1\n", encoding="utf-8")
        data = tmp_path / "data"
        result = run_morgue("crawl", str(seed), "--data", str(data), "-s", "MORGUE_EXTRACT_WORKERS=1")
        assert result.code == 0, result.stderr
        assert "  template: v2, " in result.stdout and "1 redesign(s): new version learned" in result.stdout
        _check(data, site.base_url, 20)

        shown = run_morgue("templates", "harbour", "--data", str(data))
        assert shown.code == 0, shown.stderr
        assert "harbour v2 [active]" in shown.stdout and "harbour v1 [replaced]" in shown.stdout
        assert "  body: div.layout > article.story > div#story-.story-.story-body" in shown.stdout
        assert "  drop */div.share-tools  (furniture on " in shown.stdout
        # where the metadata lives, as learned from the teachers (version 2: the redesign's headline)
        assert ("  title: <meta og:title> (agreed with the full extraction on 4 of 4 pages), then "
                "main.content-v > h1.headline (agreed with the full extraction on 4 of 4 pages)"
                ) in shown.stdout
        assert ("  published: <meta article:published_time> (agreed with the full extraction on "
                in shown.stdout)
        as_json = [json.loads(line) for line in run_morgue("templates", "--json", "--data", str(data))
                   .stdout.splitlines()]
        assert {r["version"] for r in as_json} == {1, 2} and all(r["template"]["container"] for r in as_json)
        missing = run_morgue("templates", "nosuchsite", "--data", str(data))
        assert missing.code != 0 and "no template learned for nosuchsite" in missing.stderr

        active = next(r for r in as_json if r["status"] == "active")["template"]["container"]
        fits = "b" if active[-1] == "section.article-text" else "a"
        page_a, page_b = root / "news" / "1.html", root / "news" / "20.html"
        good, other = (page_b, page_a) if fits == "b" else (page_a, page_b)
        ok = run_morgue("extract", str(good), "--data", str(data), "--site", "harbour", "--explain")
        assert ok.code == 0, ok.stderr
        assert "# site harbour: template v2" in ok.stdout
        assert f"# {good}: extracted through harbour's template v2" in ok.stdout
        assert "[template] template v2: " in ok.stdout
        assert f"# {good}: title from learned <meta og:title>" in ok.stdout
        assert f"# {good}: published from learned <meta article:published_time>" in ok.stdout
        off = run_morgue("extract", str(other), "--data", str(data), "--site", "harbour", "--explain")
        assert off.code == 0, off.stderr
        assert (f"# {other}: extracted by the full pipeline: harbour's template v2 does not fit (container "
                in off.stdout)

        again = run_morgue("reindex", "--data", str(data))
        assert again.code == 0, again.stderr
        _check(data, site.base_url, 20)
    finally:
        site.process.terminate()
        site.process.wait(timeout=10)


def test_site_with_no_common_structure_is_reported_in_templates(tmp_path: Path) -> None:
    root = tmp_path / "site"
    paths = write_site(root, ["odd"] * 8)
    site = start_site(root, tmp_path / "requests.jsonl")
    try:
        write_sitemap(root, site.base_url, paths)
        seed = tmp_path / "odd.toml"
        seed.write_text(f'name = "odd"\nstart_urls = ["{site.base_url}/"]\n'
                        f'sitemaps = ["{site.base_url}/sitemap.xml"]\nallow = ["/news/"]\n'
                        "[settings]\nDOWNLOAD_DELAY = 0\nAUTOTHROTTLE_ENABLED = false\n", encoding="utf-8")
        data = tmp_path / "data"
        result = run_morgue("crawl", str(seed), "--data", str(data), "-s", "MORGUE_EXTRACT_WORKERS=1")
        assert result.code == 0, result.stderr
        assert "  template: none yet (no common structure: the article body sits in" in result.stdout
        shown = run_morgue("templates", "odd", "--data", str(data))
        assert shown.code == 0 and shown.stdout.startswith("odd: no template: no common structure")
        for row in _rows(data, "SELECT url, text FROM articles"):
            n = int(row["url"].rsplit("/", 1)[1].split(".")[0])
            assert all(p in " ".join(row["text"].split()) for p in paragraphs(n))
    finally:
        site.process.terminate()
        site.process.wait(timeout=10)


def test_a_fast_crawl_extracts_the_pages_after_the_teachers_through_the_template(tmp_path: Path) -> None:
    """At full speed the pages arrive faster than one worker extracts them: a page is handed to the
    worker only when it has room (2 pages per worker), with the template learned by then, so only the
    teachers and the pages in the worker while the template was learned need the end-of-crawl
    re-extraction."""
    root = tmp_path / "site"
    paths = write_site(root, ["a"] * 14)
    site = start_site(root, tmp_path / "requests.jsonl")
    try:
        write_sitemap(root, site.base_url, paths)
        seed = write_seed(tmp_path, site.base_url, settings=FAST + "CONCURRENT_REQUESTS = 16\n"
                          "CONCURRENT_REQUESTS_PER_DOMAIN = 16\n")
        data = tmp_path / "data"
        result = run_morgue("crawl", str(seed), "--data", str(data), "-s", "MORGUE_EXTRACT_WORKERS=1")
        assert result.code == 0, result.stderr
        line = next(x for x in result.stdout.splitlines() if x.startswith("  template: v1, "))
        through = int(line.split(", ")[1].split()[0])
        # 4 teachers, then at most 2 pages with the worker before the 4th teacher's result was counted
        assert through >= 14 - 4 - 2, line
        articles = _rows(data, "SELECT url, text, removed FROM articles")
        assert len(articles) == 14
        for row in articles:
            n = int(row["url"].rsplit("/", 1)[1].split(".")[0])
            assert [p for p in paragraphs(n) if p not in " ".join(row["text"].split())] == [], row["url"]
            assert any(b["reason"] == "template" for b in json.loads(row["removed"])), row["url"]
    finally:
        site.process.terminate()
        site.process.wait(timeout=10)


def test_metadata_learned_from_the_teachers_corrects_their_rows_at_the_end_and_survives_reindex(
        tmp_path: Path) -> None:
    """The site's og:title is its own name: the teachers are filed with it, the later pages with the
    headline the template learned; the end-of-crawl re-extraction corrects the teachers' titles, and a
    reindex replaying the archived template gives every row the same metadata again."""
    root = tmp_path / "site"
    paths = write_site(root, ["meta"] * 10)
    site = start_site(root, tmp_path / "requests.jsonl")
    try:
        write_sitemap(root, site.base_url, paths)
        seed = write_seed(tmp_path, site.base_url)
        data = tmp_path / "data"
        result = run_morgue("crawl", str(seed), "--data", str(data), "-s", "MORGUE_EXTRACT_WORKERS=1")
        assert result.code == 0, result.stderr
        assert "  template: v1, " in result.stdout
        sql = "SELECT url, title, authors, published, text FROM articles ORDER BY url"
        rows = _rows(data, sql)
        assert len(rows) == 10
        for row in rows:
            n = int(row["url"].rsplit("/", 1)[1].split(".")[0])
            assert (row["title"], json.loads(row["authors"]), row["published"]) == (
                title(n), [author(n)], published(n)), row["url"]
        shown = run_morgue("templates", "harbour", "--data", str(data))
        assert ("  title: div.layout > article.story > h1.headline (inside the page's <title> on "
                in shown.stdout)
        again = run_morgue("reindex", "--data", str(data))
        assert again.code == 0, again.stderr
        assert _rows(data, sql) == rows
    finally:
        site.process.terminate()
        site.process.wait(timeout=10)
