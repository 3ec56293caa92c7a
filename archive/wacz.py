"""Package captures as a WACZ 1.1.1 file that ReplayWeb.page and pywb can open, and anyone can check.

Layout: ``archive/*.warc.gz`` (records copied byte for byte, so every digest and citation still holds),
``indexes/index.cdx`` (CDXJ from cdxj-indexer), ``pages/pages.jsonl`` (one line per article with its title
and extracted text), ``datapackage.json`` (sha256 and size of every file) and ``datapackage-digest.json``.
Everything is streamed: WARC members are copied file to file and into the ZIP in chunks, never held whole.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from archive.warc_reader import iter_records, warc_files

__all__ = ["export_wacz", "ExportResult", "WACZ_VERSION"]

WACZ_VERSION = "1.1.1"
_CHUNK = 1 << 20


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
    """Record ids of the chosen captures (plus the records their revisits refer to) and their articles."""
    where, params = ["1 = 1"], []
    if site:
        where.append("site = ?")
        params.append(site)
    if since:
        where.append("captured_at >= ?")
        params.append(since)
    if until:
        where.append("captured_at < ?")
        params.append(until)
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute(
            f"SELECT id, record_id, refers_to FROM captures WHERE {' AND '.join(where)}", params)]  # noqa: S608
        selected = {r["record_id"] for r in rows} | {r["refers_to"] for r in rows if r["refers_to"]}
        # an article's id is its capture's id: select them in SQL, not by reading every article's text
        articles = [dict(r) for r in conn.execute(
            "SELECT id, fetched_url, url, captured_at, title, text, site FROM articles "
            f"WHERE id IN (SELECT id FROM captures WHERE {' AND '.join(where)}) "  # noqa: S608
            "ORDER BY captured_at, id", params)]
    finally:
        conn.close()
    return selected, articles


def _plan_file(path: Path, selected: set[str]) -> tuple[list[tuple[int, int]], bool, int]:
    """Members to copy from one WARC file: (offset, length) list, whether that is all of them, count kept."""
    members: list[tuple[int, int]] = []
    kept_ids: set[str] = set()
    total = 0
    warcinfo: tuple[int, int] | None = None
    for record in iter_records(path):
        total += 1
        pointer = record.pointer
        concurrent = record.warc_header("WARC-Concurrent-To")
        if pointer.record_type == "warcinfo" and warcinfo is None:
            warcinfo = (pointer.offset, pointer.length)
            members.append(warcinfo)
            continue
        if pointer.record_id in selected or (concurrent and concurrent in kept_ids):
            kept_ids.add(pointer.record_id)
            members.append((pointer.offset, pointer.length))
    kept = len(members) - (1 if warcinfo else 0)
    return (members if kept else []), len(members) == total, kept


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


def _zip_file(zf: zipfile.ZipFile, source: Path, arcname: str, compress: int) -> dict[str, Any]:
    info = zipfile.ZipInfo(arcname, date_time=datetime.now(UTC).timetuple()[:6])
    info.compress_type = compress
    with open(source, "rb") as fh, zf.open(info, "w", force_zip64=True) as dest:
        writer = _HashingWriter(dest)
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            writer.write(chunk)
    return _resource(arcname, writer)


def _zip_bytes(zf: zipfile.ZipFile, data: bytes, arcname: str) -> dict[str, Any]:
    info = zipfile.ZipInfo(arcname, date_time=datetime.now(UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w") as dest:
        writer = _HashingWriter(dest)
        writer.write(data)
    return _resource(arcname, writer)


def _resource(arcname: str, writer: _HashingWriter) -> dict[str, Any]:
    return {"name": os.path.basename(arcname).lower(), "path": arcname,
            "hash": "sha256:" + writer.sha256.hexdigest(), "bytes": writer.size}


def _page_ts(captured_at: str) -> str:
    return captured_at.replace(".000Z", "Z") if captured_at else captured_at


def export_wacz(data_path: Path, out: Path, *, site: str | None = None, since: str | None = None,
                until: str | None = None, title: str | None = None, software: str = "morgue",
                progress: Callable[[str], None] | None = None) -> ExportResult:
    """Write the captures chosen by site and capture time (``since`` inclusive, ``until`` exclusive)."""
    from cdxj_indexer.main import CDXJIndexer

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
        for path in warc_files(warc_dir):
            members, whole, kept = _plan_file(path, selected)
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
        cdx_path = tmp / "index.cdx"
        with open(cdx_path, "w", encoding="utf-8") as cdx_out:
            CDXJIndexer(cdx_out, [str(p) for p, _ in staged], sort=True, post_append=True,
                        fields="referrer").process_all()  # request records out: replay would pick them
        resources: list[dict[str, Any]] = []
        with zipfile.ZipFile(tmp_out, "w", allowZip64=True) as zf:
            for path, name in staged:
                if progress:
                    progress(f"adding {name}")
                resources.append(_zip_file(zf, path, f"archive/{name}", zipfile.ZIP_STORED))
                result.warc_files.append(name)
            resources.append(_zip_file(zf, cdx_path, "indexes/index.cdx", zipfile.ZIP_DEFLATED))
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
            zf.writestr("datapackage.json", package_bytes)
            package_hash = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
            digest = {"path": "datapackage.json", "hash": package_hash}
            zf.writestr("datapackage-digest.json", json.dumps(digest, indent=2))
    os.replace(tmp_out, out)
    result.captures = len(selected)
    return result
