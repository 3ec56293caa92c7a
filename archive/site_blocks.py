"""Per-site repeated blocks: learned from what a site's archived articles share, kept in ``site_blocks``.

A block (a paragraph, or a box another layer cut) found verbatim on many articles of one site is its
template, not its journalism. The crawl and reindex share this module: they feed each extraction to a
``SiteBlockLearner``, pass its ``known`` hashes to the extractor, store what it learns, and finally strip
newly learned blocks from articles extracted before the block was known (``strip_blocks``), recording each
removal in the row's ``removed`` list with reason "repeated".
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Callable, Container, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from archive.index import Index, text_hash
from extract import block_hash

__all__ = ["SiteBlockLearner", "blocks_lookup", "page_blocks", "site_block_hashes", "strip_blocks",
           "strip_known", "relearn_sites"]

MIN_PAGES = 3  # a block must be on at least this many articles...
MIN_SHARE = 0.3  # ...and on this share of the site's articles seen
MIN_TOTAL = 6  # and nothing is learned from fewer articles than this
EVERY = 5  # re-learn after this many new observations during a crawl
SEED_LIMIT = 500  # articles of the site read from the index to start counting
WINDOW = SEED_LIMIT  # blocks are counted over the latest this many articles


def page_blocks(text: str, removed: Iterable[Mapping[str, Any]] = ()) -> dict[str, str]:
    """hash → text of every block of one extracted page: its paragraphs and what other layers cut."""
    blocks = {block_hash(p): p for p in text.split("\n\n") if p.strip()}
    for block in removed:
        body = (block.get("text") or "").strip()
        if body:
            blocks.setdefault(block_hash(body), body)
    return blocks


def site_block_hashes(index: Index, site: str | None) -> set[str]:
    """The learned block hashes of one site."""
    if not site:
        return set()
    return {row["hash"] for row in index.db.query("SELECT hash FROM site_blocks WHERE site = ?", [site])}


def blocks_lookup(index: Index) -> Callable[[str | None], set[str]]:
    """``blocks_for(site)`` for ``archive.ingest.ingest_files``: each site's learned hashes, read once."""
    cache: dict[str | None, set[str]] = {}

    def blocks_for(site: str | None) -> set[str]:
        if site not in cache:
            cache[site] = site_block_hashes(index, site)
        return cache[site]
    return blocks_for


class SiteBlockLearner:
    """Counts, per block, the articles of one site it appears on, and decides when it is boilerplate."""

    def __init__(self, site: str, known: Iterable[str] = ()) -> None:
        self.site = site
        self.known: set[str] = set(known)
        self.learned_now: dict[str, str] = {}  # learned by this learner (not before)
        # A sliding window of the latest WINDOW articles, with running counts: memory and the cost of a
        # learn stay flat however long the crawl (a template block recurs within any window of articles).
        self._window: deque[set[str]] = deque()
        self._counts: Counter[str] = Counter()
        self._texts: dict[str, str] = {}  # text of every block counted in the window (and learned ones)
        self._since = 0

    @classmethod
    def from_index(cls, index: Index, site: str, limit: int = SEED_LIMIT) -> SiteBlockLearner:
        """A learner knowing the site's stored blocks and counting its latest archived articles."""
        learner = cls(site, site_block_hashes(index, site))
        rows = index.db.query(
            "SELECT text, removed FROM articles WHERE site = ? AND latest = 1 ORDER BY captured_at DESC "
            "LIMIT ?", [site, limit])
        for row in rows:
            learner.observe(row["text"] or "", _removed(row["removed"]), count=False)
        return learner

    def observe(self, text: str, removed: Iterable[Mapping[str, Any]] = (), *, count: bool = True) -> None:
        blocks = page_blocks(text, removed)
        if len(self._window) >= WINDOW:
            for h in self._window.popleft():
                self._counts[h] -= 1
                if self._counts[h] <= 0:
                    del self._counts[h]
                    if h not in self.learned_now:
                        self._texts.pop(h, None)
        for h, body in blocks.items():
            self._texts.setdefault(h, body)
        self._counts.update(blocks.keys())
        self._window.append(set(blocks))
        if count:
            self._since += 1

    def due(self) -> bool:
        return self._since >= EVERY

    def learn(self) -> dict[str, str]:
        """Blocks newly found repeated (hash → text); they join ``known``."""
        self._since = 0
        if len(self._window) < MIN_TOTAL:
            return {}
        need = max(MIN_PAGES, MIN_SHARE * len(self._window))  # as extract.learn_repeated decides
        found = {h for h, n in self._counts.items() if n >= need} - self.known
        new = {h: self._texts[h] for h in found}
        self.known |= found
        self.learned_now.update(new)
        return new

    def pages_with(self, h: str) -> int:
        """On how many articles of the current window the block appears."""
        return self._counts.get(h, 0)

    def save(self, index: Index, blocks: Mapping[str, str]) -> None:
        """Store learned blocks in ``site_blocks`` (site, hash, text, pages, learned_at)."""
        if not blocks:
            return
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        index.commit()
        index.db.conn.executemany(
            "INSERT INTO site_blocks (site, hash, text, pages, learned_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (site, hash) DO UPDATE SET pages = excluded.pages",
            [(self.site, h, body, self.pages_with(h), now) for h, body in blocks.items()])


