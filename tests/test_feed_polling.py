"""Feeds polled as feed readers poll them, over real HTTP (the reading room served by uvicorn): a reader
keeps the entry ids it has seen and sends back the ETag and Last-Modified it was given. Between polls the
index files new articles (one a late-filed old capture, as an import brings) and a new version of one: each
reader sees each new match exactly once, a poll with nothing new is a 304 without a body, and the entries
already seen keep their ids and dates."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import feedparser
import pytest

from archive.datasette.feeds import FEED_SIZE
from archive.follows import Follows
from archive.index import Index, capture_row
from archive.records import RecordPointer
from tests.conftest import serve_reading_room


@dataclass
class Reader:
    """What a feed reader keeps of one subscription: the entries seen, and the validators last given."""

    url: str
    etag_too: bool = True  # False: a reader that sends only If-Modified-Since
    seen: dict[str, tuple[str, str]] = field(default_factory=dict)  # entry id -> (alternate link, updated)
    etag: str | None = None
    modified: str | None = None
    statuses: list[int] = field(default_factory=list)

    def poll(self) -> list[str]:
        """One poll: the ids of the entries this reader had not seen, in the feed's order."""
        headers = {}
        if self.etag and self.etag_too:
            headers["If-None-Match"] = self.etag
        if self.modified:
            headers["If-Modified-Since"] = self.modified
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url, headers=headers), timeout=30) as r:
                status, body, got = r.status, r.read(), r.headers
        except urllib.error.HTTPError as answer:
            status, body, got = answer.code, answer.read(), answer.headers
        self.statuses.append(status)
        if status == 304:
            assert body == b""
            return []
        assert status == 200, body
        self.etag, self.modified = got["ETag"], got["Last-Modified"]
        parsed = feedparser.parse(body)
        assert parsed.bozo == 0, parsed.bozo_exception
        new = []
        for entry in parsed.entries:
            page = next(link.href for link in entry.links if link.rel == "alternate")
            if entry.id in self.seen:
                assert self.seen[entry.id] == (page, entry.updated), entry.id  # the same entry, unchanged
            else:
                self.seen[entry.id] = (page, entry.updated)
                new.append(entry.id)
        return new


def _file(index: Index, n: int, url: str, text: str, captured: str, site: str = "gazette") -> str:
    pointer = RecordPointer(warc_file="m.warc.gz", offset=100 * n, length=90, record_id=f"<urn:uuid:{n}>",
                            record_type="response", payload_digest=f"sha256:P{n}",
                            block_digest=f"sha256:B{n}", date=captured)
    row = capture_row(pointer, url=url, status=200, headers=[], payload_length=90, site=site, crawl_id=1,
                      kind="page")
    index.add_capture(row)
    _outcome, article_id = index.add_article(row, {"text": text, "title": text.split(".")[0],
                                                   "published": captured[:10], "extractor": "test"},
                                             url=url, site=site)
    return article_id


def _written_ago(data: Path, seconds: float) -> None:
    """Date the index's last write ``seconds`` back: the feeds give a Last-Modified only for a second that
    is over (a write later in the same second would not move it), and the test does not wait for one."""
    moment = time.time() - seconds
    for path in (data / "morgue.db", data / "morgue.db-wal"):
        if path.exists():
            os.utime(path, (moment, moment))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    return data


