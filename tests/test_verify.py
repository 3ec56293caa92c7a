"""verify on real archives damaged on purpose: each kind of damage is named with its file and offset."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from pathlib import Path

import pytest

from archive.warc_reader import iter_records
from tests.conftest import Result, run_morgue
from tests.test_reindex import build_archive


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data, _ = build_archive(tmp_path_factory.mktemp("verify"))
    return data


@pytest.fixture
def data(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(pristine, copy, ignore=shutil.ignore_patterns(".morgue.lock"))
    return copy


def _files(data: Path) -> list[Path]:
    return sorted((data / "warc").glob("*.warc.gz"))


def _verify(data: Path, *extra: str) -> Result:
    return run_morgue("verify", "--data", str(data), *extra)


def _record(path: Path, record_type: str, index: int = 0):  # type: ignore[no-untyped-def]
    return [r for r in iter_records(path) if r.pointer.record_type == record_type][index]


def test_a_sound_archive_passes(data: Path) -> None:
    result = _verify(data)
    assert result.code == 0, result.stdout + result.stderr
    assert "no problems" in result.stderr


def test_a_truncated_file(data: Path) -> None:
    path = _files(data)[0]
    last = list(iter_records(path))[-1]
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size - 7)  # inside the last gzip member, which warcio check would not notice
    result = _verify(data)
    assert result.code == 1
    assert f"{path.name} offset {last.pointer.offset}: truncated-gzip" in result.stdout


def _rewrite_member(path: Path, offset: int, length: int, change) -> None:  # type: ignore[no-untyped-def]
    raw = path.read_bytes()
    record = gzip.decompress(raw[offset:offset + length])
    member = gzip.compress(change(record))
    path.write_bytes(raw[:offset] + member + raw[offset + length:])


def test_a_flipped_payload_byte(data: Path) -> None:
    path = _files(data)[0]
    response = _record(path, "response", 3)
    offset, length = response.pointer.offset, response.pointer.length

    def flip(record: bytes) -> bytes:
        at = len(record) - 20  # inside the payload, before the record's closing CRLF CRLF
        return record[:at] + bytes([record[at] ^ 0x01]) + record[at + 1:]

    _rewrite_member(path, offset, length, flip)
    result = _verify(data)
    assert result.code == 1
    assert f"{path.name} offset {offset}: payload-digest" in result.stdout
    assert f"{path.name} offset {offset}: block-digest" in result.stdout
    # the member is now longer or shorter: later records' index rows are named as mismatched, not ignored
    cite = run_morgue("cite", response.pointer.capture_id, "--data", str(data))
    assert cite.code == 1 and "does not match" in cite.stderr


def test_a_corrupt_gzip_member(data: Path) -> None:
    path = _files(data)[0]
    response = _record(path, "response", 2)
    raw = bytearray(path.read_bytes())
    raw[response.pointer.offset + response.pointer.length // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    result = _verify(data)
    assert result.code == 1
    assert f"{path.name} offset {response.pointer.offset}: corrupt-gzip" in result.stdout
    # the walk resumes at the next member: the records after it are still checked, and found
    assert "not-indexed" not in result.stdout.replace(f"offset {response.pointer.offset}", "")


def test_a_deleted_revisit_target(data: Path) -> None:
    # a revisit of the second crawl and its target in a file of the first (each crawl writes its own
    # files: the crawl's and its requisite fetcher's)
    records = {path: list(iter_records(path)) for path in _files(data)}
    by_id = {r.pointer.record_id: (path, r) for path, rs in records.items() for r in rs}
    second, revisit = next((path, r) for path, rs in records.items() for r in rs
                           if r.pointer.record_type == "revisit"
                           and by_id.get(r.warc_header("WARC-Refers-To"), (path,))[0] != path)
    target_id = revisit.warc_header("WARC-Refers-To")
    first, target = by_id[target_id]
    raw = first.read_bytes()
    start, end = target.pointer.offset, target.pointer.offset + target.pointer.length
    first.write_bytes(raw[:start] + raw[end:])
    result = _verify(data)
    assert result.code == 1
    assert (f"{second.name} offset {revisit.pointer.offset}: missing-revisit-target: revisit "
            f"{revisit.pointer.record_id} refers to {target_id}") in result.stdout


def test_an_edited_index_row_and_a_missing_one(data: Path) -> None:
    conn = sqlite3.connect(data / "morgue.db")
    row = conn.execute("SELECT id, warc_file, warc_offset, payload_digest FROM captures "
                       "WHERE record_type = 'response' LIMIT 1").fetchone()
    conn.execute("UPDATE captures SET payload_digest = 'sha256:AAAA' WHERE id = ?", [row[0]])
    gone = conn.execute("SELECT id, warc_file, warc_offset, record_id FROM captures "
                        "WHERE kind = 'redirect' LIMIT 1").fetchone()
    conn.execute("DELETE FROM captures WHERE id = ?", [gone[0]])
    conn.commit()
    conn.close()
    result = _verify(data)
    assert result.code == 1
    assert (f"{row[1]} offset {row[2]}: index-mismatch: captures row {row[0]}: payload_digest is "
            f"'sha256:AAAA' but the WARC record has '{row[3]}'") in result.stdout
    assert f"{gone[1]} offset {gone[2]}: not-indexed: response {gone[3]}" in result.stdout
    repaired = _verify(data, "--repair")
    # the missing row is indexed again; the edited row is reported, never silently "fixed"
    assert "indexed 1 missing captures" in repaired.stdout
    assert "not-indexed" not in repaired.stdout.split("repaired:")[-1]
    assert "payload_digest is 'sha256:AAAA'" in repaired.stdout and repaired.code == 1


def test_repair_finishes_a_file_left_open_by_a_crash(data: Path) -> None:
    second = _files(data)[-1]
    records = list(iter_records(second))
    cut_record = records[-3]
    crashed = second.with_name(second.name + ".open")
    raw = second.read_bytes()
    crashed.write_bytes(raw[:cut_record.pointer.offset + 40])  # the crash hit the middle of a record
    second.unlink()
    conn = sqlite3.connect(data / "morgue.db")
    conn.execute("DELETE FROM articles WHERE warc_file = ?", [second.name])
    conn.execute("DELETE FROM captures WHERE warc_file = ?", [second.name])
    conn.commit()
    conn.close()
    before = _verify(data)
    assert before.code == 1
    assert f"{crashed.name} offset {cut_record.pointer.offset}: unfinished-file" in before.stdout
    assert f"{second.name} offset {cut_record.pointer.offset}: truncated-gzip" in before.stdout
    result = _verify(data, "--repair")
    assert result.code == 0, result.stdout + result.stderr
    assert f"finished {second.name}: cut at offset {cut_record.pointer.offset}" in result.stdout
    assert second.exists() and not crashed.exists()
    assert second.read_bytes() == raw[:cut_record.pointer.offset]
    backups = list((data / "backups").iterdir())
    assert any(p.name.startswith(crashed.name) and p.read_bytes() == raw[:cut_record.pointer.offset + 40]
               for p in backups)
    assert any(p.name.startswith("morgue-before-repair") for p in backups)
    conn = sqlite3.connect(data / "morgue.db")
    indexed = conn.execute("SELECT count(*) FROM captures WHERE warc_file = ?", [second.name]).fetchone()[0]
    conn.close()
    assert indexed == sum(1 for r in records[:-3] if r.pointer.record_type in ("response", "revisit"))


def test_verify_outside_an_archive(tmp_path: Path) -> None:
    result = run_morgue("verify", "--data", str(tmp_path / "nothing"))
    assert result.code == 1 and "no morgue archive" in result.stderr and "Traceback" not in result.stderr
