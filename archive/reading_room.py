"""datasette configured as morgue's reading room: read-only, with titles, facets and full-text search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from datasette.app import Datasette

__all__ = ["make_datasette", "METADATA"]

METADATA: dict[str, Any] = {
    "title": "morgue — the news archive",
    "description": "Articles captured by morgue: full-text search, versions, and the archived pages.",
    "databases": {
        "morgue": {
            "tables": {
                "articles": {
                    "title": "Articles",
                    "description": "One row per distinct version of an article.",
                    "sort_desc": "published",
                    "facets": ["site", "language"],
                    "searchmode": "raw",
                },
                "captures": {"title": "Captures", "description": "Every archived HTTP exchange.",
                             "sort_desc": "captured_at", "facets": ["site", "kind", "status"]},
                "crawls": {"title": "Crawls", "sort_desc": "started_at", "facets": ["site", "status"]},
            }
        }
    },
}


def make_datasette(data_dir: Path) -> Datasette:
    """A Datasette over ``morgue.db``, opened read-only (no SQL write reaches the archive)."""
    db_path = Path(data_dir) / "morgue.db"
    return Datasette([str(db_path)], metadata=METADATA, settings={"default_page_size": 50},
                     config_dir=None, immutables=[])
