"""Stored extractions on a real crawl of the demo site (twice, one article edited): every extraction is a WARC
``metadata`` record beside its response, ``reindex --reuse`` files them and rebuilds the crawl's index exactly
without extracting, and a record that is damaged or unparsable is reported by verify and extracted again."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.extractions import EXTRACTION_CONTENT_TYPE, is_extraction_record
from archive.records import sha256_digest
from archive.warc_reader import iter_records
from tests.conftest import SiteProcess, run_morgue, write_seed
from tests.test_reindex import EDITED, TABLES, build_archive, table_rows


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return build_archive(tmp_path_factory.mktemp("stored"))


@pytest.fixture
def data(pristine: tuple[Path, str], tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(pristine[0], copy, ignore=shutil.ignore_patterns(".morgue.lock", "backups"))
    return copy


def _records(data: Path) -> list[tuple[str, object]]:
    out = []
    for path in sorted((data / "warc").glob("*.warc.gz")):
        with open(path, "rb") as fh:
            for record in ArchiveIterator(fh):
                out.append((path.name, (record.rec_headers, record.content_stream().read())))
    return out


def _articles(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute("SELECT id, url, version, title, authors, published, text, removed, "
                                   "extractor FROM articles"))
    finally:
        conn.close()


def test_every_extraction_is_a_metadata_record_beside_its_response(pristine: tuple[Path, str]) -> None:
    data, base_url = pristine
    records = [headers_body for _, headers_body in _records(data)]
    by_id = {h.get_header("WARC-Record-ID"): h for h, _ in records}
    stored = [(h, body) for h, body in records if h.get_header("WARC-Type") == "metadata"
              and h.get_header("Content-Type") == EXTRACTION_CONTENT_TYPE]
    conn = sqlite3.connect(data / "morgue.db")
    conn.row_factory = sqlite3.Row
    articles = {r["record_id"]: dict(r) for r in conn.execute("SELECT * FROM articles")}
    conn.close()
    assert articles and set(articles) <= {h.get_header("WARC-Concurrent-To") for h, _ in stored}
    for headers, body in stored:
        response = by_id[headers.get_header("WARC-Concurrent-To")]
        assert response.get_header("WARC-Type") == "response"
        assert headers.get_header("WARC-Target-URI") == response.get_header("WARC-Target-URI")
        assert headers.get_header("WARC-Block-Digest") == sha256_digest(body)
        doc = json.loads(body)
        assert doc["format"] == "morgue-extraction/1" and doc["extractor_version"]
        extraction = doc["extraction"]
        for key in ("title", "authors", "published", "language", "site_name", "section", "removed",
                    "extractor", "text"):
            assert key in extraction
        row = articles.get(headers.get_header("WARC-Concurrent-To"))
        if row is not None:  # an article filed from this extraction: the same facts
            assert extraction["title"] == row["title"]
            assert json.dumps(extraction["authors"]) == row["authors"]
            assert extraction["extractor"] == row["extractor"]
    # A page filed before its site's template was learned is re-extracted through it at the crawl's end:
    # its second record (after the first) names the template version that fitted, as the row's text
    # says; every other record names the template it was given, or none.
    last: dict[str, dict[str, object]] = {}
    corrections = []
    for headers, body in stored:
        doc = json.loads(body)
        response = headers.get_header("WARC-Concurrent-To")
        if response in last:
            corrections.append(doc)
        last[response] = doc
        named = doc["template"]
        assert named is None or (isinstance(named["version"], int) and named["digest"].startswith("sha256:"))
        if named is not None and doc["extraction"]["template"]:
            assert doc["extraction"]["template"] == f"template v{named['version']}"
    assert corrections and all(doc["template"] and doc["extraction"]["template"] for doc in corrections)
    assert any(doc["template"] and not doc.get("observation") for doc in last.values())  # crawled through one
    # the second crawl's fetch of the edited article stored its extraction too, with the new text
    edited = [doc["extraction"]["text"] for doc in last.values() if doc["fetched_url"] == base_url + EDITED]
    assert len(edited) == 2 and any("hydrographic" in str(t) for t in edited)
    check = run_morgue("verify", "--data", str(data))
    assert check.code == 0, check.stdout + check.stderr


def test_reindex_reuse_rebuilds_the_crawl_without_extracting(data: Path) -> None:
    before = {t: table_rows(data / "morgue.db", t) for t in TABLES}
    result = run_morgue("reindex", "--reuse", "--data", str(data))
    assert result.code == 0, result.stderr
    # one filed per response: of a page's two records (corrected at the crawl's end) the last counts
    stored = len({h.get_header("WARC-Concurrent-To") for _, (h, _) in _records(data)
                  if h.get_header("Content-Type") == EXTRACTION_CONTENT_TYPE})
    assert f"{stored} stored extractions filed, 0 pages extracted" in result.stdout, result.stdout
    after = {t: table_rows(data / "morgue.db", t) for t in TABLES}
    for table in TABLES:
        assert after[table] == before[table], table


def test_an_older_extractor_version_is_extracted_again(data: Path) -> None:
    before = _articles(data / "morgue.db")
    result = run_morgue("reindex", "--reuse", "--extractor-version", "999", "--data", str(data))
    assert result.code == 0, result.stderr
    assert "0 stored extractions filed" in result.stdout and " older)" in result.stdout
    assert _articles(data / "morgue.db") == before


def _filed_members(data: Path) -> list[tuple[Path, int, int]]:
    """(file, offset, length) of the stored extractions a filing reads: the last one for each response
    (a page corrected at the crawl's end has two)."""
    last: dict[str, tuple[Path, int, int]] = {}
    for path in sorted((data / "warc").glob("*.warc.gz")):
        for r in iter_records(path):
            if is_extraction_record(r.pointer.record_type, r.warc_header("Content-Type")):
                last[r.warc_header("WARC-Concurrent-To") or ""] = (path, r.pointer.offset, r.pointer.length)
    return sorted(last.values())


def _damage(data: Path, change) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    """Rewrite the first filed stored extraction of the first file through ``change(head, block)``."""
    path, offset, length = _filed_members(data)[0]
    raw = path.read_bytes()
    record = gzip.decompress(raw[offset:offset + length])
    head, _, rest = record.partition(b"\r\n\r\n")
    block = rest[:-4]
    new_head, new_block = change(head, block)
    assert len(new_block) == len(block)  # Content-Length stays right: only the content is wrong
    member = gzip.compress(new_head + b"\r\n\r\n" + new_block + b"\r\n\r\n")
    path.write_bytes(raw[:offset] + member + raw[offset + length:])
    return path.name, offset


def _refile_and_check(data: Path, before: list[tuple[object, ...]], name: str, offset: int,
                      kind: str) -> None:
    result = run_morgue("reindex", "--reuse", "--data", str(data))
    assert result.code == 0, result.stderr
    assert "1 damaged" in result.stdout  # extracted again, not filed as it is
    assert f"{name} offset {offset}: stored extraction not used" in result.stderr
    assert _articles(data / "morgue.db") == before
    check = run_morgue("verify", "--data", str(data))
    assert check.code == 1
    problems = [line for line in check.stdout.splitlines() if line.strip()]
    assert problems and all(f"{name} offset {offset}: " in line for line in problems), problems
    assert any(f": {kind}: " in line for line in problems), problems


def test_a_stored_extraction_that_fails_its_digest(data: Path) -> None:
    before = _articles(data / "morgue.db")

    def edit_title(head: bytes, block: bytes) -> tuple[bytes, bytes]:
        at = block.index(b'"title": "') + len(b'"title": "')
        return head, block[:at] + bytes([block[at] ^ 0x20]) + block[at + 1:]  # still JSON, case flipped

    name, offset = _damage(data, edit_title)
    _refile_and_check(data, before, name, offset, "block-digest")


def test_a_stored_extraction_that_does_not_parse(data: Path) -> None:
    before = _articles(data / "morgue.db")

    def break_json(head: bytes, block: bytes) -> tuple[bytes, bytes]:
        broken = b"X" + block[1:]
        old, new = sha256_digest(block).encode(), sha256_digest(broken).encode()
        assert old in head
        return head.replace(old, new), broken  # digests right, content not JSON

    name, offset = _damage(data, break_json)
    _refile_and_check(data, before, name, offset, "bad-extraction")


def test_index_files_an_extraction_that_came_in_a_later_file(demo_site: SiteProcess,
                                                             tmp_path: Path) -> None:
    """A writer rotates its file between a response and its extraction (here: after every record), and the
    cluster's indexer files each file as it closes: the response filed by one pass becomes an article when
    a later pass brings its extraction."""
    from archive.index import Index
    from archive.ingest import Reuse
    from crawler.cluster.indexer import index_once
    from extract import EXTRACTOR_VERSION

    seed = write_seed(tmp_path / "gazette.toml", demo_site.base_url)
    crawl = run_morgue("crawl", str(seed), "--data", str(tmp_path / "crawl"), "-s", "MORGUE_WARC_MAX_SIZE=1")
    assert crawl.code == 0, crawl.stderr
    files = sorted((tmp_path / "crawl" / "warc").glob("*.warc.gz"))
    responses = {r.pointer.record_id: p for p in files for r in iter_records(p)
                 if r.pointer.record_type == "response"}
    extractions = [(r.warc_header("WARC-Concurrent-To"), p) for p in files for r in iter_records(p)
                   if is_extraction_record(r.pointer.record_type, r.warc_header("Content-Type"))]
    assert extractions and all(responses[rid] != p for rid, p in extractions)  # always in another file
    data = tmp_path / "indexer"
    (data / "warc").mkdir(parents=True)
    reused = 0
    with Index(data / "morgue.db") as index:
        for path in files:  # one file at a time, as they close
            shutil.copy2(path, data / "warc" / path.name)
            result = index_once(index, data, reuse=Reuse(str(EXTRACTOR_VERSION)))
            assert result.files == [path.name] and not result.problems
            reused += result.reused
            assert not result.extracted
    assert reused == len(extractions)
    assert _articles(data / "morgue.db") == _articles(tmp_path / "crawl" / "morgue.db")


def _last_stored(data: Path) -> dict[str, dict[str, object]]:
    """Each response's last stored extraction (the one that counts), by response record id."""
    last: dict[str, dict[str, object]] = {}
    for _, (headers, body) in _records(data):
        if headers.get_header("Content-Type") == EXTRACTION_CONTENT_TYPE:
            last[headers.get_header("WARC-Concurrent-To")] = json.loads(body)
    return last


def test_reindex_goes_through_the_template_version_a_page_was_made_with(data: Path) -> None:
    """A later template version archived for the site (here: the crawl's newest one without its learned
    furniture, as if learned again in a later crawl) would give other texts by the crawl-id rule;
    pages whose stored extraction names the version they were made through go through exactly it."""
    from archive.ingest import extract_archived
    from archive.site_templates import read_template_record, template_record
    from archive.warc_writer import WarcWriter

    templates = [read_template_record(r.payload) for p in sorted((data / "warc").glob("*.warc.gz"))
                 for r in iter_records(p) if r.url.startswith("urn:morgue:template:")]
    assert templates
    site, newest = max(templates, key=lambda st: st[1].version)
    assert newest.drop  # the demo's template drops furniture inside the article body
    later = type(newest).from_dict({**newest.to_dict(), "drop": {}, "version": newest.version + 1})
    conn = sqlite3.connect(data / "morgue.db")
    first_crawl = conn.execute("SELECT min(id) FROM crawls").fetchone()[0]
    named = {rid: doc for rid, doc in _last_stored(data).items() if doc["template"]}
    rows = {r[0]: r[1:] for r in conn.execute(
        "SELECT a.record_id, a.text, c.warc_file, c.warc_offset, a.fetched_url FROM articles a "
        "JOIN captures c ON c.id = a.capture_id")}
    conn.close()
    made_with = {rid: rows[rid] for rid in named if rid in rows}
    assert made_with
    # the later version would change those texts: the check below can fail
    versions = {t.version: t.to_dict() for _, t in templates}
    differ = 0
    for rid, (_, warc_file, offset, url) in made_with.items():
        texts = []
        for template in (versions[named[rid]["template"]["version"]], later.to_dict()):  # type: ignore[index]
            problem, extraction = extract_archived(data / "warc", warc_file, offset, url, None, (), template)
            assert problem is None and extraction is not None
            texts.append(extraction["text"])
        differ += texts[0] != texts[1]
    assert differ
    writer = WarcWriter(data / "warc", prefix="zz-later-template",
                        warcinfo={"morgue-site": site, "morgue-crawl-id": str(first_crawl)})
    uri, body, content_type = template_record(site, later)
    writer.write_resource(uri, body, content_type)
    writer.close()

    for args in ((), ("--reuse",)):
        result = run_morgue("reindex", *args, "--data", str(data))
        assert result.code == 0, result.stderr
        if args:  # made under the template the filing uses: filed as stored
            assert f"{len(_last_stored(data))} stored extractions filed, 0 pages extracted" in result.stdout
        conn = sqlite3.connect(data / "morgue.db")
        texts = dict(conn.execute("SELECT record_id, text FROM articles"))
        conn.close()
        assert {rid: texts[rid] for rid in made_with} == {rid: row[0] for rid, row in made_with.items()}
