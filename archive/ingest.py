"""Turn archived WARC records into index rows: the one path shared by the crawl, reindex and import.

A crawl files what it fetches as it goes; ``reindex`` and ``import`` read the same facts back from WARC
records. Keeping the decisions here (capture kind, body decoding, article URL, filing a version) is what
makes a reindex reproduce the crawl's rows.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archive.extractions import (
    TEXT_URN_PREFIX,
    BadExtraction,
    StoredExtraction,
    is_extraction_record,
    named_template_version,
    parse_extraction,
    same_rules,
    same_template,
    version_key,
)
from archive.forkserver import forkserver_context
from archive.index import Index, capture_row
from archive.renders import RENDER_WARCINFO_KEY, record_render_row
from archive.rounds import ROUND_SUMMARY_CONTENT_TYPE, RoundTally, extend_rounds, round_crawl_id
from archive.site_blocks import strip_known
from archive.urls import normalize_url, same_site
from archive.walk import Problem
from archive.warc_reader import (
    ArchivedRecord,
    WarcReadError,
    decode_content_encoding,
    iter_records,
    read_record,
)

__all__ = ["article_url", "capture_kind", "charset_of", "decoded_body", "extract_body", "file_article",
           "record_capture_row", "is_html", "extract_archived", "IngestStats", "ingest_files",
           "warcinfo_fields", "TEXT_URN_PREFIX", "REQUISITE", "requisite_type", "Reuse", "RESOURCE_KINDS",
           "resource_row", "imported_titles"]

logger = logging.getLogger(__name__)

REVISIT_IDENTICAL_SUFFIX = "identical-payload-digest"
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def article_url(fetched_url: str, canonical: str | None) -> str:
    """The URL an article is filed under: its canonical link when on the same site, else the fetched URL."""
    if canonical and canonical.startswith(("http://", "https://")) and same_site(canonical, fetched_url):
        return normalize_url(canonical)
    return normalize_url(fetched_url)


#: The ``captures.kind`` of a page requisite (style sheet, image, font, script), whatever its status or
#: record type: the reading room and renderers look requisites up by URL and time among these.
REQUISITE = "requisite"


def requisite_type(record: ArchivedRecord) -> str | None:
    """A requisite's resource type (``WARC-Resource-Type``; Browsertrix writes ``document`` for pages)."""
    value = (record.warc_header("WARC-Resource-Type") or "").strip().lower()
    return value if value and value != "document" else None


def capture_kind(status: int, resource_type: str | None = None) -> str:
    """A capture's kind from its HTTP status (and, for requisites, their resource type), as the crawler
    files it."""
    if resource_type:
        return REQUISITE
    if status == 304:
        return "not-modified"
    if 300 <= status < 400:
        return "redirect"
    if status >= 400:
        return "error"
    return "page"


