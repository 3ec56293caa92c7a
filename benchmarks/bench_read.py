"""Reading a WARC file back: morgue's lenient walk (``archive.warc_reader.iter_records``, which every
reindex, import and verify of an imported file goes through) against warcio's own ``ArchiveIterator``
reading the same records, payloads and offsets, in the same run.

    python benchmarks/bench_read.py [--records 3000]

Writes a gzipped WARC of ``--records`` HTML responses (20-60 KB each) with warcio's writer, then prints
the best of five interleaved runs of each reader and their ratio (target <= 1.2x: lenient reading must
not make reindex noticeably slower).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from warcio.archiveiterator import ArchiveIterator  # noqa: E402
from warcio.statusandheaders import StatusAndHeaders  # noqa: E402
from warcio.warcwriter import WARCWriter  # noqa: E402

from archive.warc_reader import iter_records  # noqa: E402


def write(path: Path, records: int) -> None:
    rng = random.Random(7)
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i in range(records):
            words = " ".join(rng.choice(("harbour", "council", "dredging", "survey", "channel", "winter"))
                             for _ in range(rng.randint(3000, 9000)))
            body = f"<html><body><p>{words}</p></body></html>".encode()
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(f"https://news.example/{i}", "response",
                                                          payload=BytesIO(body), http_headers=http))


def with_warcio(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        iterator = ArchiveIterator(fh)
        for record in iterator:
            record.raw_stream.read()
            iterator.read_to_end(record)
            iterator.get_record_offset()
            n += 1
    return n


def with_morgue(path: Path) -> int:
    return sum(1 for record in iter_records(path) if record.pointer.offset >= 0)


def timed(fn, path: Path) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    n = fn(path)
    return time.perf_counter() - start, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.warc.gz"
        write(path, args.records)
        size = os.path.getsize(path)
        runs = [(timed(with_warcio, path), timed(with_morgue, path)) for _ in range(5)]  # interleaved
        base, n_base = min(r[0] for r in runs)
        ours, n_ours = min(r[1] for r in runs)
    assert n_base == n_ours == args.records, (n_base, n_ours)
    print(f"{args.records} records, {size / 1e6:.1f} MB gzipped")
    print(f"warcio ArchiveIterator: {base:.2f} s; morgue iter_records: {ours:.2f} s: {ours / base:.2f}x")


if __name__ == "__main__":
    main()
