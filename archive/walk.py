"""Find each record of a WARC or ARC file, and what is off about it, as leniently as warcio reads them.

morgue's own files are held to the standard (``archive.verify``). Files other tools wrote (wget, wpull,
Heritrix ARC, early warcio...) bend it: bare LF line endings, a record without its closing CRLF CRLF, a
header without its blank line, a Content-Length a few bytes off. Every other tool still reads them, so
import must too. This finds where each record really starts and ends (its gzip member's end, or the next
record's first line), names every deviation with its offset in words a user can act on, and tells
deviations (the file bends the format; its content is intact) from damage (a digest that does not match,
bytes that cannot be read), which no import accepts.
"""

from __future__ import annotations

import mmap
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import SpooledTemporaryFile
from typing import IO

from archive.digests import hasher_for, payload_digest_matches, payload_matches
from archive.records import header_value

__all__ = ["Problem", "RawRecord", "DAMAGE", "walk_file", "record_at", "members", "is_gzip", "http_head_end"]

_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b\x08"
_WINDOW = 64 * 1024  # how far from its Content-Length a record's real end is looked for
_WARC_TRAILER = b"\r\n\r\n"
_ARC_TRAILER = b"\n"
# An ARC v1 header line: URL IP-address Archive-date Content-type Archive-length
_ARC_FIELDS = ("uri", "ip-address", "archive-date", "content-type", "length")
_ARC_LINE = re.compile(rb"(\S+(?: \S+)*?) (\S+) (\d{12,14}) (\S+) (\d+)\r?\n")

