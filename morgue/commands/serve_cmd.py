"""``morgue serve``: datasette on the index, the journalists' reading room."""

from __future__ import annotations

from pathlib import Path

import click

from morgue.commands.options import data_option, open_data

__all__ = ["serve_command"]


@click.command("serve")
@data_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8001, show_default=True, type=int, help="Port (0 picks a free one).")
def serve_command(data_dir: Path | None, host: str, port: int) -> None:
    """Browse and search the archive in datasette (read-only)."""
    import uvicorn

    from archive.reading_room import make_datasette

    data = open_data(data_dir)
    ds = make_datasette(data.path)
    click.echo(f"morgue reading room on http://{host}:{port}/ (Ctrl-C to stop)")
    uvicorn.run(ds.app(), host=host, port=port, log_level="warning")
