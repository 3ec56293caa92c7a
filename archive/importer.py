"""Bring what other tools archived into an archive's index: WARC files (wget, wpull, warcio, Browsertrix),
ARC files (Heritrix, the Internet Archive), and WACZ packages.

Each file is read as leniently as warcio reads it (``archive.walk``): what it bends (bare LF line endings,
a missing record end, a header without its blank line, a Content-Length a few bytes off) is reported with
its offset, and the file is imported anyway. A file is refused when a record's bytes do not match its
digest (a citation of it would vouch for bytes that are not what the record says), when it was gzipped
whole, or when nothing in it can be read. A stretch that cannot be read (a cut or corrupt gzip member,
bytes that are no record) costs only its own records: those before it, and after it where the walk finds
the next gzip member or record, are imported, and the stretch is reported with its offset. Every file is
checked before any is copied, then copied byte for byte into ``warc/`` (never rewritten or cut: its sha256
stays the original's and stays checkable, its digests and any signature stay valid, the index points into
it at the original offsets), recorded in the ``imports`` table as foreign (``verify`` reports its
deviations as such, and its unreadable stretches as damage known since the import, in ``imports.damage``),
and indexed through the same path as a crawl (``archive.ingest``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive.index import Index
from archive.ingest import IngestStats, RulesFor, ingest_files
from archive.site_blocks import blocks_lookup
from archive.walk import Problem
from archive.warc_reader import ARC_SUFFIXES, WARC_SUFFIXES, iter_records
from archive.warc_writer import OPEN_SUFFIX

__all__ = ["ImportError_", "ImportResult", "FilePlan", "import_files", "IMPORT_SUFFIXES", "REFUSED_DAMAGE",
           "damage_key"]

IMPORT_SUFFIXES = WARC_SUFFIXES + ARC_SUFFIXES + (".wacz",)
#: Damage that refuses a whole file: a record whose bytes do not match its digest (a citation would vouch
#: for them), or a file gzipped whole (no record can be pointed at). Unreadable stretches (a cut or corrupt
#: gzip member, bytes that are no record) refuse only a file in which nothing else can be read.
REFUSED_DAMAGE = frozenset({"block-digest", "payload-digest", "whole-file-gzip"})
_MAX_KEPT_PROBLEMS = 1000  # per file, in the imports table


class ImportError_(ValueError):  # noqa: N801 - avoid shadowing the builtin ImportError
    """A file cannot be imported; the message names it and says why."""


@dataclass
class FilePlan:
    """One WARC or ARC file to import, as checked."""

    source: Path  # the file to copy (a WACZ's member is unpacked to a temporary folder first)
    name: str  # its name in warc/
    origin: str  # what the user named: a path, or "PACKAGE.wacz!archive/NAME"
    fmt: str  # "WARC" or "ARC"
    sha256: str
    size: int
    records: int = 0
    captures: int = 0
    new_captures: int = 0
    deviations: list[Problem] = field(default_factory=list)
    present: bool = False  # the same bytes are already in warc/ under this name
    damage: list[Problem] = field(default_factory=list)  # unreadable stretches; the records around them are


@dataclass
class ImportResult:
    files: list[FilePlan]
    pages: int  # page titles taken from WACZ pages.jsonl files
    notes: list[str]  # about packages (members not listed, hashes checked)
    stats: IngestStats | None  # None in a dry run
    dry_run: bool = False

    @property
    def copied(self) -> list[FilePlan]:
        return [f for f in self.files if not f.present]

    @property
    def already_present(self) -> list[FilePlan]:
        return [f for f in self.files if f.present]

    @property
    def deviations(self) -> list[Problem]:
        return [d for f in self.files for d in f.deviations]

    @property
    def damage(self) -> list[Problem]:
        return [d for f in self.files for d in f.damage]


def damage_key(problem: Problem) -> list[Any]:
    """How an unreadable stretch found at import is kept (``imports.damage``): verify tells it from new
    damage by kind and offset."""
    return [problem.kind, problem.offset, problem.message]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_name(path: Path) -> None:
    name = path.name
    if not name.endswith(IMPORT_SUFFIXES) or name.endswith(OPEN_SUFFIX) or name.startswith("."):
        raise ImportError_(f"{path}: not a WARC, ARC or WACZ file name (expected NAME.warc.gz, NAME.warc, "
                           "NAME.arc.gz, NAME.arc or NAME.wacz)")
    if not path.is_file():
        raise ImportError_(f"{path}: no such file")


def _check_file(source: Path, name: str, origin: str, warc_dir: Path,
                indexed: Callable[[str], bool]) -> FilePlan:
    """Read every record of one file (digests included); ImportError_ if it is damaged or empty."""
    plan = FilePlan(source=source, name=name, origin=origin,
                    fmt="ARC" if name.endswith(ARC_SUFFIXES) else "WARC", sha256=_sha256(source),
                    size=source.stat().st_size)
    problems: list[Problem] = []
    for record in iter_records(source, problems, check_digests=True):
        plan.records += 1
        if record.pointer.record_type in ("response", "revisit") and record.status is not None:
            plan.captures += 1
            if not indexed(record.pointer.capture_id):
                plan.new_captures += 1
    damage = [p for p in problems if p.damage]
    refused = [p for p in damage if p.kind in REFUSED_DAMAGE] or (damage if not plan.records else [])
    if refused:
        first = refused[0]
        lie = (" (a citation of it would vouch for bytes that are not what the record says)"
               if first.kind.endswith("digest") else "")
        more = f" (and {len(refused) - 1} more like it)" if len(refused) > 1 else ""
        raise ImportError_(f"{origin}: {first.kind} at offset {first.offset}: {first.message}{lie}{more}; "
                           "nothing was imported")
    if not plan.records:
        raise ImportError_(f"{origin}: holds no WARC or ARC records; nothing was imported")
    plan.damage = damage
    plan.deviations = [p for p in problems if not p.damage]
    target = warc_dir / name
    if target.exists():
        if _sha256(target) != plan.sha256:
            raise ImportError_(f"{origin}: a different file named {name} is already in {warc_dir}; "
                               "rename the file to import it; nothing was imported")
        plan.present = True
    return plan


# -- WACZ -------------------------------------------------------------------------------------------
_Unpacked = list[tuple[Path, str, str]]


def _unpack_wacz(path: Path, into: Path) -> tuple[_Unpacked, list[dict[str, Any]], list[str]]:
    """Check a WACZ's datapackage.json hashes, then unpack its WARC and ARC files:
    ([(unpacked file, name in warc/, origin)], pages from pages.jsonl, notes)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ImportError_(f"{path}: not a WACZ package (not a readable zip file: {exc}); "
                           "nothing was imported") from None
    with zf:
        names = set(zf.namelist())
        if "datapackage.json" not in names:
            raise ImportError_(f"{path}: not a WACZ package (no datapackage.json); nothing was imported")
        package_bytes = zf.read("datapackage.json")
        try:
            package = json.loads(package_bytes)
            resources = list(package["resources"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ImportError_(f"{path}: datapackage.json cannot be read ({exc}); "
                               "nothing was imported") from None
        notes: list[str] = []
        if "datapackage-digest.json" in names:
            try:
                wanted = json.loads(zf.read("datapackage-digest.json")).get("hash", "")
            except ValueError:
                wanted = ""
            actual = "sha256:" + hashlib.sha256(package_bytes).hexdigest()
            if wanted and wanted != actual:
                raise ImportError_(f"{path}: datapackage.json does not match the hash in "
                                   f"datapackage-digest.json ({wanted}); nothing was imported")
        listed: dict[str, dict[str, Any]] = {}
        for resource in resources:
            member = str(resource.get("path", ""))
            if member not in names:
                raise ImportError_(f"{path}: datapackage.json lists {member}, which is not in the package; "
                                   "nothing was imported")
            listed[member] = resource
            digest = hashlib.sha256()
            size = 0
            with zf.open(member) as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    digest.update(chunk)
                    size += len(chunk)
            wanted_hash = str(resource.get("hash", ""))
            algo, _, value = wanted_hash.partition(":")
            if algo.lower() != "sha256" or value.lower() != digest.hexdigest():
                raise ImportError_(f"{path}: {member} does not match its hash in datapackage.json "
                                   f"({wanted_hash or 'none given'}); nothing was imported")
            if resource.get("bytes") not in (None, size):
                raise ImportError_(f"{path}: {member} is {size} bytes, datapackage.json says "
                                   f"{resource['bytes']}; nothing was imported")
        notes.append(f"{path}: the {len(listed)} files datapackage.json lists match their sha256 hashes")
        stem = path.name.removesuffix(".wacz")
        unpacked: list[tuple[Path, str, str]] = []
        for member in sorted(names):
            base = member.rsplit("/", 1)[-1]
            if not member.startswith("archive/") or not base.endswith(WARC_SUFFIXES + ARC_SUFFIXES):
                continue
            if member not in listed:
                notes.append(f"{path}: {member} is not listed in datapackage.json, so its hash cannot be "
                             "checked: not imported")
                continue
            target = into / f"{stem}-{base}"
            with zf.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            unpacked.append((target, target.name, f"{path}!{member}"))
        pages: list[dict[str, Any]] = []
        for member in ("pages/pages.jsonl", "pages/extraPages.jsonl"):
            if member in names:
                pages += _pages(zf.read(member), f"{path}!{member}")
    if not unpacked:
        raise ImportError_(f"{path}: holds no WARC files under archive/; nothing was imported")
    return unpacked, pages, notes


def _pages(data: bytes, origin: str) -> list[dict[str, Any]]:
    pages = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            page = json.loads(line)
        except ValueError:
            continue
        if isinstance(page, dict) and page.get("url") and "format" not in page:
            pages.append({"url": str(page["url"]), "ts": str(page.get("ts") or ""),
                          "title": str(page["title"]) if page.get("title") else None, "source": origin})
    return pages


# -- import -----------------------------------------------------------------------------------------
def import_files(paths: list[Path], data_path: Path, index: Index | None, *, dry_run: bool = False,
                 indexed: Callable[[str], bool] | None = None, rules_for: RulesFor | None = None,
                 progress: Callable[[str], None] | None = None,
                 article_filter: Callable[[str], bool] | None = None) -> ImportResult:
    """Check every file (and every package's hashes), then copy, record and index them; in a dry run
    only check and say what would be done, changing nothing: then ``index`` is None and ``indexed(id)``
    says whether a capture is already indexed."""
    warc_dir = data_path / "warc"
    if indexed is None:
        indexed = (lambda cid: index.get_capture(cid) is not None) if index else (lambda _: False)
    with tempfile.TemporaryDirectory(prefix="morgue-import-") as tmp_name:
        plans: list[FilePlan] = []
        pages: list[dict[str, Any]] = []
        notes: list[str] = []
        for path in paths:
            _check_name(path)
            if path.name.endswith(".wacz"):
                unpacked, wacz_pages, wacz_notes = _unpack_wacz(path, Path(tmp_name))
                pages += wacz_pages
                notes += wacz_notes
                members = unpacked
            else:
                members = [(path, path.name, str(path))]
            for source, name, origin in members:
                if progress:
                    progress(f"checking {origin}")
                if any(p.name == name for p in plans):
                    raise ImportError_(f"{origin}: another file named {name} is in this import; "
                                       "nothing was imported")
                plans.append(_check_file(source, name, origin, warc_dir, indexed))
        if dry_run:
            return ImportResult(files=plans, pages=len(pages), notes=notes, stats=None, dry_run=True)
        assert index is not None
        warc_dir.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for plan in plans:
            if plan.present:
                continue
            target = warc_dir / plan.name
            tmp = target.with_name(target.name + ".importing")
            shutil.copyfile(plan.source, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, target)
            index.db["imports"].insert({
                "name": plan.name, "sha256": plan.sha256, "size": plan.size, "format": plan.fmt,
                "source": plan.origin, "imported_at": now, "records": plan.records,
                "deviations": len(plan.deviations),
                "problems": json.dumps([str(p) for p in plan.deviations[:_MAX_KEPT_PROBLEMS]]),
                "damage": json.dumps([damage_key(p) for p in plan.damage]),
            }, replace=True)
        if pages:
            index.db["imported_pages"].insert_all(pages, ignore=True)
        index.commit()
        stats = ingest_files(index, [warc_dir / plan.name for plan in plans], rules_for=rules_for,
                             blocks_for=blocks_lookup(index),
                             only_missing=True, progress=progress, foreign_filter=article_filter)
    return ImportResult(files=plans, pages=len(pages), notes=notes, stats=stats)