def charset_of(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header, if any."""
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip("\"'")
    return None


def is_html(content_type: str | None) -> bool:
    return any(t in (content_type or "").lower() for t in _HTML_TYPES)


def decoded_body(record: ArchivedRecord) -> bytes:
    """The payload of a response record with its Content-Encoding undone (the bytes a browser parses)."""
    return decode_content_encoding(record.payload, record.http_header("Content-Encoding"))


#: Pages larger than this (decoded bytes) are archived, not extracted (the crawl: MORGUE_EXTRACT_MAX_BYTES).
MAX_EXTRACT_BYTES = 8 * 1024 * 1024
_CONTROL_BYTES = bytes(c for c in range(32) if c not in (9, 10, 12, 13))


def unextractable(body: bytes, *, max_bytes: int = MAX_EXTRACT_BYTES,
                  charset: str | None = None) -> str | None:
    """Why a page is not worth handing to the extractor, or None: ``empty``, ``too_large`` (past
    ``max_bytes``), ``undecodable`` (binary bytes served as HTML). The page stays archived either way."""
    if not body.strip():
        return "empty"
    if max_bytes and len(body) > max_bytes:
        return "too_large"
    if not (charset or "").lower().startswith("utf-16"):
        head = body[:65536]
        controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
        if b"\x00" in head or controls > len(head) // 20:
            return "undecodable"
    return None


def extract_body(body: bytes, url: str, content_type: str | None,
                 rules: Mapping[str, Any] | None = None,
                 known_repeated: Collection[str] = (), template: Mapping[str, Any] | None = None,
                 learn: bool = False, fallback: bool = True) -> dict[str, Any] | None:
    """Extract the article from decoded page bytes; the charset comes from Content-Type, as in a crawl,
    ``known_repeated`` the site's learned blocks (``archive.site_blocks``) and ``template`` its learned
    template (``archive.site_templates``; ``learn``: include what the page teaches one; ``fallback``:
    run the full pipeline where the template does not fit, else return None)."""
    from extract import SiteRules, extract_article
    from extract.template import Template

    site_rules = SiteRules.from_mapping(rules) if rules else None
    result = extract_article(body, url, rules=site_rules, encoding=charset_of(content_type),
                             known_repeated=known_repeated,
                             template=Template.from_dict(template) if template else None, learn=learn,
                             fallback=fallback)
    if result is None:
        return None
    data = result.to_dict()
    return data if (data.get("text") or "").strip() else None


def file_article(index: Index, capture: Mapping[str, Any], extraction: Mapping[str, Any],
                 site: str | None) -> tuple[str, str, str]:
    """File an extraction as a new article, a new version, or unchanged: (outcome, article id, url)."""
    url = article_url(capture["url"], extraction.get("canonical_url"))
    outcome, article_id = index.add_article(capture, extraction, url=url, site=site)
    return outcome, article_id, url


def warcinfo_fields(record: ArchivedRecord) -> dict[str, str]:
    """The ``key: value`` lines of a warcinfo record."""
    fields: dict[str, str] = {}
    for line in record.payload.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields.setdefault(key.strip(), value.strip())
    return fields


def record_capture_row(record: ArchivedRecord, *, site: str | None, crawl_id: int | None) -> dict[str, Any]:
    """The ``captures`` row of a response or revisit record, equal to the one the crawl wrote."""
    status = record.status or 0
    resource_type = requisite_type(record)
    profile = record.warc_header("WARC-Profile") if record.pointer.record_type == "revisit" else None
    if profile is None:
        return capture_row(record.pointer, url=record.url, status=record.status,
                           headers=record.http_headers, payload_length=len(record.payload), site=site,
                           crawl_id=crawl_id, kind=capture_kind(status, resource_type),
                           note=truncation_note(record))
    if profile.endswith(REVISIT_IDENTICAL_SUFFIX):
        kind, length = "unchanged", _int(record.http_header("Content-Length"))
    else:
        kind, length = "not-modified", 0
    kind = REQUISITE if resource_type else kind
    return capture_row(record.pointer, url=record.url, status=record.status, headers=record.http_headers,
                       payload_length=length, site=site, crawl_id=crawl_id, kind=kind,
                       revisit_profile=profile, refers_to=record.warc_header("WARC-Refers-To"))


def truncation_note(record: ArchivedRecord) -> str | None:
    """The note a crawl gives a body shorter than its Content-Length (kept as X-Orig-Content-Length)."""
    declared = record.http_header("X-Orig-Content-Length")
    if declared is None or not declared.strip().isdigit() or int(declared) <= len(record.payload):
        return None
    return f"truncated: received {len(record.payload)} of {declared.strip()} bytes"


def _int(text: str | None) -> int:
    try:
        return int((text or "").strip())
    except ValueError:
        return 0


@dataclass
class IngestStats:
    files: int = 0
    records: int = 0
    captures: int = 0
    renders: int = 0
    skipped: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    reused: int = 0  # stored extractions filed as they are
    extracted: dict[str, int] = field(default_factory=dict)  # pages extracted, by why (see Reuse)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


@dataclass(frozen=True)
class Reuse:
    """File stored extractions (archive.extractions) instead of extracting again, unless made by an
    extractor older than ``version``, with other rules than the seed's now, or under another site
    template than the filing uses. Pages are extracted again when their record is ``missing``,
    ``damaged``, ``older``, made with ``other-rules`` or under an ``other-template``."""

    version: str


@dataclass
class _Pending:
    """A response that may hold an article; its body is read again when its turn comes (memory)."""

    path: Path
    url: str
    record_id: str
    capture: dict[str, Any]
    site: str | None
    morgue: bool


@dataclass(frozen=True)
class _StoredAt:
    """Where a response's stored extraction is (read when its turn comes, like the response's body), and
    whether it names the site template it was made through (``template_version``; None: none)."""

    path: Path
    offset: int
    names_template: bool = False
    template_version: int | None = None


RulesFor = Callable[[str | None], Mapping[str, Any] | None]
BlocksFor = Callable[[str | None], Collection[str]]


#: Resource records other tools write beside a page (Browsertrix): kept as ``resources`` rows by kind.
RESOURCE_KINDS = {"urn:text:": "text", "urn:textFinal:": "text", "urn:view:": "screenshot",
                  "urn:thumbnail:": "thumbnail", "urn:fullPage:": "full-page screenshot", "urn:pdf:": "pdf"}


def resource_row(record: ArchivedRecord) -> dict[str, Any] | None:
    """The ``resources`` row of a resource record named like Browsertrix's, or None for any other."""
    prefix = next((p for p in RESOURCE_KINDS if record.url.startswith(p)), None)
    if prefix is None:
        return None
    pointer = record.pointer
    return {
        "id": pointer.capture_id, "url": record.url, "target_url": record.url[len(prefix):],
        "kind": RESOURCE_KINDS[prefix], "content_type": record.warc_header("Content-Type"),
        "captured_at": pointer.date, "record_type": pointer.record_type,
        "refers_to": record.warc_header("WARC-Concurrent-To") or record.warc_header("WARC-Refers-To"),
        "warc_file": pointer.warc_file, "warc_offset": pointer.offset, "warc_length": pointer.length,
        "record_id": pointer.record_id, "payload_digest": pointer.payload_digest,
        "block_digest": pointer.block_digest, "payload_length": len(record.payload),
    }


