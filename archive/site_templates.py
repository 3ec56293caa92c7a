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

__all__ = ["SiteTemplates", "TTL_DAYS", "Pending", "template_rows"]

logger = logging.getLogger(__name__)

TTL_DAYS = 30  # a template older than this is learned again from the site's current pages
MAX_REEXTRACT = 200  # pages of one crawl re-extracted through a template learned after them


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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
        return self.template.to_dict() if self.template is not None else None

    def observe(self, extraction: Mapping[str, Any], pending: Pending | None = None) -> Template | None:
        """Count one extraction; learn when due. Returns a template learned just now, if any."""
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
        the current counts; or, when nothing could be learned, why not."""
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

    def reextract(self, index: Index,
                  extract: Callable[[Pending, dict[str, Any]], Mapping[str, Any] | None] | None = None,
                  rules: Mapping[str, Any] | None = None, blocks: Iterable[str] = ()) -> int:
        """Put the pages the full pipeline extracted (before the template existed, or in flight while
        it was learned) through it, or through an earlier version learned in the same run for pages of
        the old design; a page that fits none keeps its text. ``extract(pending, template)`` returns
        the extraction (default: read from the WARC file with ``rules`` and the site's ``blocks``).
        Returns the number of article rows changed."""
        versions = [t.to_dict() for t in reversed(self.learner.learned_now)]
        if self.template is not None and self.template not in self.learner.learned_now:
            versions.insert(0, self.template.to_dict())
        if not versions or not self.pending:
            return 0
        if extract is None:
            known = frozenset(blocks)

            def extract(item: Pending, template: dict[str, Any]) -> Mapping[str, Any] | None:
                from archive.ingest import extract_archived

                problem, extraction = extract_archived(item.warc_dir, item.warc_file, item.offset, item.url,
                                                       rules, known, template)
                if problem:
                    logger.warning("cannot re-extract %s through the site template: %s", item.url, problem)
                return extraction

        changed = 0
        for item in self.pending:
            for template in versions:
                result = extract(item, template)
                if result and result.get("template") and (result.get("text") or "").strip():
                    changed += update_text(index, item.article_id, result)
                    break
        self.pending.clear()
        index.commit()
        return changed


def update_text(index: Index, article_id: str, extraction: Mapping[str, Any]) -> int:
    """Replace an article row's text and removed list with a re-extraction of the same capture."""
    rows = list(index.db.query("SELECT text, removed FROM articles WHERE id = ?", [article_id]))
    text = extraction["text"]
    removed = json.dumps(extraction.get("removed") or [], ensure_ascii=False)
    if not rows or (rows[0]["text"], rows[0]["removed"]) == (text, removed):
        return 0
    index.db.execute(
        "UPDATE articles SET text = ?, removed = ?, text_hash = ?, word_count = ?, extractor = ? "
        "WHERE id = ?", [text, removed, text_hash(text), len(text.split()), extraction.get("extractor"),
                         article_id])
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
    return out
