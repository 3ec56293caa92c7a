"""Errors a user can act on: each message says what is wrong, where, and what to do."""

from __future__ import annotations

__all__ = ["MorgueError", "SeedError", "DataDirError"]


class MorgueError(Exception):
    """Base of errors the CLI reports as one line (no traceback unless --debug)."""


class SeedError(MorgueError):
    """A seed file (or seed argument) is wrong; the message names the file and line."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        where = f"{source}, line {line}" if line else source
        super().__init__(f"{where}: {message}")


class DataDirError(MorgueError):
    """The data directory is unusable (not a morgue data directory, locked by another process, ...)."""
