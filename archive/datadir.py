"""The data directory: ``warc/*.warc.gz`` (the archive of record) and ``morgue.db`` (the index)."""

from __future__ import annotations

import os
from pathlib import Path

from morgue.errors import DataDirError

__all__ = ["DataDir", "default_data_dir"]


def default_data_dir() -> Path:
    """``$MORGUE_DATA`` or ``./morgue-data``."""
    return Path(os.environ.get("MORGUE_DATA") or "morgue-data")


class DataDir:
    """Paths inside one data directory, checked so that morgue never writes into something else."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @property
    def warc_dir(self) -> Path:
        return self.path / "warc"

    @property
    def db_path(self) -> Path:
        return self.path / "morgue.db"

    def exists(self) -> bool:
        return self.db_path.exists() or self.warc_dir.is_dir()

    def check(self, *, create: bool) -> DataDir:
        """Refuse paths that are files, or non-empty folders that are not morgue data directories."""
        if self.path.exists() and not self.path.is_dir():
            raise DataDirError(f"{self.path} is a file, not a data directory; pass --data DIR with a folder")
        if self.path.is_dir() and not self.exists():
            others = [p.name for p in self.path.iterdir() if not p.name.startswith(".")]
            if others:
                raise DataDirError(
                    f"{self.path} is not a morgue data directory (it has {', '.join(sorted(others)[:3])} "
                    "but no warc/ or morgue.db); pass --data with an empty or new folder")
        if not create and not self.exists():
            raise DataDirError(f"no morgue archive in {self.path}; crawl something first "
                               f"(morgue crawl SEED --data {self.path}) or pass --data DIR")
        if create:
            self.warc_dir.mkdir(parents=True, exist_ok=True)
        return self