def imported_titles(index: Index) -> dict[str, str]:
    """Page titles a WACZ's pages.jsonl gave (``imported_pages``), by URL: hints for articles whose
    extraction found no title."""
    if not index.db["imported_pages"].exists():
        return {}
    return {r["url"]: r["title"] for r in index.db.query(
        "SELECT url, title FROM imported_pages WHERE title IS NOT NULL AND title != '' ORDER BY ts")}


def ingest_files(index: Index, paths: Iterable[Path], *, rules_for: RulesFor | None = None,
                 only_missing: bool = False, progress: Callable[[str], None] | None = None,
                 foreign_filter: Callable[[str], bool] | None = None,
                 blocks_for: BlocksFor | None = None, workers: int | None = None,
                 templates: bool = True, replay_templates: bool = False,
                 reuse: Reuse | None = None) -> IngestStats:
    """Index the records of WARC files, in capture order, as the crawl that wrote them did.

    Files written by morgue (their warcinfo has ``morgue-site``) say which responses were articles: those
    with a ``urn:text:`` resource concurrent to them, and later fetches of the same URLs. In files from
    other tools every HTML page with a 200 status whose URL passes ``foreign_filter`` (e.g. the crawler's
    article-URL heuristics; all pages when None) is tried. ``only_missing`` skips records already indexed
    (for ``verify --repair``), so nothing indexed is filed twice. ``blocks_for(site)`` gives the site's
    learned repeated blocks (``site_blocks``), as the crawl passes them. Extraction runs in ``workers``
    processes (default: one per core; 0 or 1: in this process). With ``templates`` each site's template
    is learned and used as in a crawl (``archive.site_templates``), and the pages filed before it
    existed are re-extracted through it at the end. With ``replay_templates`` (reindex) a site's stored
    template versions are used as the crawls left them: each page goes through the newest version its
    crawl had learned by its end (older ones if it does not fit), so the texts do not depend on which
    pages a crawl happened to learn from first; a page whose stored extraction (archive.extractions)
    names the version it was made through (or none: the full pipeline) goes through exactly that. With
    ``reuse``, a response's stored extraction (a ``metadata`` record concurrent to it; the last one
    when the crawl corrected it) is filed instead of extracting the page again, when it was made under
    the template the filing uses. Files from other tools are read leniently
    (``archive.walk``): what they bend is in ``stats.problems`` only if it is damage; their Browsertrix-style
    resource records become ``resources`` rows, and pages.jsonl titles of imported WACZs stand in for a
    title the extractor did not find.
    """
    from archive.site_templates import TEMPLATE_URN_PREFIX, Pending, SiteTemplates

    learners: dict[str, SiteTemplates] = {}
    recorded_templates: dict[str, list[tuple[int | None, Any, str]]] = {}  # site -> archived versions

    def learner_of(site: str | None) -> SiteTemplates | None:
        if not templates or not site:
            return None
        if site not in learners:
            learners[site] = (SiteTemplates.replay(index, site, recorded_templates.get(site, ()))
                              if replay_templates else SiteTemplates.from_index(index, site))
        return learners[site]

    def template_for(learner: SiteTemplates | None, capture: Mapping[str, Any],
                     where: _StoredAt | None) -> dict[str, Any] | None:
        if learner is None:
            return None
        if learner.replaying:
            # exactly what the page's stored extraction was made with (none, or an archived version)
            if where is not None and where.names_template and where.template_version is None:
                return None
            template = (learner.stored_version(where.template_version)
                        if where is not None and where.template_version is not None else None)
            template = template or learner.replay_template(capture.get("crawl_id"))
            return learner.dict_of(template) if template is not None else None
        return learner.template_dict()

    known_sites = _known_sites(index)

    def site_of(url: str) -> str | None:
        """A foreign page's site: the one its URL's host is already archived under, so it is extracted
        with that site's rules, blocks and template and compared like with like; else its host."""
        host = urlsplit(url).netloc.lower()
        return known_sites.get(host) or urlsplit(url).hostname

    if workers is None:
        workers = os.cpu_count() or 1
    stats = IngestStats()
    titles = imported_titles(index)
    pending: list[_Pending] = []
    article_fetch_urls: set[str] = set()
    stored: dict[str, _StoredAt] = {}
    referred_from: dict[str, Path] = {}  # response record id -> folder of a text/extraction record for it
    rounds: dict[int, RoundTally] = {}
    for path in paths:
        stats.files += 1
        site: str | None = None
        crawl_id: int | None = None
        tally: RoundTally | None = None
        morgue_file = False
        render_file = False  # morgue render's own files: their urn:view: etc. records are renders
        if progress:
            progress(f"reading {path.name}")
        read_problems: list[Problem] = []
        for record in iter_records(path, read_problems):
            stats.records += 1
            kind = record.pointer.record_type
            if kind == "warcinfo":
                info = warcinfo_fields(record)
                morgue_file = "morgue-site" in info
                render_file = RENDER_WARCINFO_KEY in info
                site = info.get("morgue-site") or None
                crawl_id = _int(info.get("morgue-crawl-id")) or None if morgue_file else None
                tally = None
                if morgue_file and info.get("morgue-round"):  # a cluster worker's file
                    crawl_id = round_crawl_id(index, info["morgue-round"], site,
                                              info.get("morgue-round-started"))
                    tally = rounds.setdefault(crawl_id, RoundTally(crawl_id))
            elif kind == "resource" and not (morgue_file or render_file):
                resource = resource_row(record)
                if resource is not None:
                    index.add_resource(resource)
            elif kind == "resource" and record.url.startswith(TEXT_URN_PREFIX):
                concurrent = record.warc_header("WARC-Concurrent-To")
                if concurrent:
                    article_fetch_urls.add(concurrent)
                    referred_from.setdefault(concurrent, path.parent)
            elif kind == "metadata" and record.content_type == ROUND_SUMMARY_CONTENT_TYPE:
                if tally is not None:
                    problem = tally.summary(record.pointer.record_id, record.payload)
                    if problem:
                        stats.problems.append(f"{path.name} offset {record.pointer.offset}: {problem}")
            elif is_extraction_record(kind, record.content_type):
                concurrent = record.warc_header("WARC-Concurrent-To")
                if concurrent:
                    article_fetch_urls.add(concurrent)
                    referred_from.setdefault(concurrent, path.parent)
                    # the last one wins: the crawl stores a corrected extraction after the first
                    stored[concurrent] = _StoredAt(path, record.pointer.offset,
                                                   *(named_template_version(record.payload)
                                                     if replay_templates else (False, None)))
            elif kind == "resource" and record.url.startswith(TEMPLATE_URN_PREFIX):
                if replay_templates and morgue_file:
                    _add_template_record(recorded_templates, record, crawl_id, stats)
            elif kind == "resource" and (render := record_render_row(record)) is not None:
                if index.add_render(render):
                    stats.renders += 1
            elif kind in ("response", "revisit") and record.status is not None:
                row_site = site if morgue_file else site_of(record.url)
                row = record_capture_row(record, site=row_site, crawl_id=crawl_id)
                if only_missing and index.get_capture(row["id"]) is not None:
                    stats.skipped += 1
                    continue
                if index.add_capture(row):
                    stats.captures += 1
                    if tally is not None:
                        tally.add("captures")
                if kind == "response" and row["kind"] != REQUISITE and _may_be_article(record):
                    pending.append(_Pending(path, record.url, record.pointer.record_id, row, row_site,
                                            morgue_file))
        stats.problems += [str(p) for p in read_problems if p.damage]
    for recorded_site in recorded_templates:  # kept in the index for a later pass's pages (index)
        learner_of(recorded_site)
    pending += _filed_earlier(index, {r: d for r, d in referred_from.items()
                                      if r not in {p.record_id for p in pending}})
    # A morgue crawl treated a URL as an article if any fetch of it left a text resource.
    article_urls = {p.url for p in pending if p.record_id in article_fetch_urls}
    pending.sort(key=lambda p: (p.capture["captured_at"], p.capture["warc_file"], p.capture["warc_offset"]))

    def is_article(item: _Pending) -> bool:
        """Whether the crawl would have filed this response (decided against the index as it is now)."""
        if item.morgue:
            return item.url in article_urls or _was_article(index, item.url)
        return foreign_filter is None or foreign_filter(item.url)

    # Extraction runs in worker processes, a window ahead of the filing, which stays in capture order
    # (versions depend on it). A response is extracted speculatively when an earlier one of its URL was;
    # whether it is filed is decided again, exactly, when its turn comes.
    submitted_urls: set[str] = set()
    with _extractor(workers, len(pending)) as run:
        window: deque[tuple[_Pending, Any, int | None, str | None]] = deque()

        def file_next() -> None:
            item, result, tried, how = window.popleft()
            if not is_article(item):
                return
            if how == "reused":
                stats.reused += 1
            elif how is not None:
                stats.extracted[how] = stats.extracted.get(how, 0) + 1
            problem, extraction = result.result()
            if problem:
                stats.problems.append(f"{item.capture['warc_file']} offset {item.capture['warc_offset']}: "
                                      f"cannot decode {item.url}: {problem}")
            elif extraction is None:
                stats.count("no_article")
            else:
                observation = extraction.pop("observation", None)
                if not item.morgue and not extraction.get("title") and titles.get(item.url):
                    extraction = {**extraction, "title": titles[item.url]}
                outcome, article_id, _ = file_article(index, item.capture, extraction, item.site)
                stats.count(outcome)
                if item.capture["crawl_id"] in rounds:
                    rounds[item.capture["crawl_id"]].outcome(outcome)
                learner = learner_of(item.site)
                if learner is not None:
                    pending = Pending(article_id, item.url, item.path.parent, item.capture["warc_file"],
                                      item.capture["warc_offset"], tried)
                    learner.observe({**extraction, "observation": observation},
                                    pending if outcome != "unchanged" else None)

        for item in pending:
            if not (is_article(item) or item.url in submitted_urls):
                continue
            submitted_urls.add(item.url)
            rules = rules_for(item.site) if rules_for else None
            blocks = frozenset(blocks_for(item.site)) if blocks_for else frozenset()
            learner = learner_of(item.site)
            where = stored.get(item.record_id)
            template = template_for(learner, item.capture, where)
            tried = template["version"] if template and learner and learner.replaying else None
            # Only a template the archive holds (replayed) makes a stored extraction out of date: one this
            # filing learns itself never went into the archive, so the crawl's extraction stands; nor does
            # the filing learn from stored extractions (it would file versions the archive never had).
            found, how = (_reusable(where, reuse, rules, template, stats,
                                    check_template=learner is not None and learner.replaying)
                          if reuse else (None, None))
            if found is not None:
                done: Future[Any] = Future()
                done.set_result((None, strip_known(found.extraction, blocks)))
                window.append((item, done, tried, how))
            else:
                window.append((item, run(extract_archived, item.path.parent, item.capture["warc_file"],
                                         item.capture["warc_offset"], item.url, rules, blocks, template,
                                         learner is not None and not learner.replaying
                                         and learner.learner.wants()), tried, how))
            if len(window) > 4 * max(workers or 1, 1):
                file_next()
        while window:
            file_next()
    if reuse:  # extractions for pages an earlier pass filed: the crawl corrected them at its end
        filed = {p.record_id for p in pending}
        for record_id, where in stored.items():
            if record_id not in filed:
                _file_correction(index, record_id, where, reuse, rules_for, blocks_for, stats)
    index.commit()
    for site, learner in learners.items():
        learner.reextract(index, rules=rules_for(site) if rules_for else None,
                          blocks=blocks_for(site) if blocks_for else ())
        learner.save(index)
    extend_rounds(index, rounds)
    return stats


