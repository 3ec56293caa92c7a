"""pywb's ``wayback`` serving the collections under a folder, for the tests that replay what morgue
wrote in the tool archivists replay WARC files with."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def running_wayback(wayback: str, root: Path) -> Iterator[int]:
    """``wayback`` on a free port of 127.0.0.1 with ``root`` (holding ``collections/``) as its folder;
    yields the port once it answers, stops it afterwards."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([wayback, "-p", str(port), "-b", "127.0.0.1"], cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
