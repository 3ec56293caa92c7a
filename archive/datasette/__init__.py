"""The reading room's datasette parts: a plugin (routes, template variables, a read-only guard), its
templates and static files. Loaded by ``archive.reading_room.make_datasette``; never by the crawler."""

from pathlib import Path

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

__all__ = ["TEMPLATES", "STATIC"]