#: Problems that are damage: what a citation would lie about, or bytes nobody can read. The rest are
#: deviations: the file bends the format, its records are whole.
DAMAGE = frozenset({"truncated-gzip", "corrupt-gzip", "unreadable", "block-digest", "payload-digest",
                    "whole-file-gzip", "incomplete-record", "not-a-warc-record"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong, where it is."""

    kind: str
    file: str
    offset: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.offset is None else f"{self.file} offset {self.offset}"
        return f"{where}: {self.kind}: {self.message}"

    @property
    def damage(self) -> bool:
        return self.kind in DAMAGE


@dataclass
class RawRecord:
    """One record as found: its place, its headers (WARC, or the ARC header line's fields) and block."""

    fmt: str  # "warc" or "arc"
    offset: int
    length: int
    headers: list[tuple[str, str]]
    block: bytes
    problems: list[Problem] = field(default_factory=list)
    _by_name: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def header(self, name: str) -> str | None:
        if self._by_name is None:
            self._by_name = {}
            for key, value in self.headers:
                self._by_name.setdefault(key.lower(), value)
        return self._by_name.get(name.lower())


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


# -- gzip members -----------------------------------------------------------------------------------
def members(fh: IO[bytes], name: str, problems: list[Problem]) -> Iterator[tuple[int, int, IO[bytes]]]:
    """Each complete gzip member as (offset, compressed length, decompressed data); problems for the rest.

    After a corrupt member the walk resumes at the next gzip header, so one bad byte hides nothing else.
    """
    buf = fh.read(_CHUNK)
    base = 0
    while buf:
        start = base
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        out: IO[bytes] = SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - handed to the caller
        fed = 0
        data = buf
        try:
            while True:
                fed += len(data)
                out.write(inflater.decompress(data, _CHUNK))
                while inflater.unconsumed_tail and not inflater.eof:
                    out.write(inflater.decompress(inflater.unconsumed_tail, _CHUNK))
                if inflater.eof:
                    break
                data = fh.read(_CHUNK)
                if not data:
                    problems.append(Problem("truncated-gzip", name, start,
                                            f"the gzip member starting here ends after {fed} bytes "
                                            "without its end (file cut short)"))
                    return
        except zlib.error as exc:
            problems.append(Problem("corrupt-gzip", name, start, f"gzip member cannot be inflated: {exc}"))
            resume = _next_member(fh, start + 1)
            if resume is None:
                return
            fh.seek(resume)
            base = resume
            buf = fh.read(_CHUNK)
            continue
        length = fed - len(inflater.unused_data)
        out.seek(0)
        yield start, length, out
        base = start + length
        buf = inflater.unused_data or fh.read(_CHUNK)


def _next_member(fh: IO[bytes], position: int) -> int | None:
    fh.seek(position)
    carry = b""
    offset = position
    while True:
        chunk = fh.read(_CHUNK)
        if not chunk:
            return None
        data = carry + chunk
        found = data.find(_GZIP_MAGIC)
        if found >= 0:
            return offset - len(carry) + found
        carry = data[-2:]
        offset += len(chunk)


# -- one record -------------------------------------------------------------------------------------
def _trailer_words(trailer: bytes) -> str:
    if not trailer:
        return "nothing"
    names = {b"\r\n": "CRLF", b"\r": "CR", b"\n": "LF"}
    return " ".join(names[t] for t in re.findall(rb"\r\n|\r|\n", trailer))


class _Reader:
    """Parses records out of ``buf`` (a gzip member's data, or a whole uncompressed file)."""

    def __init__(self, buf: bytes | mmap.mmap, name: str, *, member: bool, check_digests: bool) -> None:
        self.buf = buf
        self.limit = len(buf)
        self.name = name
        self.member = member
        self.check_digests = check_digests

    def _starts_record(self, pos: int, fmt: str) -> bool:
        if pos >= self.limit:
            return True
        if fmt == "warc":
            return self.buf[pos:pos + 7] == b"WARC/1."
        line_end = self.buf.find(b"\n", pos, min(self.limit, pos + 8192))
        return line_end >= 0 and _ARC_LINE.fullmatch(self.buf[pos:line_end + 1]) is not None

    def _clean_end(self, block_end: int, fmt: str) -> tuple[bytes, int] | None:
        """(trailer, next record's offset) if a block ending at ``block_end`` is followed only by line
        breaks and then the next record (or the end), else None."""
        if block_end > self.limit:
            return None
        q = block_end
        while q < self.limit and q - block_end < 32 and self.buf[q] in (10, 13):
            q += 1
        if q >= self.limit or (not self.member and self._starts_record(q, fmt)):
            return bytes(self.buf[block_end:q]), q if q < self.limit else self.limit
        return None

    def parse(self, start: int, offset_of: int | None = None, member_length: int = 0
              ) -> tuple[RawRecord | None, int, list[Problem]]:
        """The record at ``start``: (record or None, where the next one starts, problems)."""
        buf = self.buf
        pos = start
        while pos < self.limit and buf[pos] in (10, 13):
            pos += 1
        if pos >= self.limit:
            return None, self.limit, []
        offset = offset_of if offset_of is not None else pos
        first_end = buf.find(b"\n", pos, self.limit)
        first_end = self.limit if first_end < 0 else first_end + 1
        first = bytes(buf[pos:first_end])
        if first.startswith(b"WARC/"):
            return self._parse_warc(pos, first_end, first, offset, member_length)
        if _ARC_LINE.fullmatch(first if first.endswith(b"\n") else first + b"\n"):
            return self._parse_arc(first_end, first, offset, member_length)
        problem = Problem("unreadable", self.name, offset,
                          "expected a WARC/1.x version line or an ARC header line here, "
                          f"found {first[:40]!r}")
        return None, self._resync(pos + 1), [problem]

    def _resync(self, pos: int) -> int:
        """Where the next WARC record starts after unreadable bytes (the end for a gzip member)."""
        if self.member:
            return self.limit
        found = self.buf.find(b"\nWARC/1.", pos)
        return self.limit if found < 0 else found + 1

    def _fast_header(self, start: int) -> tuple[list[tuple[int, bytes]], int] | None:
        """The header lines up to a CRLF CRLF, when every one is a plain CRLF-ended ``name: value`` line
        (as in almost every file): ([(start, line)], where the block starts); None for anything else."""
        end = self.buf.find(b"\r\n\r\n", start - 2, self.limit)
        if end < 0:
            return None
        if end < start:  # no header lines at all
            return [], start + 2
        raw = bytes(self.buf[start:end])
        if b"\n" in raw.replace(b"\r\n", b"") or b"\nWARC/1." in raw:
            return None
        lines: list[tuple[int, bytes]] = []
        pos = start
        for line in raw.split(b"\r\n"):
            if b":" not in line and not line[:1].isspace():
                return None
            lines.append((pos, line))
            pos += len(line) + 2
        return lines, end + 4

    def _parse_warc(self, pos: int, first_end: int, first: bytes, offset: int, member_length: int
                    ) -> tuple[RawRecord | None, int, list[Problem]]:
        buf = self.buf
        problems: list[Problem] = []
        lines: list[tuple[int, bytes]] = []  # (start, line without its line break)
        bare_lf = 0 if first.endswith(b"\r\n") else 1
        p = first_end
        header_end = self.limit
        blank = False
        fast = self._fast_header(first_end) if bare_lf == 0 else None
        if fast is not None:
            lines, header_end = fast
            blank = True
            p = self.limit
        while p < self.limit:
            e = buf.find(b"\n", p, self.limit)
            nxt = self.limit if e < 0 else e + 1
            raw = bytes(buf[p:nxt])
            line = raw.rstrip(b"\r\n")
            if not line:
                header_end, blank = nxt, True
                bare_lf += not raw.endswith(b"\r\n")
                break
            if line.startswith(b"WARC/1.") or (b":" not in line and not line[:1].isspace()):
                header_end = p  # the block (or the next record) begins without the blank line
                break
            bare_lf += not raw.endswith(b"\r\n")
            lines.append((p, line))
            p = nxt
        headers = _header_list(lines)
        rec_type = (header_value(headers, "WARC-Type") or "?").lower()
        record_id = header_value(headers, "WARC-Record-ID") or "(no record id)"
        label = f"{rec_type} record {record_id}"
        if bare_lf:
            problems.append(Problem("lf-line-endings", self.name, offset,
                                    f"{label}: {bare_lf} header line(s) end in a bare LF instead of the CRLF "
                                    "the WARC standard requires"))
        length = _int(header_value(headers, "Content-Length"))
        if length is None:
            problems.append(Problem("content-length", self.name, offset,
                                    f"{label}: no valid Content-Length; the block is taken to run to "
                                    "where the record ends"))
        found = None
        if length is not None:
            found = self._clean_end(header_end + length, "warc")
            if found is not None and not blank:
                problems.append(Problem("no-blank-line", self.name, offset,
                                        f"{label}: the WARC header is not followed by the blank line that "
                                        "ends it"))
            if found is None and blank:
                for i in range(len(lines) - 1, 0, -1):  # the header may have ended earlier, unmarked
                    start_i = lines[i][0]
                    if header_value(_header_list(lines[:i]), "Content-Length") is None:
                        break
                    found = self._clean_end(start_i + length, "warc")
                    if found is not None:
                        headers = _header_list(lines[:i])
                        header_end = start_i
                        problems.append(Problem(
                            "no-blank-line", self.name, offset,
                            f"{label}: the WARC header is not followed by the blank line that ends it "
                            f"(its block starts {start_i - pos} bytes into the record)"))
                        break
        if found is not None and found[0] != _WARC_TRAILER:
            # A Content-Length a few bytes too long also ends "cleanly", inside the trailer: the block
            # digest, or else a proper CRLF CRLF a few bytes earlier, tells which end is the real one.
            assert length is not None
            alt = self._locate_end(header_end, length, headers)
            if (alt is not None and alt[0] != header_end + length
                    and self._better(alt, header_end, length, headers)):
                found = None
        if found is not None:
            assert length is not None
            trailer, nxt = found
            block_end = header_end + length
        elif self.member and re.search(rb"\r?\n\r?\nWARC/1\.\d\r?\n", bytes(self.buf[header_end:self.limit])):
            problems.append(Problem("whole-file-gzip", self.name, offset,
                                    "this gzip member holds more than one record (the file was gzipped "
                                    "whole), so its records cannot be pointed at; `warcio recompress` "
                                    "rewrites it with one gzip member per record"))
            return None, self.limit, problems
        else:
            located = self._locate_end(header_end, length, headers)
            if located is None:
                problems.append(Problem("unreadable", self.name, offset,
                                        f"{label}: Content-Length says {length} bytes but no record starts "
                                        "near there, so where this record ends cannot be found"))
                return None, self._resync(pos + 1), problems
            block_end, trailer, nxt = located
            if length is not None:
                where = "where the gzip member ends" if self.member else f"the next record starts at {nxt}"
                problems.append(Problem("content-length", self.name, offset,
                                        f"{label}: Content-Length says {length} bytes but the block holds "
                                        f"{block_end - header_end} ({where}); the block is read as it is"))
        if trailer != _WARC_TRAILER:
            problems.append(Problem("record-end", self.name, offset,
                                    f"{label}: followed by {_trailer_words(trailer)} instead of the "
                                    "CRLF CRLF that ends a record"))
        block = bytes(buf[header_end:block_end])
        if self.check_digests:
            problems += _digest_problems(self.name, offset, label, headers, rec_type, block)
        record = RawRecord("warc", offset, member_length or nxt - offset, headers, block, problems)
        return record, nxt, problems

    def _better(self, alt: tuple[int, bytes, int], header_end: int, length: int,
                headers: list[tuple[str, str]]) -> bool:
        """Whether ``alt`` (block end, trailer, next) is a likelier end than Content-Length's ``found``."""
        digest = header_value(headers, "WARC-Block-Digest")
        if digest and hasher_for(digest) is not None:
            return (payload_matches(digest, bytes(self.buf[header_end:alt[0]]))
                    and not payload_matches(digest, bytes(self.buf[header_end:header_end + length])))
        return alt[1] == _WARC_TRAILER and abs(alt[0] - header_end - length) <= 4

    def _locate_end(self, header_end: int, length: int | None, headers: list[tuple[str, str]]
                    ) -> tuple[int, bytes, int] | None:
        """(block end, trailer, next offset) when Content-Length is wrong: the member's end, or the
        record start nearest to where Content-Length points; the block digest decides between near ones."""
        expected = header_end + (length or 0)
        if self.member:
            nexts = [self.limit]
        else:
            lo, hi = max(header_end, expected - _WINDOW), min(self.limit, expected + _WINDOW)
            nexts = [m.start() + 1 for m in re.finditer(rb"\nWARC/1\.\d\r?\n", self.buf[lo:hi])]
            nexts = [lo + n for n in nexts]
            if hi == self.limit:
                nexts.append(self.limit)
            nexts.sort(key=lambda n: abs(n - expected))
        block_digest = header_value(headers, "WARC-Block-Digest")
        choices: list[tuple[int, bytes, int]] = []
        for nxt in nexts:
            for trailer in (b"\r\n\r\n", b"\n\n", b"\r\n", b"\n", b""):
                if nxt - len(trailer) >= header_end and self.buf[nxt - len(trailer):nxt] == trailer:
                    choices.append((nxt - len(trailer), trailer, nxt))
        if not choices:
            return None
        if block_digest:
            for choice in choices:
                if payload_matches(block_digest, bytes(self.buf[header_end:choice[0]])):
                    return choice
        return choices[0]

    def _parse_arc(self, first_end: int, first: bytes, offset: int, member_length: int
                   ) -> tuple[RawRecord | None, int, list[Problem]]:
        match = _ARC_LINE.fullmatch(first if first.endswith(b"\n") else first + b"\n")
        assert match is not None
        text = [g.decode("latin-1") for g in match.groups()]
        headers = list(zip(_ARC_FIELDS, text, strict=True))
        length = int(text[4])
        problems: list[Problem] = []
        label = f"ARC record for {text[0]}"
        found = self._clean_end(first_end + length, "arc")
        if found is not None:
            trailer, nxt = found
            block_end = first_end + length
        else:
            nxt = self.limit
            if not self.member:
                lo = max(first_end, first_end + length - _WINDOW)
                hi = min(self.limit, first_end + length + _WINDOW)
                starts = [lo + m.start() + 1 for m in re.finditer(rb"\n", self.buf[lo:hi])
                          if self._starts_record(lo + m.start() + 1, "arc")]
                if hi == self.limit:
                    starts.append(self.limit)
                if not starts:
                    problems.append(Problem("unreadable", self.name, offset,
                                            f"{label}: its length field says {length} bytes but no ARC "
                                            "record starts near there"))
                    return None, self.limit, problems
                nxt = min(starts, key=lambda n: abs(n - first_end - length))
            trailer = b"\n" if self.buf[nxt - 1:nxt] == b"\n" and nxt - 1 >= first_end else b""
            block_end = nxt - len(trailer)
            problems.append(Problem("content-length", self.name, offset,
                                    f"{label}: its length field says {length} bytes but the record holds "
                                    f"{block_end - first_end}; the record is read as it is"))
        if trailer != _ARC_TRAILER and found is not None:
            problems.append(Problem("record-end", self.name, offset,
                                    f"{label}: followed by {_trailer_words(trailer)} instead of the LF that "
                                    "ends an ARC record"))
        block = bytes(self.buf[first_end:block_end])
        record = RawRecord("arc", offset, member_length or nxt - offset, headers, block, problems)
        return record, nxt, problems


def _header_list(lines: list[tuple[int, bytes]]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for _, line in lines:
        text = line.decode("utf-8", "replace")
        if text[:1].isspace() and headers:  # a continuation line
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + text.strip())
            continue
        key, sep, value = text.partition(":")
        if sep:
            value = value.strip()
            if key.strip().lower() == "warc-target-uri" and value.startswith("<") and value.endswith(">"):
                value = value[1:-1]  # wget 1.19 wrote <uri>; warcio reads it so
            headers.append((key.strip(), value))
    return headers


def _int(text: str | None) -> int | None:
    try:
        value = int((text or "").strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def http_head_end(block: bytes) -> int:
    """Where the HTTP head of a block ends (after its blank line), or 0 if it has none."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = block.find(sep)
        if end >= 0:
            return end + len(sep)
    return 0


def _digest_problems(name: str, offset: int, label: str, headers: list[tuple[str, str]], rec_type: str,
                     block: bytes) -> list[Problem]:
    problems: list[Problem] = []
    block_digest = header_value(headers, "WARC-Block-Digest")
    if block_digest and not payload_matches(block_digest, block):
        problems.append(Problem("block-digest", name, offset,
                                f"{label}: block does not match {block_digest}"))
    payload_digest = header_value(headers, "WARC-Payload-Digest")
    http = (header_value(headers, "Content-Type") or "").lower().startswith("application/http")
    if payload_digest and rec_type in ("response", "request") and http:
        payload = block[http_head_end(block):]
        if not payload_digest_matches(payload_digest, block[:http_head_end(block)], payload):
            uri = header_value(headers, "WARC-Target-URI") or ""
            problems.append(Problem("payload-digest", name, offset,
                                    f"{label} ({uri}): payload does not match {payload_digest}"))
    elif payload_digest and rec_type == "resource" and not payload_matches(payload_digest, block):
        problems.append(Problem("payload-digest", name, offset, f"{label}: payload does not match "
                                                                f"{payload_digest}"))
    return problems


# -- whole files ------------------------------------------------------------------------------------
def walk_file(path: Path, problems: list[Problem], *, check_digests: bool = False) -> Iterator[RawRecord]:
    """Every readable record of a WARC or ARC file (gzipped per record, or not at all), in order; what is
    off is added to ``problems``, each with its offset, and reading goes on past it where it can."""
    name = path.name.removesuffix(".open")
    if path.stat().st_size == 0:
        return
    with open(path, "rb") as fh:
        if fh.read(2) == b"\x1f\x8b":
            fh.seek(0)
            for offset, length, data in members(fh, name, problems):
                with data:
                    buf = data.read()
                reader = _Reader(buf, name, member=True, check_digests=check_digests)
                record, nxt, found = reader.parse(0, offset, length)
                if record is None and not found:
                    found = [Problem("unreadable", name, offset, "this gzip member holds no record")]
                problems.extend(found)
                if record is not None:
                    yield record
            return
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            reader = _Reader(buf, name, member=False, check_digests=check_digests)
            pos = 0
            while pos < len(buf):
                record, pos, found = reader.parse(pos)
                problems.extend(found)
                if record is not None:
                    yield record


def record_at(path: Path, offset: int) -> tuple[RawRecord | None, list[Problem]]:
    """The one record at ``offset`` (a gzip member's start, or a record's first line), read as
    ``walk_file`` reads it."""
    name = path.name.removesuffix(".open")
    problems: list[Problem] = []
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
        if gz:
            fh.seek(offset)
            if fh.read(3) != _GZIP_MAGIC:
                return None, [Problem("unreadable", name, offset, "no gzip member starts here")]
            fh.seek(offset)
            inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
            out = bytearray()
            fed = 0
            try:
                while not inflater.eof:
                    chunk = fh.read(_CHUNK)
                    if not chunk:
                        return None, [Problem("truncated-gzip", name, offset,
                                              "the gzip member starting here is cut short")]
                    fed += len(chunk)
                    out += inflater.decompress(chunk)
            except zlib.error as exc:
                return None, [Problem("corrupt-gzip", name, offset, f"gzip member cannot be inflated: {exc}")]
            length = fed - len(inflater.unused_data)
            record, _, problems = _Reader(bytes(out), name, member=True, check_digests=False).parse(
                0, offset, length)
            return record, problems
        if path.stat().st_size == 0:
            return None, [Problem("unreadable", name, offset, "the file is empty")]
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            record, _, problems = _Reader(buf, name, member=False, check_digests=False).parse(offset)
            return record, problems
