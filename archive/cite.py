"""Citations and receipts for a capture: what it is, where it came from, and how to check it.

The digest in a citation is read from the WARC record itself (not only from the index), and the payload
is hashed again before citing, so a citation never vouches for bytes that are not what the record holds.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archive.index import Index
from archive.renders import CITED_VIEWS, render_set
from archive.verify import payload_matches
from archive.warc_reader import WarcReadError, read_record

__all__ = ["Citation", "CiteError", "find_capture", "citation_for", "cite_capture", "render", "FORMATS"]

FORMATS = ("text", "json", "bibtex", "csl-json")


class CiteError(ValueError):
    """The capture cannot be found or cited; the message says why."""


@dataclass
class Citation:
    id: str
    title: str | None
    publisher: str | None
    authors: list[str]
    published: str | None
    url: str
    fetched_url: str
    captured_at: str
    status: int | None
    content_type: str | None
    warc_file: str
    warc_offset: int
    warc_length: int
    record_id: str
    record_type: str
    payload_digest: str | None
    payload_digest_checked: bool
    version: int | None = None
    notes: list[str] = field(default_factory=list)
    #: the latest render's screenshot and PDF records: view, uri, warc_file, warc_offset, record_id,
    #: payload_digest, rendered_at (``archive.renders``); each digest checked against its record
    renders: list[dict[str, Any]] = field(default_factory=list)
    archive_format: str = "WARC"  # or "ARC": a record of an imported ARC file

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_capture(index: Index, capture_id: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(capture row, article row or None) for a 12-character capture or article id."""
    wanted = capture_id.strip().lower()
    capture = index.get_capture(wanted)
    if capture is None:
        raise CiteError(f"no capture or article with id {capture_id!r} in this archive "
                        "(ids are the 12-character codes shown by morgue search)")
    rows = list(index.db.query("SELECT * FROM articles WHERE capture_id = ?", [wanted]))
    return capture, (rows[0] if rows else None)


def citation_for(index: Index, warc_dir: Path, capture_id: str) -> Citation:
    capture, article = find_capture(index, capture_id)
    return cite_capture(capture, article, warc_dir, render_set(index.db, capture["id"]))


def cite_capture(capture: dict[str, Any], article: dict[str, Any] | None, warc_dir: Path,
                 renders: dict[str, dict[str, Any]] | None = None) -> Citation:
    """The citation of a ``captures`` row (and its article row, if it is one), its payload hashed again
    from the WARC record; CiteError if the record is not the one indexed or does not match its digest.
    ``renders`` ({view: renders row}) adds the screenshot and PDF records that were made of it."""
    record = read_record(warc_dir, capture["warc_file"], capture["warc_offset"])
    if record.pointer.record_id != capture["record_id"]:
        raise CiteError(f"{capture['warc_file']} offset {capture['warc_offset']} holds "
                        f"{record.pointer.record_id}, not {capture['record_id']}: run morgue verify")
    written = record.warc_header("WARC-Payload-Digest")
    notes: list[str] = []
    checked = False
    if record.format == "arc":
        # ARC records carry no digest: the one cited was computed from the payload when the file was
        # indexed, and the payload must still hash to it.
        written = capture["payload_digest"]
        checked = bool(written) and payload_matches(written, record.payload)
        if not checked:
            raise CiteError(f"the payload of {capture['record_id']} in {capture['warc_file']} no longer "
                            f"matches {written}, its digest when imported: the record is damaged "
                            "(run morgue verify)")
        notes.append(f"an ARC record (ARC files carry no digests): {written} is morgue's sha256 of the "
                     "payload when the file was imported, checked again now")
    elif record.pointer.record_type == "response" and written:
        checked = payload_matches(written, record.payload)
        if not checked:
            raise CiteError(f"the payload of {capture['record_id']} in {capture['warc_file']} does not match "
                            f"its digest {written}: the record is damaged (run morgue verify)")
    elif record.pointer.record_type == "revisit":
        notes.append(f"a revisit: the payload is that of the earlier record {capture.get('refers_to')}")
    authors = json.loads(article["authors"]) if article and article.get("authors") else []
    return Citation(
        id=capture["id"], title=article["title"] if article else None,
        publisher=(article.get("site_name") or article.get("site")) if article else capture.get("site"),
        authors=authors, published=article["published"] if article else None,
        url=article["url"] if article else capture["url"], fetched_url=capture["url"],
        captured_at=capture["captured_at"], status=capture["status"], content_type=capture["content_type"],
        warc_file=capture["warc_file"], warc_offset=capture["warc_offset"],
        warc_length=capture["warc_length"], record_id=capture["record_id"],
        record_type=record.pointer.record_type, payload_digest=written, payload_digest_checked=checked,
        version=article["version"] if article else None, notes=notes,
        renders=_cited_renders(renders or {}, warc_dir, notes), archive_format=record.format.upper(),
    )


