"""The versions of one article and word-level differences between them (``morgue versions`` / ``diff``)."""

from __future__ import annotations

from typing import Any

from archive.index import Index
from archive.textdiff import render_diff_text, word_diff
from archive.urls import normalize_url

__all__ = ["article_versions", "VersionError", "diff_versions"]


class VersionError(ValueError):
    """No such article or version; the message says what exists."""


def article_versions(index: Index, url: str) -> list[dict[str, Any]]:
    """Every version of the article filed under ``url`` (or fetched from it), oldest first."""
    wanted = normalize_url(url)
    rows = list(index.db.query(
        "SELECT * FROM articles WHERE url = ? ORDER BY version", [wanted]))
    if not rows:
        filed = list(index.db.query(
            "SELECT DISTINCT url FROM articles WHERE fetched_url IN (?, ?)", [url, wanted]))
        if filed:
            rows = list(index.db.query(
                "SELECT * FROM articles WHERE url = ? ORDER BY version", [filed[0]["url"]]))
    if not rows:
        raise VersionError(f"no article archived at {url} (morgue search finds articles by their words)")
    return rows


def _pick(rows: list[dict[str, Any]], which: str | None, default: int) -> dict[str, Any]:
    if which is None:
        return rows[default]
    for row in rows:
        if which in (str(row["version"]), row["id"]):
            return row
    available = ", ".join(f"{r['version']} ({r['id']})" for r in rows)
    raise VersionError(f"no version {which!r} of {rows[0]['url']}; it has versions {available}")


def diff_versions(index: Index, url: str, from_version: str | None = None, to_version: str | None = None
                  ) -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, str]], str]:
    """(older row, newer row, diff runs, readable text); by default the last two versions."""
    rows = article_versions(index, url)
    if len(rows) < 2 and (from_version is None or to_version is None):
        raise VersionError(f"{rows[0]['url']} has one version only ({rows[0]['id']}); nothing to compare")
    old = _pick(rows, from_version, -2)
    new = _pick(rows, to_version, -1)
    title_old, title_new = old["title"] or "", new["title"] or ""
    runs = word_diff(f"{title_old}\n\n{old['text']}", f"{title_new}\n\n{new['text']}")
    return old, new, runs, render_diff_text(runs)
