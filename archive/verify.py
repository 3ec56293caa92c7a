"""Check an archive end to end: every gzip member, every record, every digest, every index row.

``warcio check`` stops at digests: it passes truncated gzip files (warcio #138), never follows revisit
records, and knows nothing of our index. This walks each WARC file member by member with zlib directly, so
a cut or corrupt member is named with its file and offset, and then holds the records found against the
index in both directions. morgue's own files are held to the standard; files imported from other tools
(the ``imports`` table, and ARC files) are read as import read them (``archive.walk``): what they bend is
a deviation, reported but not a failure, while damage (a digest, unreadable bytes, a change since import)
fails as in any file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from archive.digests import dechunk as _dechunk
from archive.digests import digest_matches, payload_matches
from archive.digests import hasher_for as _hasher
from archive.extractions import BadExtraction, is_extraction_record, parse_extraction
from archive.records import header_value
from archive.renders import parse_render_uri
from archive.walk import Problem
from archive.walk import members as _members
from archive.warc_writer import OPEN_SUFFIX

__all__ = ["Problem", "RecordFacts", "VerifyReport", "verify_archive", "scan_file", "digest_matches",
           "payload_matches", "scan_foreign_file"]

_CHUNK = 1 << 20
_MAX_HEAD = 1 << 20  # an HTTP head longer than this is not one
_MAX_CHUNKED = 256 << 20  # formerly chunked bodies are de-chunked in memory up to this size


@dataclass
class RecordFacts:
    """What verify keeps of each record to check revisits and index rows against."""

    file: str
    offset: int  # of the gzip member (or of the record in an uncompressed file)
    length: int
    record_id: str
    record_type: str
    uri: str
    date: str
    payload_digest: str | None
    refers_to: str | None
    refers_to_uri: str | None
    complete: bool = True
    http: bool = True  # an HTTP exchange (the index files those); False for a dns: record and the like


@dataclass
class FileScan:
    name: str
    path: Path
    records: list[RecordFacts] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    good_end: int = 0  # end of the last complete, sound member: where a crashed file is cut
    deviations: list[Problem] = field(default_factory=list)  # of an imported file: bent, not damaged
    foreign: bool = False
    known_damage: list[Problem] = field(default_factory=list)  # unreadable since it was imported


@dataclass
class VerifyReport:
    files: list[FileScan] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    deviations: list[Problem] = field(default_factory=list)
    known_damage: list[Problem] = field(default_factory=list)
    records: int = 0
    index_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_headers(stream: IO[bytes]) -> tuple[bytes, list[tuple[str, str]]] | None:
    line = stream.readline()
    while line in (b"\r\n", b"\n"):
        line = stream.readline()
    if not line:
        return None
    first = line
    headers: list[tuple[str, str]] = []
    while True:
        line = stream.readline()
        if not line:
            raise _Incomplete("the WARC header ends before its blank line")
        if line in (b"\r\n", b"\n"):
            return first, headers
        text = line.decode("utf-8", "replace")
        key, sep, value = text.partition(":")
        if sep:
            headers.append((key.strip(), value.strip()))


class _Incomplete(Exception):
    pass


def _check_record(stream: IO[bytes], name: str, offset: int, problems: list[Problem]
                  ) -> tuple[RecordFacts | None, bool]:
    """Read one record from ``stream``: (facts, more may follow). Digest problems are added."""
    try:
        parsed = _read_headers(stream)
    except _Incomplete as exc:
        problems.append(Problem("incomplete-record", name, offset, str(exc)))
        return None, False
    if parsed is None:
        return None, False
    first, headers = parsed
    if not first.startswith(b"WARC/"):
        problems.append(Problem("not-a-warc-record", name, offset,
                                f"expected a WARC/1.x version line, found {first[:40]!r}"))
        return None, False
    record_type = (header_value(headers, "WARC-Type") or "").lower()
    record_id = header_value(headers, "WARC-Record-ID") or ""
    try:
        length = int(header_value(headers, "Content-Length") or "")
    except ValueError:
        problems.append(Problem("incomplete-record", name, offset, f"{record_id}: no valid Content-Length"))
        return None, False
    block_digest = header_value(headers, "WARC-Block-Digest")
    payload_digest = header_value(headers, "WARC-Payload-Digest")
    content_type = (header_value(headers, "Content-Type") or "").lower()
    block_hasher = _hasher(block_digest)
    http = content_type.startswith("application/http") and record_type in ("response", "request")
    payload_hasher = _hasher(payload_digest) if record_type != "revisit" else None
    stored_extraction = bytearray() if is_extraction_record(record_type, content_type) else None
    head = bytearray()
    head_done = not http
    chunked: bytearray | None = None
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(_CHUNK, remaining))
        if not chunk:
            break
        remaining -= len(chunk)
        if block_hasher is not None:
            block_hasher.update(chunk)
        if stored_extraction is not None:
            stored_extraction += chunk
        if not head_done:
            head += chunk
            end = head.find(b"\r\n\r\n")
            if end < 0 and len(head) < _MAX_HEAD:
                continue
            head_done = True
            body_start = end + 4 if end >= 0 else len(head)
            chunk = bytes(head[body_start:])
            del head[body_start:]
            if b"transfer-encoding: chunked" in bytes(head).lower():
                chunked = bytearray()
        if payload_hasher is not None:
            payload_hasher.update(chunk)
        if chunked is not None and len(chunked) < _MAX_CHUNKED:
            chunked += chunk
    facts = RecordFacts(
        file=name, offset=offset, length=0, record_id=record_id, record_type=record_type,
        uri=(header_value(headers, "WARC-Target-URI") or "").strip("<>"),
        date=header_value(headers, "WARC-Date") or "",
        payload_digest=payload_digest, refers_to=header_value(headers, "WARC-Refers-To"),
        refers_to_uri=header_value(headers, "WARC-Refers-To-Target-URI"))
    if remaining > 0:
        problems.append(Problem("incomplete-record", name, offset,
                                f"{record_type} {record_id}: block has {length - remaining} of its "
                                f"{length} bytes"))
        facts.complete = False
        return facts, False
    trailer = stream.read(4)
    if trailer != b"\r\n\r\n":
        problems.append(Problem("incomplete-record", name, offset,
                                f"{record_type} {record_id}: not followed by the CRLF CRLF that ends "
                                "a record"))
        facts.complete = False
    block_ok = block_hasher is None or not block_digest or digest_matches(block_digest, block_hasher.digest())
    if not block_ok:
        problems.append(Problem("block-digest", name, offset,
                                f"{record_type} {record_id}: block does not match {block_digest}"))
    elif stored_extraction is not None:
        try:
            parse_extraction(bytes(stored_extraction), block_digest)
        except BadExtraction as exc:
            problems.append(Problem("bad-extraction", name, offset,
                                    f"stored extraction {record_id} for {facts.uri}: {exc} (morgue index "
                                    "extracts the page again instead of filing it)"))
    if payload_hasher is not None and payload_digest:
        raw_ok = digest_matches(payload_digest, payload_hasher.digest())
        if not raw_ok and chunked is not None:
            entity = _dechunk(bytes(chunked))
            raw_ok = entity is not None and payload_matches(payload_digest, entity)
        if not raw_ok:
            problems.append(Problem("payload-digest", name, offset,
                                    f"{record_type} {record_id} ({facts.uri}): payload does not match "
                                    f"{payload_digest}"))
    return facts, facts.complete


def scan_file(path: Path) -> FileScan:
    """Every record of one WARC file (gzipped per record, or not at all), checked."""
    name = path.name.removesuffix(OPEN_SUFFIX)
    scan = FileScan(name=name, path=path)
    with open(path, "rb") as fh:
        magic = fh.read(2)
        fh.seek(0)
        if magic == b"\x1f\x8b":
            for offset, length, data in _members(fh, name, scan.problems):
                before = len(scan.problems)
                with data:
                    sound = True
                    first = True
                    while True:
                        facts, more = _check_record(data, name, offset, scan.problems)
                        if facts is None:
                            if first:
                                sound = False
                                if len(scan.problems) == before:
                                    scan.problems.append(Problem("incomplete-record", name, offset,
                                                                 "gzip member holds no WARC record"))
                            break
                        first = False
                        facts.length = length
                        scan.records.append(facts)
                        sound = sound and facts.complete
                        if not more:
                            break
                if sound and len(scan.problems) == before:
                    scan.good_end = offset + length
        else:
            while True:
                offset = fh.tell()
                facts, more = _check_record(fh, name, offset, scan.problems)
                if facts is None:
                    break
                facts.length = fh.tell() - offset
                scan.records.append(facts)
                if facts.complete:
                    scan.good_end = fh.tell()
                if not more:
                    break
    return scan


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def scan_foreign_file(path: Path, imported_sha256: str | None,
                      known: Collection[tuple[str, int | None]] = ()) -> FileScan:
    """A file imported from another tool (or an ARC file), read as leniently as import read it: what it
    bends are deviations; damage (digests, unreadable bytes, a change since it was imported) is a problem,
    except the unreadable stretches import already found and reported (``known``: (kind, offset)) while
    the file's bytes are still the ones imported: those are ``known_damage``, reported but not new."""
    from archive.warc_reader import iter_records

    scan = FileScan(name=path.name, path=path, foreign=True)
    found: list[Problem] = []
    for record in iter_records(path, found, check_digests=True):
        pointer = record.pointer
        scan.records.append(RecordFacts(
            file=scan.name, offset=pointer.offset, length=pointer.length, record_id=pointer.record_id,
            record_type=pointer.record_type, uri=record.url, date=pointer.date,
            payload_digest=pointer.payload_digest, refers_to=record.warc_header("WARC-Refers-To"),
            refers_to_uri=record.warc_header("WARC-Refers-To-Target-URI"), http=record.status is not None))
    scan.deviations = [p for p in found if not p.damage]
    unchanged = not imported_sha256 or _sha256(path) == imported_sha256
    for problem in (p for p in found if p.damage):
        is_known = unchanged and (problem.kind, problem.offset) in known
        (scan.known_damage if is_known else scan.problems).append(problem)
    if not unchanged:
        scan.problems.append(Problem("changed-since-import", scan.name, None,
                                     f"the file's sha256 is no longer {imported_sha256}, which it had when "
                                     "it was imported: its bytes have changed"))
    return scan


