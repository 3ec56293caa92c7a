"""Bring WARC files written by other tools (wget, warcio, Browsertrix...) into an archive's index.

The file is copied byte for byte into ``warc/`` (never rewritten: its digests and any signature stay
valid, and the index can point into it), checked first so that a broken file is refused before anything
is indexed, and then indexed through the same path as a crawl (``archive.ingest``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from archive.index import Index
from archive.ingest import IngestStats, RulesFor, ingest_files
from archive.verify import scan_file
from archive.warc_writer import OPEN_SUFFIX

__all__ = ["ImportError_", "ImportResult", "import_warcs"]

_STRUCTURAL = {"truncated-gzip", "corrupt-gzip", "incomplete-record", "not-a-warc-record"}


class ImportError_(ValueError):  # noqa: N801 - avoid shadowing the builtin ImportError
    """A file cannot be imported; the message names it and says why."""


@dataclass
class ImportResult:
    copied: list[Path]
    already_present: list[Path]
    warnings: list[str]
    stats: IngestStats


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_name(path: Path) -> None:
    name = path.name
    if not name.endswith((".warc.gz", ".warc")) or name.endswith(OPEN_SUFFIX) or name.startswith("."):
        raise ImportError_(f"{path}: not a WARC file name (expected NAME.warc.gz or NAME.warc)")
    if not path.is_file():
        raise ImportError_(f"{path}: no such file")


def import_warcs(paths: list[Path], data_path: Path, index: Index, *, rules_for: RulesFor | None = None,
                 progress: Callable[[str], None] | None = None,
                 article_filter: Callable[[str], bool] | None = None) -> ImportResult:
    """Check, copy and index WARC files; refuses every file before copying any if one is broken."""
    warc_dir = data_path / "warc"
    warc_dir.mkdir(parents=True, exist_ok=True)
    warnings: list[str] = []
    plan: list[tuple[Path, Path, bool]] = []
    for path in paths:
        _check_name(path)
        scan = scan_file(path)
        broken = [p for p in scan.problems if p.kind in _STRUCTURAL]
        if broken:
            raise ImportError_(f"{path}: {broken[0].kind} at offset {broken[0].offset}: {broken[0].message}; "
                               "nothing was imported")
        if not scan.records:
            raise ImportError_(f"{path}: holds no WARC records; nothing was imported")
        warnings += [f"{path}: {p}" for p in scan.problems]
        target = warc_dir / path.name
        present = False
        if target.exists():
            if _sha256(target) != _sha256(path):
                raise ImportError_(f"{path}: a different file named {path.name} is already in {warc_dir}; "
                                   "rename the file to import it; nothing was imported")
            present = True
        plan.append((path, target, present))
    copied: list[Path] = []
    for source, target, present in plan:
        if present:
            continue
        tmp = target.with_name(target.name + ".importing")
        shutil.copyfile(source, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        copied.append(target)
    stats = ingest_files(index, [target for _, target, _ in plan], rules_for=rules_for, only_missing=True,
                         progress=progress, foreign_filter=article_filter)
    return ImportResult(copied=copied, already_present=[t for _, t, p in plan if p], warnings=warnings,
                        stats=stats)
