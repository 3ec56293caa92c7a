"""``morgue index``: the one writer of the index in a cluster, filing each WARC file once it is closed.

Workers write WARC files only. The indexer takes the data directory's lock, ingests every finished file it
has not filed yet through ``archive.ingest.ingest_files`` (the path ``reindex`` uses, so the result is
the index a single-machine crawl would have built), records each in ``ingested_files``, re-learns the
touched sites' repeated blocks as reindex does, and with ``follow`` keeps polling. It files the
extractions the workers stored beside each response (``reuse``) rather than extracting pages again: one
indexer then keeps up with many workers, since filing costs a small fraction of extracting.

A worker killed with SIGKILL leaves an ``.open`` file whose records are complete up to the last one (the
writer flushes every record) and whose requests were acknowledged only after their records were written.
The indexer finishes such a file — cut after its last complete record, renamed, a copy kept in
``backups/`` — when its writer is known to be dead: same host and the pid is gone, or (with a cluster) the
worker's heartbeat has expired. Scrapy-free and Redis-optional: ``alive`` is a callable.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from archive.index import Index
from archive.ingest import Reuse, RulesFor, ingest_files
from archive.site_blocks import blocks_lookup, relearn_sites
from archive.verify import scan_file, seal_open_file
from archive.warc_reader import warc_files
from archive.warc_writer import OPEN_SUFFIX, file_host
from crawler.cluster.frontier import process_start

__all__ = ["IndexPass", "index_once", "follow", "seal_dead_files", "writer_of"]

logger = logging.getLogger("morgue")


@dataclass
class IndexPass:
    files: list[str] = field(default_factory=list)
    sealed: list[str] = field(default_factory=list)
    captures: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    reused: int = 0
    extracted: dict[str, int] = field(default_factory=dict)


def writer_of(name: str) -> tuple[str, int] | None:
    """(host, pid) from a WARC file name ``prefix-stamp-serial-host-pid.warc.gz[.open]``."""
    stem = name.removesuffix(OPEN_SUFFIX).removesuffix(".warc.gz").removesuffix(".warc")
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])


AliveCheck = Callable[[str, int], bool | None]


def default_alive(host: str, pid: int) -> bool | None:
    """True/False for a writer on this machine; None (unknown) for one elsewhere."""
    return process_start(pid) is not None if host == file_host() else None  # a zombie is dead


def seal_dead_files(warc_dir: Path, backups: Path, alive: AliveCheck = default_alive) -> list[str]:
    """Finish the ``.open`` files of writers known to be dead; returns the finished names."""
    sealed = []
    for path in sorted(warc_dir.glob(f"*{OPEN_SUFFIX}")):
        owner = writer_of(path.name)
        if owner is None or alive(*owner) is not False:
            continue
        final = path.with_name(path.name.removesuffix(OPEN_SUFFIX))
        if final.exists():
            logger.warning("left %s alone: %s already exists", path.name, final.name)
            continue
        scan = scan_file(path)
        size = path.stat().st_size
        seal_open_file(path, final, scan.good_end, backups, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
        if scan.good_end == 0:
            continue
        logger.warning("finished %s left by dead writer %s-%s (%d bytes of an incomplete record cut; "
                       "the original is in %s)", final.name, *owner, size - scan.good_end, backups)
        sealed.append(final.name)
    return sealed


def index_once(index: Index, data_path: Path, *, rules_for: RulesFor | None = None,
               alive: AliveCheck = default_alive, progress: Callable[[str], None] | None = None,
               reuse: Reuse | None = None, workers: int | None = None) -> IndexPass:
    """Seal dead writers' files, then file every finished WARC file not filed yet."""
    warc_dir = data_path / "warc"
    result = IndexPass()
    if warc_dir.is_dir():
        result.sealed = seal_dead_files(warc_dir, data_path / "backups", alive)
    done = {row["name"] for row in index.db.query("SELECT name FROM ingested_files")}
    todo = [p for p in warc_files(warc_dir) if p.name not in done]
    if not todo:
        return result
    # only_missing: files a local crawl wrote are indexed already; nothing is filed twice. Filing stored
    # extractions replays the site templates the crawls archived (as reindex does), so that a page goes
    # through the version its stored extraction names and that extraction can be filed as it is.
    stats = ingest_files(index, todo, rules_for=rules_for, only_missing=True, progress=progress,
                         blocks_for=blocks_lookup(index), reuse=reuse, workers=workers,
                         replay_templates=reuse is not None)
    sites = [r["site"] for r in index.db.query(
        "SELECT DISTINCT site FROM captures WHERE warc_file IN (SELECT value FROM json_each(?)) "
        "AND site IS NOT NULL", [json.dumps([p.name for p in todo])])]
    if sites:
        relearn_sites(index, sites)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for path in todo:
        counts = next(iter(index.db.query(
            "SELECT (SELECT count(*) FROM captures WHERE warc_file = :n) AS captures, "
            "(SELECT count(*) FROM articles WHERE warc_file = :n) AS articles", {"n": path.name})))
        index.db["ingested_files"].insert({
            "name": path.name, "size": path.stat().st_size, "ingested_at": now, "records": None,
            **counts}, replace=True)
    index.commit()
    result.files = [p.name for p in todo]
    result.captures = stats.captures
    result.outcomes = dict(stats.outcomes)
    result.problems = list(stats.problems)
    result.reused = stats.reused
    result.extracted = dict(stats.extracted)
    return result


def follow(index: Index, data_path: Path, *, interval: float = 2.0, rules_for: RulesFor | None = None,
           alive: AliveCheck = default_alive, report: Callable[[IndexPass], None] | None = None,
           should_stop: Callable[[], bool] = lambda: False, reuse: Reuse | None = None) -> None:
    """Index new files as they are closed until interrupted (or ``should_stop``)."""
    while not should_stop():
        result = index_once(index, data_path, rules_for=rules_for, alive=alive, reuse=reuse)
        if report is not None and (result.files or result.sealed):
            report(result)
        time.sleep(interval)