def _file_correction(index: Index, record_id: str, where: _StoredAt, reuse: Reuse, rules_for: RulesFor | None,
                     blocks_for: BlocksFor | None, stats: IngestStats) -> None:
    """File a stored extraction that came after its page was filed (by an earlier ``index`` pass: the
    crawl re-extracted the page through a site template learned after it) as a correction of the same
    row, as the crawl corrected it: same capture, so not a new version."""
    from archive.site_templates import update_text

    rows = list(index.db.query("SELECT id, site FROM articles WHERE record_id = ?", [record_id]))
    if not rows:
        return
    site = rows[0]["site"]
    rules = rules_for(site) if rules_for else None
    found, _ = _reusable(where, reuse, rules, None, stats, check_template=False)
    if found is None:  # the row keeps the text it was filed with (a damaged record is reported)
        return
    kept = strip_known(found.extraction, frozenset(blocks_for(site)) if blocks_for else frozenset())
    if kept is not None:
        update_text(index, rows[0]["id"], kept)
        stats.reused += 1


def _reusable(where: _StoredAt | None, reuse: Reuse, rules: Mapping[str, Any] | None,
              template: Mapping[str, Any] | None, stats: IngestStats, *, check_template: bool = True
              ) -> tuple[StoredExtraction | None, str]:
    """The stored extraction to file for a response and "reused", or None and why the page must be
    extracted again (a damaged record is reported as a problem). ``template``: the site template the
    filing uses, which the extraction must have been made under (unless not ``check_template``)."""
    why = "missing"
    found: StoredExtraction | None = None
    if where is not None:
        try:
            record = read_record(where.path.parent, where.path.name, where.offset)
            found = parse_extraction(record.payload, record.pointer.block_digest)
        except (WarcReadError, OSError, BadExtraction) as exc:
            why = "damaged"
            stats.problems.append(f"{where.path.name} offset {where.offset}: stored extraction not used "
                                  f"({exc}); extracted the page again")
        else:
            if version_key(found.extractor_version) < version_key(reuse.version):
                why, found = "older", None
            elif rules is not None and not same_rules(rules, found.rules):
                why, found = "other-rules", None
            elif check_template and not same_template(found.template, template):
                why, found = "other-template", None
    return (found, "reused") if found is not None else (None, why)


