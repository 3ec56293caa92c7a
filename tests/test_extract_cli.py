"""``morgue extract`` through the real command line: many files, JSON lines, --explain, bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import run_morgue

FIXTURES = Path(__file__).parent / "fixtures" / "extract"
PAGES = [FIXTURES / f"site_page_{n}.html" for n in range(1, 4)] + [FIXTURES / "donation_hashed.html"]
FIELDS = {"file", "url", "title", "authors", "published", "language", "text", "removed"}


def test_many_files_as_json_lines() -> None:
    result = run_morgue("extract", "--json", *map(str, PAGES))
    assert result.code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["file"] for r in records] == [str(p) for p in PAGES]
    for record in records:
        assert FIELDS <= set(record), FIELDS - set(record)
        assert record["text"].strip() and isinstance(record["authors"], list)
        assert all({"text", "reason", "detail"} <= set(b) for b in record["removed"])
    assert len({r["text"] for r in records}) == len(PAGES)  # each file's own article
    assert result.stderr == ""


def test_explain_lists_each_removed_block_with_its_reason() -> None:
    page = FIXTURES / "donation_hashed.html"
    data = json.loads(run_morgue("extract", "--json", str(page)).stdout)
    assert data["removed"], "the fixture has boxes to remove"
    result = run_morgue("extract", "--explain", str(page))
    assert result.code == 0, result.stderr
    assert f"# {page}: {len(data['removed'])} block(s) removed" in result.stdout
    for block in data["removed"]:
        assert f"- [{block['reason']}] {block['detail']}: {block['text'][:120]}" in result.stdout
    assert data["text"] in result.stdout  # the article text itself, without the removed blocks
    for block in data["removed"]:
        assert block["text"] not in data["text"]


def test_bad_files_get_one_line_errors_and_the_rest_are_still_extracted(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-page.html"
    binary = tmp_path / "photo.html"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    good = tmp_path / "page.html"
    shutil.copy(PAGES[0], good)
    result = run_morgue("extract", "--json", str(missing), str(binary), str(good))
    assert result.code == 1
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2, result.stderr
    assert errors[0].startswith(f"error: {missing}: cannot read")
    assert errors[1].startswith(f"error: {binary}: no article found")
    assert "Traceback" not in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["file"] for r in records] == [str(good)]


def test_site_without_an_index_is_a_clear_error(tmp_path: Path) -> None:
    result = run_morgue("extract", "--site", "gazette", "--data", str(tmp_path / "nowhere"), str(PAGES[0]))
    assert result.code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "nowhere" in result.stderr


def test_seed_rules_apply(tmp_path: Path) -> None:
    page = PAGES[0]
    before = json.loads(run_morgue("extract", "--json", str(page)).stdout)
    first = before["text"].split("\n\n")[0]
    seed = tmp_path / "courier.toml"
    seed.write_text('name = "courier"\nstart_urls = ["https://courier.example.test/"]\n'
                    '[extract]\ndrop = ["article p:first-of-type"]\n', encoding="utf-8")
    after = json.loads(run_morgue("extract", "--json", "--seed", str(seed), str(page)).stdout)
    assert first not in after["text"]
    assert any(b["reason"] == "rule" and first in b["text"] for b in after["removed"])
