"""Options shared by several commands (as sqlite-utils' cli.py shares its decorators)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from archive.datadir import DataDir, default_data_dir

__all__ = ["data_option", "seeds_option", "open_data", "extractor_version_option", "reuse_report"]


def data_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--data", "data_dir", type=click.Path(path_type=Path), default=None,
        help="Data directory (warc/ and morgue.db). Default: $MORGUE_DATA or ./morgue-data.",
    )(fn)


def seeds_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--seeds", "seeds_dir", type=click.Path(path_type=Path), default=Path("seeds"), show_default=True,
        help="Folder of seed files (one site per .toml file).",
    )(fn)


def open_data(data_dir: Path | None, *, create: bool = False) -> DataDir:
    """The data directory a command works on, checked (a clear error if it is not one)."""
    return DataDir(data_dir or default_data_dir()).check(create=create)


def extractor_version_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    from extract import EXTRACTOR_VERSION

    return click.option(
        "--extractor-version", "extractor_version", default=str(EXTRACTOR_VERSION), show_default=True,
        metavar="VERSION",
        help="Stored extractions made by an older extractor than this are extracted again.",
    )(fn)


def reuse_report(reused: int, extracted: dict[str, int]) -> str:
    """``N stored extractions filed, M pages extracted (why)``: what a filing pass did with each page."""
    why = ", ".join(f"{n} {k}" for k, n in sorted(extracted.items()))
    total = sum(extracted.values())
    return f"{reused} stored extractions filed, {total} pages extracted" + (f" ({why})" if why else "")
