"""Write HTTP exchanges to gzipped WARC 1.1 files, one gzip member per record.

Files are written as ``NAME.warc.gz.open`` and renamed when closed (at the size limit and at the end of a
crawl), so that a reader never mistakes a file still being written, or left by a crash, for a finished one.
Digests are sha256 (base32), as warcio writes them. The records are assembled here, byte for byte as
warcio's ``WARCWriter`` writes them (header order included), at a fraction of its CPU: a page requisite's
two records cost its builder more than fetching it (benchmarks/bench_crawl.py --requisites). The warcinfo
record, once per file, still comes from warcio.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from archive.records import HttpExchange, RecordPointer, warc_date

__all__ = ["WarcWriter", "OPEN_SUFFIX", "REVISIT_IDENTICAL", "REVISIT_NOT_MODIFIED", "file_host"]

OPEN_SUFFIX = ".open"
REVISIT_IDENTICAL = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
REVISIT_NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
_HOP_BY_HOP = {"transfer-encoding"}


#: Payloads at least this long are stored (gzip level 0) when a sample of them does not deflate: JPEG, PNG,
#: WOFF2 and gzip-encoded bodies would cost a deflate pass each (~1 ms per 30 KB) to save nothing.
_SAMPLE = 4096
_STORED_RATIO = 0.97
#: Signatures of formats that are compressed already (JPEG, PNG, GIF, WOFF/WOFF2, gzip, zip): stored
#: without a sample (a sample costs ~50 us, a requisite's whole record ~150).
_COMPRESSED = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"wOF2", b"wOFF", b"\x1f\x8b", b"PK\x03\x04")


def member_level(payload: bytes, level: int) -> int:
    """The gzip level for a record carrying ``payload``: ``level``, or 0 (stored) where the payload's first
    4 KB shrink by less than 3 % at level 1 (already compressed), or that starts like a compressed format
    (WebP, AVIF and MP4 too). The record's bytes are the same either way; only how its gzip member packs
    them differs, and every gzip reader reads both."""
    if level == 0 or len(payload) < _SAMPLE:
        return level
    if payload.startswith(_COMPRESSED) or payload[8:12] == b"WEBP" or payload[4:8] == b"ftyp":
        return 0
    sample = payload[:_SAMPLE]
    return 0 if len(zlib.compress(sample, 1)) >= _STORED_RATIO * len(sample) else level


def _write_all(out: io.RawIOBase, data: bytes | bytearray) -> None:
    """Write every byte: a raw file may take fewer than asked (e.g. up to a file-size limit)."""
    view = memoryview(data)
    while view:
        written = out.write(view)
        if not written:
            raise OSError(f"could not write to {getattr(out, 'name', 'the WARC file')}")
        view = view[written:]


class _Sha256WARCWriter(WARCWriter):
    """warcio's writer with sha256 digests instead of its default sha1."""

    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


def _digest(*parts: bytes) -> str:
    digester = hashlib.sha256()
    for part in parts:
        digester.update(part)
    return "sha256:" + base64.b32encode(digester.digest()).decode("ascii")


def _head_bytes(first_line: str, headers: list[tuple[str, str]]) -> bytes:
    """An HTTP head as warcio stores it (``StatusAndHeaders.to_ascii_bytes``): ASCII, or where a value
    is not, warcio's own RFC 8187 percent-encoding of it."""
    text = first_line + "\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers)
    try:
        return text.encode("ascii") + b"\r\n"
    except UnicodeEncodeError:
        protocol, _, line = first_line.partition(" ")
        return StatusAndHeaders(line, list(headers), protocol=protocol).to_ascii_bytes()


def _status_line(status: int, reason: str) -> str:
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
    return f"{status} {reason}"


def response_http_headers(exchange: HttpExchange) -> tuple[str, list[tuple[str, str]]]:
    """The response head as archived: every header as received, framing made true to the stored body.

    The HTTP client has already removed chunked framing, so Transfer-Encoding is kept as
    X-Orig-Transfer-Encoding and Content-Length is set to the length of the stored body.
    """
    headers: list[tuple[str, str]] = []
    for name, value in exchange.response_headers:
        lname = name.lower()
        if lname in _HOP_BY_HOP:
            headers.append(("X-Orig-" + name, value))
        elif lname == "content-length":
            if value.strip() != str(len(exchange.body)):
                headers.append(("X-Orig-Content-Length", value))
        else:
            headers.append((name, value))
    headers.append(("Content-Length", str(len(exchange.body))))
    return f"{exchange.protocol} {_status_line(exchange.status, exchange.reason)}", headers


