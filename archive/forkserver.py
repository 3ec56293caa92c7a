"""The forkserver that morgue's child processes start from (extraction workers, the requisite fetcher,
reindex's workers), with what they all import loaded into it once.

Without it each child imports trafilatura, lxml and warcio itself: 0.35-0.45 CPU-s per child, paid again by
every crawl (three children by default) on the cores the crawl itself needs. Forked from a server that has
imported them, a child starts with them in memory, shared copy-on-write.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext

__all__ = ["forkserver_context", "PRELOAD"]

#: What the children import: the extractor, and what the requisite fetcher archives with.
PRELOAD = ["extract", "archive.ingest", "archive.exchange_capture", "archive.requisites",
           "archive.warc_writer"]


def forkserver_context() -> BaseContext:
    """multiprocessing's forkserver context, its server (started by the first child) preloading PRELOAD."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context
