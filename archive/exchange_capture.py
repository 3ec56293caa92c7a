"""One HTTP exchange into the archive: its records (or a revisit of the URL's archived capture) and its
``captures`` row, decided the same way wherever it was fetched (Scrapy's downloader in the crawl process,
or the requisite fetcher's own process: crawler.requisite_fetcher). No Scrapy here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from archive.index import capture_row
from archive.ingest import REQUISITE, capture_kind
from archive.records import HttpExchange, sha256_digest
from archive.warc_writer import REVISIT_IDENTICAL, REVISIT_NOT_MODIFIED, WarcWriter

__all__ = ["Archived", "archive_exchange"]


@dataclass
class Archived:
    """What was written for one exchange: its index row, and the counts the crawl summary adds up."""

    row: dict[str, Any]
    counts: list[str] = field(default_factory=list)  # the crawl session's counters (ArchiveSession.count)
    stats: list[str] = field(default_factory=list)  # Scrapy stats keys to increment
    unchanged: bool = False  # an identical-payload revisit


def _same_answer(exchange: HttpExchange, known: dict[str, Any], requisite: bool) -> bool:
    """Whether a response repeats the URL's archived one byte for byte (written as an identical-payload
    revisit): a 200; for a requisite also an error answer with the same status, e.g. the 404 of a host
    without /favicon.ico, asked again by every crawl (and by the one that follows a killed crawl)."""
    if exchange.status != 200 and not (requisite and exchange.status == known.get("status")):
        return False
    return bool(known["payload_digest"] == sha256_digest(exchange.body))


def _revisit(writer: WarcWriter, exchange: HttpExchange, known: dict[str, Any], profile: str, kind: str,
             payload_length: int, site: str | None, crawl_id: int | None) -> dict[str, Any]:
    """Write a revisit of the known capture of this URL; its ``captures`` row."""
    pointer = writer.write_revisit(
        exchange, profile=profile, refers_to=known["record_id"], refers_to_uri=exchange.url,
        refers_to_date=known["captured_at"], payload_digest=known["payload_digest"])
    return capture_row(pointer, url=exchange.url, status=exchange.status, headers=exchange.response_headers,
                       payload_length=payload_length, site=site, crawl_id=crawl_id, kind=kind,
                       revisit_profile=profile, refers_to=known["record_id"])


def archive_exchange(writer: WarcWriter, exchange: HttpExchange, known: dict[str, Any] | None, *,
                     site: str | None, crawl_id: int | None, article: bool = False,
                     note: str | None = None) -> Archived:
    """Write ``exchange`` as received, or as a revisit of ``known`` (the URL's archived capture) when the
    server answered 304 or repeated it byte for byte; ``article`` pages count apart in the summary."""
    requisite = exchange.resource_type is not None
    if exchange.status == 304 and known:
        row = _revisit(writer, exchange, known, REVISIT_NOT_MODIFIED,
                       REQUISITE if requisite else "not-modified", 0, site, crawl_id)
        count = ("not_modified" if article else
                 "requisites_not_modified" if requisite else "not_modified_other")
        return Archived(row, [count], ["morgue/recrawl/not_modified"])
    if known and _same_answer(exchange, known, requisite):
        row = _revisit(writer, exchange, known, REVISIT_IDENTICAL, REQUISITE if requisite else "unchanged",
                       len(exchange.body), site, crawl_id)
        count = "identical" if article else "requisites_unchanged" if requisite else "identical_other"
        return Archived(row, [count], ["morgue/recrawl/identical_payload"], unchanged=True)
    pointer = writer.write_exchange(exchange)
    row = capture_row(pointer, url=exchange.url, status=exchange.status, headers=exchange.response_headers,
                      payload_length=len(exchange.body), site=site, crawl_id=crawl_id,
                      kind=capture_kind(exchange.status, exchange.resource_type), note=note)
    return Archived(row)