def request_http_headers(exchange: HttpExchange) -> tuple[str, list[tuple[str, str]]]:
    """The request head as sent: method, path and headers."""
    from urllib.parse import urlsplit

    parts = urlsplit(exchange.url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    headers = list(exchange.request_headers)
    if not any(name.lower() == "host" for name, _ in headers):
        headers.insert(0, ("Host", parts.netloc))
    return f"{exchange.method} {target} {exchange.protocol}", headers


def _exchange_warc_headers(exchange: HttpExchange) -> list[tuple[str, str]]:
    """WARC headers a response or revisit record carries from its exchange: the server's address, and a
    requisite's type (``WARC-Resource-Type``, as Browsertrix writes it)."""
    headers = []
    if exchange.ip_address:
        headers.append(("WARC-IP-Address", exchange.ip_address))
    if exchange.resource_type:
        headers.append(("WARC-Resource-Type", exchange.resource_type))
    return headers


def file_host(host: str | None = None) -> str:
    """A machine's name (this one's by default) as WARC file names spell it: '-' becomes '_', so that a
    name splits on '-' into prefix, time stamp, serial, host and pid (the cluster tells writers apart so)."""
    return (host or socket.gethostname()).replace("-", "_") or "host"


class WarcWriter:
    """Appends records to the current ``.open`` WARC file, rotating at ``max_size`` bytes."""

    def __init__(
        self,
        directory: Path | str,
        *,
        prefix: str = "morgue",
        max_size: int = 1_000_000_000,
        gzip_level: int = 4,
        warcinfo: dict[str, str] | None = None,
        host: str | None = None,
        pid: int | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.prefix = prefix
        self.max_size = max_size
        self.gzip_level = gzip_level
        self.warcinfo = dict(warcinfo or {})
        self.host = file_host(host)
        self.pid = pid if pid is not None else os.getpid()
        self._serial = 0
        self._file: io.FileIO | None = None
        self._name: str | None = None
        self._warcinfo_id: str | None = None
        self._opened_at = 0.0  # time.monotonic() when the current file was opened
        self.closed_files: list[Path] = []
        # Called before a file is closed (rotation or the end): whoever indexes this writer's records in
        # batches commits them then, while the file is still ``.open`` and so still repaired after a crash.
        self.before_close: Callable[[], None] | None = None

    # -- file lifecycle -------------------------------------------------------------------------------
    @property
    def current_name(self) -> str | None:
        """The final name of the file being written (None between files)."""
        return self._name

    def _new_name(self) -> str:
        now = datetime.now(UTC)
        stamp = now.strftime("%Y%m%d%H%M%S") + f"{now.microsecond // 1000:03d}"
        self._serial += 1
        return f"{self.prefix}-{stamp}-{self._serial:05d}-{self.host}-{self.pid}.warc.gz"

    def _open(self) -> None:
        name = self._new_name()
        while (self.directory / name).exists() or (self.directory / (name + OPEN_SUFFIX)).exists():
            name = self._new_name()
        self._name = name
        self._opened_at = time.monotonic()
        # unbuffered: each record reaches the OS whole in _write, or is cut off again there
        self._file = open(self.directory / (name + OPEN_SUFFIX), "xb", buffering=0)  # noqa: SIM115
        info = {"software": "morgue", "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"}
        info.update(self.warcinfo)
        buffer = io.BytesIO()
        builder = _Sha256WARCWriter(buffer, gzip=False, warc_version="1.1")
        record = builder.create_warcinfo_record(name, info)
        builder.write_record(record)
        self._warcinfo_id = None  # the last file's, until this one's warcinfo is in it
        self._write_member(buffer.getvalue(), self.gzip_level)
        self._warcinfo_id = record.rec_headers.get_header("WARC-Record-ID")

    def close(self) -> Path | None:
        """Flush, fsync and rename the current file to its final name; returns that path."""
        if self._file is None or self._name is None:
            return None
        if self.before_close is not None:
            self.before_close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        final = self.directory / self._name
        os.replace(self.directory / (self._name + OPEN_SUFFIX), final)
        _fsync_dir(self.directory)
        self.closed_files.append(final)
        self._file = None
        self._name = None
        return final

    def close_if_older(self, seconds: float) -> Path | None:
        """Close the current file once it has been open ``seconds`` (0: never): an indexer files only
        closed files, so a writer that fills its files slowly would otherwise keep pages from it."""
        if self._file is not None and seconds > 0 and time.monotonic() - self._opened_at >= seconds:
            return self.close()
        return None

    def flush(self, *, sync: bool = False) -> None:
        """Push buffered bytes to the OS (and to disk with ``sync``)."""
        if self._file is not None:
            self._file.flush()
            if sync:
                os.fsync(self._file.fileno())

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- records -------------------------------------------------------------------------------------
    def _ready(self) -> None:
        if self._file is not None and self._file.tell() >= self.max_size:
            self.close()
        if self._file is None:
            self._open()

    def _write_member(self, data: bytes, level: int) -> int:
        """Append ``data`` as one gzip member; its offset. A failed write (disk full, EFBIG) is cut off
        again, so the file never ends in half a record."""
        assert self._file is not None
        start = self._file.tell()
        compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        member = compressor.compress(data) + compressor.flush()
        try:
            _write_all(self._file, member)
        except BaseException:
            os.ftruncate(self._file.fileno(), start)
            self._file.seek(start)
            raise
        return start

    def _write(self, record_type: str, uri: str, headers: list[tuple[str, str]], http_head: bytes,
               payload: bytes, *, content_type: str, payload_digest: str | None = None,
               level: int | None = None) -> RecordPointer:
        """One record: ``headers`` (WARC-Date first) then the ones every record gets, in warcio's order.
        A revisit passes its ``payload_digest`` and no payload (its block is its HTTP head). The caller
        readies the file (``_ready``) once per exchange: a request never rotates away from its response."""
        assert self._file is not None and self._name is not None
        record_id = f"<urn:uuid:{uuid.uuid4()}>"
        lines = [*headers, ("WARC-Type", record_type), ("WARC-Record-ID", record_id),
                 ("WARC-Target-URI", uri)]
        if payload_digest is None:
            payload_digest = _digest(payload)
            lines.append(("WARC-Payload-Digest", payload_digest))
        if self._warcinfo_id:
            lines.append(("WARC-Warcinfo-ID", self._warcinfo_id))
        block_digest = _digest(http_head, payload)
        lines.append(("WARC-Block-Digest", block_digest))
        if not any(name == "Content-Type" for name, _ in headers):
            lines.append(("Content-Type", content_type))
        lines.append(("Content-Length", str(len(http_head) + len(payload))))
        head = "WARC/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in lines) + "\r\n"
        data = b"".join((head.encode("utf-8"), http_head, payload, b"\r\n\r\n"))
        start = self._write_member(data, self.gzip_level if level is None else level)
        return RecordPointer(
            warc_file=self._name, offset=start, length=self._file.tell() - start, record_id=record_id,
            record_type=record_type, payload_digest=payload_digest, block_digest=block_digest,
            date=headers[0][1],
        )

    def write_exchange(self, exchange: HttpExchange) -> RecordPointer:
        """Write ``response`` then ``request`` (WARC-Concurrent-To); returns the response's pointer."""
        self._ready()
        date = warc_date(exchange.captured_at)
        head = _head_bytes(*response_http_headers(exchange))
        headers = [("WARC-Date", date), *_exchange_warc_headers(exchange)]
        pointer = self._write("response", exchange.url, headers, head, exchange.body,
                              content_type="application/http; msgtype=response",
                              level=member_level(exchange.body, self.gzip_level))
        self._write_request(exchange, date, pointer.record_id)
        return pointer

    def write_revisit(
        self,
        exchange: HttpExchange,
        *,
        profile: str,
        refers_to: str | None,
        refers_to_uri: str,
        refers_to_date: str,
        payload_digest: str,
    ) -> RecordPointer:
        """Write a ``revisit`` (headers only) for an unchanged payload or a 304, then its request."""
        self._ready()
        date = warc_date(exchange.captured_at)
        headers = [("WARC-Date", date), ("WARC-Profile", profile),
                   ("WARC-Refers-To-Target-URI", refers_to_uri), ("WARC-Refers-To-Date", refers_to_date),
                   ("WARC-Payload-Digest", payload_digest)]
        if refers_to:
            headers.append(("WARC-Refers-To", refers_to))
        headers.extend(_exchange_warc_headers(exchange))
        pointer = self._write("revisit", exchange.url, headers, _head_bytes(*response_http_headers(exchange)),
                              b"", content_type="application/http; msgtype=response",
                              payload_digest=payload_digest)
        self._write_request(exchange, date, pointer.record_id)
        return pointer

    def _write_request(self, exchange: HttpExchange, date: str, concurrent_to: str) -> None:
        """The ``request`` record that follows a response or revisit (WARC-Concurrent-To links them)."""
        self._write("request", exchange.url, [("WARC-Date", date), ("WARC-Concurrent-To", concurrent_to)],
                    _head_bytes(*request_http_headers(exchange)), exchange.request_body,
                    content_type="application/http; msgtype=request")

    def write_resource(
        self, uri: str, content: bytes, content_type: str, *, date: str | None = None,
        concurrent_to: str | None = None, extra: dict[str, str] | None = None,
    ) -> RecordPointer:
        """Write a ``resource`` record, e.g. the extracted text at ``urn:text:<url>``."""
        return self._write_block("resource", uri, content, content_type, date=date,
                                 concurrent_to=concurrent_to, extra=extra)

    def write_metadata(
        self, uri: str, content: bytes, content_type: str, *, date: str | None = None,
        concurrent_to: str | None = None,
    ) -> RecordPointer:
        """Write a ``metadata`` record about another record (``WARC-Concurrent-To``), e.g. the stored
        extraction of a response (archive.extractions)."""
        return self._write_block("metadata", uri, content, content_type, date=date,
                                 concurrent_to=concurrent_to)

    def _write_block(
        self, record_type: str, uri: str, content: bytes, content_type: str, *, date: str | None,
        concurrent_to: str | None, extra: dict[str, str] | None = None,
    ) -> RecordPointer:
        self._ready()
        headers = [("WARC-Date", date or warc_date(datetime.now(UTC))), ("Content-Type", content_type)]
        if concurrent_to:
            headers.append(("WARC-Concurrent-To", concurrent_to))
        headers.extend((extra or {}).items())
        return self._write(record_type, uri, headers, b"", content, content_type=content_type)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

