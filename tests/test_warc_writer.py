"""WARC writer round trips through warcio: gzip-encoded bodies, repeated headers, formerly chunked
responses, revisits, resources, rotation and the .open → final rename."""

from __future__ import annotations

import gzip
import io
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from archive.records import HttpExchange, sha256_digest, short_id
from archive.warc_reader import decode_content_encoding, iter_records, read_record
from archive.warc_writer import OPEN_SUFFIX, REVISIT_IDENTICAL, REVISIT_NOT_MODIFIED, WarcWriter

WHEN = datetime(2026, 11, 28, 12, 30, 15, 250000, tzinfo=UTC)


def exchange(url: str = "https://news.example/a.html", body: bytes = b"<html>hello</html>",
             headers: list[tuple[str, str]] | None = None, status: int = 200) -> HttpExchange:
    return HttpExchange(
        url=url, status=status, body=body, captured_at=WHEN, ip_address="203.0.113.7",
        response_headers=headers or [("Content-Type", "text/html; charset=utf-8")],
        request_headers=[("User-Agent", "morgue-test"), ("Accept-Encoding", "gzip")],
    )


def records(path: Path) -> list:
    with open(path, "rb") as fh:
        return [(r.rec_type, r.rec_headers, r.http_headers, r.content_stream().read()
                 if r.rec_type in ("resource", "warcinfo") else r.raw_stream.read())
                for r in ArchiveIterator(fh)]


