"""When a site's template is learned, used, and replaced: the state a crawl keeps per site.

Pure bookkeeping over extractions (no pages, no index), so the crawl, reindex, the benchmark and the tests
share it; ``archive.site_templates`` stores what it learns. Until a template exists every page goes
through the full pipeline and teaches (its ``observation``). With a template, a page that does not fit
falls back and teaches too; when most of the latest pages fall back the site was redesigned, and a new
template version is learned from the fallback pages alone — those among the latest pages: a site's
minority of pages of another kind (galleries, live pages) falls back now and then, and their
observations, gathered over a long crawl, must not become a "redesign" the day a few of them come
together (that made a one-template site learn three versions in one 400-page run).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from .template import MIN_PAGES, Template, learn

__all__ = ["TemplateLearner", "extract_site"]

KEEP = 3 * MIN_PAGES  # observations kept while no template fits (the latest ones)
EAGER = 50  # a site without a template teaches on every page until this many pages were seen...
SAMPLE = 10  # ...then on one page in this many (observing costs a tree copy and a walk)
WINDOW = 8  # latest pages judged for a redesign...
REDESIGN = 0.75  # ...which is declared when this share of them fell back (3 of the first 4 after a version
# was learned, 6 of 8 later: pages of another kind that make up a tenth of a site do that in one version of
# ~300, and in one window of ~40,000 later, where half of them did every ~200 pages)


class TemplateLearner:
    """Feeds on extractions (dicts as ``Extraction.to_dict``), says when to (re)learn, learns."""

    def __init__(self, template: Template | None = None, *, min_pages: int = MIN_PAGES) -> None:
        self.template = template
        self.min_pages = min_pages
        self.observations: deque[Mapping[str, Any]] = deque(maxlen=max(KEEP, min_pages))
        self.recent: deque[bool] = deque(maxlen=WINDOW)  # True: fitted the template
        self.judged = 0  # pages judged against a template so far
        self.judged_at: deque[int] = deque(maxlen=max(KEEP, min_pages))  # of each observation, with one
        self.counts: dict[int, list[int]] = {}  # version -> [pages fitted, pages fallen back]
        self.why_not = ""  # why no template could be learned (last attempt)
        self.learned_now: list[Template] = []  # versions learned by this learner
        self.redesigns = 0
        self.seen = 0  # pages offered to ``wants`` so far

    def wants(self) -> bool:
        """Whether the next page's extraction should include what it teaches (``learn=``). With a
        template, only pages that fall back teach anyway; without one, every page at first, then a
        sample, so that a site with no common structure does not pay for observing on every page."""
        self.seen += 1
        return self.template is not None or self.seen <= EAGER or self.seen % SAMPLE == 0

    @property
    def fitted(self) -> int:
        return sum(c[0] for c in self.counts.values())

    @property
    def fallbacks(self) -> int:
        return sum(c[1] for c in self.counts.values())

    def observe(self, extraction: Mapping[str, Any]) -> None:
        """Count one extraction. One made without a template (before it was learned, or in flight while
        it was) is neither a fit nor a fallback: it only teaches."""
        fits = bool(extraction.get("template"))
        observation = extraction.get("observation")
        current = f"template v{self.template.version}" if self.template is not None else None
        judged = (extraction.get("template") or extraction.get("fallback") or "").split(":")[0] == current
        if self.template is not None and judged:
            self.counts.setdefault(self.template.version, [0, 0])[0 if fits else 1] += 1
            self.recent.append(fits)
            self.judged += 1
        elif self.template is not None and observation:
            # extracted while the template was being learned (pages in flight): judged by where its
            # body sits, so a redesign is seen however fast the pages came
            fits = list(observation["container"]) == list(self.template.container)
            self.recent.append(fits)
            self.judged += 1
        if fits:
            return  # a page of the current design teaches nothing new
        if observation:
            self.observations.append(observation)
            self.judged_at.append(self.judged)

    def _teachers(self) -> list[Mapping[str, Any]]:
        """The observations a new version is learned from: all of them before the first template, the
        fallbacks among the latest ``WINDOW`` judged pages after it."""
        if self.template is None:
            return list(self.observations)
        return [o for o, at in zip(self.observations, self.judged_at, strict=True)
                if at > self.judged - WINDOW]

    def fallback_rate(self) -> float:
        """Share of the latest pages that fell back to the full pipeline."""
        return self.recent.count(False) / len(self.recent) if self.recent else 0.0

    def redesigned(self) -> bool:
        return (self.template is not None and len(self.recent) >= WINDOW // 2
                and self.fallback_rate() >= REDESIGN)

    def due(self) -> bool:
        if self.template is None:
            return len(self.observations) >= self.min_pages
        return self.redesigned() and len(self._teachers()) >= self.min_pages

    def learn(self, version: int | None = None) -> Template | None:
        """A new template version from the pages seen since the last one, when they agree; it replaces
        the current one."""
        if version is None:
            version = (self.template.version + 1) if self.template is not None else (
                max((t.version for t in self.learned_now), default=0) + 1)
        template, self.why_not = learn(self._teachers(), version, self.min_pages)
        if template is None:
            return None
        if self.template is not None:
            self.redesigns += 1
        self.template = template
        self.learned_now.append(template)
        self.observations.clear()
        self.judged_at.clear()
        self.recent.clear()
        return template


def extract_site(pages: Sequence[tuple[str | bytes, str]], min_pages: int = MIN_PAGES
                 ) -> tuple[list[dict[str, Any]], TemplateLearner]:
    """A site's pages (html, url) extracted in order as a crawl does, ending with the re-extraction of
    the pages the full pipeline did through the template (or the earlier version) that fits them: the
    extractions as dicts ({} for a page with no article) and the learner (for the benchmark and tests
    that need no index)."""
    from .article import extract_article

    learner = TemplateLearner(min_pages=min_pages)
    out: list[dict[str, Any]] = []
    for html, url in pages:
        result = extract_article(html, url, template=learner.template, learn=learner.wants())
        data = result.to_dict() if result else {}
        learner.observe(data)
        out.append(data)
        if learner.due():
            learner.learn()
    for i, (html, url) in enumerate(pages):
        if out[i].get("template"):
            continue
        for template in reversed(learner.learned_now):
            result = extract_article(html, url, template=template)
            if result is not None and result.template:
                out[i] = result.to_dict()
                break
    return out, learner
