"""Word-level differences between two versions of an article's text (for ``morgue diff`` and the UI)."""

from __future__ import annotations

import difflib
import re

__all__ = ["word_diff", "render_diff_text"]

_TOKEN = re.compile(r"\s+|[^\s]+")


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    """(op, text) runs where op is "equal", "delete" or "insert"; joining the non-insert runs gives
    ``old`` back and the non-delete runs give ``new``."""
    a = _TOKEN.findall(old)
    b = _TOKEN.findall(new)
    runs: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            runs.append(("equal", "".join(a[i1:i2])))
            continue
        if tag in ("delete", "replace"):
            runs.append(("delete", "".join(a[i1:i2])))
        if tag in ("insert", "replace"):
            runs.append(("insert", "".join(b[j1:j2])))
    return runs


def render_diff_text(runs: list[tuple[str, str]]) -> str:
    """A readable plain-text rendering: [-deleted-] and {+inserted+}, as ``git diff --word-diff`` does."""
    out = []
    for op, text in runs:
        if op == "equal":
            out.append(text)
        elif op == "delete":
            out.append(f"[-{text}-]")
        else:
            out.append(f"{{+{text}+}}")
    return "".join(out)
