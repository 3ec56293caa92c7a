"""Read WARC records back, with the offsets and lengths the index points at.

Used by reindex, import, verify, ``morgue show`` and the reading room: everything downstream of the
archive of record goes through here, never through Scrapy.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from warcio.statusandheaders import StatusAndHeadersParser, StatusAndHeadersParserException
from warcio.timeutils import timestamp_to_iso_date

from archive.records import RecordPointer, header_value, sha256_digest
from archive.walk import Problem, RawRecord, record_at, walk_file
from archive.warc_writer import OPEN_SUFFIX

__all__ = ["ArchivedRecord", "WarcReadError", "iter_records", "read_record", "resolve_warc_path",
           "decode_content_encoding", "warc_files", "arc_record_id", "WARC_SUFFIXES", "ARC_SUFFIXES"]


class WarcReadError(Exception):
    """A WARC file or record could not be read; the message names the file and offset."""


@dataclass
class ArchivedRecord:
    """One WARC record, fully read: WARC headers, HTTP head (if any) and the payload as stored."""

    pointer: RecordPointer
    url: str
    warc_headers: list[tuple[str, str]]
    status: int | None
    protocol: str | None
    http_headers: list[tuple[str, str]]
    payload: bytes  # the HTTP entity as stored (still Content-Encoded), or the resource's content
    format: str = "warc"  # or "arc": then warc_headers are the ARC header line's fields

    def warc_header(self, name: str) -> str | None:
        return header_value(self.warc_headers, name)

    def http_header(self, name: str) -> str | None:
        return header_value(self.http_headers, name)

    @property
    def content_type(self) -> str | None:
        if self.pointer.record_type in ("response", "revisit"):
            return self.http_header("Content-Type")
        return self.warc_header("Content-Type")


WARC_SUFFIXES = (".warc.gz", ".warc")
ARC_SUFFIXES = (".arc.gz", ".arc")


def warc_files(directory: Path, *, arc: bool = False) -> list[Path]:
    """Finished WARC files in a directory (and, with ``arc``, imported ARC files), oldest name first
    (names start with a timestamp)."""
    if not directory.is_dir():
        return []
    suffixes = WARC_SUFFIXES + (ARC_SUFFIXES if arc else ())
    return sorted(p for p in directory.iterdir() if p.name.endswith(suffixes))


def resolve_warc_path(directory: Path, name: str) -> Path:
    """The path of a WARC file by its final name, or its ``.open`` twin while it is still written.

    Names come from the index; anything that is not a plain file name is refused, so that no path from a
    URL or a database row can reach outside the archive directory.
    """
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\x00" in name:
        raise WarcReadError(f"not a WARC file name: {name!r}")
    path = directory / name
    if path.exists():
        return path
    open_path = directory / (name + OPEN_SUFFIX)
    if open_path.exists():
        return open_path
    raise WarcReadError(f"WARC file {name} is missing from {directory}")


_HTTP_STATUS = StatusAndHeadersParser(["HTTP/1.0", "HTTP/1.1"], verify=False)
_HTTP_REQUEST = StatusAndHeadersParser(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"],
                                       verify=False)


def arc_record_id(name: str, offset: int) -> str:
    """The record id morgue gives an ARC record (ARC has none): its file and offset, which never change
    (imported files are kept byte for byte under their name)."""
    return f"<urn:x-arc-record:{name}:{offset}>"


def _to_archived(raw: RawRecord, name: str) -> ArchivedRecord:
    """An ArchivedRecord from a record as found, its HTTP head (if any) parsed by warcio's parser."""
    if raw.fmt == "arc":
        url = raw.header("uri") or ""
        rec_type = "arc_header" if url.startswith("filedesc://") else "response"
        record_id = arc_record_id(name, raw.offset)
        date = timestamp_to_iso_date(raw.header("archive-date") or "")
    else:
        url = raw.header("WARC-Target-URI") or ""
        rec_type = (raw.header("WARC-Type") or "").lower()
        record_id = raw.header("WARC-Record-ID") or ""
        date = raw.header("WARC-Date") or ""
    status: int | None = None
    protocol: str | None = None
    http_list: list[tuple[str, str]] = []
    payload = raw.block
    if rec_type in ("response", "revisit", "request") and url.startswith(("http:", "https:")) and raw.block:
        stream = io.BytesIO(raw.block)
        try:
            http = (_HTTP_REQUEST if rec_type == "request" else _HTTP_STATUS).parse(stream)
        except (EOFError, StatusAndHeadersParserException, ValueError):
            http = None
        if http is not None:
            payload = raw.block[stream.tell():]
            http_list = list(http.headers)
            protocol = http.protocol
            if rec_type != "request":
                try:
                    status = int(http.get_statuscode())
                except (TypeError, ValueError):
                    status = None
    if raw.fmt == "arc":
        payload_digest = sha256_digest(payload) if rec_type == "response" else None
        block_digest = None
    else:
        payload_digest = raw.header("WARC-Payload-Digest")
        block_digest = raw.header("WARC-Block-Digest")
    pointer = RecordPointer(warc_file=name, offset=raw.offset, length=raw.length, record_id=record_id,
                            record_type=rec_type, payload_digest=payload_digest, block_digest=block_digest,
                            date=date)
    return ArchivedRecord(pointer=pointer, url=url, warc_headers=raw.headers, status=status,
                          protocol=protocol, http_headers=http_list, payload=payload, format=raw.fmt)


