"""Package captures as a WACZ 1.1.1 file that ReplayWeb.page and pywb can open, and anyone can check.

Layout: ``archive/*.warc.gz`` (records copied byte for byte, so every digest and citation still holds;
imported ARC files, which ReplayWeb.page cannot read, as ``NAME-from-arc.warc.gz`` conversions),
``indexes/index.cdx.gz`` + ``indexes/index.idx`` (compressed CDXJ from cdxj-indexer, as py-wacz writes it:
ReplayWeb.page reads only the blocks a lookup needs), ``pages/pages.jsonl`` (one line per article version
with its title and extracted text), ``datapackage.json`` (sha256 and size of every file) and
``datapackage-digest.json``. Everything is streamed: WARC members are copied file to file and into the ZIP
in chunks, never held whole.

What goes in is data-driven: captures (of any kind: pages, articles, requisites) chosen by site and time,
the records their revisits point at, the records written beside them (``WARC-Concurrent-To``: requests,
``urn:text:``) and records derived from them (resource/metadata records whose ``WARC-Refers-To`` names a
chosen record, such as rendered ``urn:view:`` screenshots); a new kind of record needs no code here.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import struct
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from archive.index import capture_filter
from archive.warc_reader import ARC_SUFFIXES, arc_record_id, iter_records, warc_files

__all__ = ["export_wacz", "ExportResult", "WACZ_VERSION"]

WACZ_VERSION = "1.1.1"
_CHUNK = 1 << 20
# records made from a capture rather than received (rendered screenshots, page info): kept with the
# capture they name in WARC-Refers-To; a revisit's WARC-Refers-To points the other way and is not a link
_DERIVED_TYPES = frozenset({"resource", "metadata", "conversion"})
_NOT_MODIFIED = "/revisit/server-not-modified"


@dataclass
class ExportResult:
    path: Path
    warc_files: list[str] = field(default_factory=list)
    records: int = 0
    pages: int = 0
    captures: int = 0


class _HashingWriter:
    """A file-like that hashes what passes through it on the way to another file."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


def _select(db_path: Path, site: str | None, since: str | None, until: str | None
            ) -> tuple[set[str], list[dict[str, Any]]]:
    """Record ids of the chosen captures (plus the records their revisits refer to) and their articles.

    With a time bound, the non-HTML captures (style sheets, images, fonts...) of the crawls that captured a
    chosen article come along even when captured outside the window: a crawl fetches a shared style sheet
    or logo once, maybe minutes before the window opens, and the article does not replay without it.
    """
    where, params = capture_filter(site, since, until)
    chosen = f"SELECT id FROM captures WHERE {' AND '.join(where)}"  # noqa: S608
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute(
            f"SELECT record_id, refers_to FROM captures WHERE id IN ({chosen})", params)]  # noqa: S608
        if since or until:
            rows += [dict(r) for r in conn.execute(
                "SELECT record_id, refers_to FROM captures WHERE crawl_id IN (SELECT crawl_id FROM captures "
                f"WHERE id IN (SELECT id FROM articles WHERE id IN ({chosen}))) "  # noqa: S608
                "AND coalesce(content_type, '') NOT LIKE 'text/html%'", params)]
        selected = {r["record_id"] for r in rows} | {r["refers_to"] for r in rows if r["refers_to"]}
        # an article's id is its capture's id: select them in SQL, not by reading every article's text
        articles = [dict(r) for r in conn.execute(
            "SELECT id, fetched_url, url, captured_at, title, text, site FROM articles "
            f"WHERE id IN ({chosen}) ORDER BY captured_at, id", params)]  # noqa: S608
    finally:
        conn.close()
    return selected, articles


def _plan_file(path: Path, selected: set[str] | None) -> tuple[list[tuple[int, int]], bool, int]:
    """Members to copy from one WARC file: (offset, length) list, whether that is all of them, count kept.
    ``selected`` None keeps every record (an export without filters is the archive's files as they are)."""
    members: list[tuple[int, int]] = []
    kept_ids: set[str] = set()
    total = 0
    warcinfo: tuple[int, int] | None = None
    for record in iter_records(path):
        total += 1
        pointer = record.pointer
        if pointer.record_type == "warcinfo" and warcinfo is None:
            warcinfo = (pointer.offset, pointer.length)
            members.append(warcinfo)
            continue
        links = [record.warc_header("WARC-Concurrent-To")]
        if pointer.record_type in _DERIVED_TYPES:
            links.append(record.warc_header("WARC-Refers-To"))
        if selected is None or pointer.record_id in selected or any(
                link and (link in kept_ids or link in selected) for link in links):
            kept_ids.add(pointer.record_id)
            members.append((pointer.offset, pointer.length))
    kept = len(members) - (1 if warcinfo else 0)
    return (members if kept else []), len(members) == total, kept