def _add_template_record(recorded: dict[str, list[tuple[int | None, Any, str]]], record: Any,
                         crawl_id: int | None, stats: IngestStats) -> None:
    """Keep an archived site template (``archive.site_templates``) for the replay; a damaged one is
    reported and its site learns again."""
    from archive.site_templates import read_template_record

    try:
        site, template = read_template_record(record.payload)
    except ValueError as exc:
        stats.problems.append(f"{record.pointer.warc_file} offset {record.pointer.offset}: "
                              f"unreadable site template record {record.url}: {exc}")
        return
    recorded.setdefault(site, []).append((crawl_id, template, record.warc_header("WARC-Date") or ""))


def extract_archived(warc_dir: Path, warc_file: str, offset: int, url: str,
                     rules: Mapping[str, Any] | None, blocks: Collection[str],
                     template: Mapping[str, Any] | None = None, learn: bool = False,
                     fallback: bool = True) -> tuple[str | None, dict[str, Any] | None]:
    """Read one archived response, decode it and extract it: (problem, extraction). Runs in a worker."""
    try:
        record = read_record(warc_dir, warc_file, offset)
        body = decoded_body(record)
    except (ValueError, OSError, WarcReadError) as exc:
        return str(exc), None
    if unextractable(body, charset=charset_of(record.content_type)):  # as the crawl skips it
        return None, None
    return None, extract_body(body, url, record.content_type, rules, blocks, template, learn, fallback)


