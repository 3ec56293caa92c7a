"""``morgue crawl`` and ``morgue demo``: fetch, archive, extract and index."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from morgue.commands.options import data_option, open_data, seeds_option
from morgue.durations import parse_since
from morgue.errors import MorgueError
from morgue.seeds import Seed, load_seed

__all__ = ["crawl_command", "demo_command", "parse_setting"]


def parse_setting(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` as ``scrapy crawl -s`` takes it (values stay strings; Scrapy converts them)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise click.BadParameter(f"{text!r}: write -s NAME=VALUE, e.g. -s DOWNLOAD_DELAY=2")
    return name.strip(), value


def _print_summary(results: list[Any], data_path: Path) -> None:
    import json

    for result in results:
        s = result.summary
        seconds = s.get("seconds") or 0
        resumed = " (resumed)" if result.resumed else ""
        click.echo(
            f"{result.site}: {result.reason}{resumed} in {seconds:.1f}s — {s.get('pages', 0)} pages, "
            f"{s.get('captures', 0)} archived, {s.get('new_articles', 0)} new articles, "
            f"{s.get('new_versions', 0)} new versions, {s.get('unchanged', 0)} unchanged, "
            f"{s.get('not_modified', 0)} not modified, {s.get('robots_blocked', 0)} blocked by robots.txt, "
            f"{s.get('errors', 0)} errors")
        click.echo(
            f"  re-crawl: {s.get('rechecked', 0)} known articles re-checked, {s.get('skipped_known', 0)} "
            f"known articles not re-fetched, {s.get('skipped_before_since', 0)} skipped as too old, "
            f"{s.get('discovery_not_modified', 0)} sitemaps/feeds/sections unchanged")
        if s.get("sitemaps"):  # e.g. "240 sitemaps, 238 skipped by lastmod" (crawler/lastmod.py)
            lies = s.get("lastmod_lies", 0)
            click.echo(f"  discovery: {s['sitemaps']} sitemaps, {s.get('sitemaps_skipped_by_lastmod', 0)} "
                       f"skipped by lastmod" + (f", {lies} index(es) with lastmods their sitemaps belie"
                                                if lies else ""))
        problems = json.loads(s.get("errors_by_kind") or "{}")
        if problems:  # each kind of fault with its count: timeout 2, dataloss 1, too_large 1, ...
            click.echo("  problems: " + ", ".join(f"{kind} {n}" for kind, n in sorted(problems.items())))
        no_article = (result.stats or {}).get("morgue/extract/dropped/no_article", 0)
        if no_article:  # archived as received, but no article text found: section pages, lists, or worse
            click.echo(f"  not articles: {no_article} archived HTML page(s) had no article text to file")
        template_line = _template_summary(result.site, result.stats or {})
        if template_line:
            click.echo(template_line)
        for url in json.loads(s.get("robots_blocked_urls") or "[]"):
            click.echo(f"  blocked by robots.txt: {url}")
        _print_requisites(s)
        awaited = (result.stats or {}).get("morgue/requisites/awaited_pages", 0)
        if awaited:  # pages a stopped or killed crawl archived while their requisites were queued
            done = (result.stats or {}).get("morgue/requisites/recovered_pages", 0)
            click.echo(f"  requisites left waiting: {awaited} archived page(s) from a stopped or crashed "
                       f"crawl got their requisites now, {done} with their pageinfo record written"
                       + ("" if done >= awaited else f"; {awaited - done} still wait for the next crawl"))
        if result.reason == "shutdown":
            click.echo(f"  interrupted: the next crawl of {result.site} resumes where this one stopped")
    click.echo(f"archive: {data_path / 'warc'}  index: {data_path / 'morgue.db'}")


CLIMBING = 0.3  # a crawl summary warns when this share of the latest pages fell back from the template


def _template_summary(site: str, stats: dict[str, Any]) -> str | None:
    """The crawl summary's template line: the version used, pages through it and fallbacks; a warning
    when the fallback rate climbs (a redesign, or a template that no longer fits)."""
    version = stats.get("morgue/template/version")
    if version is None:
        return None
    if not version:
        why = stats.get("morgue/template/none")
        return f"  template: none yet ({why})" if why else None
    fitted = stats.get("morgue/template/fitted", 0)
    fallbacks = stats.get("morgue/template/fallbacks", 0)
    rate = stats.get("morgue/template/recent_fallback_rate", 0.0)
    line = (f"  template: v{version}, {fitted} pages through it, {fallbacks} fell back to the full pipeline, "
            f"{stats.get('morgue/template/articles_corrected', 0)} earlier pages re-extracted")
    if stats.get("morgue/template/redesigns"):
        line += f"; {stats['morgue/template/redesigns']} redesign(s): new version learned"
    if rate >= CLIMBING:
        line += (f"\n  template of {site}: fallback rate climbing ({100 * rate:.0f}% of the latest pages "
                 f"fell back): see morgue templates {site}")
    return line


def _print_requisites(s: dict[str, Any]) -> None:
    """The requisites line, and one line per requisite that could not be archived whole."""
    import json

    problems = json.loads(s.get("requisite_problems") or "[]")
    blocked = json.loads(s.get("requisites_blocked_urls") or "[]")
    if not (s.get("requisites") or problems or blocked):
        return
    click.echo(f"  requisites: {s.get('requisites', 0)} archived (style sheets, fonts, images), "
               f"{s.get('requisites_not_modified', 0)} unchanged since an earlier crawl, "
               f"{s.get('requisites_blocked', 0)} blocked by robots.txt, {len(problems)} problems")
    for url in blocked:
        click.echo(f"  requisite blocked by robots.txt: {url}")
    for problem in problems:
        click.echo(f"  requisite {problem['problem']}: {problem['url']}: {problem['detail']}")


def run_and_report(seeds: list[Seed], data_dir: Path | None, settings: dict[str, Any],
                   since: Any = None, verbose: bool = False, restart: bool = False,
                   lock: bool = True) -> list[Any]:
    from crawler.runner import run_crawls

    data = open_data(data_dir, create=True)
    results = run_crawls(seeds, data.path, overrides=settings, since=since,
                         log_level="INFO" if verbose else "WARNING", restart=restart, lock=lock)
    _print_summary(results, data.path)
    from morgue.commands.follow_cmd import report_follows

    report_follows(data.path)  # "followed searches: harbour-budget: 2 new": a cron mail is an alert
    failed = [r for r in results if not r.ok]
    if failed:
        names = ", ".join(f"{r.site} ({r.reason}" + (f": {r.stats['morgue/fatal']}" if r.stats.get(
            "morgue/fatal") else "") + ")" for r in failed)
        raise MorgueError(f"crawl did not finish: {names}")
    return results


@click.command("crawl")
@click.argument("seeds", nargs=-1, required=True)
@data_option
@seeds_option
@click.option("-s", "--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="A Scrapy setting, as scrapy crawl -s takes it (repeatable).")
@click.option("--since", default=None, help="Skip articles dated before this (2026-11-01, or 7d).")
@click.option("--restart", is_flag=True,
              help="Discard the saved state of an interrupted crawl instead of resuming it.")
@click.option("-v", "--verbose", is_flag=True, help="Show Scrapy's log (INFO).")
@click.option("--cluster", "cluster_url", default=None, metavar="redis://HOST:PORT/DB",
              help="Queue the seeds in this Redis cluster frontier and work on them as one cluster worker "
                   "(WARC only; `morgue index` files them). See `morgue worker`.")
@click.option("--render", is_flag=True,
              help="After the crawl, render the new article captures (morgue render: screenshots, PDF).")
def crawl_command(seeds: tuple[str, ...], data_dir: Path | None, seeds_dir: Path, settings: tuple[str, ...],
                  since: str | None, restart: bool, verbose: bool, cluster_url: str | None = None,
                  render: bool = False) -> None:
    """Crawl SEED... into the archive: a site name in seeds/, a .toml seed file, or a URL."""
    from morgue.commands.render_cmd import check_renderer, render_after_crawl

    loaded = [load_seed(arg, seeds_dir) for arg in seeds]  # every seed validated before any fetching
    if render and cluster_url:
        raise click.BadParameter("cluster workers write WARC only; run morgue render after morgue index",
                                 param_hint="--render")
    if render:
        check_renderer()  # before any fetching: --render cannot be honoured without a browser
    cutoff = None
    if since:
        try:
            cutoff = parse_since(since)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    if cluster_url:
        from morgue.commands.cluster_cmds import enqueue_and_report, run_cluster_worker

        if cutoff is not None:
            loaded = [replace(seed, since=cutoff) for seed in loaded]  # workers read --since from the seed
        overrides = dict(parse_setting(s) for s in settings)
        enqueue_and_report(cluster_url, loaded, open_data(data_dir, create=True).path, overrides)
        run_cluster_worker(cluster_url, data_dir, overrides, verbose=verbose)
        return
    run_and_report(loaded, data_dir, dict(parse_setting(s) for s in settings), cutoff, verbose, restart)
    render_after_crawl(open_data(data_dir).path, loaded, asked=render)


def demo_seed(base_url: str) -> Seed:
    """The seed of the bundled demo site, once its server knows its port."""
    return Seed(
        name="harbour-gazette",
        start_urls=[f"{base_url}/", f"{base_url}/news/", f"{base_url}/sport/", f"{base_url}/culture/"],
        sitemaps=[f"{base_url}/sitemap_index.xml"],
        feeds=[f"{base_url}/feed.xml"],
        deny=[r"/(tag|author)/"],
        source="morgue demo",
    )


@click.command("demo")
@data_option
@click.option("-s", "--set", "settings", multiple=True, metavar="NAME=VALUE", help="A Scrapy setting.")
@click.option("-v", "--verbose", is_flag=True, help="Show Scrapy's log (INFO).")
@click.option("--no-render", is_flag=True, help="Do not render the articles (done when Chromium is here).")
def demo_command(data_dir: Path | None, settings: tuple[str, ...], verbose: bool, no_render: bool = False
                 ) -> None:
    """Serve the bundled demo news site on 127.0.0.1 and crawl it: the whole pipeline, offline."""
    from morgue.commands.render_cmd import render_after_crawl
    from morgue.demo_server import serve_site

    # dated as of today, so that freshness (recrawl_within, since) means the same in any year
    with serve_site(as_of=datetime.now(UTC)) as server:
        click.echo(f"demo site: {server.base_url}/ (The Harbour Gazette, served from the package)")
        overrides: dict[str, Any] = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False}
        overrides.update(dict(parse_setting(s) for s in settings))
        seed = demo_seed(server.base_url)
        run_and_report([seed], data_dir, overrides, None, verbose)
    data = open_data(data_dir)
    if not no_render:  # after the site has stopped: the views come from the archive alone
        render_after_crawl(data.path, [replace(seed, render=True)], asked=False)
    where = "" if data_dir is None else f" --data {data.path}"
    click.echo("\nTry next:")
    click.echo(f"  morgue search harbour{where}")
    click.echo(f"  morgue search '\"lighthouse keeper\"' --json{where}")
    click.echo(f"  morgue serve{where}        # the reading room in your browser")
    sys.stdout.flush()
