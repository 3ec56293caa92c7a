"""WARC digests as tools write them (``algo:value``, base32 or hex), checked against bytes.

Shared by verify (morgue's files, strictly), the lenient walk over other tools' files, and citations: a
digest is checked the same way wherever it is read.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

__all__ = ["hasher_for", "digest_matches", "payload_matches", "payload_digest_matches", "dechunk"]


def hasher_for(digest: str | None) -> Any:
    """A fresh hashlib object for the algorithm a digest names, or None if there is none hashlib knows."""
    if not digest or ":" not in digest:
        return None
    algo = digest.split(":", 1)[0].strip().lower().replace("-", "")
    try:
        return hashlib.new(algo)
    except ValueError:
        return None


def digest_matches(digest: str, raw: bytes) -> bool:
    """Whether ``algo:value`` (base32 or hex, as tools write it) names these hash bytes."""
    value = digest.split(":", 1)[1].strip()
    b32 = base64.b32encode(raw).decode("ascii")
    return value.upper().rstrip("=") == b32.rstrip("=") or value.lower() == raw.hex()


def payload_matches(digest: str, payload: bytes) -> bool:
    """Whether a written ``algo:value`` digest (any algorithm hashlib knows, base32 or hex) names these
    bytes; False for an algorithm it cannot compute."""
    hasher = hasher_for(digest)
    if hasher is None:
        return False
    hasher.update(payload)
    return digest_matches(digest, hasher.digest())


def payload_digest_matches(digest: str, http_head: bytes, payload: bytes) -> bool:
    """A response's payload digest, over the payload as stored or, when the head says it was sent
    chunked, over the de-chunked entity (wget and others digest that)."""
    if payload_matches(digest, payload):
        return True
    if b"transfer-encoding: chunked" not in http_head.lower():
        return False
    entity = dechunk(payload)
    return entity is not None and payload_matches(digest, entity)


def dechunk(data: bytes) -> bytes | None:
    """The entity body of a chunked message body, or None if it is not validly chunked."""
    out = bytearray()
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None
        try:
            size = int(data[pos:end].split(b";", 1)[0].strip(), 16)
        except ValueError:
            return None
        pos = end + 2
        if size == 0:
            return bytes(out)
        out += data[pos:pos + size]
        pos += size + 2
