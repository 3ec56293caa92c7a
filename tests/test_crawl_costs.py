"""What the crawl does to keep a page's requisites cheap changes nothing that is archived: a payload that
does not deflate is stored in its gzip member (same bytes, read back by warcio and gzip), requisites' index
rows are committed with the next page's or before their WARC file closes, and the disk queue pushes the
request dict Scrapy itself builds."""

from __future__ import annotations

import gzip
import random
import sqlite3
from contextlib import closing
from pathlib import Path

from scrapy import Request
from scrapy.utils.test import get_crawler
from warcio.archiveiterator import ArchiveIterator

from archive.index import Index, capture_row
from archive.records import HttpExchange, sha256_digest
from archive.warc_writer import WarcWriter, member_level
from crawler.queues import PickleLifoDiskQueue
from crawler.spiders.news import NewsSpider
from morgue.seeds import seed_from_url
from tests.test_warc_writer import WHEN


def _image(url: str, body: bytes) -> HttpExchange:
    return HttpExchange(url=url, status=200, body=body, captured_at=WHEN, resource_type="image",
                        response_headers=[("Content-Type", "image/png")],
                        request_headers=[("Accept", "image/*")])


def test_incompressible_payloads_are_stored_and_read_back_whole(tmp_path: Path) -> None:
    noise = b"\x89PNG\r\n\x1a\n" + random.Random(14).randbytes(30_000)
    text = b"<p>The harbour lights were switched on.</p>\n" * 700
    assert member_level(noise, 4) == 0 and member_level(text, 4) == 4
    assert member_level(noise[8:], 4) == 0  # no signature: the sample says it does not deflate
    assert member_level(b"\xff\xd8\xff\xe0" + text, 4) == 0  # a JPEG's signature decides without one
    assert member_level(noise[:100], 4) == 4  # too short to judge: as configured
    writer = WarcWriter(tmp_path, gzip_level=4)
    stored = writer.write_exchange(_image("https://cdn.example/photo.png", noise))
    deflated = writer.write_exchange(_image("https://news.example/page.html", text))
    path = writer.close()
    assert path is not None
    assert stored.length > len(noise) > 10 * deflated.length  # stored as is; the text still deflated
    member = path.read_bytes()[stored.offset:stored.offset + stored.length]
    assert noise[1000:9000] in member  # deflate's stored blocks: the payload's bytes as they are
    assert gzip.decompress(member).endswith(noise + b"\r\n\r\n")
    with open(path, "rb") as fh:
        bodies = {r.rec_headers.get_header("WARC-Target-URI"): (r.content_stream().read(),
                                                                r.rec_headers.get_header("WARC-Payload-Digest"))
                  for r in ArchiveIterator(fh) if r.rec_type == "response"}
    assert bodies["https://cdn.example/photo.png"] == (noise, sha256_digest(noise))
    assert bodies["https://news.example/page.html"] == (text, sha256_digest(text))


def _committed(db_path: Path) -> int:
    with closing(sqlite3.connect(db_path)) as db:  # another connection sees committed rows only
        return int(db.execute("SELECT count(*) FROM captures").fetchone()[0])


def test_batched_rows_commit_with_the_next_row_or_before_the_file_closes(tmp_path: Path) -> None:
    index = Index(tmp_path / "morgue.db")
    index.commit_every = 1
    writer = WarcWriter(tmp_path / "warc")
    writer.before_close = index.commit
    crawl_id = index.start_crawl("news")

    def add(url: str, batch: int | None) -> None:
        pointer = writer.write_exchange(_image(url, b"GIF89a" + url.encode()))
        index.add_capture(capture_row(pointer, url=url, status=200, headers=[], payload_length=10,
                                      site="news", crawl_id=crawl_id, kind="requisite"), batch=batch)

    add("https://cdn.example/1.gif", 50)
    add("https://cdn.example/2.gif", 50)
    assert _committed(tmp_path / "morgue.db") == 0
    add("https://news.example/page.html", None)  # a page's row commits the requisites' with it
    assert _committed(tmp_path / "morgue.db") == 3
    add("https://cdn.example/3.gif", 50)
    assert _committed(tmp_path / "morgue.db") == 3
    writer.close()  # its file is closed: the rows of its records are committed first
    assert _committed(tmp_path / "morgue.db") == 4
    for n in range(3):
        add(f"https://cdn.example/b{n}.gif", 3)
    assert _committed(tmp_path / "morgue.db") == 7  # a full batch commits by itself
    index.close()


def test_the_disk_queue_pushes_what_scrapy_would(tmp_path: Path) -> None:
    crawler = get_crawler(NewsSpider)
    crawler.spider = spider = NewsSpider(seed=seed_from_url("https://news.example/"))
    queue = PickleLifoDiskQueue(crawler, str(tmp_path / "queue"))
    image, failed = spider.parse_requisite, spider.requisite_failed
    requests = [
        Request("https://news.example/a.html", callback=spider.parse_article,
                meta={"morgue_role": "article"}),
        Request("https://cdn.example/1.png", callback=image, errback=failed,
                meta={"morgue_role": "requisite"}, priority=1),
        Request("https://cdn.example/2.png", callback=image, errback=failed),
        Request("https://news.example/sitemap.xml"),
    ]
    expected = [r.to_dict(spider=spider) for r in requests]
    for request in requests:
        queue.push(request)
    popped = [queue.pop() for _ in requests][::-1]  # last in, first out
    queue.close()
    assert [r.to_dict(spider=spider) for r in popped if r is not None] == expected
    assert popped[1] is not None and popped[1].callback == spider.parse_requisite
    assert popped[1].errback == spider.requisite_failed
    try:
        queue2 = PickleLifoDiskQueue(crawler, str(tmp_path / "queue2"))
        queue2.push(Request("https://x.example/", callback=lambda response: None))
    except ValueError:
        pass  # as Scrapy's own queue: the scheduler keeps such a request in memory instead
    else:
        raise AssertionError("a callback that is not a spider method must not be pushed")
