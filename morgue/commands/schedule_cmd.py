"""``morgue schedule`` (when is each site due?) and ``morgue run-due`` (crawl what is due, once: for cron)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from archive.datadir import DataDir, default_data_dir
from archive.lock import DataDirLock, LockedError
from morgue.commands.crawl_cmd import parse_setting, run_and_report
from morgue.commands.options import data_option, open_data, seeds_option
from morgue.commands.render_cmd import check_renderer, render_after_crawl
from morgue.durations import format_duration
from morgue.errors import MorgueError
from morgue.schedule import SitePlan, plan
from morgue.seeds import Seed, list_seeds

__all__ = ["schedule_command", "run_due_command"]


def _seeds(seeds_dir: Path) -> list[Seed]:
    if not seeds_dir.is_dir():
        raise MorgueError(f"no seeds folder at {seeds_dir}; pass --seeds DIR (a folder of .toml seed files)")
    seeds = list_seeds(seeds_dir)
    if not seeds:
        raise MorgueError(f"{seeds_dir} has no .toml seed files; add one per site (see seeds/ in morgue)")
    names = [s.name for s in seeds]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        files = [s.source for s in seeds if s.name == duplicate]
        raise MorgueError(f"two seed files name the site {duplicate!r}: {', '.join(files)}")
    return seeds


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    delta = now - moment
    if abs(delta.total_seconds()) >= 3600:  # minutes are precise enough for a schedule
        delta = timedelta(minutes=round(delta.total_seconds() / 60))
    if delta.total_seconds() < 0:
        return "in " + format_duration(-delta)
    return format_duration(delta) + " ago" if delta.total_seconds() >= 1 else "now"


def _row(p: SitePlan, now: datetime) -> list[str]:
    last = p.last or {}
    took = f"{last['seconds']:.0f}s" if last.get("seconds") is not None else "-"
    counts = "-"
    if last:
        n = {k: last.get(k) or 0 for k in ("pages", "new_articles", "new_versions", "unchanged",
                                           "not_modified", "robots_blocked", "errors")}
        counts = (f"{n['pages']}p {n['new_articles']}n {n['new_versions']}v "
                  f"{n['unchanged'] + n['not_modified']}u {n['robots_blocked']}r {n['errors']}e")
    due = "due now" if p.due else _ago(p.next_due, now)
    if p.resumable:
        due += " (resume)"
    every = format_duration(p.seed.every)
    return [p.seed.name, every, _ago(p.last_started, now), took, p.result, counts, due]


def _table(rows: list[list[str]]) -> str:
    header = ["SITE", "EVERY", "LAST RUN", "TOOK", "RESULT", "COUNTS", "NEXT"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    return "\n".join(lines)


@click.command("schedule")
@data_option
@seeds_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per site.")
def schedule_command(data_dir: Path | None, seeds_dir: Path, as_json: bool) -> None:
    """List each site: its interval, its last run (when, how long, result, counts) and when it is next due.

    COUNTS: p pages fetched, n new articles, v new versions, u unchanged (304 or same text), r blocked by
    robots.txt, e errors.
    """
    seeds = _seeds(seeds_dir)
    data = DataDir(data_dir or default_data_dir())
    if data.exists():
        data.check(create=False)  # refuses a file or a folder that is not an archive
    now = datetime.now(UTC)
    plans = plan(seeds, data.path, now)
    if as_json:
        for p in plans:
            click.echo(json.dumps(p.to_dict(), default=str))
        return
    click.echo(_table([_row(p, now) for p in plans]))


def _run_due_in_cluster(url: str, seeds: list[Any], data_path: Path, overrides: dict[str, Any],
                        dry_run: bool) -> None:
    from crawler.cluster.worker import due_in_cluster
    from morgue.commands.cluster_cmds import enqueue_and_report

    states = due_in_cluster(url, seeds)
    due = [seed for seed, state in states if state == "due"]
    for seed, state in states:
        if state != "due":
            click.echo(f"{seed.name}: not due ({state})")
    if not due:
        click.echo("nothing due in the cluster")
        return
    click.echo("due: " + ", ".join(s.name for s in due))
    if not dry_run:
        enqueue_and_report(url, due, data_path, overrides)


@click.command("run-due")
@data_option
@seeds_option
@click.option("-s", "--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="A Scrapy setting for every crawl of this run (repeatable).")
@click.option("--wait", is_flag=True,
              help="If another morgue process is writing to the data directory, wait for it instead of "
                   "exiting.")
@click.option("--dry-run", is_flag=True, help="Say which sites are due, crawl nothing.")
@click.option("-v", "--verbose", is_flag=True, help="Show Scrapy's log (INFO).")
@click.option("--cluster", "cluster_url", default=None, metavar="redis://HOST:PORT/DB",
              help="Queue the due sites in this Redis cluster frontier for `morgue worker`s instead of "
                   "crawling here (due = no work left in the cluster and `every` since the last enqueue).")
@click.option("--render", is_flag=True,
              help="After the crawls, render their new article captures (morgue render: screenshots, PDF).")
def run_due_command(data_dir: Path | None, seeds_dir: Path, settings: tuple[str, ...], wait: bool,
                    dry_run: bool, verbose: bool, cluster_url: str | None = None,
                    render: bool = False) -> None:
    """Crawl every site that is due, once, and exit: the command to put in cron or a systemd timer.

    Only one morgue process writes to a data directory at a time. If another one is running (an earlier
    run-due still crawling, or a morgue crawl), run-due says so and exits with status 0 without crawling,
    so overlapping timer runs never crawl a site twice at once; --wait queues behind it instead, then
    crawls whatever is still due.
    """
    seeds = _seeds(seeds_dir)
    overrides: dict[str, Any] = dict(parse_setting(s) for s in settings)
    data = open_data(data_dir, create=True)
    if render and cluster_url:
        raise click.BadParameter("cluster workers write WARC only; run morgue render after morgue index",
                                 param_hint="--render")
    if render:
        check_renderer()
    if cluster_url:  # no data-directory lock: the indexer holds it, workers do not need it
        _run_due_in_cluster(cluster_url, seeds, data.path, overrides, dry_run)
        return
    lock = DataDirLock(data.path)
    try:
        lock.acquire(wait=wait)
    except LockedError as exc:
        click.echo(f"run-due: nothing started: {exc}", err=True)
        return
    try:
        now = datetime.now(UTC)
        plans = plan(seeds, data.path, now)  # decided under the lock: a queued run sees the last one's rows
        due = [p.seed for p in plans if p.due]
        if not due:
            upcoming = min(plans, key=lambda p: p.next_due)
            click.echo(f"nothing due; next: {upcoming.seed.name} {_ago(upcoming.next_due, now)}")
            return
        click.echo("due: " + ", ".join(s.name for s in due))
        if dry_run:
            return
        run_and_report(due, data.path, overrides, None, verbose, lock=False)
        render_after_crawl(data.path, due, asked=render, lock=False)
    finally:
        lock.release()