def test_response_and_request_are_written_as_received(tmp_path: Path) -> None:
    body = gzip.compress(b"<html><p>Body</p></html>")
    headers = [("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Set-Cookie", "a=1"),
               ("Set-Cookie", "b=2"), ("Transfer-Encoding", "chunked"), ("Content-Length", "999")]
    with WarcWriter(tmp_path, host="testhost", pid=42) as writer:
        assert writer.current_name is None
        pointer = writer.write_exchange(exchange(body=body, headers=headers))
        name = writer.current_name
        assert name is not None and (tmp_path / (name + OPEN_SUFFIX)).exists()
    path = tmp_path / pointer.warc_file
    assert path.exists() and not (tmp_path / (pointer.warc_file + OPEN_SUFFIX)).exists()
    assert path.name.endswith("-00001-testhost-42.warc.gz") and path.name.startswith("morgue-")
    got = records(path)
    assert [r[0] for r in got] == ["warcinfo", "response", "request"]
    info_id = got[0][1].get_header("WARC-Record-ID")
    _, rec, http, payload = got[1]
    assert payload == body  # still gzip: stored before decompression
    assert [v for k, v in http.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert http.get_header("Transfer-Encoding") is None
    assert http.get_header("X-Orig-Transfer-Encoding") == "chunked"
    assert http.get_header("Content-Length") == str(len(body))
    assert http.get_header("X-Orig-Content-Length") == "999"
    assert rec.get_header("WARC-Payload-Digest") == sha256_digest(body) == pointer.payload_digest
    assert rec.get_header("WARC-Block-Digest").startswith("sha256:")
    assert rec.get_header("WARC-IP-Address") == "203.0.113.7"
    assert rec.get_header("WARC-Date") == "2026-11-28T12:30:15.250Z"
    assert rec.get_header("WARC-Warcinfo-ID") == info_id
    assert got[0][1].get_header("WARC-Filename") == path.name
    assert got[2][1].get_header("WARC-Concurrent-To") == pointer.record_id
    assert got[2][2].protocol == "GET"
    check = subprocess.run([sys.executable, "-m", "warcio.cli", "check", str(path)], capture_output=True)
    assert check.returncode == 0


def test_pointer_reads_back_the_same_record(tmp_path: Path) -> None:
    with WarcWriter(tmp_path) as writer:
        first = writer.write_exchange(exchange(url="https://news.example/1"))
        second = writer.write_exchange(exchange(url="https://news.example/2", body=b"second"))
    for pointer, url in ((first, "https://news.example/1"), (second, "https://news.example/2")):
        record = read_record(tmp_path, pointer.warc_file, pointer.offset)
        assert record.url == url and record.pointer.record_id == pointer.record_id
        assert record.pointer.length == pointer.length
        assert pointer.capture_id == short_id(pointer.record_id) and len(pointer.capture_id) == 12
    listed = [r for r in iter_records(tmp_path / first.warc_file) if r.pointer.record_type == "response"]
    assert [(r.pointer.offset, r.pointer.length) for r in listed] == [
        (first.offset, first.length), (second.offset, second.length)]


def test_revisits_and_resources(tmp_path: Path) -> None:
    with WarcWriter(tmp_path) as writer:
        original = writer.write_exchange(exchange())
        same = writer.write_revisit(exchange(), profile=REVISIT_IDENTICAL, refers_to=original.record_id,
                                    refers_to_uri=original_url(), refers_to_date=original.date,
                                    payload_digest=original.payload_digest or "")
        not_modified = writer.write_revisit(
            exchange(body=b"", status=304, headers=[("ETag", '"v1"')]), profile=REVISIT_NOT_MODIFIED,
            refers_to=original.record_id, refers_to_uri=original_url(), refers_to_date=original.date,
            payload_digest=original.payload_digest or "")
        text = writer.write_resource("urn:text:" + original_url(), b"Body text", "text/plain",
                                     concurrent_to=original.record_id)
    by_id = {r.pointer.record_id: r for r in iter_records(tmp_path / original.warc_file)}
    revisit = by_id[same.record_id]
    assert revisit.warc_header("WARC-Profile") == REVISIT_IDENTICAL
    assert revisit.warc_header("WARC-Refers-To") == original.record_id
    assert revisit.warc_header("WARC-Payload-Digest") == original.payload_digest
    assert revisit.payload == b""  # headers only
    assert by_id[not_modified.record_id].status == 304
    assert by_id[not_modified.record_id].warc_header("WARC-Profile") == REVISIT_NOT_MODIFIED
    resource = by_id[text.record_id]
    assert resource.payload == b"Body text" and resource.url == "urn:text:" + original_url()
    assert resource.warc_header("WARC-Concurrent-To") == original.record_id


def original_url() -> str:
    return "https://news.example/a.html"


def test_rotation_at_the_size_limit(tmp_path: Path) -> None:
    writer = WarcWriter(tmp_path, max_size=2000)
    pointers = [writer.write_exchange(exchange(url=f"https://news.example/{i}", body=bytes(range(256)) * 8))
                for i in range(5)]
    writer.close()
    files = sorted(tmp_path.glob("*.warc.gz"))
    assert len(files) >= 3 and not list(tmp_path.glob("*" + OPEN_SUFFIX))
    assert len({p.warc_file for p in pointers}) == len(files)
    for path in files:  # every file starts with its own warcinfo
        with open(path, "rb") as fh:
            assert next(iter(ArchiveIterator(fh))).rec_type == "warcinfo"


def test_a_file_open_too_long_is_closed_and_the_next_record_opens_another(tmp_path: Path) -> None:
    """Cluster workers close files by age (MORGUE_CLUSTER_WARC_MAX_AGE), so an indexer files them soon."""
    writer = WarcWriter(tmp_path)
    first = writer.write_exchange(exchange(url="https://news.example/1"))
    assert writer.close_if_older(0) is None  # 0: never by age
    assert writer.close_if_older(3600) is None  # not that old
    writer._opened_at -= 120  # opened two minutes ago
    closed = writer.close_if_older(60)
    assert closed == tmp_path / first.warc_file and closed.exists()
    assert not list(tmp_path.glob("*" + OPEN_SUFFIX)) and writer.close_if_older(60) is None  # none open
    second = writer.write_exchange(exchange(url="https://news.example/2"))
    writer.close()
    assert second.warc_file != first.warc_file
    assert read_record(tmp_path, first.warc_file, first.offset).url == "https://news.example/1"


def test_a_failed_write_leaves_no_partial_record(tmp_path: Path) -> None:
    writer = WarcWriter(tmp_path)
    good = writer.write_exchange(exchange())
    path = tmp_path / (good.warc_file + OPEN_SUFFIX)
    size = path.stat().st_size
    assert writer._file is not None
    real = writer._file

    class DiskFull:
        """The file takes part of a record, then refuses (ENOSPC, EFBIG)."""

        def __init__(self) -> None:
            self.calls = 0

        def write(self, data: bytes) -> int:
            self.calls += 1
            if self.calls > 1:
                raise OSError(28, "No space left on device")
            return real.write(bytes(data[: len(data) // 2]))

        def __getattr__(self, name: str) -> object:
            return getattr(real, name)

    writer._file = DiskFull()  # type: ignore[assignment]
    try:
        writer.write_exchange(exchange(url="https://news.example/lost", body=b"x" * 5000))
    except OSError:
        pass
    else:  # pragma: no cover - the file above always fails
        raise AssertionError("the write should have failed")
    writer._file = real
    assert path.stat().st_size == size and real.tell() == size  # half a record was written, then cut off
    writer.write_exchange(exchange(url="https://news.example/after"))
    final = writer.close()
    assert final is not None
    assert [r.url for r in iter_records(final) if r.pointer.record_type == "response"] == [
        "https://news.example/a.html", "https://news.example/after"]


def _warcio_reference(exchange_: HttpExchange, warcinfo_id: str) -> bytes:
    """The records warcio's own WARCWriter builds for an exchange, a revisit of it and a resource (what
    archive.warc_writer wrote through it until it assembled records itself)."""
    from urllib.parse import urlsplit

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.utils import Digester
    from warcio.warcwriter import WARCWriter

    class Sha256Writer(WARCWriter):
        @staticmethod
        def _create_digester() -> Digester:
            return Digester("sha256")

    out = io.BytesIO()
    writer = Sha256Writer(out, gzip=False, warc_version="1.1")
    date = "2026-11-28T12:30:15.250Z"
    parts = urlsplit(exchange_.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")

    def write(record: object) -> str:
        record.rec_headers.replace_header("WARC-Warcinfo-ID", warcinfo_id)  # type: ignore[attr-defined]
        writer.write_record(record)
        return record.rec_headers.get_header("WARC-Record-ID")  # type: ignore[attr-defined,no-any-return]

    def request(concurrent_to: str) -> None:
        head = StatusAndHeaders(f"GET {target} HTTP/1.1",
                                [("Host", parts.netloc), *exchange_.request_headers], is_http_request=True)
        write(writer.create_warc_record(exchange_.url, "request", payload=io.BytesIO(b""), length=0,
                                        http_headers=head,
                                        warc_headers_dict={"WARC-Date": date,
                                                           "WARC-Concurrent-To": concurrent_to}))

    def response_head() -> StatusAndHeaders:
        return StatusAndHeaders("200 OK", [*exchange_.response_headers,
                                           ("Content-Length", str(len(exchange_.body)))], protocol="HTTP/1.1")

    warc = {"WARC-Date": date, "WARC-IP-Address": "203.0.113.7"}
    request(write(writer.create_warc_record(exchange_.url, "response", payload=io.BytesIO(exchange_.body),
                                            length=len(exchange_.body), http_headers=response_head(),
                                            warc_headers_dict=warc)))
    head = response_head()
    revisit = writer.create_warc_record(exchange_.url, "revisit", http_headers=head, warc_headers_dict={
        "WARC-Date": date, "WARC-Profile": REVISIT_NOT_MODIFIED, "WARC-Refers-To-Target-URI": exchange_.url,
        "WARC-Refers-To-Date": "2026-01-01T00:00:00Z", "WARC-Payload-Digest": "sha256:ABC",
        "WARC-Refers-To": "<urn:uuid:known>", "WARC-IP-Address": "203.0.113.7"})
    revisit.length = len(head.to_bytes())
    request(write(revisit))
    write(writer.create_warc_record(
        "urn:pageinfo:" + exchange_.url, "resource", payload=io.BytesIO(b'{"a": 1}'), length=8,
        warc_content_type="application/json",
        warc_headers_dict={"WARC-Date": date, "Content-Type": "application/json",
                           "WARC-Concurrent-To": "<urn:uuid:page>", "X-Morgue": "yes"}))
    return out.getvalue()


def test_records_are_byte_for_byte_what_warcio_writes(tmp_path: Path) -> None:
    """The writer assembles records itself (warcio's builder cost more CPU than a requisite's fetch):
    the same bytes as warcio's WARCWriter, record ids aside, including a header value that is not ASCII
    (warcio's RFC 8187 percent-encoding) and a repeated header."""
    page = exchange(url="https://news.example/a.html?x=1", body=gzip.compress(b"<p>caf\xc3\xa9</p>"),
                    headers=[("Content-Type", "text/html"), ("Content-Encoding", "gzip"),
                             ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
                             ("Content-Disposition", "inline; filename=caf\xe9.html")])
    writer = WarcWriter(tmp_path)
    written = writer.write_exchange(page)
    writer.write_revisit(page, profile=REVISIT_NOT_MODIFIED, refers_to="<urn:uuid:known>",
                         refers_to_uri=page.url, refers_to_date="2026-01-01T00:00:00Z",
                         payload_digest="sha256:ABC")
    writer.write_resource("urn:pageinfo:" + page.url, b'{"a": 1}', "application/json",
                          date="2026-11-28T12:30:15.250Z", concurrent_to="<urn:uuid:page>",
                          extra={"X-Morgue": "yes"})
    path = writer.close()
    assert path is not None
    ours = gzip.open(path).read()
    warcinfo_end = ours.index(b"WARC/1.1", 10)
    warcinfo_id = re.search(rb"WARC-Record-ID: (<[^>]+>)", ours).group(1).decode()  # type: ignore[union-attr]
    reference = _warcio_reference(page, warcinfo_id)

    def ids_in_order(data: bytes) -> bytes:
        names: dict[bytes, bytes] = {}
        return re.sub(rb"<urn:uuid:[0-9a-f-]{36}>",
                      lambda m: names.setdefault(m.group(0), b"<id-%d>" % len(names)), data)

    assert b"filename*=UTF-8''caf%C3%A9.html" in reference  # the case the fallback exists for
    assert ids_in_order(ours[warcinfo_end:]) == ids_in_order(reference)
    assert read_record(tmp_path, written.warc_file, written.offset).payload == page.body


def test_decode_content_encoding_refuses_bombs() -> None:
    assert decode_content_encoding(gzip.compress(b"abc"), "gzip") == b"abc"
    bomb = gzip.compress(b"\0" * 5_000_000)
    try:
        decode_content_encoding(bomb, "gzip", limit=1_000_000)
    except ValueError as exc:
        assert "larger than" in str(exc)
    else:
        raise AssertionError("a gzip bomb was inflated")