@contextmanager
def _extractor(workers: int, jobs: int) -> Iterator[Callable[..., Any]]:
    """``run(fn, *args) -> Future``: a process pool's submit, the pool started when the first job comes
    (filing stored extractions needs none); with ``workers`` <= 1 or too few ``jobs`` to be worth the
    pool's start-up, the call made here and now."""
    if workers <= 1 or jobs < 8:
        def run_here(fn: Callable[..., Any], *args: Any) -> Future[Any]:
            done: Future[Any] = Future()
            done.set_result(fn(*args))
            return done

        yield run_here
        return
    pools: list[ProcessPoolExecutor] = []

    def submit(fn: Callable[..., Any], *args: Any) -> Future[Any]:
        if not pools:
            pools.append(ProcessPoolExecutor(workers, mp_context=forkserver_context()))
        return pools[0].submit(fn, *args)

    try:
        yield submit
    finally:
        for pool in pools:
            pool.shutdown()


def _filed_earlier(index: Index, responses: Mapping[str, Path]) -> list[_Pending]:
    """Responses filed by an earlier pass whose text and extraction came in a later file (a writer rotates
    its file between a response and its extraction; the cluster's indexer files each file as it closes):
    article pages to file now, unless they are already."""
    out = []
    for record_id, folder in responses.items():
        rows = list(index.db.query(
            "SELECT * FROM captures WHERE record_id = ? AND record_type = 'response' AND status = 200 "
            "AND kind != 'article' AND payload_length > 0 AND coalesce(note, '') NOT LIKE 'truncated%'",
            [record_id]))
        if rows and is_html(rows[0]["content_type"]):
            row = rows[0]
            out.append(_Pending(folder / row["warc_file"], row["url"], record_id, row, row["site"], True))
    return out


def _known_sites(index: Index) -> dict[str, str]:
    """{host[:port]: site} of the sites morgue crawls (``sites``): the hosts of their start URLs, and of
    the articles filed under them (the newest site wins where a host was crawled under two names)."""
    if not index.db["sites"].exists():
        return {}
    sites: dict[str, str] = {}
    for row in index.db.query("SELECT name, start_urls FROM sites ORDER BY updated_at"):
        for url in json.loads(row["start_urls"] or "[]"):
            sites[urlsplit(url).netloc.lower()] = row["name"]
    if index.db["articles"].exists():
        for row in index.db.query("SELECT fetched_url, site FROM articles WHERE site IN (SELECT name FROM "
                                  "sites) ORDER BY captured_at"):
            sites[urlsplit(row["fetched_url"]).netloc.lower()] = row["site"]
    return sites


def _was_article(index: Index, fetched_url: str) -> bool:
    return bool(list(index.db.query("SELECT 1 FROM articles WHERE fetched_url = ? LIMIT 1", [fetched_url])))


def _may_be_article(record: ArchivedRecord) -> bool:
    # a truncated body is archived but never extracted, in the crawl as here
    return (record.status == 200 and is_html(record.content_type) and bool(record.payload)
            and truncation_note(record) is None)
