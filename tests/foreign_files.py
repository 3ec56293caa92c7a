"""Hand-made WARC and ARC files that bend the format the way older tools did, byte by byte.

Each builder writes one deviation on purpose (bare LF line endings, a record without its closing CRLF
CRLF, a header without its blank line, a Content-Length a few bytes off, an ARC file with its filedesc
header), with correct digests, so that a test can tell a bent file from a damaged one.
"""

from __future__ import annotations

import base64
import gzip
import hashlib

__all__ = ["ARTICLE", "http_response", "warc_record", "warcinfo", "arc_file", "sha1"]

ARTICLE = (
    b"<html><head><title>Harbour dredging resumes</title></head><body><article>"
    b"<h1>Harbour dredging resumes</h1>"
    + b"<p>The bathymetric survey of the old harbour found the channel silted to four metres, "
    b"and the council voted to resume dredging before the winter storms arrive.</p>"
    * 6
    + b"</article></body></html>"
)


def sha1(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")  # noqa: S324


def http_response(body: bytes, eol: bytes = b"\r\n") -> tuple[bytes, bytes]:
    """(HTTP head, body) of a 200 text/html response."""
    head = (
        eol.join(
            [
                b"HTTP/1.1 200 OK",
                b"Content-Type: text/html; charset=utf-8",
                b"Content-Length: " + str(len(body)).encode(),
            ]
        )
        + eol
        + eol
    )
    return head, body


def warc_record(
    rec_type: str,
    uri: str,
    block: bytes,
    *,
    record_id: str,
    date: str = "2014-01-27T17:11:12Z",
    content_type: str | None = None,
    payload: bytes | None = None,
    eol: bytes = b"\r\n",
    trailer: bytes = b"\r\n\r\n",
    length_delta: int = 0,
    blank_line: bool = True,
    extra: list[tuple[str, str]] | None = None,
) -> bytes:
    """One WARC/1.0 record, with sha1 block (and payload) digests of what it really holds."""
    headers = [
        ("WARC-Type", rec_type),
        ("WARC-Target-URI", uri),
        ("WARC-Date", date),
        ("WARC-Record-ID", record_id),
    ]
    if content_type:
        headers.append(("Content-Type", content_type))
    headers.append(("WARC-Block-Digest", sha1(block)))
    if payload is not None:
        headers.append(("WARC-Payload-Digest", sha1(payload)))
    headers += extra or []
    headers.append(("Content-Length", str(len(block) + length_delta)))
    head = b"WARC/1.0" + eol + b"".join(f"{k}: {v}".encode() + eol for k, v in headers)
    return head + (eol if blank_line else b"") + block + trailer


def warcinfo(
    record_id: str = "<urn:uuid:00000000-0000-4000-8000-000000000001>", eol: bytes = b"\r\n", **kwargs: object
) -> bytes:
    block = eol.join([b"software: old-crawler/0.9", b"format: WARC File Format 1.0"]) + eol
    return warc_record(
        "warcinfo", "", block, record_id=record_id, content_type="application/warc-fields", eol=eol, **kwargs
    )  # type: ignore[arg-type]


def response(url: str, n: int, body: bytes = ARTICLE, *, eol: bytes = b"\r\n", **kwargs: object) -> bytes:
    head, payload = http_response(body, eol)
    return warc_record(
        "response",
        url,
        head + payload,
        record_id=f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>",
        content_type="application/http; msgtype=response",
        payload=payload,
        eol=eol,
        **kwargs,
    )  # type: ignore[arg-type]


def gz(*records: bytes) -> bytes:
    """One gzip member per record, as WARC files are gzipped."""
    return b"".join(gzip.compress(r) for r in records)


def arc_file(
    name: str, pages: list[tuple[str, bytes]], *, date: str = "20140127171112", gzipped: bool = False
) -> bytes:
    """An ARC v1 file: the filedesc header record, then one record per (url, body) page."""
    desc = b"1 0 InternetArchive\nURL IP-address Archive-date Content-type Archive-length\n"
    records = [f"filedesc://{name} 0.0.0.0 {date} text/plain {len(desc)}\n".encode() + desc + b"\n"]
    for url, body in pages:
        head, payload = http_response(body)
        block = head + payload
        records.append(f"{url} 127.0.0.1 {date} text/html {len(block)}\n".encode() + block + b"\n")
    return gz(*records) if gzipped else b"".join(records)
