"""Stored extractions: what the extractor produced for a response, kept in the archive beside it.

The crawl (single machine or cluster worker) writes each extraction as a WARC ``metadata`` record whose
block is JSON — the extraction result exactly as the extractor returned it, plus the extractor's version,
the site rules and learned blocks it was given and the site template it went through (version and digest:
``archive.site_templates``) — with ``WARC-Concurrent-To`` the response it came from. A page the crawl
re-extracts at its end through a template learned after it gets a second record, which supersedes the
first (the last record for a response is the one that counts).
``morgue index`` and ``reindex --reuse`` file these instead of extracting the page again (the cost of a
cluster's one indexer, and of every reindex); a record that does not parse, fails its block digest, or was
made by an older extractor than asked for, or under another template than the filing uses, is
re-extracted instead, never filed as it is.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from archive.records import sha256_digest
from archive.warc_writer import WarcWriter

__all__ = ["EXTRACTION_CONTENT_TYPE", "EXTRACTION_FORMAT", "BadExtraction", "StoredExtraction",
           "encode_extraction", "parse_extraction", "is_extraction_record", "version_key", "same_rules",
           "store_extraction", "TEXT_URN_PREFIX", "template_identity", "same_template",
           "named_template_version"]

#: The ``Content-Type`` of a stored-extraction ``metadata`` record (how readers tell it from others).
EXTRACTION_CONTENT_TYPE = "application/vnd.morgue.extraction+json"
#: The URI prefix of the extracted text's ``resource`` record (indexed and served by cdxj-indexer, pywb).
TEXT_URN_PREFIX = "urn:text:"
#: The layout of the JSON block; a reader refuses layouts it does not know.
EXTRACTION_FORMAT = "morgue-extraction/1"


class BadExtraction(ValueError):
    """A stored extraction that cannot be filed as it is (the message says why)."""


@dataclass(frozen=True)
class StoredExtraction:
    """One stored extraction: the extractor's result and what it was made with."""

    extraction: dict[str, Any]
    extractor_version: str
    rules: Mapping[str, Any] | None
    known_blocks: list[str]
    template: dict[str, Any] | None = None  # {"version", "digest"} of the site template it went through
    observation: Any = None  # what the page taught the site's template learner, when it was learning


def is_extraction_record(record_type: str, content_type: str | None) -> bool:
    return record_type == "metadata" and (content_type or "").split(";")[0].strip() == EXTRACTION_CONTENT_TYPE


