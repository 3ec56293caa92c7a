"""Per-site learned templates, kept in ``site_templates``: loaded when a crawl (or reindex) starts, saved
as they are learned, and used to re-extract a site's first pages at the end.

The learning itself is ``extract.template_learner`` (pure); this module adds what needs the index and the
WARC files: versions that survive between crawls and expire (a site's template is re-learned from fresh
pages after ``TTL_DAYS``), the crawl's counts per version, and ``reextract``, which puts the pages
extracted before the template existed through it (same capture: the row is corrected, not versioned),
as ``archive.site_blocks.strip_blocks`` does for repeated blocks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archive.index import Index, text_hash
from extract.template import Template
from extract.template_learner import TemplateLearner
from extract.template_meta import describe_learned

__all__ = ["SiteTemplates", "TTL_DAYS", "Pending", "template_rows", "TEMPLATE_URN_PREFIX", "template_record",
           "read_template_record"]

logger = logging.getLogger(__name__)

TTL_DAYS = 30  # a template older than this is learned again from the site's current pages
MAX_REEXTRACT = 200  # pages of one crawl re-extracted through a template learned after them


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


#: A learned template is archived as a ``resource`` record at ``urn:morgue:template:<site>:v<N>`` in the
#: WARC file of the crawl that learned it, so that a reindex from the WARC files alone replays it.
TEMPLATE_URN_PREFIX = "urn:morgue:template:"
TEMPLATE_CONTENT_TYPE = "application/vnd.morgue.template+json"


def template_record(site: str, template: Template) -> tuple[str, bytes, str]:
    """(URI, body, content type) of the record that archives a learned template."""
    body = json.dumps({"site": site, "template": template.to_dict()}, ensure_ascii=False, sort_keys=True)
    return f"{TEMPLATE_URN_PREFIX}{site}:v{template.version}", body.encode("utf-8"), TEMPLATE_CONTENT_TYPE


def read_template_record(body: bytes) -> tuple[str, Template]:
    """(site, template) of an archived template record; ValueError when it is not one."""
    try:
        data = json.loads(body.decode("utf-8"))
        return str(data["site"]), Template.from_dict(data["template"])
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"not a morgue template record ({exc})") from exc


def template_rows(index: Index, site: str | None = None) -> list[dict[str, Any]]:
    """Stored template rows (all sites, or one), newest version first per site."""
    where, args = ("WHERE site = ?", [site]) if site else ("", [])
    return [dict(r) for r in index.db.query(
        f"SELECT * FROM site_templates {where} ORDER BY site, version DESC", args)]


@dataclass
class Pending:
    """An article filed from the full pipeline before the site had a template: re-extracted at the end."""

    article_id: str
    url: str
    warc_dir: Path
    warc_file: str
    offset: int
    tried: int | None = None  # the template version it was extracted through (replay), if any


class SiteTemplates:
    """One site's template learner, started from the index's active, unexpired template."""

    def __init__(self, site: str, template: Template | None = None, next_version: int = 1,
                 base_counts: tuple[int, int] = (0, 0)) -> None:
        self.site = site
        self.learner = TemplateLearner(template)
        self.next_version = next_version
        self.base_counts = base_counts  # fitted, fallbacks stored for the loaded version before this crawl
        self.loaded_version = template.version if template is not None else None
        self.pending: list[Pending] = []
        self.saved_note: str | None = None
        self.stored: list[tuple[int | None, Template]] = []  # replay: (learned in crawl, version)
        self._dicts: dict[int, tuple[Template, dict[str, Any]]] = {}  # version -> (template, its dict)

    @property
    def replaying(self) -> bool:
        """Whether this site's stored versions are used as they are (reindex) instead of learned again."""
        return bool(self.stored)

    @classmethod
    def replay(cls, index: Index, site: str,
               recorded: Iterable[tuple[int | None, Template, str]] = ()) -> SiteTemplates:
        """The site's template versions, used as the crawls left them: no expiry, no learning. A
        reindex rebuilds the crawl's texts with them, whatever order its pages come in (the pages a crawl
        learns from depend on the order the responses arrived, which a reindex cannot know).
        ``recorded``: (crawl id, template, learned at) from the archived template records; without
        them the index's stored rows (an archive written before templates were archived). The versions
        are written to the index. A site with neither learns a template, as a crawl does."""
        stored = [(crawl, t) for crawl, t, _ in recorded]
        if recorded:
            _store_recorded(index, site, list(recorded))
        else:
            for row in template_rows(index, site):
                if row["version"] > 0 and row["template"]:
                    learned_in = index.db.execute(
                        "SELECT max(id) FROM crawls WHERE site = ? AND started_at <= ?",
                        [site, row["learned_at"] or ""]).fetchone()[0]
                    stored.append((learned_in, Template.from_dict(json.loads(row["template"]))))
        if not stored:
            return cls.from_index(index, site)
        stored.sort(key=lambda ct: ct[1].version)
        templates = cls(site, stored[-1][1], stored[-1][1].version + 1)
        templates.stored = stored
        return templates

    def replay_template(self, crawl_id: int | None) -> Template | None:
        """The version a page of crawl ``crawl_id`` got: the newest learned by the end of its crawl
        (pages extracted before the template existed were re-extracted through it then); the newest
        of all when the crawl is unknown."""
        known = [t for learned_in, t in self.stored
                 if crawl_id is None or learned_in is None or learned_in <= crawl_id]
        return known[-1] if known else None

    def stored_version(self, version: int) -> Template | None:
        """The replayed version numbered ``version`` (a page's stored extraction names the version it
        was made through: ``archive.extractions``), if the crawls archived it."""
        return next((t for _, t in self.stored if t.version == version), None)

    @classmethod
    def from_index(cls, index: Index, site: str) -> SiteTemplates:
        rows = [r for r in template_rows(index, site) if r["version"] > 0]
        top = max((r["version"] for r in rows), default=0)
        active = next((r for r in rows if r["status"] == "active"), None)
        if active is not None and (active["expires_at"] or "") > _stamp(_now()):
            template = Template.from_dict(json.loads(active["template"]))
            return cls(site, template, top + 1, (active["fitted"] or 0, active["fallbacks"] or 0))
        if active is not None:
            index.db.execute("UPDATE site_templates SET status = 'expired', updated_at = ? "
                             "WHERE site = ? AND version = ?", [_stamp(_now()), site, active["version"]])
            index.commit()
        return cls(site, None, top + 1)

    @property
    def template(self) -> Template | None:
        return self.learner.template

    def template_dict(self) -> dict[str, Any] | None:
        """The current template as the extraction workers take it."""
        return self.dict_of(self.template) if self.template is not None else None

    def dict_of(self, template: Template) -> dict[str, Any]:
        """A version as the extraction workers take it; made once per version, not per page
        (``dataclasses.asdict`` copies every list: ~3 ms of the crawl process per page)."""
        cached = self._dicts.get(template.version)
        if cached is None or cached[0] is not template:
            cached = self._dicts[template.version] = (template, template.to_dict())
        return cached[1]

    def observe(self, extraction: Mapping[str, Any], pending: Pending | None = None) -> Template | None:
        """Count one extraction; learn when due. Returns a template learned just now, if any."""
        if self.replaying:
            if pending is not None and pending.tried is not None and not extraction.get("template"):
                self.pending.append(pending)  # fell back: an older version may fit it
            return None
        self.learner.observe(extraction)
        if pending is not None and not extraction.get("template"):
            if len(self.pending) < MAX_REEXTRACT:
                self.pending.append(pending)
        if not self.learner.due():
            return None
        template = self.learner.learn(self.next_version)
        if template is not None:
            self.next_version = template.version + 1
        return template

    def save(self, index: Index) -> None:
        """Write every version learned by this learner (the latest active, earlier ones replaced) and
        the current counts; or, when nothing could be learned, why not. A replay saves nothing: its rows
        are the crawl's."""
        if self.replaying:
            return
        now = _now()
        learned = self.learner.learned_now
        rows = []
        for t in learned:
            status = "active" if t is self.template else "replaced"
            rows.append({"site": self.site, "version": t.version, "status": status,
                         "template": json.dumps(t.to_dict(), ensure_ascii=False), "note": None,
                         "learned_at": _stamp(now), "expires_at": _stamp(now + timedelta(days=TTL_DAYS)),
                         "pages_learned": t.pages, "fitted": 0, "fallbacks": 0, "updated_at": _stamp(now)})
        index.commit()
        for row in rows:
            existing = list(index.db.query("SELECT learned_at, expires_at FROM site_templates WHERE site = ? "
                                           "AND version = ?", [self.site, row["version"]]))
            if existing:  # learned earlier in this crawl: keep its dates
                row["learned_at"], row["expires_at"] = existing[0]["learned_at"], existing[0]["expires_at"]
            index.db["site_templates"].upsert(row, pk=("site", "version"))
        for version, (fitted, fallbacks) in self.learner.counts.items():
            if version == self.loaded_version:
                fitted, fallbacks = fitted + self.base_counts[0], fallbacks + self.base_counts[1]
            index.db.execute(
                "UPDATE site_templates SET fitted = ?, fallbacks = ?, updated_at = ? WHERE site = ? AND "
                "version = ?", [fitted, fallbacks, _stamp(now), self.site, version])
        if self.template is not None:
            if self.loaded_version is not None and self.template.version != self.loaded_version:
                index.db.execute("UPDATE site_templates SET status = 'replaced' WHERE site = ? AND "
                                 "version = ?", [self.site, self.loaded_version])
            index.db.execute("DELETE FROM site_templates WHERE site = ? AND version = 0", [self.site])
        elif self.learner.why_not:
            index.db["site_templates"].upsert(
                {"site": self.site, "version": 0, "status": "none", "template": None,
                 "note": self.learner.why_not, "learned_at": None, "expires_at": None, "pages_learned": 0,
                 "fitted": 0, "fallbacks": 0, "updated_at": _stamp(now)}, pk=("site", "version"))
        index.commit()

    def reextract(self, index: Index | None,
                  extract: Callable[[Pending, dict[str, Any]], Mapping[str, Any] | None] | None = None,
                  rules: Mapping[str, Any] | None = None, blocks: Iterable[str] = (),
                  fitted: Callable[[Pending, Mapping[str, Any], dict[str, Any]], None] | None = None) -> int:
        """Put the pages the full pipeline extracted (before the template existed, or in flight while
        it was learned) through it, or through an earlier version learned in the same run for pages of
        the old design; a page that fits none keeps its text. ``extract(pending, template)`` returns
        the extraction (default: read from the WARC file with ``rules`` and the site's ``blocks``);
        ``fitted(pending, extraction, template)`` is told of each page a version fitted (the crawl
        stores the new extraction; without an ``index``, a cluster worker's, it is the only record of the
        correction). Returns the number of article rows changed (of pages a version fitted, without one)."""
        versions = [t.to_dict() for t in reversed(self.learner.learned_now)]
        if self.template is not None and self.template not in self.learner.learned_now:
            versions.insert(0, self.template.to_dict())
        if self.replaying:  # older versions than the one a page fell back from, newest first
            versions = [t.to_dict() for _, t in reversed(self.stored)]
        if not versions or not self.pending:
            return 0
        if extract is None:
            known = frozenset(blocks)

            def extract(item: Pending, template: dict[str, Any]) -> Mapping[str, Any] | None:
                from archive.ingest import extract_archived

                # template only: a page it does not fit keeps its text, so no full pipeline is run for it
                problem, extraction = extract_archived(item.warc_dir, item.warc_file, item.offset, item.url,
                                                       rules, known, template, fallback=False)
                if problem:
                    logger.warning("cannot re-extract %s through the site template: %s", item.url, problem)
                return extraction

        changed = 0
        for item in self.pending:
            for template in versions:
                if item.tried is not None and template["version"] >= item.tried:
                    continue
                result = extract(item, template)
                if result and result.get("template") and (result.get("text") or "").strip():
                    changed += update_text(index, item.article_id, result) if index is not None else 1
                    if fitted is not None:
                        fitted(item, result, template)
                    break
        self.pending.clear()
        if index is not None:
            index.commit()
        return changed


