"""Block fingerprints: the same boilerplate block must hash the same on every page of a site."""

from __future__ import annotations

import hashlib
import unicodedata


def normalise(text: str) -> str:
    """Case-folded, NFKC, whitespace-collapsed text: what "verbatim" means for repeated blocks."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split()).casefold()


def block_hash(text: str) -> str:
    """A stable 16-hex-digit fingerprint of a block's normalised text."""
    return hashlib.blake2b(normalise(text).encode("utf-8"), digest_size=8).hexdigest()
