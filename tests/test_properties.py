"""Property-based tests: the WARC reader and verifier on mutated WARC bytes, the extractor on malformed
HTML. They never crash; damage is always reported with the file and an offset."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.records import HttpExchange
from archive.verify import scan_file
from archive.warc_reader import WarcReadError, iter_records
from archive.warc_writer import WarcWriter

_BOUNDED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _good_warc() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        with WarcWriter(Path(tmp), prefix="prop") as writer:
            for n in range(3):
                writer.write_exchange(HttpExchange(
                    url=f"http://example.test/{n}", status=200,
                    response_headers=[("Content-Type", "text/html")], body=b"<p>hello %d</p>" % n * 40,
                    method="GET", request_headers=[("User-Agent", "t")], request_body=b"",
                    protocol="HTTP/1.1", captured_at=datetime(2026, 1, 1, tzinfo=UTC), ip_address=None))
        (path,) = Path(tmp).glob("*.warc.gz")
        return path.read_bytes()


GOOD = _good_warc()


def _check(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutated.warc.gz"
        path.write_bytes(data)
        scan = scan_file(path)  # must not raise
        for problem in scan.problems:
            assert problem.file == "mutated.warc.gz"
            assert problem.offset is None or 0 <= problem.offset <= len(data)
            assert str(problem)
        assert 0 <= scan.good_end <= len(data)
        if data.strip(b"\r\n") and data != GOOD and not scan.problems:
            # undetected change (beyond blank lines): only where the bytes still form whole records
            assert scan.records
        try:
            for record in iter_records(path):
                assert record.pointer.offset >= 0
        except WarcReadError as exc:
            assert "mutated.warc.gz" in str(exc)


@_BOUNDED
@given(st.integers(min_value=0, max_value=len(GOOD) - 1))
def test_truncated_warc_is_reported_not_crashed(cut: int) -> None:
    data = GOOD[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mutated.warc.gz"
        path.write_bytes(data)
        scan = scan_file(path)
    if cut:
        # a cut inside a member is always noticed; a cut between members leaves whole records only
        assert scan.problems or scan.good_end == cut
    _check(data)


@_BOUNDED
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=len(GOOD) - 1), st.integers(1, 255)),
                min_size=1, max_size=4))
def test_flipped_bytes_are_reported_not_crashed(flips: list[tuple[int, int]]) -> None:
    data = bytearray(GOOD)
    for position, mask in flips:
        data[position] ^= mask
    _check(bytes(data))


@_BOUNDED
@given(st.binary(max_size=4096))
def test_random_bytes_are_not_a_warc(data: bytes) -> None:
    _check(data)
    _check(b"\x1f\x8b\x08" + data)
    _check(b"WARC/1.1\r\n" + data)


_TAGS = st.sampled_from(["div", "p", "article", "span", "table", "td", "script", "style", "h1", "a", "!--",
                         "meta", "title", "body", "html", "svg", "template", "br", "li", "ul"])
_PIECES = st.one_of(
    _TAGS.map(lambda t: f"<{t}>"), _TAGS.map(lambda t: f"</{t}>"),
    st.text(max_size=40), st.sampled_from(["<", ">", "&", "&#0;", "&#xD800;", "<![CDATA[", "]]>", "\x00",
                                           '<meta charset="bogus-9">', '<a href="javascript:x">']),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=200), st.sampled_from([None, "utf-8", "latin-1", "bogus", "utf-16"]))
def test_extractor_never_raises_on_malformed_html(pieces: list[str], encoding: str | None) -> None:
    from extract import extract_article

    html = "".join(pieces).encode("utf-8", "surrogatepass")
    result = extract_article(html, "http://example.test/a", encoding=encoding)
    assert result is None or isinstance(result.to_dict(), dict)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=20000))
def test_extractor_never_raises_on_random_bytes(data: bytes) -> None:
    from extract import extract_article

    extract_article(data, "http://example.test/b")
