"""One writer per data directory: an advisory lock file held while a process crawls or indexes."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["DataDirLock", "LockedError"]


class LockedError(RuntimeError):
    """Another process holds the data directory."""


class DataDirLock:
    """An exclusive ``flock`` on ``DIR/.morgue.lock``, released when the process ends, even by kill -9."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / ".morgue.lock"
        self._fd: int | None = None

    def acquire(self, *, wait: bool = False) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(
                f"another morgue process (pid {holder}) is writing to {self.path.parent}; "
                "wait for it to finish, or use another --data directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