def _imported(db_path: Path | None) -> dict[str, tuple[str | None, set[tuple[str, int | None]]]]:
    """Files imported from other tools, by name: (their sha256 when imported, the (kind, offset) of the
    unreadable stretches import found in them)."""
    import json
    import sqlite3

    if db_path is None or not db_path.exists():
        return {}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, sha256, damage FROM imports").fetchall()
    except sqlite3.OperationalError:  # an index older than the imports table
        return {}
    finally:
        conn.close()
    return {name: (sha256, {(kind, offset) for kind, offset, *_ in json.loads(damage or "[]")})
            for name, sha256, damage in rows}


# -- cross checks -----------------------------------------------------------------------------------
def _check_revisits(report: VerifyReport, by_id: dict[str, RecordFacts]) -> None:
    responses_by_uri: dict[tuple[str, str | None], RecordFacts] = {}
    for facts in by_id.values():
        if facts.record_type == "response":
            responses_by_uri.setdefault((facts.uri, facts.payload_digest), facts)
    for scan in report.files:
        for facts in scan.records:
            if facts.record_type != "revisit":
                continue
            target = by_id.get(facts.refers_to) if facts.refers_to else responses_by_uri.get(
                (facts.refers_to_uri or facts.uri, facts.payload_digest))
            if target is None:
                wanted = facts.refers_to or (
                    f"a response for {facts.refers_to_uri} with {facts.payload_digest}")
                report.problems.append(Problem("missing-revisit-target", facts.file, facts.offset,
                                               f"revisit {facts.record_id} refers to {wanted}, "
                                               "which is in no WARC file here"))
            elif target.payload_digest and facts.payload_digest not in (None, target.payload_digest):
                report.problems.append(Problem(
                    "revisit-digest", facts.file, facts.offset,
                    f"revisit {facts.record_id} says {facts.payload_digest} but its target "
                    f"{target.record_id} has {target.payload_digest}"))


