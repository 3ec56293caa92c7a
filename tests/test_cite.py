"""cite and show: the digest in a citation is the one in the WARC record, and it is the payload's sha256."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import REPO, run_morgue
from tests.test_reindex import EDITED, build_archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, object]]:
    data, base_url = build_archive(tmp_path_factory.mktemp("cite"))
    conn = sqlite3.connect(data / "morgue.db")
    conn.row_factory = sqlite3.Row
    row = dict(conn.execute("SELECT * FROM articles WHERE url = ? AND version = 1",
                            [base_url + EDITED]).fetchone())
    conn.close()
    return data, base_url, row


def _warcio_record(data: Path, name: str, offset: int):  # type: ignore[no-untyped-def]
    fh = open(data / "warc" / name, "rb")  # noqa: SIM115 - closed by the caller's GC; test only
    fh.seek(offset)
    return next(iter(ArchiveIterator(fh)))


def test_cited_digest_recomputed_from_the_warc_record(archive: tuple[Path, str, dict[str, object]]) -> None:
    data, base_url, row = archive
    result = run_morgue("cite", str(row["id"]), "--format", "json", "--data", str(data))
    assert result.code == 0, result.stderr
    cited = json.loads(result.stdout)
    record = _warcio_record(data, cited["warc_file"], cited["warc_offset"])
    assert record.rec_headers.get_header("WARC-Record-ID") == cited["record_id"]
    assert record.rec_headers.get_header("WARC-Payload-Digest") == cited["payload_digest"]
    payload = record.raw_stream.read()
    recomputed = "sha256:" + base64.b32encode(hashlib.sha256(payload).digest()).decode()
    assert recomputed == cited["payload_digest"] and cited["payload_digest_checked"] is True
    assert cited["title"] == row["title"] and cited["url"] == base_url + EDITED
    assert cited["captured_at"].endswith("Z") and cited["authors"]


def test_text_bibtex_and_csl(archive: tuple[Path, str, dict[str, object]]) -> None:
    data, base_url, row = archive
    text = run_morgue("cite", str(row["id"]), "--data", str(data)).stdout.strip()
    assert "\n" not in text  # one paragraph to paste
    for part in (str(row["title"]), base_url + EDITED, str(row["payload_digest"]), str(row["warc_file"]),
                 f"offset {row['warc_offset']}", str(row["record_id"]), "UTC", str(row["id"])):
        assert part in text, part
    bib = run_morgue("cite", str(row["id"]), "--format", "bibtex", "--data", str(data)).stdout
    assert bib.startswith(f"@online{{morgue-{row['id']},") and "urldate = {" in bib
    csl = json.loads(run_morgue("cite", str(row["id"]), "--format", "csl-json", "--data", str(data)).stdout)
    assert csl[0]["id"] == row["id"] and csl[0]["URL"] == base_url + EDITED
    assert csl[0]["issued"]["date-parts"][0][0] == 2026 and csl[0]["container-title"]


def test_show_raw_is_the_stored_payload(archive: tuple[Path, str, dict[str, object]]) -> None:
    data, _, row = archive
    record = _warcio_record(data, str(row["warc_file"]), int(row["warc_offset"]))
    stored = record.raw_stream.read()
    encoding = record.http_headers.get_header("Content-Encoding")
    cmd = [sys.executable, "-m", "morgue.cli", "show", str(row["id"]), "--data", str(data), "--raw"]
    raw = subprocess.run(cmd, capture_output=True, cwd=REPO, check=True).stdout
    assert raw == stored
    decoded = subprocess.run([*cmd, "--decoded"], capture_output=True, cwd=REPO, check=True).stdout
    assert decoded == (gzip.decompress(stored) if encoding == "gzip" else stored)
    assert b"bathymetric" in decoded


def test_show_text_headers_json_and_unknown_ids(archive: tuple[Path, str, dict[str, object]]) -> None:
    data, _, row = archive
    text = run_morgue("show", str(row["id"]), "--text", "--data", str(data))
    assert text.code == 0 and "bathymetric" in text.stdout and str(row["title"]) in text.stdout
    headers = run_morgue("show", str(row["id"]), "--headers", "--data", str(data)).stdout
    assert f"WARC-Record-ID: {row['record_id']}" in headers and "Content-Type: text/html" in headers
    shown = json.loads(run_morgue("show", str(row["id"]), "--json", "--data", str(data)).stdout)
    assert shown["capture"]["id"] == row["id"] and shown["article"]["version"] == 1
    missing = run_morgue("show", "zzzzzzzzzzzz", "--data", str(data))
    assert missing.code == 1 and "no capture or article with id" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_reading_room_cites_no_damaged_record(archive: tuple[Path, str, dict[str, object]],
                                                  tmp_path: Path) -> None:
    """The article page shows, but its citation box says the capture cannot be cited."""
    import asyncio
    import shutil

    from archive.reading_room import make_datasette

    source, _, row = archive
    data = tmp_path / "data"
    shutil.copytree(source, data, ignore=shutil.ignore_patterns(".morgue.lock"))
    path = data / "warc" / str(row["warc_file"])
    raw = bytearray(path.read_bytes())
    middle = int(row["warc_offset"]) + int(row["warc_length"]) // 2  # inside the record's gzip member
    raw[middle] ^= 0xFF
    path.write_bytes(bytes(raw))
    room = make_datasette(data)
    page = asyncio.run(room.client.get(f"/-/article/{row['id']}"))
    assert page.status_code == 200
    box = page.text.split('id="morgue-citation-text"')[1].split("</pre>")[0]
    assert "This capture cannot be cited" in box and str(row["payload_digest"]) not in box
