"""Finish what a killed crawl left behind, before the next crawl of the same data directory starts.

The caller holds the data directory's lock, so no other process is writing: every ``.open`` WARC file is
an orphan, and every ``crawls`` row still ``running`` belongs to a process that died (kill -9, power
loss, out of memory). A crash can leave:

* an ``.open`` file, perhaps ending in half a record: cut after its last complete record (a backup
  first), renamed to its final name, and its records missing from the index indexed (``verify --repair``);
* a saved Scrapy JOBDIR whose queue state was never written (Scrapy saves it at a clean close only) while
  its duplicate filter remembers the requests that were in flight: resuming from it would skip those
  pages, so it is discarded and the crawl starts from the sitemaps again; the re-crawl policy fetches what
  is not archived and re-checks the rest;
* article pages archived and indexed but not extracted yet (extraction runs after the capture): they are
  extracted now from the WARC record and filed, with their text resource, as the crawl would have done;
* pages archived while their requisites (style sheets, images, fonts) were still queued or in flight:
  the next crawl skips or re-checks those pages, so nothing would fetch them. A page's ``urn:pageinfo:``
  record is written once all of its requisites have an outcome, so the crashed crawl's pages that wanted
  requisites and have none are listed in ``pages_awaiting_requisites``; the next crawl of the site fetches
  their requisites from the archived page (crawler.spiders.news) and writes their pageinfo then.

No Scrapy here: it runs before the crawler process starts.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator

from archive.extractions import store_extraction
from archive.index import Index
from archive.ingest import charset_of, decoded_body, extract_body, file_article, is_html, unextractable
from archive.requisites import PAGEINFO_PREFIX
from archive.verify import VerifyReport, repair_archive, scan_file
from archive.warc_reader import WarcReadError, read_record, resolve_warc_path
from archive.warc_writer import OPEN_SUFFIX, WarcWriter

__all__ = ["recover_data_dir"]

logger = logging.getLogger("morgue")


def recover_data_dir(data_path: Path, rules: Mapping[str, Mapping[str, Any] | None] | None = None,
                     *, job_dir_of: Any = None, article_like: Any = None,
                     requisites_of: Callable[[str], str] | None = None) -> list[str]:
    """Repair ``.open`` files, close crashed crawls, extract their unextracted articles, list the pages
    whose requisites they left unfetched; what was done.

    ``rules`` maps site names to their seeds' extraction rules; ``job_dir_of(site)`` names a site's saved
    JOBDIR (discarded when that site's crawl crashed); ``article_like(site, url)`` says whether an HTML
    page re-indexed from a crashed file (which lost the crawl's "article" note) may be an article;
    ``requisites_of(site)`` is the seed's ``requisites`` mode (``"article"`` for a site not known).
    """
    actions: list[str] = []
    warc_dir = data_path / "warc"
    orphans = sorted(warc_dir.glob("*" + OPEN_SUFFIX)) if warc_dir.is_dir() else []
    if orphans:
        report = VerifyReport(files=[scan_file(path) for path in orphans])
        rules_for = (lambda site: (rules or {}).get(site or "")) if rules else None
        actions += repair_archive(data_path, report, rules_for=rules_for)
    db_path = data_path / "morgue.db"
    if not db_path.exists():
        return _logged(actions)
    with Index(db_path) as index:
        crashed = list(index.db.query(
            "SELECT id, site, started_at FROM crawls WHERE finished_at IS NULL AND status = 'running'"))
        if not crashed:
            return _logged(actions)
        for row in crashed:
            index.db.execute(
                "UPDATE crawls SET status = 'crashed', finished_at = COALESCE("
                "(SELECT MAX(captured_at) FROM captures WHERE crawl_id = :id), started_at) WHERE id = :id",
                {"id": row["id"]})
        index.commit()
        actions.append("closed {} crawl(s) that ended without finishing: {}".format(
            len(crashed), ", ".join(f"#{r['id']} {r['site']} (started {r['started_at']})" for r in crashed)))
        for site in sorted({r["site"] for r in crashed}):
            saved = job_dir_of(site) if job_dir_of else None
            if saved is not None and Path(saved).exists():
                shutil.rmtree(saved, ignore_errors=True)
                actions.append(f"{site}: discarded the saved crawl state in {saved} (not written at the "
                               "crash); this crawl starts from the sitemaps and feeds again")
        actions += _extract_pending(index, data_path, [r["id"] for r in crashed], rules or {},
                                    article_like or (lambda site, url: False))
        # the files the crash left open, besides those the crashed crawls' captures are in: the requisite
        # fetcher's holds pageinfo records, and perhaps no indexed capture (its requisites still held)
        repaired = [path.name[: -len(OPEN_SUFFIX)] for path in orphans]
        actions += _requisites_unfinished(index, data_path, [r["id"] for r in crashed],
                                          requisites_of or (lambda site: "article"),
                                          article_like or (lambda site, url: False), repaired)
        index.clear_article_notes([r["id"] for r in crashed])  # recovered: the markers have served
    return _logged(actions)


def _logged(actions: list[str]) -> list[str]:
    for action in actions:
        logger.warning("recovery: %s", action)
    return actions


def _extract_pending(index: Index, data_path: Path, crawl_ids: Sequence[int],
                     rules: Mapping[str, Mapping[str, Any] | None], article_like: Any) -> list[str]:
    """Article captures of the crashed crawls that were never extracted: extract and file them now.

    Those the crawl indexed carry the note "article"; those written just before the kill and indexed
    by the repair have no note, so HTML pages whose URL the seed takes for an article are tried too."""
    marks = ", ".join("?" for _ in crawl_ids)
    rows = [row for row in index.db.query(
        f"SELECT * FROM captures WHERE crawl_id IN ({marks}) "  # noqa: S608
        "AND (note = 'article' OR note IS NULL) "
        "AND record_type = 'response' AND status = 200 AND kind = 'page' "
        "AND id NOT IN (SELECT capture_id FROM articles) ORDER BY captured_at", list(crawl_ids))
        if row["note"] == "article"
        or (is_html(row["content_type"]) and article_like(row["site"], row["url"]))]
    if not rows:
        return []
    from archive.site_blocks import site_block_hashes

    warc_dir = data_path / "warc"
    writers: dict[tuple[str, int], WarcWriter] = {}
    outcomes: dict[str, int] = {}
    problems: list[str] = []
    try:
        for capture in rows:
            site, crawl_id = capture["site"] or "unknown", int(capture["crawl_id"])
            try:
                record = read_record(warc_dir, capture["warc_file"], capture["warc_offset"])
                body = decoded_body(record)
            except (WarcReadError, ValueError, OSError) as exc:
                problems.append(f"cannot read {capture['url']}: {exc}")
                continue
            reason = unextractable(body, charset=charset_of(capture["content_type"]))
            known = site_block_hashes(index, site)
            extraction = None if reason else extract_body(body, capture["url"], capture["content_type"],
                                                          rules.get(site), known)
            if extraction is None:
                outcomes[reason or "no_article"] = outcomes.get(reason or "no_article", 0) + 1
                continue
            outcome, _, url = file_article(index, capture, extraction, site)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            writer = writers.get((site, crawl_id))
            if writer is None:
                writer = writers[(site, crawl_id)] = WarcWriter(
                    warc_dir, warcinfo={"morgue-site": site, "morgue-crawl-id": str(crawl_id),
                                        "description": "articles extracted after a crash"})
            store_extraction(writer, capture, url, extraction, rules.get(site), known,
                             text=outcome != "unchanged")
            index.commit()
    finally:
        for writer in writers.values():
            writer.close()
    summary = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
    return [f"extracted {len(rows)} article page(s) archived but not extracted before the crash "
            f"({summary})", *problems]


def _requisites_unfinished(index: Index, data_path: Path, crawl_ids: Sequence[int],
                           requisites_of: Callable[[str], str], article_like: Any,
                           repaired: Sequence[str] = ()) -> list[str]:
    """The crashed crawls' pages that wanted requisites but have no ``urn:pageinfo:`` record (written once
    all of a page's requisites had an outcome): listed for the next crawl of their site to finish.

    Which pages wanted them is the crawl's rule (crawler.requisites.RequisitePlanner.wants): an HTML page
    fetched whole (200, not a revisit) that is an article, or any such page with ``"all-pages"`` /
    ``"all"``. The pageinfo records are found by reading the crashed crawls' WARC files (only theirs, and
    only here: a crawl that ends writes every page's record, so normal crawls pay nothing for this)."""
    marks = ", ".join("?" for _ in crawl_ids)
    rows = index.db.query(
        f"SELECT *, (note IS 'article' OR kind = 'article') AS is_article FROM captures "  # noqa: S608
        f"WHERE crawl_id IN ({marks}) AND record_type = 'response' AND status = 200 "
        "AND kind IN ('page', 'article') ORDER BY captured_at", list(crawl_ids))
    wanted = []
    for row in rows:
        mode = requisites_of(row["site"] or "")
        if mode == "none" or not is_html(row["content_type"]):
            continue
        if mode in ("all-pages", "all") or row["is_article"] or (
                row["note"] is None and article_like(row["site"], row["url"])):
            wanted.append(row)
    if not wanted:
        return []
    files = sorted({str(f) for (f,) in index.db.execute(
        f"SELECT DISTINCT warc_file FROM captures WHERE crawl_id IN ({marks})",  # noqa: S608
        list(crawl_ids))} | {name for name in repaired if (data_path / "warc" / name).exists()})
    described, problems = _pageinfo_refers_to(data_path / "warc", files)
    missing = [row for row in wanted if row["record_id"] not in described]
    if not missing:
        return problems
    added = index.await_requisites(missing)
    by_site: dict[str, int] = {}
    for row in missing:
        by_site[row["site"] or "unknown"] = by_site.get(row["site"] or "unknown", 0) + 1
    return [*problems, *(
        f"{site}: {n} archived page(s) of the crashed crawl never got their requisites (style sheets, "
        f"images, fonts: no pageinfo record); the next crawl of {site} fetches them from the archived "
        "pages" + ("" if added == len(missing) else f" ({len(missing) - added} were listed already)")
        for site, n in sorted(by_site.items()))]


def _pageinfo_refers_to(warc_dir: Path, files: Sequence[str]) -> tuple[set[str], list[str]]:
    """The page records (``WARC-Refers-To``) that the ``urn:pageinfo:`` records of these files describe."""
    described: set[str] = set()
    problems: list[str] = []
    for name in files:
        try:
            with resolve_warc_path(warc_dir, name).open("rb") as stream:
                for record in ArchiveIterator(stream):
                    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                    if record.rec_type == "resource" and uri.startswith(PAGEINFO_PREFIX):
                        described.add(record.rec_headers.get_header("WARC-Refers-To") or "")
        except Exception as exc:  # noqa: BLE001 - a damaged file: its pages are taken to lack pageinfo
            problems.append(f"cannot read the pageinfo records of {name}: {exc}")
    return described, problems
