"""Rebuild ``morgue.db`` from the WARC files alone, keeping the old database as a backup.

Captures, articles and their versions come from the WARC records (through ``archive.ingest``, the path the
crawl files them by). What WARC files cannot hold is run history and configuration: the ``crawls`` and
``sites`` rows (and which files were imported from other tools, with the page titles their WACZ gave) are
copied from the old database when there is one, and a crawl id named in a warcinfo
record but missing there gets a row rebuilt from its captures. ``site_blocks`` (learned boilerplate) is
copied too and fed to the extractor, as the crawl does; then each site's blocks are learned again from the
rebuilt articles (``archive.site_blocks.relearn_sites``), which is all there is when the old db is lost.
``site_templates`` (learned site templates) is copied and replayed: every page goes through the version
its crawl had learned, not one learned again from whichever pages come first (``archive.site_templates``);
without the old db a site's template is learned again, and texts may differ where the crawl's first pages
did. The pages a killed crawl left waiting for their requisites (``pages_awaiting_requisites``) are
copied as well (capture ids are stable).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archive.index import Index
from archive.ingest import IngestStats, Reuse, RulesFor, ingest_files
from archive.rounds import reset_rounds
from archive.site_blocks import blocks_lookup, relearn_sites
from archive.warc_reader import warc_files

__all__ = ["reindex", "ReindexResult", "backup_database"]


@dataclass
class ReindexResult:
    stats: IngestStats
    backup: Path | None
    counts: dict[str, int]
    extractor: str


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def backup_database(db_path: Path, backup_dir: Path, *, label: str) -> Path:
    """A consistent copy of a SQLite database (WAL included) in ``backup_dir``, via SQLite's backup API."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    target = backup_dir / f"{db_path.stem}-{label}-{_stamp()}.db"
    n = 1
    while target.exists():
        n += 1
        target = backup_dir / f"{db_path.stem}-{label}-{_stamp()}-{n}.db"
    source = sqlite3.connect(str(db_path))
    dest = sqlite3.connect(str(target))
    try:
        source.backup(dest)
    finally:
        dest.close()
        source.close()
    return target


def _checkpoint_and_close(path: Path) -> None:
    """Fold a database's WAL into the main file and leave no -wal/-shm beside it (before a rename)."""
    conn = sqlite3.connect(str(path))
    try:
        conn.execute("PRAGMA journal_mode=DELETE")
    finally:
        conn.close()


def _copy_history(index: Index, old_db: Path) -> None:
    db = index.db
    conn = sqlite3.connect(f"file:{old_db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        for table in ("sites", "crawls", "site_blocks", "site_templates", "imports", "imported_pages",
                      "pages_awaiting_requisites"):
            try:
                rows = [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]  # noqa: S608
            except sqlite3.OperationalError:
                continue
            columns = set(db[table].columns_dict)
            if rows:
                db[table].insert_all([{k: v for k, v in r.items() if k in columns} for r in rows],
                                     replace=True)
    finally:
        conn.close()


def _rebuild_missing_crawls(index: Index) -> None:
    rows = list(index.db.query(
        "SELECT crawl_id, site, min(captured_at) AS started, max(captured_at) AS finished, count(*) AS n "
        "FROM captures WHERE crawl_id IS NOT NULL AND crawl_id NOT IN (SELECT id FROM crawls) "
        "GROUP BY crawl_id"))
    for row in rows:
        index.db["crawls"].insert({
            "id": row["crawl_id"], "site": row["site"], "started_at": row["started"],
            "finished_at": row["finished"], "status": "rebuilt-from-warc", "captures": row["n"],
            "note": "rebuilt by morgue reindex from warcinfo and capture dates; counts other than "
                    "captures are unknown"}, replace=True)


def reindex(data_path: Path, *, rules_for: RulesFor | None = None,
            progress: Callable[[str], None] | None = None, reuse: Reuse | None = None) -> ReindexResult:
    """Rebuild ``DATA/morgue.db`` from ``DATA/warc``; the caller holds the data directory's lock. Every
    page is extracted again, unless ``reuse`` says which stored extractions to file instead."""
    from extract import EXTRACTOR_VERSION

    db_path = data_path / "morgue.db"
    tmp_path = data_path / "morgue.db.reindex"
    for leftover in (tmp_path, Path(f"{tmp_path}-wal"), Path(f"{tmp_path}-shm")):
        leftover.unlink(missing_ok=True)
    files = warc_files(data_path / "warc", arc=True)
    index = Index(tmp_path)
    try:
        if db_path.exists():
            _copy_history(index, db_path)
            reset_rounds(index)  # cluster rounds' rows are rebuilt from their workers' files
        stats = ingest_files(index, files, rules_for=rules_for, progress=progress,
                             blocks_for=blocks_lookup(index), replay_templates=True, reuse=reuse)
        relearn_sites(index, [r["site"] for r in index.db.query(
            "SELECT DISTINCT site FROM articles WHERE site IS NOT NULL")])
        _rebuild_missing_crawls(index)
        index.set_meta("reindexed_at", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        index.set_meta("reindex_extractor", str(EXTRACTOR_VERSION))
        index.set_meta("reindex_reused", str(stats.reused))
        index.set_meta("reindex_warc_files", str(len(files)))
        index.commit()
        counts = index.counts()
    finally:
        index.close()
    _checkpoint_and_close(tmp_path)
    backup = None
    if db_path.exists():
        backup = backup_database(db_path, data_path / "backups", label="before-reindex")
        _checkpoint_and_close(db_path)
    os.replace(tmp_path, db_path)
    for stale in (Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        stale.unlink(missing_ok=True)
    return ReindexResult(stats=stats, backup=backup, counts=counts, extractor=str(EXTRACTOR_VERSION))
