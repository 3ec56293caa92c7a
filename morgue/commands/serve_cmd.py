"""``morgue serve``: datasette on the index, the journalists' reading room (read-only)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import click

from morgue.commands.options import data_option, open_data
from morgue.errors import MorgueError

__all__ = ["serve_command"]


@click.command("serve")
@data_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (127.0.0.1: only this machine; 0.0.0.0: the network).",
)
@click.option(
    "--port",
    default=8001,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port (0 picks a free one).",
)
def serve_command(data_dir: Path | None, host: str, port: int) -> None:
    """Search and read the archive in the browser: datasette with morgue's search, article pages,
    versions, citations and archived pages (served sandboxed from the WARC files). Read-only."""
    import uvicorn

    from archive.datasette.home import prepare
    from archive.reading_room import make_datasette

    data = open_data(data_dir)
    if not data.db_path.exists():
        raise MorgueError(f"no index at {data.db_path}; crawl something first (morgue crawl SEED)")
    ds = make_datasette(data.path)
    try:
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise MorgueError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"morgue reading room on http://{shown}:{bound_port}/ (Ctrl-C to stop)")
    server = uvicorn.Server(uvicorn.Config(ds.app(), log_level="warning"))

    async def serve() -> None:  # on the loop that serves: the home page is rendered before the first visit
        await prepare(ds)
        await server.serve(sockets=[sock])

    asyncio.run(serve())