def _store_recorded(index: Index, site: str, recorded: list[tuple[int | None, Template, str]]) -> None:
    """Rows for archived template versions the index lacks (a reindex without the old database)."""
    newest = max(t.version for _, t, _ in recorded)
    for _, t, learned_at in recorded:
        if list(index.db.query("SELECT 1 FROM site_templates WHERE site = ? AND version = ?",
                               [site, t.version])):
            continue
        try:
            learned = datetime.strptime(learned_at[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            learned = _now()
        index.db["site_templates"].insert(
            {"site": site, "version": t.version, "status": "active" if t.version == newest else "replaced",
             "template": json.dumps(t.to_dict(), ensure_ascii=False), "note": None,
             "learned_at": _stamp(learned), "expires_at": _stamp(learned + timedelta(days=TTL_DAYS)),
             "pages_learned": t.pages, "fitted": 0, "fallbacks": 0, "updated_at": _stamp(_now())})
    index.commit()


#: Fields a re-extraction through a template may correct besides the text (its learned metadata sources).
_CORRECTED = ("title", "authors", "published", "modified", "description")


def update_text(index: Index, article_id: str, extraction: Mapping[str, Any]) -> int:
    """Replace an article row's text and removed list with a re-extraction of the same capture, and the
    metadata the re-extraction has (read from the template's learned sources; a field it lacks keeps
    the row's value)."""
    rows = list(index.db.query(f"SELECT text, removed, {', '.join(_CORRECTED)} FROM articles WHERE id = ?",
                               [article_id]))
    if not rows:
        return 0
    text = extraction["text"]
    removed = json.dumps(extraction.get("removed") or [], ensure_ascii=False)
    fields = {"text": text, "removed": removed}
    for name in _CORRECTED:
        value = extraction.get(name)
        if value:
            fields[name] = json.dumps(value) if name == "authors" else value  # as Index.add_article
    if all(rows[0][k] == v for k, v in fields.items()):
        return 0
    fields.update(text_hash=text_hash(text), word_count=len(text.split()),
                  extractor=extraction.get("extractor"))
    index.db.execute(f"UPDATE articles SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                     [*fields.values(), article_id])
    return 1


def describe(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """``morgue templates`` lines for stored rows."""
    out: list[str] = []
    for row in rows:
        if row["status"] == "none":
            out.append(f"{row['site']}: no template: {row['note']}")
            continue
        t = Template.from_dict(json.loads(row["template"]))
        seen = (row["fitted"] or 0) + (row["fallbacks"] or 0)
        rate = f"{100 * (row['fallbacks'] or 0) / seen:.0f}%" if seen else "-"
        out.append(f"{row['site']} v{row['version']} [{row['status']}] learned {row['learned_at']} from "
                   f"{row['pages_learned']} pages, expires {row['expires_at']}; {row['fitted'] or 0} pages "
                   f"through it, {row['fallbacks'] or 0} fell back ({rate})")
        out.append(f"  body: {' > '.join(t.container)}")
        out.append(f"  text length of the pages learned from: {t.chars[0]}-{t.chars[1]} characters; "
                   f"prose outside the body up to {t.outside}")
        if t.drop_links:
            out.append("  drops link-only paragraphs inside the body")
        for key, (dropped, on) in sorted(t.drop.items(), key=lambda kv: -kv[1][0]):
            out.append(f"  drop {key}  (furniture on {dropped} of {on} pages)")
        out.extend(f"  {line}" for line in describe_learned(t.meta))
    return out
