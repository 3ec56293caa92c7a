"""``morgue search``: full-text search from the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from archive.index import Index, SearchError
from morgue.commands.options import data_option, open_data
from morgue.errors import MorgueError

__all__ = ["search_command"]


@click.command("search")
@click.argument("query")
@data_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000), help="Most results.")
@click.option("--newest", "order", flag_value="newest", help="Newest first (by published date).")
@click.option("--rank", "order", flag_value="rank", default=True, help="Best match first (default).")
@click.option("--site", default=None, help="Only this site.")
@click.option("--all-versions", is_flag=True, help="Also search earlier versions of edited articles.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per result (with url, snippet...).")
def search_command(query: str, data_dir: Path | None, limit: int, order: str, site: str | None,
                   all_versions: bool, as_json: bool) -> None:
    """Search article titles and text. QUERY: words (all must match), "a phrase", OR, NOT or -word,
    harbo* (words starting so), title:word; O'Brien, covid-19 or U.S. are searched as written."""
    data = open_data(data_dir)
    with Index(data.db_path, readonly=True) as index:
        try:
            hits = index.search(query, limit=limit, order=order, site=site, all_versions=all_versions)
        except SearchError as exc:
            raise MorgueError(str(exc)) from None
    if hits.message:
        click.echo(hits.message, err=True)
    if as_json:
        for hit in hits:
            click.echo(json.dumps(hit.to_dict(), ensure_ascii=False))
        return
    if not hits:  # after a message the query is named there as searched (cleaned, cut to its beginning)
        click.echo("no articles match" + ("" if hits.message else f" {query!r}"), err=True)
        return
    for hit in hits:
        date = (hit.published or hit.captured_at or "")[:10]
        click.echo(click.style(hit.title or hit.url, bold=True) + f"  ({hit.site}, {date})  [{hit.id}]")
        click.echo(f"  {hit.url}")
        snippet = re.sub(r"\[(.+?)\]", lambda m: click.style(m.group(1), fg="yellow", bold=True), hit.snippet)
        click.echo("  " + " ".join(snippet.split()))
        click.echo()