def test_each_new_match_reaches_each_reader_once(data: Path) -> None:
    Follows(data).add("harbour-budget", '"harbour budget"', site="gazette")
    with Index(data / "morgue.db") as index:
        # a full feed of matches: a late-filed old capture is in the next poll only if filing order rules
        first = [_file(index, n, f"https://gazette.example/{n}", f"Story {n}. The harbour budget grows.",
                       f"2026-11-{n:02d}T10:00:00Z") for n in range(1, FEED_SIZE + 1)]
        _file(index, 101, "https://gazette.example/101", "The ferry is late.", "2026-11-24T10:00:00Z")
        _file(index, 102, "https://herald.example/102", "The harbour budget, elsewhere.",
              "2026-11-25T10:00:00Z", site="herald")
    _written_ago(data, 60)
    with serve_reading_room(data) as base:
        feeds = {"saved search": f"{base}/-/feeds/follow/harbour-budget.atom",
                 "search": f"{base}/-/feeds/search.atom?q=%22harbour+budget%22&site=gazette"}
        readers = [Reader(url, etag_too=both) for url in feeds.values() for both in (True, False)]
        edits = Reader(f"{base}/-/feeds/edits.atom")
        firsts = [reader.poll() for reader in readers]
        assert edits.poll() == []
        assert all(len(ids) == FEED_SIZE for ids in firsts) and len({tuple(ids) for ids in firsts}) == 1
        assert all(reader.etag and reader.modified for reader in readers)
        assert [reader.poll() for reader in readers] == [[]] * 4 and edits.poll() == []
        assert [reader.statuses[-1] for reader in [*readers, edits]] == [304] * 5

        with Index(data / "morgue.db") as index:
            late = _file(index, 103, "https://gazette.example/103", "Old news. The harbour budget of 2019.",
                         "2019-05-01T10:00:00Z")  # filed now, captured years ago (an import)
            fresh = _file(index, 104, "https://gazette.example/104", "The harbour budget is cut.",
                          "2026-11-27T10:00:00Z")
            _file(index, 105, "https://gazette.example/105", "The ferry again.", "2026-11-28T10:00:00Z")
            edited = _file(index, 106, "https://gazette.example/1", "Story 1. The harbour budget grew.",
                           "2026-11-29T10:00:00Z")  # a new version of the first match
        _written_ago(data, 30)
        seconds = [reader.poll() for reader in readers]
        for ids in seconds:  # the three new matches, the last filed first; nothing seen before again
            assert [reader_id.rsplit("/", 1)[-1] for reader_id in ids] == [edited, fresh, late]
        assert [reader.statuses[-1] for reader in readers] == [200] * 4
        new_edits = edits.poll()
        assert [entry_id.rsplit("/", 1)[-1] for entry_id in new_edits] == [edited]
        assert [reader.poll() for reader in [*readers, edits]] == [[]] * 5
        assert [reader.statuses[-1] for reader in [*readers, edits]] == [304] * 5
        assert {i.rsplit("/", 1)[-1] for i in readers[0].seen} == {*first, late, fresh, edited}


def test_validators_are_checked_not_trusted(data: Path) -> None:
    """A wrong ETag or an If-Modified-Since before the last change gets the feed; a reader's ETag is
    answered even when its If-Modified-Since is old (If-None-Match decides, RFC 9110); an unreadable date
    gets the feed; a write in the current second gives no Last-Modified (it could not tell later writes)."""
    with Index(data / "morgue.db") as index:
        _file(index, 1, "https://gazette.example/1", "Story 1. The harbour budget grows.",
              "2026-11-21T10:00:00Z")
    _written_ago(data, 60)
    with serve_reading_room(data) as base:
        url = f"{base}/-/feeds/search.atom?q=harbour"

        def status(headers: dict[str, str]) -> tuple[int, Any]:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
                    return r.status, r.headers
            except urllib.error.HTTPError as answer:
                return answer.code, answer.headers

        code, got = status({})
        assert code == 200 and got["ETag"].startswith('"') and got["Cache-Control"] == "no-cache"
        etag, modified = got["ETag"], got["Last-Modified"]
        assert status({"If-None-Match": etag})[0] == 304
        assert status({"If-None-Match": f'"other", W/{etag}'})[0] == 304
        assert status({"If-None-Match": '"other"'})[0] == 200
        assert status({"If-None-Match": '"other"', "If-Modified-Since": modified})[0] == 200
        assert status({"If-None-Match": etag, "If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})[0] == 304
        assert status({"If-Modified-Since": modified})[0] == 304
        assert status({"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})[0] == 200
        assert status({"If-Modified-Since": "yesterday"})[0] == 200
        _written_ago(data, -5)  # a write that, to the clock, has just happened
        code, got = status({"If-Modified-Since": modified})
        assert code == 200 and got["Last-Modified"] is None and got["ETag"] == etag