def template_identity(template: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A site template (``Template.to_dict()``) as a stored extraction names it: its version and the
    sha256 of its canonical JSON (a version number alone may name another template in another index)."""
    if not template:
        return None
    canonical = json.dumps(_plain(template), sort_keys=True, ensure_ascii=False).encode("utf-8")
    return {"version": int(template.get("version", 1)), "digest": sha256_digest(canonical)}


def same_template(stored: Mapping[str, Any] | None, template: Mapping[str, Any] | None) -> bool:
    """Whether a stored extraction's template identity is the template (dict) a filing would use."""
    wanted = template_identity(template)
    if stored is None or wanted is None:
        return stored is None and wanted is None
    return (stored.get("version"), stored.get("digest")) == (wanted["version"], wanted["digest"])


def encode_extraction(extraction: Mapping[str, Any], *, url: str, fetched_url: str,
                      rules: Mapping[str, Any] | None, known_blocks: Collection[str],
                      template: Mapping[str, Any] | None = None, observation: Any = None) -> bytes:
    """The JSON block of a stored extraction. ``extraction`` is dumped whole (every field the extractor
    returns: its ``template``/``fallback`` strings say whether the template fitted); ``template`` is the
    site template the extractor was given, ``observation`` what the page taught a learning template."""
    from extract import EXTRACTOR_VERSION

    data = {
        "format": EXTRACTION_FORMAT, "extractor_version": str(EXTRACTOR_VERSION),
        "url": url, "fetched_url": fetched_url, "rules": _plain(rules),
        "known_blocks": sorted(known_blocks), "template": template_identity(template),
        "extraction": dict(extraction),
    }
    if observation is not None:
        data["observation"] = observation
    return json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")


def named_template_version(block: bytes) -> tuple[bool, int | None]:
    """Whether a stored extraction's block names the site template it was made through, and its version
    (None: made without one). (False, None) when it says nothing readable — the digest and layout are
    checked where it is filed."""
    try:
        data = json.loads(block)
        template = data["template"]
        return True, (int(template["version"]) if template is not None else None)
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        return False, None


def parse_extraction(block: bytes, block_digest: str | None) -> StoredExtraction:
    """The stored extraction in a metadata record's block, checked: its digest (sha256, as morgue writes
    it) must match, the JSON must parse and hold an extraction with text. Raises BadExtraction."""
    if not block_digest:
        raise BadExtraction("no WARC-Block-Digest to check it against")
    if not block_digest.lower().startswith("sha256:") or sha256_digest(block).upper() != (
            "SHA256:" + block_digest.split(":", 1)[1].strip().upper()):
        raise BadExtraction(f"block does not match its digest {block_digest}")
    try:
        data = json.loads(block)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadExtraction(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != EXTRACTION_FORMAT:
        raise BadExtraction(f"not a {EXTRACTION_FORMAT} block")
    extraction = data.get("extraction")
    if not isinstance(extraction, dict) or not isinstance(extraction.get("text"), str):
        raise BadExtraction("holds no extraction with text")
    rules = data.get("rules")
    blocks = data.get("known_blocks")
    template = data.get("template")
    if template is not None and not (isinstance(template, dict) and isinstance(template.get("version"), int)
                                     and isinstance(template.get("digest"), str)):
        raise BadExtraction("names no readable site template")
    return StoredExtraction(extraction=extraction, extractor_version=str(data.get("extractor_version") or ""),
                            rules=rules if isinstance(rules, dict) else None,
                            known_blocks=[b for b in blocks if isinstance(b, str)] if isinstance(blocks, list)
                            else [], template=template, observation=data.get("observation"))


def version_key(version: str) -> tuple[int, ...]:
    """An extractor version ("1", "1.2") as comparable numbers; an unreadable one sorts oldest."""
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return ()


def same_rules(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Whether two sites' extraction rules are the same (as JSON: a TOML table and its stored copy)."""
    return _canonical(a) == _canonical(b)


def _plain(rules: Mapping[str, Any] | None) -> Any:
    return json.loads(json.dumps(rules, default=str)) if rules else None


def _canonical(rules: Mapping[str, Any] | None) -> str:
    return json.dumps(_plain(rules), sort_keys=True)


def store_extraction(writer: WarcWriter, capture: Mapping[str, Any], url: str, extraction: Mapping[str, Any],
                     rules: Mapping[str, Any] | None, known_blocks: Collection[str], *, text: bool,
                     template: Mapping[str, Any] | None = None, observation: Any = None) -> None:
    """Write an extraction beside the response it came from: the extraction ``metadata`` record, then the
    text ``resource`` (when ``text``: an unchanged text is archived already, as the earlier version's),
    both ``WARC-Concurrent-To`` the response. The metadata first: an indexer that sees the text marks the
    page an article and files it, so it must have seen the stored extraction by then (the writer may
    rotate its file between the two)."""
    block = encode_extraction(extraction, url=url, fetched_url=capture["url"], rules=rules,
                              known_blocks=known_blocks, template=template, observation=observation)
    writer.write_metadata(capture["url"], block, EXTRACTION_CONTENT_TYPE, date=capture["captured_at"],
                          concurrent_to=capture["record_id"])
    if text:
        writer.write_resource(f"{TEXT_URN_PREFIX}{url}", extraction["text"].encode("utf-8"),
                              "text/plain; charset=utf-8", date=capture["captured_at"],
                              concurrent_to=capture["record_id"])
