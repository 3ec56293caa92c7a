"""``morgue follow``: saved searches, and what is new to them (also printed after every crawl)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from archive.follows import CheckResult, FollowError, Follows, check_follows
from archive.index import SearchError
from morgue.commands.options import data_option, open_data
from morgue.errors import MorgueError

__all__ = ["follow_command", "report_follows"]


@click.group("follow")
def follow_command() -> None:
    """Saved searches: `follow add` one, and `follow check` (or any crawl) lists articles new to it."""


@follow_command.command("add")
@click.argument("name")
@click.argument("query")
@click.option("--site", default=None, help="Only articles of this site.")
@data_option
def add_command(name: str, query: str, site: str | None, data_dir: Path | None) -> None:
    """Save QUERY (morgue search's language) as NAME; articles captured from now on are new to it."""
    data = open_data(data_dir, create=True)
    try:
        saved = Follows(data.path).add(name, query, site)
    except FollowError as exc:
        raise MorgueError(str(exc)) from None
    where = f" on {site}" if site else ""
    click.echo(f"following {saved.name}: {saved.query!r}{where}")


@follow_command.command("list")
@data_option
def list_command(data_dir: Path | None) -> None:
    """The saved searches, with when each was last checked."""
    data = open_data(data_dir)
    searches = Follows(data.path).list()
    if not searches:
        click.echo("no saved searches (morgue follow add NAME QUERY)", err=True)
    for saved in searches:
        where = f"  site {saved.site}" if saved.site else ""
        click.echo(f"{saved.name}: {saved.query!r}{where}  (checked {saved.checked_at})")


@follow_command.command("remove")
@click.argument("name")
@data_option
def remove_command(name: str, data_dir: Path | None) -> None:
    """Stop following NAME."""
    data = open_data(data_dir)
    try:
        Follows(data.path).remove(name)
    except FollowError as exc:
        raise MorgueError(str(exc)) from None
    click.echo(f"no longer following {name}")


@follow_command.command("check")
@click.argument("names", nargs=-1)
@click.option("--since", default=None,
              help="Matches captured since this UTC date/time instead of since the last check (the marks "
                   "stay where they are).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per new match (with the search name).")
@data_option
def check_command(names: tuple[str, ...], since: str | None, as_json: bool, data_dir: Path | None) -> None:
    """The articles new to each saved search (or to NAMES) since it was last checked."""
    from morgue.commands.archive_cmds import _bound

    data = open_data(data_dir)
    try:
        results = check_follows(data.path, since=_bound(since, "--since"), names=list(names) or None)
    except (FollowError, SearchError) as exc:
        raise MorgueError(str(exc)) from None
    if as_json:
        for result in results:
            for hit in result.new:
                click.echo(json.dumps({"search": result.search.name, **hit.to_dict()}, ensure_ascii=False))
        return
    if not results:
        click.echo("no saved searches (morgue follow add NAME QUERY)", err=True)
    for result in results:
        click.echo(f"{result.search.name}: {len(result.new)} new")
        for hit in result.new:
            click.echo(f"  {hit.title or hit.url}  ({hit.site}, captured {hit.captured_at[:16]})  [{hit.id}]")
            click.echo(f"    {hit.url}")


def summary_line(results: list[CheckResult]) -> str:
    """``followed searches: harbour-budget: 2 new, ferry: 0 new``"""
    return "followed searches: " + ", ".join(f"{r.search.name}: {len(r.new)} new" for r in results)


def report_follows(data_path: Path) -> None:
    """After a crawl: check every saved search and print one line (nothing when none is saved). A search
    that cannot run any more is named, and the crawl's outcome stands."""
    try:
        results = check_follows(data_path)
    except (FollowError, SearchError) as exc:
        click.echo(f"followed searches: not checked: {exc}", err=True)
        return
    if results:
        click.echo(summary_line(results))
        for result in results:
            for hit in result.new:
                click.echo(f"  {result.search.name}: {hit.title or hit.url}  {hit.url}")