def arc_export_name(arc_name: str) -> str:
    """The name of an ARC file's WARC conversion in an export's ``archive/``."""
    return arc_name.removesuffix(".gz").removesuffix(".arc") + "-from-arc.warc.gz"


def _convert_arc(path: Path, selected: set[str] | None, target: Path) -> int:
    """Write an imported ARC file's (chosen) records as WARC records, with warcio's ARC-to-WARC
    conversion (what ``warcio recompress`` does): ReplayWeb.page's reader (warcio.js) reads no ARC and
    the WACZ format holds WARC files. The ARC file itself stays in the archive, unchanged; each converted
    record keeps the record id morgue gives the ARC record (``arc_record_id``: file and offset) and names
    its source in ``Morgue-Converted-From``, so a citation of the ARC record is found in the export. Returns
    how many records (besides the warcinfo made from the filedesc header) were written."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    with open(path, "rb") as src:  # first the offsets: warcio knows one only once its record is read
        records = ArchiveIterator(src, arc2warc=True)
        offsets = [records.get_record_offset() for _ in records]
    kept = 0
    with open(path, "rb") as src, open(target, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for record, offset in zip(ArchiveIterator(src, arc2warc=True), offsets, strict=True):
            record_id = arc_record_id(path.name, offset)
            if record.rec_type != "warcinfo":
                if selected is not None and record_id not in selected:
                    continue
                kept += 1
            record.rec_headers.replace_header("WARC-Record-ID", record_id)
            record.rec_headers.add_header("Morgue-Converted-From", f"ARC file {path.name}, offset {offset}")
            writer.write_record(record)
    if not kept:
        target.unlink()
    return kept


def _copy_members(source: Path, members: list[tuple[int, int]], target: IO[bytes]) -> None:
    with open(source, "rb") as fh:
        for offset, length in members:
            fh.seek(offset)
            left = length
            while left:
                chunk = fh.read(min(_CHUNK, left))
                if not chunk:
                    raise OSError(f"{source}: ends inside the record at offset {offset}")
                target.write(chunk)
                left -= len(chunk)


def _zip_info(arcname: str, compress: int, size: int) -> zipfile.ZipInfo:
    """A ZIP entry whose local header ReplayWeb.page reads right.

    wabac.js (ReplayWeb.page's reader) takes a central-directory entry without extra fields to mean that
    the local header has none either, and then reads the data 30 + name length bytes after the header:
    the ZIP64 field that ``force_zip64=True`` wrote into every local header (and not into the central
    directory, the sizes being small) shifted every read by 20 bytes, so the index could not be read and
    every page was "Archived Page Not Found". Known sizes let zipfile use ZIP64 only where needed, and an
    extended-timestamp field (Info-ZIP "UT": the UTC time a DOS date cannot tell) in both headers makes
    wabac read the local header itself, whatever zipfile decides for a file near 4 GiB.
    """
    now = datetime.now(UTC)
    info = zipfile.ZipInfo(arcname, date_time=now.timetuple()[:6])
    info.compress_type = compress
    info.file_size = size
    info.extra = struct.pack("<HHBL", 0x5455, 5, 1, int(now.timestamp()) & 0xFFFFFFFF)
    return info


def _zip_file(zf: zipfile.ZipFile, source: Path, arcname: str, compress: int) -> dict[str, Any]:
    info = _zip_info(arcname, compress, source.stat().st_size)
    with open(source, "rb") as fh, zf.open(info, "w") as dest:
        writer = _HashingWriter(dest)
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            writer.write(chunk)
    return _resource(arcname, writer)


def _zip_bytes(zf: zipfile.ZipFile, data: bytes, arcname: str, compress: int = zipfile.ZIP_DEFLATED
               ) -> dict[str, Any]:
    with zf.open(_zip_info(arcname, compress, len(data)), "w") as dest:
        writer = _HashingWriter(dest)
        writer.write(data)
    return _resource(arcname, writer)


def _write_index(paths: list[Path], data_out: Path, idx_out: Path) -> None:
    """The compressed CDXJ of the records to replay, without the ``server-not-modified`` revisits.

    A 304 revisit says "unchanged since the record I refer to"; replay tools serve it as a 304 (an empty,
    aborted navigation in ReplayWeb.page), so a link followed at that time showed nothing. Left out of the
    index (they stay in the WARC files), the time lookup lands on the capture they refer to, which is what
    the server meant. Request records stay out too (``post_append`` folds them into their responses).
    """
    from cdxj_indexer.main import CDXJIndexer

    class _ReplayIndexer(CDXJIndexer):  # type: ignore[misc]
        def filter_record(self, record: Any) -> bool:
            profile = record.rec_headers.get_header("WARC-Profile") or ""
            return bool(super().filter_record(record)) and not (
                record.rec_type == "revisit" and profile.endswith(_NOT_MODIFIED))

    with open(data_out, "wb") as data, open(idx_out, "w", encoding="utf-8") as idx:
        _ReplayIndexer(idx, [str(p) for p in paths], sort=True, post_append=True, fields="referrer",
                       compress=data, data_out_name="index.cdx.gz").process_all()


def _resource(arcname: str, writer: _HashingWriter) -> dict[str, Any]:
    return {"name": os.path.basename(arcname).lower(), "path": arcname,
            "hash": "sha256:" + writer.sha256.hexdigest(), "bytes": writer.size}


def _page_ts(captured_at: str) -> str:
    return captured_at.replace(".000Z", "Z") if captured_at else captured_at


def export_wacz(data_path: Path, out: Path, *, site: str | None = None, since: str | None = None,
                until: str | None = None, title: str | None = None, software: str = "morgue",
                progress: Callable[[str], None] | None = None) -> ExportResult:
    """Write the captures chosen by site and capture time (``since`` inclusive, ``until`` exclusive)."""
    warc_dir = data_path / "warc"
    selected, articles = _select(data_path / "morgue.db", site, since, until)
    if not selected:
        raise ValueError("no captures match: nothing to export (check --site, --since and --until)")
    result = ExportResult(path=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(out.name + ".part")
    with tempfile.TemporaryDirectory(prefix="morgue-wacz-") as tmp_name:
        tmp = Path(tmp_name)
        staged: list[tuple[Path, str]] = []  # (file to add, its name in archive/)
        for path in warc_files(warc_dir, arc=True):
            if path.name.endswith(ARC_SUFFIXES):
                name = arc_export_name(path.name)
                kept = _convert_arc(path, selected if site or since or until else None, tmp / name)
                if kept:
                    result.records += kept
                    staged.append((tmp / name, name))
                continue
            members, whole, kept = _plan_file(path, selected if site or since or until else None)
            if not members:
                continue
            result.records += kept
            if whole:
                staged.append((path, path.name))
                continue
            stem = path.name.removesuffix(".gz").removesuffix(".warc")
            name = f"{stem}-subset.warc" + (".gz" if path.name.endswith(".gz") else "")
            subset = tmp / name
            with open(subset, "wb") as fh:
                _copy_members(path, members, fh)
            staged.append((subset, name))
        if not staged:
            raise ValueError("the chosen captures are in no WARC file here (run morgue verify)")
        cdx_path, idx_path = tmp / "index.cdx.gz", tmp / "index.idx"
        _write_index([p for p, _ in staged], cdx_path, idx_path)
        resources: list[dict[str, Any]] = []
        with zipfile.ZipFile(tmp_out, "w", allowZip64=True) as zf:
            for path, name in staged:
                if progress:
                    progress(f"adding {name}")
                resources.append(_zip_file(zf, path, f"archive/{name}", zipfile.ZIP_STORED))
                result.warc_files.append(name)
            # the gzip blocks are read by range: stored, like the WARC files
            resources.append(_zip_file(zf, cdx_path, "indexes/index.cdx.gz", zipfile.ZIP_STORED))
            resources.append(_zip_file(zf, idx_path, "indexes/index.idx", zipfile.ZIP_DEFLATED))
            pages = io.StringIO()
            pages.write(json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Articles",
                                    "hasText": True}) + "\n")
            for article in articles:
                pages.write(json.dumps({
                    "id": article["id"], "url": article["fetched_url"],
                    "ts": _page_ts(article["captured_at"]),
                    "title": article["title"] or article["url"], "text": article["text"],
                }, ensure_ascii=False) + "\n")
                result.pages += 1
            resources.append(_zip_bytes(zf, pages.getvalue().encode("utf-8"), "pages/pages.jsonl"))
            created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            package: dict[str, Any] = {
                "profile": "data-package", "wacz_version": WACZ_VERSION, "software": software,
                "created": created, "title": title or f"morgue export{f' of {site}' if site else ''}",
                "resources": resources,
            }
            if articles:
                package["mainPageUrl"] = articles[-1]["fetched_url"]
                package["mainPageDate"] = _page_ts(articles[-1]["captured_at"])
            package_bytes = json.dumps(package, indent=2, ensure_ascii=False).encode("utf-8")
            package_hash = _zip_bytes(zf, package_bytes, "datapackage.json")["hash"]
            digest = {"path": "datapackage.json", "hash": package_hash}
            _zip_bytes(zf, json.dumps(digest, indent=2).encode("utf-8"), "datapackage-digest.json")
    os.replace(tmp_out, out)
    result.captures = len(selected)
    return result
