"""Blocks a site repeats verbatim across its articles (sign-offs, standard appeals, bios) are boilerplate.

Learning needs only the ``blocks`` hash lists of past extractions of one site, so it runs anywhere (index,
CLI) without the pages themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence


def learn_repeated(pages: Iterable[Sequence[str]], *, min_pages: int = 3, min_share: float = 0.3) -> set[str]:
    """Hashes present on at least ``min_pages`` pages and at least ``min_share`` of all pages given."""
    counts: Counter[str] = Counter()
    total = 0
    for blocks in pages:
        total += 1
        counts.update(set(blocks))
    need = max(min_pages, min_share * total)
    return {h for h, n in counts.items() if n >= need}
