"""Saved searches that a journalist follows, and the articles new to each since it was last checked.

They live in ``follows.db`` in the data directory, not in ``morgue.db``: readers open the index read-only,
and ``morgue reindex`` rebuilds the index from the WARC files, which hold no searches. Matches come from
``Index.search`` (morgue's search language for people), never from a MATCH string of our own. "New" means
captured after the search's mark: each check moves the mark to the newest capture time it saw, so an
article captured while a check runs is reported by the next one, never lost and never reported twice.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archive.index import Index, SearchHit
from archive.query_language import translate

__all__ = ["FollowError", "SavedSearch", "Follows", "CheckResult", "check_follows", "FOLLOWS_DB",
           "read_saved_search"]

FOLLOWS_DB = "follows.db"
NEW_MATCH_LIMIT = 500  # a check looks at this many newest matches of each search
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}$")


class FollowError(ValueError):
    """A saved search cannot be added, found or checked; the message says which and why."""


@dataclass(frozen=True)
class SavedSearch:
    name: str
    query: str
    site: str | None
    created_at: str
    checked_at: str


@dataclass
class CheckResult:
    search: SavedSearch
    new: list[SearchHit]


def _now() -> str:
    """Now as captures are dated (WARC-Date: UTC, milliseconds), so that the two compare as strings."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Follows:
    """The saved searches of one data directory (``follows.db``, created on first use)."""

    def __init__(self, data_path: Path) -> None:
        self.path = data_path / FOLLOWS_DB

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("CREATE TABLE IF NOT EXISTS follows (name TEXT PRIMARY KEY, query TEXT NOT NULL, "
                     "site TEXT, created_at TEXT NOT NULL, checked_at TEXT NOT NULL)")
        return conn

    def add(self, name: str, query: str, site: str | None = None) -> SavedSearch:
        """Save a search; only articles captured from now on are new to it."""
        if not _NAME.match(name):
            raise FollowError(f"{name!r} is not a name for a saved search: use lower-case letters, digits, "
                              "'-', '_' or '.', starting with a letter or digit (e.g. harbour-budget)")
        translation = translate(query)
        if not translation.match:
            raise FollowError(f"cannot follow {query!r}: "
                              f"{translation.message or 'give at least one word to search for'}")
        now = _now()
        saved = SavedSearch(name=name, query=query, site=site, created_at=now, checked_at=now)
        with closing(self._connect()) as conn, conn:
            try:
                conn.execute("INSERT INTO follows VALUES (?, ?, ?, ?, ?)",
                             (saved.name, saved.query, saved.site, saved.created_at, saved.checked_at))
            except sqlite3.IntegrityError:
                raise FollowError(f"a saved search named {name!r} exists already "
                                  f"(morgue follow remove {name} first)") from None
        return saved

    def list(self) -> list[SavedSearch]:
        if not self.path.exists():
            return []
        with closing(self._connect()) as conn:
            return [SavedSearch(**dict(row)) for row in conn.execute("SELECT * FROM follows ORDER BY name")]

    def get(self, name: str) -> SavedSearch:
        for saved in self.list():
            if saved.name == name:
                return saved
        raise FollowError(f"no saved search named {name!r} (morgue follow list shows them)")

    def remove(self, name: str) -> None:
        self.get(name)
        with closing(self._connect()) as conn, conn:
            conn.execute("DELETE FROM follows WHERE name = ?", (name,))

    def mark(self, name: str, checked_at: str) -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute("UPDATE follows SET checked_at = max(checked_at, ?) WHERE name = ?",
                         (checked_at, name))


def read_saved_search(data_path: Path, name: str) -> SavedSearch:
    """One saved search, read without writing (the reading room opens nothing for writing)."""
    path = data_path / FOLLOWS_DB
    if path.exists():
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            try:
                row = conn.execute("SELECT * FROM follows WHERE name = ?", (name,)).fetchone()
            except sqlite3.OperationalError:
                row = None
            if row is not None:
                return SavedSearch(**dict(row))
    raise FollowError(f"no saved search named {name!r} (morgue follow list shows them)")


def check_follows(data_path: Path, *, since: str | None = None, names: list[str] | None = None,
                  move_marks: bool = True) -> list[CheckResult]:
    """The articles each saved search matches that were captured after its mark (or after ``since``),
    newest first; moves the marks unless ``since`` is given (a look back changes nothing)."""
    follows = Follows(data_path)
    searches = [follows.get(n) for n in names] if names else follows.list()
    db_path = data_path / "morgue.db"
    if not searches or not db_path.exists():
        return [CheckResult(s, []) for s in searches]
    results = []
    with Index(db_path, readonly=True) as index:
        row = index.db.execute("SELECT max(captured_at) FROM articles").fetchone()
        newest = row[0] if row and row[0] else None
        for saved in searches:
            after = since or saved.checked_at
            hits = index.search(saved.query, order="newest", site=saved.site, limit=NEW_MATCH_LIMIT)
            new = [h for h in hits if after < h.captured_at and (newest is None or h.captured_at <= newest)]
            new.sort(key=lambda h: (h.captured_at, h.id), reverse=True)
            results.append(CheckResult(saved, new))
    if move_marks and since is None and newest is not None:
        for result in results:
            follows.mark(result.search.name, newest)
    return results
