"""The article page: clean text, removed boilerplate, versions with a word diff, and a citation."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from archive.datasette.display import human_date, json_list, paragraphs
from archive.textdiff import word_diff

__all__ = ["article_context", "diff_html", "citation_text"]

_CONTEXT_WORDS = 25  # words kept either side of a change when a long unchanged stretch is folded


def diff_html(old: str, new: str) -> tuple[Markup, int, int]:
    """A word diff as HTML (<del>/<ins>, everything escaped), long unchanged stretches folded; also the
    number of words deleted and inserted."""
    out: list[str] = []
    deleted = inserted = 0
    runs = word_diff(old, new)
    for i, (op, text) in enumerate(runs):
        if op == "delete":
            deleted += len(text.split())
            out.append(f"<del>{escape(text)}</del>")
        elif op == "insert":
            inserted += len(text.split())
            out.append(f"<ins>{escape(text)}</ins>")
        else:
            out.append(_fold(text, first=i == 0, last=i == len(runs) - 1))
    return Markup("".join(out).replace("\n", "<br>\n")), deleted, inserted


def _fold(text: str, *, first: bool, last: bool) -> str:
    words = text.split(" ")
    keep = _CONTEXT_WORDS
    if len(words) <= 2 * keep + 10:
        return str(escape(text))
    head = [] if first else words[:keep]
    tail = [] if last else words[-keep:]
    hidden = len(words) - len(head) - len(tail)
    return (str(escape(" ".join(head))) + f' <span class="morgue-fold">[… {hidden} unchanged words …]</span> '
            + str(escape(" ".join(tail))))


def citation_text(cited: str, permalink: str, archived_url: str) -> str:
    """The citation a journalist can paste: ``morgue cite``'s text for the capture (who, what, where,
    when, and the WARC record whose payload was just checked against its digest), and the links."""
    return f"{cited}\nPermalink: {permalink}\nArchived page: {archived_url}"


def article_context(article: dict[str, Any], versions: list[dict[str, Any]], compare: dict[str, Any] | None,
                    *, cited: str, permalink: str, archived_url: str, warc_url: str,
                    renders: dict[str, dict[str, Any]] | None = None,
                    screenshots: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything the article template shows, prepared (escaped where it becomes HTML)."""
    removed = [r for r in json_list(article.get("removed")) if isinstance(r, dict)]
    diff = None
    if compare is not None:
        older, newer = sorted([compare, article], key=lambda a: a["version"])
        html, deleted, inserted = diff_html(older["text"] or "", newer["text"] or "")
        diff = {"older": older, "newer": newer, "html": html, "deleted": deleted, "inserted": inserted,
                "older_captured": human_date(older["captured_at"]),
                "newer_captured": human_date(newer["captured_at"])}
    return {
        "article": article,
        "authors": json_list(article.get("authors")),
        "tags": json_list(article.get("tags")),
        "paragraphs": paragraphs(article.get("text")),
        "removed": removed,
        "published": human_date(article.get("published")),
        "modified": human_date(article.get("modified")),
        "captured": human_date(article.get("captured_at")),
        "versions": [{**v, "captured": human_date(v["captured_at"])} for v in versions],
        "diff": diff,
        "citation": citation_text(cited, permalink, archived_url),
        "permalink": permalink,
        "archived_url": archived_url,
        "warc_url": warc_url,
        "renders": renders or {},
        "screenshots": screenshots or {},
        "screenshot_taken": human_date((screenshots or {}).get(
            "screenshot", (screenshots or {}).get("thumbnail", {})).get("captured_at")),
        "rendered": human_date((renders or {}).get("renderinfo", {}).get("rendered_at")),
    }
