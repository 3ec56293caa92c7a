"""``morgue templates [SITE]``: what was learned about each site's template, version by version."""

from __future__ import annotations

import json
from pathlib import Path

import click

from archive.index import Index
from archive.site_templates import describe, template_rows
from morgue.commands.options import data_option, open_data
from morgue.errors import MorgueError

__all__ = ["templates_command"]


@click.command("templates")
@click.argument("site", required=False)
@data_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per site and version.")
def templates_command(site: str | None, data_dir: Path | None, as_json: bool) -> None:
    """Show learned site templates: body path, dropped furniture with how often it was seen, pages through
    each version and the fallback rate (or why a site has no template)."""
    data = open_data(data_dir)
    if not data.db_path.exists():
        raise MorgueError(f"no index at {data.db_path}: crawl a site first")
    with Index(data.db_path, readonly=True) as index:
        rows = template_rows(index, site)
    if not rows:
        raise MorgueError(f"no template learned for {site}" if site else "no site templates learned yet")
    if as_json:
        for row in rows:
            row["template"] = json.loads(row["template"]) if row["template"] else None
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    for line in describe(rows):
        click.echo(line)