def _check_render_targets(report: VerifyReport, by_id: dict[str, RecordFacts]) -> None:
    """A rendered view morgue made names the response it was drawn from; that record must be in the
    archive. (Other tools' screenshots, e.g. Browsertrix's, name no record: imported files are skipped.)"""
    for scan in report.files:
        if scan.foreign:
            continue
        for facts in scan.records:
            if facts.record_type == "resource" and parse_render_uri(facts.uri) is not None and (
                    not facts.refers_to or facts.refers_to not in by_id):
                report.problems.append(Problem(
                    "missing-render-target", facts.file, facts.offset,
                    f"rendered view {facts.record_id} ({facts.uri}) refers to "
                    f"{facts.refers_to or 'no record'}, which is in no WARC file here"))


def _check_index(report: VerifyReport, db_path: Path, by_place: dict[tuple[str, int], RecordFacts],
                 by_id: dict[str, RecordFacts], present: set[str]) -> None:
    import sqlite3

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        indexed_ids: set[str] = set()
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in ("captures", "articles", "renders", "resources"):
            if table not in tables:
                continue
            for row in conn.execute(f"SELECT * FROM {table}"):  # noqa: S608 - fixed table names
                report.index_rows += 1
                if table != "articles":
                    indexed_ids.add(row["record_id"])
                _check_row(report, table, dict(row), by_place, present)
    finally:
        conn.close()
    for facts in by_id.values():
        if facts.record_type in ("response", "revisit") and facts.http and facts.record_id not in indexed_ids:
            report.problems.append(Problem("not-indexed", facts.file, facts.offset,
                                           f"{facts.record_type} {facts.record_id} for {facts.uri} "
                                           "has no row in the captures table"))
        elif (facts.record_type == "resource" and parse_render_uri(facts.uri) is not None
              and facts.record_id not in indexed_ids):
            report.problems.append(Problem("not-indexed", facts.file, facts.offset,
                                           f"rendered view {facts.record_id} ({facts.uri}) has no row in "
                                           "the renders table"))