def iter_records(path: Path, problems: list[Problem] | None = None, *,
                 check_digests: bool = False) -> Iterator[ArchivedRecord]:
    """Every record of one WARC or ARC file, with offsets, read leniently (``archive.walk``).

    With a ``problems`` list, what is off (deviations and damage) is added to it and reading goes on
    past it; without one, damage raises WarcReadError naming the file and offset.
    """
    name = path.name.removesuffix(OPEN_SUFFIX)
    found: list[Problem] = [] if problems is None else problems
    try:
        for raw in walk_file(path, found, check_digests=check_digests):
            if problems is None:
                _raise_damage(found)
            yield _to_archived(raw, name)
        if problems is None:
            _raise_damage(found)
    except OSError as exc:
        raise WarcReadError(f"{path}: cannot be read: {exc}") from exc


def _raise_damage(problems: list[Problem]) -> None:
    for problem in problems:
        if problem.damage:
            raise WarcReadError(str(problem))


def read_record(directory: Path, pointer_file: str, offset: int) -> ArchivedRecord:
    """Read the one record that starts at ``offset`` of a WARC or ARC file named in the index."""
    path = resolve_warc_path(directory, pointer_file)
    try:
        raw, problems = record_at(path, offset)
    except OSError as exc:
        raise WarcReadError(f"{path}: cannot be read: {exc}") from exc
    if raw is None:
        why = problems[0].message if problems else "no record starts there"
        raise WarcReadError(f"{path}: no readable record at offset {offset}: {why}")
    return _to_archived(raw, pointer_file)


def decode_content_encoding(
    body: bytes, content_encoding: str | None, *, limit: int = 64 * 1024 * 1024
) -> bytes:
    """Undo gzip/deflate/br Content-Encoding, refusing to inflate past ``limit`` bytes (gzip bombs)."""
    if not content_encoding:
        return body
    data = body
    for coding in reversed([c.strip().lower() for c in content_encoding.split(",") if c.strip()]):
        if coding in ("gzip", "x-gzip"):
            data = _inflate(data, zlib.MAX_WBITS | 16, limit)
        elif coding == "deflate":
            try:
                data = _inflate(data, zlib.MAX_WBITS, limit)
            except zlib.error:
                data = _inflate(data, -zlib.MAX_WBITS, limit)
        elif coding == "br":
            import brotli  # scrapy pulls it in

            data = brotli.decompress(data)
            if len(data) > limit:
                raise ValueError(f"decoded body larger than {limit} bytes")
        elif coding == "identity":
            continue
        else:
            raise ValueError(f"unsupported Content-Encoding {coding!r}")
    return data


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(data, limit + 1)
    if len(out) > limit:
        raise ValueError(f"decoded body larger than {limit} bytes")
    return out

