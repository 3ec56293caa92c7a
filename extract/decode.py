"""Turn page bytes into text: the HTTP charset when known, else the page's own declaration, else a guess.

Wrong decoding silently corrupts every downstream word, so the order is: BOM, the ``encoding`` argument
(from Content-Type), ``<meta charset>`` / ``http-equiv`` in the first 4 KiB, strict UTF-8, then
windows-1252 (a superset of latin-1 for printable text, which is what undeclared western pages use).
"""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# Labels that browsers map to a wider codec (WHATWG Encoding Standard).
_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "x-user-defined": "cp1252",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}


def _codec(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None when unknown (a bad label must not crash us)."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def declared_charset(data: bytes) -> str | None:
    """The charset a page declares in its first 4 KiB, as a Python codec name."""
    match = _META_CHARSET.search(data[:4096])
    return _codec(match.group(1).decode("ascii", "ignore")) if match else None


def decode_html(data: bytes | str, encoding: str | None = None) -> str:
    """Decode page bytes to str; never raises (undecodable bytes become U+FFFD)."""
    if isinstance(data, str):
        return data
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(name, "replace")
    declared = [name for name in (_codec(encoding), declared_charset(data)) if name]
    if declared and declared[0] == "cp1252" and not data.isascii():
        # Pages declaring latin-1 while sending UTF-8 are common; valid multi-byte UTF-8 is never
        # plausible windows-1252 prose, so trust the bytes over the label.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    for name in declared:
        try:
            return data.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # A page mostly in its declared charset with a few bad bytes is still in that charset.
        return data.decode(declared[0] if declared else "cp1252", "replace")