def _check_row(report: VerifyReport, table: str, row: dict[str, Any],
               by_place: dict[tuple[str, int], RecordFacts], present: set[str]) -> None:
    name, offset = row["warc_file"], row["warc_offset"]
    label = f"{table} row {row['id']}"
    if name not in present:
        report.problems.append(Problem("index-mismatch", name, offset,
                                       f"{label} points at a WARC file that is missing"))
        return
    facts = by_place.get((name, offset))
    if facts is None:
        report.problems.append(Problem("index-mismatch", name, offset,
                                       f"{label} points at an offset where no record starts"))
        return
    checks = [("record_id", facts.record_id), ("payload_digest", facts.payload_digest),
              ("warc_length", facts.length)]
    if table in ("captures", "resources"):
        checks += [("url", facts.uri), ("record_type", facts.record_type), ("captured_at", facts.date)]
    elif table == "renders":
        checks += [("uri", facts.uri), ("rendered_at", facts.date), ("refers_to", facts.refers_to)]
    else:
        checks.append(("fetched_url", facts.uri))
    for column, actual in checks:
        if row.get(column) != actual:
            report.problems.append(Problem("index-mismatch", name, offset,
                                           f"{label}: {column} is {row.get(column)!r} but the WARC "
                                           f"record has {actual!r}"))


def verify_archive(warc_dir: Path, db_path: Path | None, *, include_open: bool = True,
                   progress: Any = None) -> VerifyReport:
    """Scan every WARC file in ``warc_dir`` (finished and, if asked, ``.open``) and check the index."""
    report = VerifyReport()
    paths = sorted(p for p in warc_dir.iterdir()
                   if p.name.endswith((".warc.gz", ".warc", ".arc.gz", ".arc"))
                   or (include_open and p.name.endswith((".warc.gz" + OPEN_SUFFIX, ".warc" + OPEN_SUFFIX))))
    imported = _imported(db_path)
    by_id: dict[str, RecordFacts] = {}
    by_place: dict[tuple[str, int], RecordFacts] = {}
    present: set[str] = set()
    for path in paths:
        if progress:
            progress(path.name)
        if path.name in imported or path.name.endswith((".arc.gz", ".arc")):
            sha256, known = imported.get(path.name, (None, set()))
            scan = scan_foreign_file(path, sha256, known)
        else:
            scan = scan_file(path)
        report.files.append(scan)
        report.problems.extend(scan.problems)
        report.deviations.extend(scan.deviations)
        report.known_damage.extend(scan.known_damage)
        present.add(scan.name)
        if path.name.endswith(OPEN_SUFFIX):
            report.problems.append(Problem("unfinished-file", path.name, scan.good_end,
                                           "left open by a crawl that did not finish; its last complete "
                                           "record ends at this offset (morgue verify --repair finishes it)"))
        for facts in scan.records:
            report.records += 1
            by_id.setdefault(facts.record_id, facts)
            by_place.setdefault((facts.file, facts.offset), facts)
    _check_revisits(report, by_id)
    _check_render_targets(report, by_id)
    if db_path is not None and db_path.exists():
        _check_index(report, db_path, by_place, by_id, present)
    return report


