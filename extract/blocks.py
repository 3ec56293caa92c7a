"""Block fingerprints: the same boilerplate block must hash the same on every page of a site."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Case-folded, NFKC, whitespace-collapsed text: what "verbatim" means for repeated blocks."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def block_hash(text: str) -> str:
    """A stable 16-hex-digit fingerprint of a block's normalised text."""
    return hashlib.blake2b(normalise(text).encode("utf-8"), digest_size=8).hexdigest()
