"""node-feedparser (npm ``feedparser``), the feed parser of Node feed readers, run by node on a feed's
bytes: a second, independent reading of morgue's Atom feeds beside Python's feedparser.

The package and its dependencies come from ``tests/feedreader/package-lock.json`` (versions and sha512
integrity pinned), installed by ``tests/feedreader/fetch-feedparser.sh`` into ``$MORGUE_NODE_FEEDPARSER``
(.ci/run sets it) or a user cache on first use.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import REPO

__all__ = ["node_feedparser_dir", "read_with_node"]

FEEDREADER = REPO / "tests" / "feedreader"


def node_feedparser_dir() -> Path:
    """Where node-feedparser is installed (installing it there first if it is not). Raises RuntimeError
    saying what is missing."""
    configured = os.environ.get("MORGUE_NODE_FEEDPARSER")
    target = Path(configured) if configured else Path.home() / ".cache" / "morgue-tests" / "node-feedparser"
    try:
        subprocess.run(["bash", str(FEEDREADER / "fetch-feedparser.sh"), str(target)], check=True,
                       capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise RuntimeError(f"node-feedparser is not in {target} and fetch-feedparser.sh could not install "
                           f"it with npm: {detail}") from None
    return target


def read_with_node(feed: bytes, installed: Path) -> dict[str, Any]:
    """What node-feedparser reads from ``feed``: {"meta": {...}, "items": [{guid, title, link, links,
    summary, pubdate, date, categories, authors}, ...]}. Raises AssertionError if it cannot read it."""
    done = subprocess.run(["node", str(FEEDREADER / "read-feed.js")], input=feed, capture_output=True,
                          timeout=60, env={**os.environ, "NODE_PATH": str(installed / "node_modules")})
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    return json.loads(done.stdout)