# -- repair -----------------------------------------------------------------------------------------
def seal_open_file(path: Path, final: Path, good_end: int, backups: Path, stamp: str) -> Path:
    """Finish an ``.open`` file whose writer is gone: copy it to ``backups/`` first, then cut it after its
    last complete record (``good_end``) and give it its final name; a file with no complete record is
    moved aside as ``NAME.empty.STAMP`` instead. Returns the backup's path."""
    backups.mkdir(parents=True, exist_ok=True)
    backup = backups / f"{path.name}.{stamp}"
    shutil.copy2(path, backup)
    if good_end == 0:
        os.replace(path, backups / f"{path.name}.empty.{stamp}")
        return backup
    with open(path, "r+b") as fh:
        fh.truncate(good_end)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(path, final)
    return backup


def repair_archive(data_path: Path, report: VerifyReport, *, rules_for: Any = None) -> list[str]:
    """Finish ``.open`` files left by a crash and index what is missing; returns what was done.

    A crashed file is copied to ``backups/`` first, then cut after its last complete record and renamed
    to its final name. Index rows that pointed into the cut-off tail are removed (after a backup of the
    database). Corrupt records in finished files are evidence, not debris: they are reported, never cut.
    """
    from datetime import UTC, datetime

    from archive.index import Index
    from archive.ingest import ingest_files
    from archive.reindex import backup_database

    warc_dir = data_path / "warc"
    backups = data_path / "backups"
    db_path = data_path / "morgue.db"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    actions: list[str] = []
    finished: list[tuple[str, int]] = []
    for scan in report.files:
        if not scan.path.name.endswith(OPEN_SUFFIX):
            continue
        final = warc_dir / scan.name
        if final.exists():
            actions.append(f"left {scan.path.name} alone: a finished {final.name} already exists")
            continue
        size = scan.path.stat().st_size
        backup = seal_open_file(scan.path, final, scan.good_end, backups, stamp)
        if scan.good_end == 0:
            actions.append(f"moved {scan.path.name} to {backups}: it holds no complete record")
            continue
        finished.append((scan.name, scan.good_end))
        dropped = size - scan.good_end
        actions.append(f"finished {final.name}: cut at offset {scan.good_end}, dropping {dropped} "
                       f"bytes of an incomplete record (the original is kept as {backup})")
    to_index = sorted({p.file for p in report.problems if p.kind == "not-indexed"} | {n for n, _ in finished})
    if not to_index:
        return actions
    if db_path.exists():
        saved = backup_database(db_path, backups, label="before-repair")
        actions.append(f"backed up the index as {saved}")
    with Index(db_path) as index:
        for name, cut in finished:
            for table in ("articles", "captures"):
                cursor = index.db.execute(
                    f"DELETE FROM {table} WHERE warc_file = ? AND warc_offset >= ?", [name, cut])  # noqa: S608
                if cursor.rowcount:
                    actions.append(f"removed {cursor.rowcount} {table} rows pointing past the cut in {name}")
        stats = ingest_files(index, [warc_dir / name for name in to_index], rules_for=rules_for,
                             only_missing=True)
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(stats.outcomes.items())) or "no articles"
    actions.append(f"indexed {stats.captures} missing captures from {len(to_index)} file(s) ({outcomes})")
    return actions