def _removed(raw: str | None) -> list[dict[str, Any]]:
    try:
        value = json.loads(raw or "[]")
    except ValueError:
        return []
    return [b for b in value if isinstance(b, dict)] if isinstance(value, list) else []


def _without(text: str, removed: list[dict[str, Any]], blocks: Container[str]
             ) -> tuple[str, list[dict[str, Any]]] | None:
    """``text`` without its paragraphs whose hash is in ``blocks``, each cut recorded in ``removed`` as the
    extractor records it; None when nothing is cut."""
    paragraphs = text.split("\n\n")
    kept = [p for p in paragraphs if block_hash(p) not in blocks]
    if len(kept) == len(paragraphs):
        return None
    removed = list(removed)
    for p in paragraphs:
        h = block_hash(p)
        if h in blocks:
            removed.append({"text": p, "reason": "repeated", "detail": f"block {h} repeats across this site"})
    return "\n\n".join(kept), removed


def strip_known(extraction: Mapping[str, Any], blocks: Container[str]) -> dict[str, Any] | None:
    """A stored extraction as the extractor would have made it knowing ``blocks`` (learned after it was
    made): those paragraphs cut and recorded; None when no paragraph is left (the extractor finds no
    article then)."""
    cut = _without(extraction.get("text") or "", list(extraction.get("removed") or []), blocks) if blocks \
        else None
    if cut is None:
        return dict(extraction)
    text, removed = cut
    return {**extraction, "text": text, "removed": removed} if text else None


def strip_blocks(index: Index, site: str, blocks: Mapping[str, str]) -> int:
    """Remove learned blocks from the site's latest article rows that still hold them (extracted before
    the block was learned), in place: same capture, so the row is corrected, not versioned. Returns the
    number of rows changed."""
    if not blocks:
        return 0
    index.commit()
    changed = 0
    candidates: dict[str, dict[str, Any]] = {}
    for body in blocks.values():
        first_line = body.split("\n")[0]
        for row in index.db.query(
                "SELECT id, text, removed FROM articles WHERE site = ? AND latest = 1 AND instr(text, ?) > 0",
                [site, first_line]):
            candidates[row["id"]] = row
    for row in candidates.values():
        cut = _without(row["text"], _removed(row["removed"]), blocks)
        if cut is None or not cut[0]:
            continue
        text, removed = cut
        index.db.execute(
            "UPDATE articles SET text = ?, removed = ?, text_hash = ?, word_count = ? WHERE id = ?",
            [text, json.dumps(removed, ensure_ascii=False), text_hash(text), len(text.split()), row["id"]])
        changed += 1
    index.commit()
    return changed


def relearn_sites(index: Index, sites: Iterable[str]) -> dict[str, int]:
    """Learn each site's blocks from its archived articles and strip them (after reindex or import):
    site → number of newly learned blocks."""
    out: dict[str, int] = {}
    for site in sites:
        learner = SiteBlockLearner.from_index(index, site)
        learner.learn()
        learner.save(index, learner.learned_now)
        strip_blocks(index, site, learner.learned_now)
        out[site] = len(learner.learned_now)
    return out

