"""The SQLite index over the archive: captures, articles (with versions), sites, crawls, learned blocks.

Everything here can be rebuilt from the WARC files (``morgue reindex``). Writes are batched in
transactions; ``commit()`` makes them durable. Only one process writes an index at a time (see
``archive.lock``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from archive.lock import DataDirLock, LockedError
from archive.query_language import translate
from archive.records import RecordPointer
from archive.schema import SCHEMA_VERSION, migrate
from archive.search import search_rows

__all__ = ["Index", "SearchHit", "SearchResults", "SearchError", "text_hash", "capture_row",
           "bring_up_to_date", "capture_filter"]


class SearchError(ValueError):
    """A search query the full-text engine cannot parse; the message says how to fix it."""


@dataclass
class SearchHit:
    id: str
    url: str
    title: str | None
    site: str | None
    published: str | None
    captured_at: str
    snippet: str
    version: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SearchResults(list[SearchHit]):
    """The hits of ``Index.search`` (a list), with what the query was read as: ``searched`` is the FTS5
    expression run, ``message`` says in words what was searched for instead of what was typed (or None)."""

    def __init__(self, hits: Iterable[SearchHit] = (), *, message: str | None = None,
                 searched: str = "") -> None:
        super().__init__(hits)
        self.message, self.searched = message, searched


def text_hash(text: str) -> str:
    """Fingerprint of extracted text, whitespace-insensitive: versions are judged on text, not bytes."""
    normalized = " ".join(text.split())
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def capture_row(
    pointer: RecordPointer, *, url: str, status: int | None, headers: Iterable[tuple[str, str]],
    payload_length: int, site: str | None, crawl_id: int | None, kind: str,
    revisit_profile: str | None = None, refers_to: str | None = None, note: str | None = None,
) -> dict[str, Any]:
    """The ``captures`` row for one archived response or revisit record (crawl and reindex share it)."""
    lowered = {}
    for name, value in headers:
        lowered.setdefault(name.lower(), value)
    return {
        "id": pointer.capture_id, "url": url, "site": site, "crawl_id": crawl_id,
        "captured_at": pointer.date, "status": status, "content_type": lowered.get("content-type"),
        "kind": kind, "record_type": pointer.record_type, "revisit_profile": revisit_profile,
        "refers_to": refers_to, "warc_file": pointer.warc_file, "warc_offset": pointer.offset,
        "warc_length": pointer.length, "record_id": pointer.record_id,
        "payload_digest": pointer.payload_digest, "block_digest": pointer.block_digest,
        "payload_length": payload_length, "etag": lowered.get("etag"),
        "last_modified": lowered.get("last-modified"), "note": note,
    }




def capture_filter(site: str | None, since: str | None, until: str | None = None, *, table: str = ""
                   ) -> tuple[list[str], list[Any]]:
    """SQL conditions (joined with AND; never empty) and their parameters choosing captures by site and
    capture time, ``since`` inclusive and ``until`` exclusive; ``table`` qualifies the columns."""
    prefix = f"{table}." if table else ""
    where, params = ["1 = 1"], []
    for column, op, value in (("site", "=", site), ("captured_at", ">=", since), ("captured_at", "<", until)):
        if value:
            where.append(f"{prefix}{column} {op} ?")
            params.append(value)
    return where, params


#: INSERT statements by table and columns (a capture row has one of a few shapes)
_INSERT_SQL: dict[tuple[str, ...], str] = {}


class Index:
    """A morgue index database (``morgue.db``)."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        if readonly:
            if self.path is None or not self.path.exists():
                raise FileNotFoundError(f"no index at {path}; crawl something first (morgue crawl ...)")
            bring_up_to_date(self.path)
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
        else:
            conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            # Said, not left to sqlite-utils' default: re-filing an article under its id is an INSERT OR
            # REPLACE, whose deletion must fire the delete triggers (site_counts, the full-text index).
            self.db = sqlite_utils.Database(conn, recursive_triggers=True)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            migrate(self.db)
        self.readonly = readonly
        self._in_tx = False
        self._pending = 0
        # Writes per transaction. A crawl sets 1 (crawler.session): then a kill -9 loses at most the row of
        # the record being written, which the next crawl re-indexes from the WARC file (crawler.recovery).
        self.commit_every = 500

    # -- transactions ---------------------------------------------------------------------------------
    def _begin(self) -> None:
        if not self._in_tx:
            self.db.execute("BEGIN")
            self._in_tx = True

    def _wrote(self, batch: int | None = None) -> None:
        self._pending += 1
        if self._pending >= max(batch or 0, self.commit_every):
            self.commit()

    def commit(self) -> None:
        """Make every pending write durable."""
        if self._in_tx:
            self.db.execute("COMMIT")
            self._in_tx = False
            self._pending = 0

    def close(self) -> None:
        self.commit()
        self.db.conn.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------------------
    def add_capture(self, row: Mapping[str, Any], *, batch: int | None = None) -> bool:
        """Record one capture; returns False if its WARC record is already indexed (idempotent). With
        ``batch``, the row is committed with the next write that commits, or once ``batch`` are pending."""
        return self._insert_new("captures", row, batch)

    def add_render(self, row: Mapping[str, Any]) -> bool:
        """Record one rendered-view record (``archive.renders``); False if it is already indexed."""
        return self._insert_new("renders", row)

    def add_resource(self, row: Mapping[str, Any]) -> bool:
        """Record one resource record of an imported file (a text, a screenshot); False if indexed."""
        return self._insert_new("resources", row)

    def _insert_new(self, table: str, row: Mapping[str, Any], batch: int | None = None) -> bool:
        self._begin()
        columns = (table, *row)
        sql = _INSERT_SQL.get(columns)
        if sql is None:  # the same few shapes of row, a crawl's every capture: built once each
            sql = _INSERT_SQL[columns] = "INSERT OR IGNORE INTO [{}] ({}) VALUES ({})".format(
                table, ", ".join(f"[{k}]" for k in row), ", ".join("?" for _ in row))
        cursor = self.db.execute(sql, list(row.values()))
        self._wrote(batch)
        return cursor.rowcount > 0

    def latest_article(self, url: str) -> dict[str, Any] | None:
        rows = list(self.db.query(
            "SELECT * FROM articles WHERE url = ? ORDER BY version DESC LIMIT 1", [url]))
        return rows[0] if rows else None

    def add_article(
        self, capture: Mapping[str, Any], extraction: Mapping[str, Any], *, url: str, site: str | None,
    ) -> tuple[str, str]:
        """Add an article version unless its text equals the latest version's.

        Returns (outcome, article id) where outcome is "new", "version" or "unchanged".
        """
        text = extraction.get("text") or ""
        digest = text_hash(text)
        latest = self.latest_article(url)
        if latest is not None and latest["text_hash"] == digest:
            return "unchanged", latest["id"]
        if latest is not None and latest["id"] == capture["id"]:
            return "unchanged", latest["id"]
        version = 1 if latest is None else latest["version"] + 1
        self._begin()
        if latest is not None:
            self.db.execute("UPDATE articles SET latest = 0 WHERE url = ?", [url])
        row = {
            "id": capture["id"], "capture_id": capture["id"], "url": url, "fetched_url": capture["url"],
            "site": site, "version": version, "latest": 1,
            "title": extraction.get("title"), "authors": json.dumps(extraction.get("authors") or []),
            "published": extraction.get("published"), "modified": extraction.get("modified"),
            "language": extraction.get("language"), "site_name": extraction.get("site_name"),
            "description": extraction.get("description"), "section": extraction.get("section"),
            "tags": json.dumps(extraction.get("tags") or []), "image": extraction.get("image"),
            "paywalled": int(bool(extraction.get("paywalled"))), "text": text,
            "word_count": len(text.split()), "text_hash": digest,
            "removed": json.dumps(extraction.get("removed") or [], ensure_ascii=False),
            "captured_at": capture["captured_at"], "warc_file": capture["warc_file"],
            "warc_offset": capture["warc_offset"], "warc_length": capture["warc_length"],
            "record_id": capture["record_id"], "payload_digest": capture["payload_digest"],
            "extractor": extraction.get("extractor"),
        }
        # plain SQL: sqlite-utils' insert reads the table's schema on every call (most of a filing's cost)
        self.db.execute("INSERT OR REPLACE INTO articles ({}) VALUES ({})".format(
            ", ".join(f"[{k}]" for k in row), ", ".join("?" for _ in row)), list(row.values()))
        self.db.execute("UPDATE captures SET kind = 'article' WHERE id = ?", [capture["id"]])
        self._wrote()
        return ("new" if latest is None else "version"), row["id"]

    def clear_article_notes(self, crawl_ids: list[int]) -> None:
        """Drop the crash-recovery "article" note from these crawls' captures (once they are done with)."""
        if not crawl_ids:
            return
        self._begin()
        marks = ", ".join("?" for _ in crawl_ids)
        self.db.execute(f"UPDATE captures SET note = NULL WHERE note = 'article' AND crawl_id IN ({marks})",
                        list(crawl_ids))
        self.commit()

    def await_requisites(self, pages: Iterable[Mapping[str, Any]]) -> int:
        """List pages (capture rows) whose requisites a killed crawl left without an outcome; how many
        were not listed yet."""
        self._begin()
        added = 0
        for page in pages:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO pages_awaiting_requisites (capture_id, site, url, crawl_id, noted_at) "
                "VALUES (?, ?, ?, ?, ?)", [page["id"], page["site"], page["url"], page["crawl_id"], _now()])
            added += cursor.rowcount
        self.commit()
        return added

    def save_waiting_pages(self, pages: Iterable[Mapping[str, Any]]) -> None:
        """List pages a crawl stopped cleanly left waiting for requisites, with what it knew of them
        (``requisites``, JSON); a page listed already gets the newer knowledge."""
        self._begin()
        for page in pages:
            self.db.execute(
                "INSERT INTO pages_awaiting_requisites "
                "(capture_id, site, url, crawl_id, noted_at, requisites) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (capture_id) DO UPDATE SET requisites = excluded.requisites, "
                "noted_at = excluded.noted_at",
                [page["id"], page["site"], page["url"], page["crawl_id"], _now(), page["requisites"]])
        self.commit()

    def awaiting_requisites(self, site: str) -> list[dict[str, Any]]:
        """The capture rows of a site's pages still waiting for their requisites, oldest first."""
        return list(self.db.query(
            "SELECT c.*, p.requisites AS awaited_requisites FROM pages_awaiting_requisites AS p "
            "JOIN captures AS c ON c.id = p.capture_id "
            "WHERE p.site = ? ORDER BY c.captured_at", [site]))

    def requisites_done(self, capture_id: str) -> None:
        """A page's pageinfo record is written: it waits no longer."""
        self._begin()
        self.db.execute("DELETE FROM pages_awaiting_requisites WHERE capture_id = ?", [capture_id])
        self.commit()

    def upsert_site(self, name: str, **values: Any) -> None:
        self._begin()
        self.db["sites"].upsert({"name": name, **values, "updated_at": _now()}, pk="name")
        self._wrote()

    def start_crawl(self, site: str) -> int:
        self._begin()
        row_id = self.db["crawls"].insert({"site": site, "started_at": _now(), "status": "running"}).last_pk
        self.commit()
        return int(row_id)

    def finish_crawl(self, crawl_id: int, **counts: Any) -> None:
        self._begin()
        self.db["crawls"].update(crawl_id, {"finished_at": _now(), **counts})
        self.commit()

    def set_meta(self, key: str, value: str) -> None:
        self._begin()
        self.db["morgue_meta"].upsert({"key": key, "value": value}, pk="key")
        self._wrote()

    # -- reading --------------------------------------------------------------------------------------
    def known_urls(self) -> dict[str, dict[str, Any]]:
        """The latest response capture of every URL: what a re-crawl needs for conditional requests."""
        rows = self.db.query(
            "SELECT url, id, record_id, captured_at, payload_digest, etag, last_modified, status "
            "FROM captures WHERE record_type = 'response' ORDER BY captured_at")
        return {row["url"]: row for row in rows}

    def counts(self) -> dict[str, int]:
        names = ("captures", "articles", "sites", "crawls", "renders")  # an older index may lack a table
        return {name: self.db[name].count if self.db[name].exists() else 0 for name in names}

    def search(self, query: str, *, limit: int = 20, order: str = "rank", site: str | None = None,
               all_versions: bool = False) -> SearchResults:
        """Full-text search over article titles and text, ``query`` in morgue's search language for
        people (``archive.query_language``); ``order`` is "rank" or "newest". The hits come with the
        translation's message (what was searched for instead, if anything). Raises SearchError when
        nothing in the query can be searched."""
        translation = translate(query)
        if not translation.match:
            raise SearchError(translation.message or "empty query: give at least one word")
        try:
            rows = search_rows(self.db.conn, translation.match, limit=limit, order=order, site=site,
                               all_versions=all_versions)
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise SearchError(f"cannot search for {translation.text!r} (as {translation.match}): "
                                  f"{exc}") from None
            raise
        return SearchResults((SearchHit(**row) for row in rows), message=translation.message,
                             searched=translation.match)

    def get_article(self, article_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM articles WHERE id = ?", [article_id]))
        return rows[0] if rows else None

    def get_capture(self, capture_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM captures WHERE id = ?", [capture_id]))
        return rows[0] if rows else None


def bring_up_to_date(db_path: Path) -> bool:
    """Migrate an index written by an older morgue before it is read: readers open it read-only and would
    miss the newer columns and indexes. Only when no other process writes to the data directory (a writer
    migrates as it opens the index) and the directory is writable; True if it migrated."""
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return False
    lock = DataDirLock(db_path.parent)
    try:
        lock.acquire()
    except (LockedError, OSError):
        return False
    try:
        Index(db_path).close()
        return True
    finally:
        lock.release()

