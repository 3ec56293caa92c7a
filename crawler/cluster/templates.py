"""A site's template shared by every cluster worker through Redis, so that a page is extracted once, where
it is fetched, through the template the indexer files it with.

Workers have no index to keep templates in. Each learns as a single-machine crawl does (the first pages
teach), and the first to learn a version publishes it with a compare-and-set on the site's key
(``morgue:site:<site>:template``: version, template JSON, learned at): it succeeds only if the site's
current version is still the one the learner replaced, so two workers that learn at the same moment end
up with one version, the first one's; the other adopts it. Every worker looks the key up as it hands pages
to the extractor (at most every ``REFRESH`` seconds), so all use the newest version within a moment of
its publication. Each worker archives every version it uses in its own WARC files (``urn:morgue:template:
<site>:v<N>``, as a single-machine crawl archives what it learns) before the first extraction naming
it, so an indexer following the files, or a reindex of the archive alone, always has the version a stored
extraction names by the time it reads that extraction.

A version lives in Redis until ``archive.site_templates.TTL_DAYS`` after it was learned, then the site
learns again (a higher version). Version numbers continue the index's, so that a version number names one
template in the archive. Redis-only (no Scrapy).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archive.site_templates import TTL_DAYS, Pending, SiteTemplates
from crawler.cluster.frontier import PREFIX
from extract.template import Template

__all__ = ["SharedTemplate", "WorkerTemplates", "REFRESH", "template_key", "worker_templates"]

REFRESH = 0.5  # seconds between looks at the site's shared template

# Publish ARGV[2..4] (version, template JSON, learned at) if the site's version is still ARGV[1] (the one
# the learner replaced; '0': none). Returns nil when published, else the version that won.
_PUBLISH = """
local current = redis.call('HGET', KEYS[1], 'version') or '0'
if current ~= ARGV[1] then return redis.call('HGET', KEYS[1], 'template') end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'template', ARGV[3], 'learned_at', ARGV[4])
return false
"""


def template_key(site: str) -> str:
    return f"{PREFIX}site:{site}:template"


class SharedTemplate:
    """One worker's view of a site's shared template."""

    def __init__(self, server: Any, site: str, *, first_version: int = 1) -> None:
        self.server = server
        self.site = site
        self.first_version = first_version  # the index's versions + 1: numbers stay unique in the archive
        self._publish = server.register_script(_PUBLISH)
        self._seen: tuple[float, Template | None, int] | None = None  # (looked at, template, version)

    def current(self, *, now: float | None = None) -> tuple[Template | None, int]:
        """The site's unexpired template (None if none) and the version a learner replaces (0: none yet),
        looked up at most every ``REFRESH`` seconds."""
        moment = time.monotonic() if now is None else now
        if self._seen is None or moment - self._seen[0] >= REFRESH:
            self._seen = (moment, *self._read())
        return self._seen[1], self._seen[2]

    def _read(self) -> tuple[Template | None, int]:
        raw = self.server.hgetall(template_key(self.site))
        if b"version" not in raw:
            return None, 0
        version = int(raw[b"version"])
        try:
            learned = datetime.fromisoformat(raw[b"learned_at"].decode())
            template = Template.from_dict(json.loads(raw[b"template"]))
        except (KeyError, ValueError, TypeError):
            return None, version  # unreadable: learned again, as a damaged archived record is
        if learned + timedelta(days=TTL_DAYS) <= datetime.now(UTC):
            return None, version  # expired: the site's current pages teach a new version
        return template, version

    def next_version(self, replaces: int) -> int:
        return max(replaces + 1, self.first_version)

    def publish(self, template: Template, replaces: int) -> Template:
        """Publish a version learned here in place of version ``replaces``; returns the version the site
        now has: this one, or the one another worker published first."""
        body = json.dumps(template.to_dict(), ensure_ascii=False, sort_keys=True)
        won = self._publish(keys=[template_key(self.site)],
                            args=[str(replaces), str(template.version), body,
                                  datetime.now(UTC).isoformat(timespec="seconds")])
        self._seen = None
        if won is None:
            return template
        return Template.from_dict(json.loads(won))


class WorkerTemplates(SiteTemplates):
    """A cluster worker's site templates: ``SiteTemplates`` learning as a crawl does, kept in step with
    the site's shared version (adopted when another worker published one; published when learned here),
    and knowing which versions this worker has archived in its WARC files."""

    def __init__(self, shared: SharedTemplate) -> None:
        template, version = shared.current()
        super().__init__(shared.site, template, shared.next_version(version))
        self.shared = shared
        self.version = version  # the shared version the learner's template stands for (0: none)
        self.archived: set[int] = set()
        self.used: dict[int, Template] = {}  # versions handed to the extractor, for the end's re-extraction

    def sync(self) -> None:
        """Take the site's shared version if it moved on (another worker learned, or it expired)."""
        template, version = self.shared.current()
        if version == self.version and (template is None) == (self.learner.template is None):
            return
        learner = self.learner
        learner.template = template
        learner.observations.clear()
        learner.recent.clear()
        self.version = version
        self.next_version = self.shared.next_version(version)

    def template_dict(self) -> dict[str, Any] | None:
        self.sync()
        if self.template is not None:
            self.used[self.template.version] = self.template
        return super().template_dict()

    def observe(self, extraction: Mapping[str, Any], pending: Pending | None = None) -> Template | None:
        learned = super().observe(extraction, pending)
        if learned is None:
            return None
        winner = self.shared.publish(learned, self.version)
        if winner is not learned:  # another worker was first: its version is the site's
            self.learner.learned_now.remove(learned)
            self.learner.template = winner
        self.version = winner.version
        self.next_version = self.shared.next_version(winner.version)
        return winner if winner is learned else None

    def to_archive(self, template: Mapping[str, Any] | None) -> Template | None:
        """The version ``template`` (as given to the extractor) if this worker has not archived it yet;
        marked archived (the caller writes its record before the extraction that names it)."""
        if not template:
            return None
        version = int(template["version"])
        if version in self.archived:
            return None
        self.archived.add(version)
        return self.used.get(version) or Template.from_dict(template)

    def reextract_versions(self) -> list[Template]:
        """The versions this worker's teacher pages are tried with at its end, newest first."""
        return [self.used[v] for v in sorted(self.used, reverse=True)]

    def reextract(self, index: Any, *args: Any, **kwargs: Any) -> int:
        """``SiteTemplates.reextract`` over every version this worker used (learned here or adopted)."""
        self.learner.learned_now = sorted(self.used.values(), key=lambda t: t.version)
        return super().reextract(index, *args, **kwargs)


def worker_templates(url: str, site: str, db_path: Path) -> WorkerTemplates:
    """A worker's templates for ``site``: the cluster's shared version, numbered after the index's."""
    from crawler.cluster.connection import connect

    first = _index_versions(db_path, site) + 1
    return WorkerTemplates(SharedTemplate(connect(url), site, first_version=first))


def _index_versions(db_path: Path, site: str) -> int:
    """The highest template version the index holds for the site (read-only; 0 without an index)."""
    if not db_path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT max(version) FROM site_templates WHERE site = ?", [site]).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return 0
    return int(row[0] or 0)
