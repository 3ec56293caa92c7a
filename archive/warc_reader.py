"""Read WARC records back, with the offsets and lengths the index points at.

Used by reindex, import, verify, ``morgue show`` and the reading room: everything downstream of the
archive of record goes through here, never through Scrapy.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.recordloader import ArcWarcRecord

from archive.records import RecordPointer, header_value
from archive.warc_writer import OPEN_SUFFIX

__all__ = ["ArchivedRecord", "WarcReadError", "iter_records", "read_record", "resolve_warc_path",
           "decode_content_encoding", "warc_files"]


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

    def warc_header(self, name: str) -> str | None:
        return header_value(self.warc_headers, name)

    def http_header(self, name: str) -> str | None:
        return header_value(self.http_headers, name)

    @property
    def content_type(self) -> str | None:
        if self.pointer.record_type in ("response", "revisit"):
            return self.http_header("Content-Type")
        return self.warc_header("Content-Type")


def warc_files(directory: Path) -> list[Path]:
    """Finished WARC files in a directory, oldest name first (names start with a timestamp)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.endswith((".warc.gz", ".warc")))


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


def _to_archived(record: ArcWarcRecord, name: str, offset: int, length: int) -> ArchivedRecord:
    headers = record.rec_headers
    payload = record.raw_stream.read()
    http = record.http_headers
    status: int | None = None
    protocol: str | None = None
    http_list: list[tuple[str, str]] = []
    if http is not None and record.rec_type in ("response", "revisit", "request"):
        http_list = list(http.headers)
        protocol = http.protocol
        if record.rec_type != "request":
            try:
                status = int(http.get_statuscode())
            except (TypeError, ValueError):
                status = None
    pointer = RecordPointer(
        warc_file=name,
        offset=offset,
        length=length,
        record_id=headers.get_header("WARC-Record-ID") or "",
        record_type=record.rec_type,
        payload_digest=headers.get_header("WARC-Payload-Digest"),
        block_digest=headers.get_header("WARC-Block-Digest"),
        date=headers.get_header("WARC-Date") or "",
    )
    return ArchivedRecord(
        pointer=pointer,
        url=headers.get_header("WARC-Target-URI") or "",
        warc_headers=list(headers.headers),
        status=status,
        protocol=protocol,
        http_headers=http_list,
        payload=payload,
    )


def iter_records(path: Path) -> Iterator[ArchivedRecord]:
    """Every record of one WARC file, with offsets; raises WarcReadError naming file and offset."""
    name = path.name.removesuffix(OPEN_SUFFIX)
    offset = 0
    try:
        with open(path, "rb") as fh:
            iterator = ArchiveIterator(fh, no_record_parse=False, arc2warc=False)
            for record in iterator:
                # Read the payload before asking for the offset: warcio's get_record_offset() reads the
                # record to its end, after which the payload stream is empty.
                try:
                    archived = _to_archived(record, name, 0, 0)
                except (zlib.error, EOFError, OSError, ValueError) as exc:
                    raise WarcReadError(f"{path}: record after offset {offset} is unreadable: {exc}") from exc
                iterator.read_to_end(record)
                offset = iterator.get_record_offset()
                archived.pointer = replace(archived.pointer, offset=offset,
                                           length=iterator.get_record_length())
                yield archived
    except WarcReadError:
        raise
    except Exception as exc:  # warcio raises plain Exceptions for non-WARC input
        raise WarcReadError(f"{path}: not a readable WARC file after offset {offset}: {exc}") from exc


def read_record(directory: Path, pointer_file: str, offset: int) -> ArchivedRecord:
    """Read the one record that starts at ``offset`` of a WARC file named in the index."""
    path = resolve_warc_path(directory, pointer_file)
    with open(path, "rb") as fh:
        fh.seek(offset)
        try:
            iterator = ArchiveIterator(fh)
            record = next(iter(iterator))
        except StopIteration as exc:
            raise WarcReadError(f"{path}: no record at offset {offset}") from exc
        except Exception as exc:
            raise WarcReadError(f"{path}: no readable record at offset {offset}: {exc}") from exc
        archived = _to_archived(record, pointer_file, offset, 0)
        iterator.read_to_end(record)
        archived.pointer = replace(archived.pointer, length=iterator.get_record_length())
        return archived


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

