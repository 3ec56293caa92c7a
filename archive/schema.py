"""The index schema, created and upgraded by numbered migrations (``PRAGMA user_version``).

Tables are named for users (datasette shows them as they are): ``articles`` (one row per distinct version
of an article), ``captures`` (every archived HTTP exchange), ``sites``, ``crawls`` and ``site_blocks``
(boilerplate learned per site).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

__all__ = ["migrate", "SCHEMA_VERSION"]


def _v1(db: sqlite_utils.Database) -> None:
    db["captures"].create({
        "id": str, "url": str, "site": str, "crawl_id": int, "captured_at": str, "status": int,
        "content_type": str, "kind": str, "record_type": str, "revisit_profile": str, "refers_to": str,
        "warc_file": str, "warc_offset": int, "warc_length": int, "record_id": str,
        "payload_digest": str, "block_digest": str, "payload_length": int, "etag": str,
        "last_modified": str, "note": str,
    }, pk="id", not_null={"url", "captured_at", "warc_file", "warc_offset", "record_id"})
    db["captures"].create_index(["url", "captured_at"])
    db["captures"].create_index(["site", "captured_at"])
    db["captures"].create_index(["record_id"], unique=True)
    db["articles"].create({
        "id": str, "capture_id": str, "url": str, "fetched_url": str, "site": str, "version": int,
        "latest": int, "title": str, "authors": str, "published": str, "modified": str, "language": str,
        "site_name": str, "description": str, "section": str, "tags": str, "image": str, "paywalled": int,
        "text": str, "word_count": int, "text_hash": str, "removed": str, "captured_at": str,
        "warc_file": str, "warc_offset": int, "warc_length": int, "record_id": str,
        "payload_digest": str, "extractor": str,
    }, pk="id", not_null={"url", "text", "captured_at"}, foreign_keys=[("capture_id", "captures", "id")])
    db["articles"].create_index(["url", "version"], unique=True)
    db["articles"].create_index(["published"])
    db["articles"].create_index(["site", "published"])
    db["articles"].create_index(["captured_at"])
    db["articles"].enable_fts(["title", "text"], create_triggers=True, tokenize="porter unicode61")
    db["sites"].create({
        "name": str, "source": str, "every": str, "recrawl_within": str, "start_urls": str,
        "sitemaps": str, "feeds": str, "updated_at": str,
    }, pk="name")
    db["crawls"].create({
        "id": int, "site": str, "started_at": str, "finished_at": str, "seconds": float, "status": str,
        "pages": int, "captures": int, "new_articles": int, "new_versions": int, "unchanged": int,
        "not_modified": int, "robots_blocked": int, "errors": int, "errors_by_kind": str, "note": str,
    }, pk="id")
    db["crawls"].create_index(["site", "started_at"])
    db["site_blocks"].create({
        "site": str, "hash": str, "text": str, "pages": int, "learned_at": str,
    }, pk=("site", "hash"))
    db["morgue_meta"].create({"key": str, "value": str}, pk="key")


def _v2(db: sqlite_utils.Database) -> None:
    """Re-crawl bookkeeping on each crawl: known articles not re-fetched, articles skipped by the date
    cut-off, the URLs robots.txt forbade (JSON list), and whether the run resumed an interrupted crawl."""
    for column, kind in (("skipped_known", int), ("skipped_before_since", int), ("rechecked", int),
                         ("robots_blocked_urls", str), ("resumed", int)):
        db["crawls"].add_column(column, kind)


def _v3(db: sqlite_utils.Database) -> None:
    """``sort_date``: the published date (else the capture time) in UTC, indexed, so that newest-first
    search and listings walk an index instead of sorting every match (time zones make the raw ISO strings
    sort wrongly)."""
    db.execute("ALTER TABLE articles ADD COLUMN sort_date TEXT GENERATED ALWAYS AS "
               "(coalesce(datetime(published), datetime(captured_at))) VIRTUAL")
    db.execute("CREATE INDEX idx_articles_sort_date ON articles(sort_date)")


def _v4(db: sqlite_utils.Database) -> None:
    """WARC files `morgue index` has filed (cluster workers write WARC only, the indexer files them)."""
    db["ingested_files"].create({"name": str, "size": int, "ingested_at": str, "records": int,
                                 "captures": int, "articles": int}, pk="name")


def _v5(db: sqlite_utils.Database) -> None:
    """An index on ``articles.fetched_url``: ingest asks "was this fetched URL ever an article?" for
    every archived HTML page, and ``morgue versions`` looks articles up by it."""
    db["articles"].create_index(["fetched_url"])


def _v6(db: sqlite_utils.Database) -> None:
    """The full-text update trigger fires only when the title or the text change: a new version sets
    ``latest = 0`` on the earlier ones, which re-indexed their whole text for nothing."""
    db.execute('DROP TRIGGER IF EXISTS "articles_au"')
    db.execute(
        'CREATE TRIGGER "articles_au" AFTER UPDATE OF "title", "text" ON "articles" BEGIN\n'
        '  INSERT INTO "articles_fts" ("articles_fts", rowid, "title", "text") '
        "VALUES('delete', old.rowid, old.\"title\", old.\"text\");\n"
        '  INSERT INTO "articles_fts" (rowid, "title", "text") VALUES (new.rowid, new."title", new."text");\n'
        "END"
    )


def _v7(db: sqlite_utils.Database) -> None:
    """Indexes for the reading room's home page, which counted and dated everything by reading every row
    (0.85 s on 200,000 articles): latest versions per site, and capture times. (A partial index on
    ``latest = 1`` lured the planner away from the ``sort_date`` index for "latest, newest first".)"""
    db["articles"].create_index(["site", "latest"])
    db["captures"].create_index(["captured_at"])


def _v8(db: sqlite_utils.Database) -> None:
    """How many sitemaps, feeds and section pages a re-crawl found unchanged (answered 304 and read from
    their archived copy)."""
    db["crawls"].add_column("discovery_not_modified", int)


_COUNT_TRIGGERS = """
CREATE TRIGGER site_counts_{table}_insert AFTER INSERT ON {table} BEGIN
  INSERT INTO site_counts (site, {add}) VALUES (coalesce(new.site, ''), {new})
  ON CONFLICT (site) DO UPDATE SET {plus_new};