def _cited_renders(renders: dict[str, dict[str, Any]], warc_dir: Path, notes: list[str]
                   ) -> list[dict[str, Any]]:
    """The screenshot and PDF records of a render, each read back and hashed; a damaged one is left out
    with a note (the capture itself is still citable)."""
    cited = []
    for view in CITED_VIEWS:
        row = renders.get(view)
        if row is None:
            continue
        try:
            record = read_record(warc_dir, row["warc_file"], row["warc_offset"])
            sound = (record.pointer.record_id == row["record_id"] and bool(row["payload_digest"])
                     and payload_matches(row["payload_digest"], record.payload))
        except (WarcReadError, OSError):
            sound = False
        if not sound:
            notes.append(f"the {view} record {row['record_id']} in {row['warc_file']} does not match its "
                         "digest: not cited (run morgue verify)")
            continue
        cited.append({"view": view, "uri": row["uri"], "content_type": row["content_type"],
                      "warc_file": row["warc_file"], "warc_offset": row["warc_offset"],
                      "record_id": row["record_id"], "payload_digest": row["payload_digest"],
                      "rendered_at": row["rendered_at"]})
    return cited


_VIEW_NAMES = {"view": "screenshot", "fullPage": "full-page screenshot", "pdf": "PDF"}


def _renders_text(c: Citation) -> str:
    """One sentence naming the rendered records, or nothing when the capture was never rendered."""
    if not c.renders:
        return ""
    parts = [f"{_VIEW_NAMES.get(r['view'], r['view'])} record {r['record_id']} ({r['warc_file']} offset "
             f"{r['warc_offset']}, digest {r['payload_digest']})" for r in c.renders]
    return f"Rendered from the archive {_utc(c.renders[0]['rendered_at'])}: " + "; ".join(parts) + "."


def _date(text: str | None) -> str:
    return (text or "")[:10]


def _utc(text: str) -> str:
    return text.replace("T", " ").replace(".000Z", "Z").replace("Z", " UTC")


def render(citation: Citation, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(citation.to_dict(), indent=2, ensure_ascii=False)
    if fmt == "csl-json":
        return json.dumps([_csl(citation)], indent=2, ensure_ascii=False)
    if fmt == "bibtex":
        return _bibtex(citation)
    if fmt == "text":
        return _text(citation)
    raise CiteError(f"unknown citation format {fmt!r}; use one of {', '.join(FORMATS)}")


def _text(c: Citation) -> str:
    parts = []
    if c.authors:
        parts.append(", ".join(c.authors) + ".")
    parts.append(f"\u201c{c.title}.\u201d" if c.title else f"{c.url}.")
    if c.publisher:
        parts.append(f"{c.publisher}" + (f", {_date(c.published)}." if c.published else "."))
    elif c.published:
        parts.append(f"{_date(c.published)}.")
    parts.append(f"{c.url}.")
    parts.append(f"Archived {_utc(c.captured_at)} by morgue as capture {c.id}"
                 f"{f' (version {c.version})' if c.version else ''}: HTTP {c.status} from {c.fetched_url},"
                 f" {_kind(c)} file {c.warc_file}, offset {c.warc_offset}, record {c.record_id},"
                 f" payload digest {c.payload_digest}"
                 f"{' (computed by morgue: ARC records carry none)' if _kind(c) == 'ARC' else ''}.")
    if c.renders:
        parts.append(_renders_text(c))
    return " ".join(parts)


def _kind(c: Citation) -> str:
    return c.archive_format


def _date_parts(text: str | None) -> dict[str, Any] | None:
    day = _date(text)
    if len(day) != 10:
        return None
    year, month, dom = day.split("-")
    return {"date-parts": [[int(year), int(month), int(dom)]]}


def _csl(c: Citation) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": c.id, "type": "article-newspaper" if c.title else "webpage",
        "title": c.title or c.url, "URL": c.url,
        "author": [{"literal": name} for name in c.authors],
        "note": f"Archived copy: morgue capture {c.id}; {_kind(c)} {c.warc_file} offset {c.warc_offset}; "
                f"record {c.record_id}; payload digest {c.payload_digest}"
                + (f". {_renders_text(c)}" if c.renders else ""),
    }
    if c.publisher:
        item["container-title"] = c.publisher
        item["publisher"] = c.publisher
    if (issued := _date_parts(c.published)) is not None:
        item["issued"] = issued
    if (accessed := _date_parts(c.captured_at)) is not None:
        item["accessed"] = accessed
    return item


def _bib_escape(text: str) -> str:
    out = []
    for ch in text:
        if ch in "{}\\":
            out.append("\\" + ch if ch != "\\" else "\\textbackslash{}")
        elif ch in "&%$#_":
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _bibtex(c: Citation) -> str:
    fields = [("title", c.title or c.url)]
    if c.authors:
        fields.append(("author", " and ".join("{" + a + "}" for a in c.authors)))
    if c.publisher:
        fields.append(("organization", c.publisher))
    if c.published:
        fields.append(("date", _date(c.published)))
    fields += [("url", c.url), ("urldate", _date(c.captured_at)),
               ("note", f"Archived {_utc(c.captured_at)} as morgue capture {c.id}; {_kind(c)} {c.warc_file} "
                        f"offset {c.warc_offset}; record {c.record_id}; payload digest {c.payload_digest}"
                        + (f". {_renders_text(c)}" if c.renders else ""))]
    lines = [f"@online{{morgue-{c.id},"]
    for key, value in fields:
        escaped = value if key in ("url", "author") else _bib_escape(value)
        lines.append(f"  {key} = {{{escaped}}},")
    lines.append("}")
    return "\n".join(lines)
