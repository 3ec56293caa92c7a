"""The reading room's search page answers at the query's speed: its total is counted only so far and says
so ("100+"); the facets request that follows counts on and gives the true number. On a real index."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from archive.datasette.search import PAGE_SIZE, TOTAL_CAP
from archive.index import Index, capture_row
from archive.reading_room import make_datasette
from archive.records import RecordPointer

MANY = TOTAL_CAP + 30
FEW = PAGE_SIZE // 2


def _index(data: Path) -> None:
    with Index(data / "morgue.db") as index:
        for n in range(MANY):
            pointer = RecordPointer(warc_file="m.warc.gz", offset=100 * n, length=90, record_id=f"<urn:{n}>",
                                    record_type="response", payload_digest=f"sha256:P{n}",
                                    block_digest=f"sha256:B{n}", date="2026-11-20T10:00:00.000Z")
            url = f"https://site{n % 3}.example/{n}"
            row = capture_row(pointer, url=url, status=200, headers=[], payload_length=90,
                              site=f"site{n % 3}", crawl_id=1, kind="page")
            index.add_capture(row)
            words = "harbour wall" + (" ferry" if n < FEW else "")
            index.add_article(row, {"text": f"Story {n} about the {words}.", "title": f"Story {n}",
                                    "published": f"2026-11-{n % 28 + 1:02d}T08:00:00+00:00",
                                    "extractor": "test"}, url=url, site=f"site{n % 3}")
        index.commit()


def test_the_total_is_counted_so_far_and_says_so_the_facets_count_on(tmp_path: Path) -> None:
    _index(tmp_path)
    room = make_datasette(tmp_path)
    page = asyncio.run(room.client.get("/-/search", params={"q": "harbour"})).text
    assert len(re.findall(r'<li class="morgue-hit"', page)) == PAGE_SIZE
    assert (f'<span class="morgue-total" data-capped="1" title="counted up to {TOTAL_CAP}">{TOTAL_CAP}+'
            "</span> articles match") in page
    facets = asyncio.run(room.client.get("/-/search/facets", params={"q": "harbour"})).text
    assert f'data-total-text="{MANY}"' in facets  # the script puts the true number in place of "100+"
    sites = dict(re.findall(r'<a href="[^"]*">(site\d)</a> <span class="n">(\d+)</span>', facets))
    assert {k: int(v) for k, v in sites.items()} == {f"site{i}": len(range(i, MANY, 3)) for i in range(3)}
    # a search whose results fit on the page is counted exactly by the page itself
    few = asyncio.run(room.client.get("/-/search", params={"q": "ferry"})).text
    assert f'<span class="morgue-total">{FEW}</span> articles match' in few
    last_page = str(MANY // PAGE_SIZE + 1)
    last = asyncio.run(room.client.get("/-/search", params={"q": "harbour", "page": last_page}))
    assert f'<span class="morgue-total">{MANY}</span> articles match' in last.text
