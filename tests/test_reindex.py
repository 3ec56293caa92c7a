"""Reindex: a crawl (twice, with an edited article in between) rebuilt from its WARC files alone gives the
same captures, articles, versions and crawl rows. Also home of ``build_archive``, which the verify, cite,
WACZ and versions tests use: a real archive of the demo site with revisits and a second version."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DEMO_OLDEST, SiteProcess, run_morgue, start_site, write_seed

EDITED = "/news/2026/11/harbour-dredging.html"
TABLES = ("captures", "articles", "crawls", "sites")


def build_archive(base: Path, while_serving: Callable[[SiteProcess], None] | None = None
                  ) -> tuple[Path, str]:
    """Crawl a private copy of the demo site, edit one article, crawl again; returns (data dir, site url).
    ``while_serving`` runs after the crawls, before the site stops."""
    from morgue.demo_server import DEFAULT_ROOT

    root = base / "site"
    shutil.copytree(DEFAULT_ROOT, root)
    site = start_site(root, base / "requests.jsonl")
    try:
        # re-check every known article on the second crawl, whatever today's date is
        seed = write_seed(base / "gazette.toml", site.base_url, fresh_after=DEMO_OLDEST)
        data = base / "data"
        first = run_morgue("crawl", str(seed), "--data", str(data))
        assert first.code == 0, first.stderr
        page = root / EDITED.lstrip("/")
        html = page.read_text(encoding="utf-8")
        assert "bathymetric" in html
        page.write_text(html.replace("bathymetric", "hydrographic"), encoding="utf-8")
        second = run_morgue("crawl", str(seed), "--data", str(data))
        assert second.code == 0, second.stderr
        if while_serving is not None:
            while_serving(site)
        return data, site.base_url
    finally:
        site.process.terminate()
        site.process.wait(timeout=10)


def table_rows(db: Path, table: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return build_archive(tmp_path_factory.mktemp("reindex"))


def test_reindex_reproduces_the_crawl(archive: tuple[Path, str]) -> None:
    data, base_url = archive
    before = {t: table_rows(data / "morgue.db", t) for t in TABLES}
    versions = [r for r in before["articles"] if base_url + EDITED in r]
    assert len(versions) == 2, "the edited article must have two versions before reindexing"
    assert any(r[8] == "unchanged" or "unchanged" in r for r in before["captures"]), "expected revisits"
    result = run_morgue("reindex", "--data", str(data))
    assert result.code == 0, result.stderr
    after = {t: table_rows(data / "morgue.db", t) for t in TABLES}
    for table in TABLES:
        assert after[table] == before[table], table
    backups = list((data / "backups").glob("morgue-before-reindex-*.db"))
    assert len(backups) == 1
    assert table_rows(backups[0], "articles") == before["articles"]
    meta = dict(table_rows(data / "morgue.db", "morgue_meta"))
    from extract import EXTRACTOR_VERSION

    assert meta["reindex_extractor"] == str(EXTRACTOR_VERSION)
    assert "extractor" in result.stdout and "previous index kept" in result.stdout


def test_reindex_without_an_index_rebuilds_crawl_rows(archive: tuple[Path, str], tmp_path: Path) -> None:
    data, _ = archive
    copy = tmp_path / "data"
    shutil.copytree(data / "warc", copy / "warc")
    result = run_morgue("reindex", "--data", str(copy))
    assert result.code == 0, result.stderr
    for table in ("captures", "articles"):
        assert table_rows(copy / "morgue.db", table) == table_rows(data / "morgue.db", table)
    crawls = table_rows(copy / "morgue.db", "crawls")
    assert len(crawls) == 2 and all("rebuilt-from-warc" in row for row in crawls)


def test_reindex_refuses_a_locked_archive(archive: tuple[Path, str]) -> None:
    from archive.lock import DataDirLock

    data, _ = archive
    with DataDirLock(data):
        result = run_morgue("reindex", "--data", str(data))
    assert result.code == 1 and "another morgue process" in result.stderr


def _write_template_warc(path: Path, site: str, crawl_id: int, template: dict[str, object]) -> None:
    """A WARC file holding one archived site template, as a crawl writes it when it learns one."""
    from warcio.warcwriter import WARCWriter

    from archive.site_templates import template_record
    from extract.template import Template

    uri, body, content_type = template_record(site, Template.from_dict(template))
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        writer.write_record(writer.create_warcinfo_record(
            path.name, {"software": "test", "morgue-site": site, "morgue-crawl-id": str(crawl_id)}))
        writer.write_record(writer.create_warc_record(
            uri, "resource", payload=io.BytesIO(body), length=len(body),
            warc_content_type=content_type, warc_headers_dict={"Content-Type": content_type}))


def _copy_without_stored_extractions(source: Path, target: Path) -> None:
    """The WARC files without their stored extractions (an archive written before they were stored): each
    record is its own gzip member, copied byte for byte."""
    from archive.extractions import is_extraction_record
    from archive.warc_reader import iter_records

    target.mkdir(parents=True)
    for path in sorted(source.glob("*.warc.gz")):
        raw = path.read_bytes()
        (target / path.name).write_bytes(b"".join(
            raw[r.pointer.offset:r.pointer.offset + r.pointer.length] for r in iter_records(path)
            if not is_extraction_record(r.pointer.record_type, r.warc_header("Content-Type"))))


def test_reindex_replays_the_archived_site_template(archive: tuple[Path, str], tmp_path: Path) -> None:
    """The texts come from the template the crawl archived, not one learned again from whichever pages
    a reindex sees first (a crawl learns from the pages that happened to arrive first): an archived
    version 9 that does not drop the "Most read" box is what the rebuilt articles go through, when no
    stored extraction names the version a page was made through (those are replayed exactly:
    tests/test_stored_extractions.py)."""
    data, _ = archive
    copy = tmp_path / "data"
    _copy_without_stored_extractions(data / "warc", copy / "warc")
    warc_text = b"".join(p.read_bytes() for p in sorted((copy / "warc").glob("*.warc.gz")))
    assert b"urn:morgue:template:gazette:v" in gzip.decompress(warc_text), \
        "the crawl must archive the template it learned"
    conn = sqlite3.connect(data / "morgue.db")
    stored = json.loads(conn.execute("SELECT template FROM site_templates WHERE site = 'gazette' AND "
                                     "status = 'active'").fetchone()[0])
    conn.close()
    assert any("nav" in key for key in stored["drop"]), "the crawl's template drops the Most read box"
    stored["version"] = 9
    stored["drop"] = {k: v for k, v in stored["drop"].items() if "nav" not in k}
    _write_template_warc(copy / "warc" / "zz-template.warc.gz", "gazette", 1, stored)
    result = run_morgue("reindex", "--data", str(copy))
    assert result.code == 0, result.stderr
    conn = sqlite3.connect(copy / "morgue.db")
    rows = conn.execute("SELECT url, text, removed FROM articles").fetchall()
    versions = conn.execute("SELECT version, status FROM site_templates WHERE site = 'gazette' "
                            "ORDER BY version").fetchall()
    conn.close()
    templated = [r for r in rows if '"template v' in r[2]]
    assert templated, "the rebuilt articles went through a template"
    assert all('"template v9' in r[2] for r in templated), [r[2][:200] for r in templated]
    removed = [item for r in templated for item in json.loads(r[2]) if item["reason"] == "template"]
    assert removed and not any("nav" in item["detail"] for item in removed)
    assert versions[-1] == (9, "active")
