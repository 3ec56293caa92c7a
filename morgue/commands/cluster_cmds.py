"""``morgue worker`` and ``morgue index``: crawl workers sharing a Redis frontier, and the one indexer."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import click

from morgue.commands.options import (
    data_option,
    extractor_version_option,
    open_data,
    reuse_report,
    seeds_option,
)
from morgue.errors import MorgueError

__all__ = ["worker_command", "index_command", "cluster_option", "run_cluster_worker", "enqueue_and_report"]


def cluster_option(fn: Any) -> Any:
    return click.option("--cluster", "cluster_url", default=None, metavar="redis://HOST:PORT/DB",
                        envvar="MORGUE_CLUSTER",
                        help="Share the crawl frontier through this Redis server (also $MORGUE_CLUSTER).")(fn)


def _settings(pairs: tuple[str, ...]) -> dict[str, Any]:
    from morgue.commands.crawl_cmd import parse_setting

    return dict(parse_setting(s) for s in pairs)


def enqueue_and_report(url: str, seeds: list[Any], data_path: Path, overrides: dict[str, Any]) -> None:
    from crawler.cluster.connection import redact
    from crawler.cluster.worker import enqueue_seeds

    for r in enqueue_seeds(url, seeds, data_path, overrides):
        fresh = "new crawl" if r.new_round else "joined the crawl in progress"
        click.echo(f"{r.site}: queued {r.queued} start requests in {redact(url)} ({fresh})")


def run_cluster_worker(url: str, data_dir: Path | None, overrides: dict[str, Any], *, forever: bool = False,
                       idle: float | None = None, sites: tuple[str, ...] = (), verbose: bool = False) -> None:
    from crawler.cluster.worker import run_worker

    data = open_data(data_dir, create=True)
    result = run_worker(url, data.path, overrides=overrides, forever=forever, idle=idle, sites=sites,
                        log_level="INFO" if verbose else "WARNING")
    for crawl in result.crawls:
        s = crawl["summary"]
        click.echo(f"{crawl['site']}: {crawl['reason']} — {s.get('pages', 0)} pages, "
                   f"{s.get('captures', 0)} archived, {crawl['acknowledged']} requests done by this worker")
    for dead, n in sorted(result.requeued.items()):
        if n:
            click.echo(f"requeued {n} unfinished requests of dead worker {dead}")
    click.echo(f"worker {result.worker}: WARC files in {data.path / 'warc'}; run `morgue index` to file them")
    failed = [c for c in result.crawls if c["reason"] != "finished"]
    if failed:
        names = ", ".join(f"{c['site']} ({c['reason']})" for c in failed)
        raise MorgueError(f"crawl did not finish: {names}")


@click.command("worker")
@cluster_option
@data_option
@click.option("-s", "--set", "settings", multiple=True, metavar="NAME=VALUE", help="A Scrapy setting.")
@click.option("--forever", is_flag=True, help="Keep waiting for work instead of ending when idle.")
@click.option("--idle", type=float, default=None,
              help="End after this many seconds without work in the cluster (default 10).")
@click.option("--site", "sites", multiple=True, help="Only work on these sites (repeatable).")
@click.option("-v", "--verbose", is_flag=True, help="Show Scrapy's log (INFO).")
def worker_command(cluster_url: str | None, data_dir: Path | None, settings: tuple[str, ...], forever: bool,
                   idle: float | None, sites: tuple[str, ...], verbose: bool) -> None:
    """Crawl whatever the cluster's shared queue holds, writing WARC files only.

    Start as many workers as you like, on one machine or many, with the same --cluster URL and a --data
    directory the indexer can read (a shared mount, or synced). Each URL is fetched once across them,
    per-host limits hold across them, and the requests of a worker that dies go to the others.
    """
    if not cluster_url:
        raise click.UsageError("morgue worker needs --cluster redis://HOST:PORT/DB (or $MORGUE_CLUSTER)")
    run_cluster_worker(cluster_url, data_dir, _settings(settings), forever=forever, idle=idle, sites=sites,
                       verbose=verbose)


@click.command("index")
@data_option
@seeds_option
@cluster_option
@click.option("--follow", is_flag=True, help="Keep watching for new WARC files until interrupted.")
@click.option("--interval", type=float, default=2.0, show_default=True,
              help="Seconds between looks at the WARC folder with --follow.")
@click.option("--re-extract", "re_extract", is_flag=True,
              help="Extract every article page again instead of filing the extractions stored with it.")
@extractor_version_option
def index_command(data_dir: Path | None, seeds_dir: Path, cluster_url: str | None, follow: bool,
                  interval: float, re_extract: bool, extractor_version: str) -> None:
    """File finished WARC files into the index: the one index writer for cluster workers.

    Takes the data directory's lock (one writer), files every closed WARC file not filed yet, then with
    --follow keeps watching. An .open file whose writer is dead (same machine, pid gone; or, with
    --cluster, the worker's heartbeat expired) is finished first: cut after its last complete record.
    Each article's extraction, stored beside its page by the worker, is filed as it is; a page is
    extracted again only when that record is missing, damaged, from an older extractor than
    --extractor-version, or made with other [extract] rules than the seed's (or always, --re-extract).
    """
    from archive.index import Index
    from archive.ingest import Reuse
    from archive.lock import DataDirLock
    from crawler.cluster.indexer import IndexPass, default_alive, index_once
    from crawler.cluster.indexer import follow as follow_files
    from morgue.commands.archive_cmds import _rules_for

    data = open_data(data_dir, create=True)
    alive = default_alive
    rules = _rules_for(seeds_dir)
    if cluster_url:
        alive, rules = _cluster_views(cluster_url, rules)

    def report(result: IndexPass) -> None:
        for name in result.sealed:
            click.echo(f"finished {name} (its writer died)")
        outcomes = ", ".join(f"{n} {k}" for k, n in sorted(result.outcomes.items())) or "no articles"
        if result.files:
            click.echo(f"filed {len(result.files)} WARC file(s): {result.captures} captures, {outcomes}; "
                       + reuse_report(result.reused, result.extracted))
        for problem in result.problems:
            click.echo(f"problem: {problem}", err=True)

    stop = {"now": False}

    def on_signal(signum: int, frame: Any) -> None:
        stop["now"] = True

    reuse = None if re_extract else Reuse(extractor_version)
    lock = DataDirLock(data.path)
    lock.acquire()
    try:
        with Index(data.db_path) as index:
            if follow:
                signal.signal(signal.SIGTERM, on_signal)
                signal.signal(signal.SIGINT, on_signal)
                click.echo(f"indexing {data.path / 'warc'} as files close (Ctrl-C to stop)")
                follow_files(index, data.path, interval=interval, rules_for=rules, alive=alive, report=report,
                             should_stop=lambda: stop["now"], reuse=reuse)
            else:
                result = index_once(index, data.path, rules_for=rules, alive=alive, reuse=reuse)
                report(result)
                if not result.files:
                    click.echo("nothing new to file")
    finally:
        lock.release()


def _cluster_views(url: str, local_rules: Any) -> tuple[Any, Any]:
    """With --cluster: a worker is dead when its heartbeat has expired; seeds (and their extraction
    rules) come from Redis where no seed file says otherwise."""
    from crawler.cluster.connection import connect
    from crawler.cluster.frontier import Frontier
    from crawler.cluster.indexer import default_alive

    frontier = Frontier(connect(url))

    def alive(host: str, pid: int) -> bool | None:
        local = default_alive(host, pid)
        if local is not None:
            return local
        return frontier.alive(f"{host}-{pid}")

    def rules(site: str | None) -> Any:
        found = local_rules(site)
        if found is None and site:
            seed = frontier.seeds().get(site)
            return seed.extract if seed is not None else None
        return found

    return alive, rules
