"""``morgue render``: screenshots and a PDF of archived articles, made in Chromium from the archive alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from morgue.commands.options import data_option, open_data
from morgue.errors import MorgueError

__all__ = ["render_command", "render_after_crawl", "check_renderer"]

_SHOWN = 5  # pages with a problem listed in the summary (all of them with -v)


def check_renderer(executable: Path | None = None) -> None:
    """MorgueError with the one-line install hint when Playwright or Chromium is missing."""
    from render.browser import INSTALL_HINT, default_executable

    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise MorgueError(INSTALL_HINT + " (Playwright is not installed)") from None
    path = executable or default_executable()
    if not path.exists():
        raise MorgueError(INSTALL_HINT + f" ({path} does not exist)")


def run_render(data_path: Path, *, site: str | None = None, since: str | None = None,
               capture_ids: tuple[str, ...] = (), again: bool = False, executable: Path | None = None,
               timeout: float | None = None, verbose: bool = False, lock: bool = True) -> Any:
    """Render what is selected, holding the data directory's lock (unless the caller holds it: ``lock``
    False); prints the summary. Returns it."""
    from dataclasses import replace

    from archive.index import Index
    from archive.lock import DataDirLock, LockedError
    from render.browser import BrowserSettings, RenderUnavailable
    from render.run import render_archive, select_captures

    check_renderer(executable)
    settings = BrowserSettings()
    if executable is not None:
        settings = replace(settings, executable=executable)
    if timeout is not None:
        settings = replace(settings, timeout_s=timeout)
    held = DataDirLock(data_path)
    try:
        if lock:
            held.acquire()
    except LockedError as exc:
        raise MorgueError(str(exc)) from None
    try:
        with Index(data_path / "morgue.db") as index:
            try:
                captures = select_captures(index, site=site, since=since, capture_ids=capture_ids,
                                           again=again)
            except LookupError as exc:
                raise MorgueError(str(exc)) from None
            if not captures:
                click.echo("nothing to render: every selected article capture is rendered already "
                           "(--again renders them anew)")
                return None
            try:
                report = (lambda line: click.echo(line, err=True)) if verbose else None
                summary = render_archive(data_path, index, captures, settings=settings, progress=report)
            except RenderUnavailable as exc:
                raise MorgueError(str(exc)) from None
    finally:
        if lock:
            held.release()
    shown = summary.lines if verbose else summary.lines[:_SHOWN]
    for line in shown:
        click.echo(f"  {line}")
    if len(shown) < len(summary.lines):
        click.echo(f"  ... and {len(summary.lines) - len(shown)} more (-v lists them all; the renders table "
                   "has every page's note)")
    click.echo(summary.line())
    if summary.warc_files:
        click.echo(f"views written to {', '.join(summary.warc_files)} in {data_path / 'warc'}")
    if summary.errors:
        raise MorgueError(f"{summary.errors} page{'s' if summary.errors != 1 else ''} could not be rendered "
                          "(listed above); the next morgue render tries them again")
    return summary


def render_after_crawl(data_path: Path, seeds: list[Any], *, asked: bool, lock: bool = True) -> None:
    """After a crawl, render the unrendered article captures of every seed crawled (``crawl --render``,
    ``run-due --render``: ``asked``) or of those whose seed says ``render = true``. Without a browser: an
    error when asked on the command line, a warning for a seed option; the crawl is archived either way."""
    sites = [seed.name for seed in seeds if asked or getattr(seed, "render", False)]
    if not sites:
        return
    try:
        check_renderer()
    except MorgueError as exc:
        if asked:
            raise
        click.echo(f"warning: {', '.join(sites)} not rendered: {exc}", err=True)
        return
    for site in sites:
        click.echo(f"rendering {site}:")
        run_render(data_path, site=site, lock=lock)


@click.command("render")
@click.argument("capture_ids", nargs=-1, metavar="[ID]...")
@data_option
@click.option("--site", default=None, help="Only articles of this site.")
@click.option("--since", default=None, help="Only captures at or after this date (2026-11-01) or age (7d).")
@click.option("--again", is_flag=True, help="Render again captures that have been rendered already.")
@click.option("--chromium", "executable", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The Chromium to drive. Default: $MORGUE_CHROMIUM, else /usr/bin/chromium.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None,
              help="Seconds a page may take to load and be drawn (default 30).")
@click.option("-v", "--verbose", is_flag=True, help="Print each page as it is rendered.")
def render_command(capture_ids: tuple[str, ...], data_dir: Path | None, site: str | None, since: str | None,
                   again: bool, executable: Path | None, timeout: float | None, verbose: bool) -> None:
    """Screenshots (viewport, full page, thumbnail) and a PDF of every article capture not rendered yet
    (or of capture ID...), drawn by headless Chromium from the archive alone and written to the archive
    as WARC resource records."""
    from datetime import UTC

    from morgue.durations import parse_since

    cutoff = None
    if since:
        try:
            cutoff = parse_since(since).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    data = open_data(data_dir)
    run_render(data.path, site=site, since=cutoff, capture_ids=capture_ids, again=again,
               executable=executable, timeout=timeout, verbose=verbose)