END;
CREATE TRIGGER site_counts_{table}_delete AFTER DELETE ON {table} BEGIN
  UPDATE site_counts SET {minus_old} WHERE site = coalesce(old.site, '');
END;
CREATE TRIGGER site_counts_{table}_update AFTER UPDATE OF {watched} ON {table} BEGIN
  UPDATE site_counts SET {minus_old} WHERE site = coalesce(old.site, '');
  INSERT INTO site_counts (site, {add}) VALUES (coalesce(new.site, ''), {new})
  ON CONFLICT (site) DO UPDATE SET {plus_new};
END;
"""


def _v9(db: sqlite_utils.Database) -> None:
    """``site_counts``: per site (``''`` for none) its article versions, latest articles and captures, kept
    up to date by triggers, so the reading room's home page reads its figures instead of counting 200,000
    rows on every view (which could outlast datasette's time limit on a busy machine)."""
    db.execute("CREATE TABLE site_counts (site TEXT PRIMARY KEY, versions INTEGER NOT NULL DEFAULT 0, "
               "articles INTEGER NOT NULL DEFAULT 0, captures INTEGER NOT NULL DEFAULT 0)")
    db.execute("INSERT INTO site_counts (site, versions, articles) "
               "SELECT coalesce(site, ''), count(*), coalesce(sum(latest), 0) FROM articles GROUP BY 1")
    db.execute("INSERT INTO site_counts (site, captures) SELECT coalesce(site, ''), count(*) FROM captures "
               "WHERE true GROUP BY 1 ON CONFLICT (site) DO UPDATE SET captures = excluded.captures")
    for table, columns in (("articles", {"versions": "1", "articles": "coalesce({row}.latest, 0)"}),
                           ("captures", {"captures": "1"})):
        script = _COUNT_TRIGGERS.format(
            table=table, add=", ".join(columns), watched="site, latest" if table == "articles" else "site",
            new=", ".join(v.format(row="new") for v in columns.values()),
            plus_new=", ".join(f"{k} = {k} + {v.format(row='new')}" for k, v in columns.items()),
            minus_old=", ".join(f"{k} = {k} - {v.format(row='old')}" for k, v in columns.items()))
        for statement in script.split("END;"):
            if statement.strip():
                db.execute(statement + "END;")


def _v10(db: sqlite_utils.Database) -> None:
    """``renders``: one row per rendered-view record (``urn:view:``, ``urn:fullPage:``, ``urn:thumbnail:``,
    ``urn:pdf:``, ``urn:renderinfo:``) made from a capture by ``morgue render``; the records of one render
    share ``rendered_at``. (If not there already: an index rolled back to an earlier version may keep it.)"""
    db["renders"].create({
        "id": str, "capture_id": str, "page_url": str, "view": str, "uri": str, "rendered_at": str,
        "content_type": str, "length": int, "status": str, "note": str, "refers_to": str,
        "warc_file": str, "warc_offset": int, "warc_length": int, "record_id": str,
        "payload_digest": str, "block_digest": str,
    }, pk="id", not_null={"uri", "rendered_at", "warc_file", "warc_offset", "record_id"}, if_not_exists=True)
    db["renders"].create_index(["capture_id", "rendered_at"], if_not_exists=True)
    db["renders"].create_index(["record_id"], unique=True, if_not_exists=True)


def _v11(db: sqlite_utils.Database) -> None:
    """Learned site templates (``archive.site_templates``): one row per site and version, the template
    as JSON, when it was learned and expires, and how many pages fitted it or fell back; ``status`` is
    active, replaced (a redesign), expired, or none (no template could be learned: ``note`` says why)."""
    db["site_templates"].create(
        {"site": str, "version": int, "status": str, "template": str, "note": str, "learned_at": str,
         "expires_at": str, "pages_learned": int, "fitted": int, "fallbacks": int, "updated_at": str},
        pk=("site", "version"), not_null={"site", "version", "status"}, if_not_exists=True)


def _v12(db: sqlite_utils.Database) -> None:
    """Page requisites (style sheets, images, fonts) on each crawl: how many were archived, how many were
    unchanged since an earlier crawl, those robots.txt forbade (JSON list of URLs) and those that could not
    be archived whole (JSON list of {url, problem, detail}). (Columns already there are left alone: an
    index set back to an earlier version may keep them.)"""
    have = set(db["crawls"].columns_dict)
    for column, kind in (("requisites", int), ("requisites_not_modified", int), ("requisites_blocked", int),
                         ("requisites_blocked_urls", str), ("requisite_problems", str)):
        if column not in have:
            db["crawls"].add_column(column, kind)


def _v13(db: sqlite_utils.Database) -> None:
    """Child sitemaps a crawl came across and those it did not fetch because their index's lastmod showed
    they hold nothing it wants, indexes caught with lastmods their sitemaps belie, and the crawl's date
    cut-off (a later crawl trusts an earlier one's copies only if it fetched everything this one wants).
    (Columns already there are kept: an index rolled back to an earlier version may have them.)"""
    present = set(db["crawls"].columns_dict)
    for column, kind in (("sitemaps", int), ("sitemaps_skipped_by_lastmod", int), ("lastmod_lies", int),
                         ("since", str)):
        if column not in present:
            db["crawls"].add_column(column, kind)


def _v14(db: sqlite_utils.Database) -> None:
    """The cluster round a ``crawls`` row stands for (``morgue index`` opens and extends one per round),
    and the worker summary records already added to it (JSON list of record ids: each counts once)."""
    for column in ("cluster_round", "cluster_summaries"):
        if column not in db["crawls"].columns_dict:  # an index set back to an older version keeps them
            db["crawls"].add_column(column, str)
    db["crawls"].create_index(["cluster_round"], unique=True, if_not_exists=True)


def _v15(db: sqlite_utils.Database) -> None:
    """Files imported from other tools (``morgue import``): which files are foreign (verify reports their
    deviations as such, not as damage), their sha256 when imported (so a later change is damage), where
    they came from, what was off and which stretches could not be read (``damage``: verify tells that
    from new damage); the titles a WACZ's pages.jsonl gave; and the resource records other tools wrote
    beside their pages (Browsertrix's ``urn:text:``, ``urn:view:`` screenshots...).
    (If not there already: an index rolled back to an earlier version may keep them.)"""
    db["imports"].create({"name": str, "sha256": str, "size": int, "format": str, "source": str,
                          "imported_at": str, "records": int, "deviations": int, "problems": str,
                          "damage": str}, pk="name", if_not_exists=True)
    if "damage" not in db["imports"].columns_dict:  # made by an earlier build of this version
        db["imports"].add_column("damage", str)
    db["imported_pages"].create({"url": str, "ts": str, "title": str, "source": str}, pk=("url", "ts"),
                                if_not_exists=True)
    db["resources"].create({
        "id": str, "url": str, "target_url": str, "kind": str, "content_type": str, "captured_at": str,
        "record_type": str, "refers_to": str, "warc_file": str, "warc_offset": int, "warc_length": int,
        "record_id": str, "payload_digest": str, "block_digest": str, "payload_length": int,
    }, pk="id", not_null={"url", "warc_file", "warc_offset", "record_id"}, if_not_exists=True)
    db["resources"].create_index(["target_url"], if_not_exists=True)
    db["resources"].create_index(["record_id"], unique=True, if_not_exists=True)


def _v16(db: sqlite_utils.Database) -> None:
    """Pages archived by a crawl that was killed before their requisites all had an outcome (no
    ``urn:pageinfo:`` record): crash recovery lists them, the next crawl of the site fetches their
    requisites from the archived page and drops the row once the page's pageinfo record is written."""
    db["pages_awaiting_requisites"].create({
        "capture_id": str, "site": str, "url": str, "crawl_id": int, "noted_at": str,
    }, pk="capture_id", not_null={"url"}, if_not_exists=True)
    db["pages_awaiting_requisites"].create_index(["site"], if_not_exists=True)


def _v17(db: sqlite_utils.Database) -> None:
    """What a crawl stopped cleanly (Ctrl-C, SIGTERM, a page limit) knew of a waiting page's requisites
    (JSON: their outcomes so far, what its style sheets name), for the resumed crawl to finish its
    pageinfo record: the resumed queue and duplicate filter do not ask again for what was answered."""
    if "requisites" not in db["pages_awaiting_requisites"].columns_dict:
        db["pages_awaiting_requisites"].add_column("requisites", str)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9,
                                                              _v10, _v11, _v12, _v13, _v14, _v15, _v16,
                                                              _v17]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite_utils.Database) -> None:
    """Bring a database up to SCHEMA_VERSION, one transaction per migration."""
    current = db.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise RuntimeError(f"this index was written by a newer morgue (schema {current} > {SCHEMA_VERSION})")
    for number in range(current, SCHEMA_VERSION):
        with db.conn:
            MIGRATIONS[number](db)
            db.execute(f"PRAGMA user_version = {number + 1}")
