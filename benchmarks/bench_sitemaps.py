"""Discovery at publisher scale (issue 20): a sitemap index of 240 monthly sitemaps x 5,000 URLs and a
seed with ``since = "45d"``, before and after sitemap lastmods were read, measured in the same run.

    python benchmarks/bench_sitemaps.py [--children 240] [--per-child 5000] [--since 45d] [--parse 1000000]

The site is generated on the fly by benchmarks/publisher_site.py (nothing written to disk; its dates are
relative to now). Each variant is a real ``news`` spider crawl in a process of its own, with article
requests answered by ``ArticlesNotFetched`` (recorded, then dropped before the downloader), so what is
measured is discovery: sitemap fetches, wall time, peak RSS of the crawl process, and the set of articles
found, which must equal the generator's own list of articles newer than the cut-off.

- before: every child fetched (``MORGUE_SITEMAP_LASTMOD=False``) and each parsed into a whole tree by the
  sitemap parser of morgue before this change (``crawler/discovery.py`` at ``BASELINE``, read with git);
- streaming: every child fetched, parsed streaming (what streaming alone buys);
- after: children skipped by lastmod, parsed streaming (the default).

Then, with ``--parse N``, one sitemap of N entries parsed whole-tree vs streaming (each in a fresh
process): peak RSS above the body's own size. Prints ratios after/before.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
#: The last commit of main before lastmods were read: its parser is the "before" code path.
BASELINE = "8e18229"

from benchmarks.publisher_site import PublisherSite  # noqa: E402


class ArticlesNotFetched:
    """Downloader middleware for this benchmark: records the article URLs discovery asks for and drops
    them (IgnoreRequest) before any download; written to $BENCH_ARTICLES when the spider closes."""

    def __init__(self, out: str) -> None:
        self.out, self.urls = out, set[str]()

    @classmethod
    def from_crawler(cls, crawler: Any) -> ArticlesNotFetched:
        from scrapy import signals

        middleware = cls(crawler.settings.get("BENCH_ARTICLES"))
        crawler.signals.connect(middleware.closed, signal=signals.spider_closed)
        return middleware

    def process_request(self, request: Any, spider: Any = None) -> None:
        from scrapy.exceptions import IgnoreRequest

        if request.meta.get("morgue_role") == "article":
            self.urls.add(request.url)
            raise IgnoreRequest("benchmark: discovery only")

    def closed(self, spider: Any = None) -> None:
        Path(self.out).write_text("\n".join(sorted(self.urls)))


def _baseline_parser() -> Any:
    """``parse_sitemap`` of crawler/discovery.py at BASELINE (whole tree, then a list of entries)."""
    source = subprocess.run(["git", "show", f"{BASELINE}:crawler/discovery.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType("discovery_before")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, "discovery_before.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module.parse_sitemap


def child(variant: str, index_url: str, since: str, out: Path) -> None:
    """One crawl of the variant, in this process; its measurements as JSON in ``out``."""
    from crawler.runner import run_crawls
    from crawler.settings import DOWNLOADER_MIDDLEWARES
    from morgue.durations import parse_since
    from morgue.seeds import Seed

    if variant == "before":
        import crawler.spiders.news as news

        parse = _baseline_parser()

        def whole_tree(body: bytes, max_size: int = 0) -> tuple[str, Any]:
            from scrapy.utils.gz import gunzip

            if body[:2] == b"\x1f\x8b":
                body = gunzip(body, max_size=max_size)
            kind, entries = parse(body)
            return kind, iter(entries)

        news.iter_sitemap = whole_tree  # type: ignore[assignment]
    articles = out.with_suffix(".articles")
    overrides = {
        "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "MORGUE_EXTRACT_WORKERS": 0,
        "MORGUE_PROGRESS_INTERVAL": 0, "MORGUE_SITEMAP_LASTMOD": variant == "after",
        "BENCH_ARTICLES": str(articles), "LOG_LEVEL": "ERROR",
        "DOWNLOADER_MIDDLEWARES": {**DOWNLOADER_MIDDLEWARES, "bench_sitemaps.ArticlesNotFetched": 1},
    }
    seed = Seed(name="publisher", sitemaps=[index_url], since=parse_since(since))
    with tempfile.TemporaryDirectory() as data:
        start = time.perf_counter()
        results = run_crawls([seed], Path(data), overrides=overrides, log_level="ERROR")
        seconds = time.perf_counter() - start
    summary = results[0].summary
    out.write_text(json.dumps({
        "seconds": seconds, "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "reason": results[0].reason, "sitemaps": summary.get("sitemaps"),
        "skipped": summary.get("sitemaps_skipped_by_lastmod"),
        "entries": results[0].stats.get("morgue/discovery/sitemap_urls", 0),
        "too_old": summary.get("skipped_before_since"),
    }))


def parse_child(variant: str, entries: int, out: Path) -> None:
    """Parse one sitemap of ``entries`` URLs; peak RSS above what the process held with the body built."""
    from crawler.discovery import iter_sitemap

    site = PublisherSite(datetime.now(UTC), 1, entries)
    body = "".join(site.urlset("http://127.0.0.1", site.month(0))).encode()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    if variant == "before":
        count = len(_baseline_parser()(body)[1])
    else:
        count = sum(1 for _ in iter_sitemap(body)[1])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out.write_text(json.dumps({"seconds": seconds, "growth": peak - before, "count": count,
                               "body": len(body)}))


def _run_child(*args: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        completed = subprocess.run([sys.executable, __file__, "--child", *args, str(out)], cwd=REPO,
                                   capture_output=True, text=True)
        if completed.returncode != 0:
            sys.exit(f"benchmark child {args[0]} failed:\n{completed.stderr[-3000:]}")
        result = json.loads(out.read_text())
        articles = out.with_suffix(".articles")
        if articles.exists():
            result["articles"] = set(articles.read_text().split())
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=240)
    parser.add_argument("--per-child", type=int, default=5000)
    parser.add_argument("--since", default="45d")
    parser.add_argument("--parse", type=int, default=1_000_000, help="entries of the single-sitemap test")
    parser.add_argument("--variants", default="before,streaming,after",
                        help="which crawls to run (the full-size 'before' takes over 20 minutes here); the "
                             "ratios are printed when 'before' is among them")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "parse":
            parse_child(args.child[1], int(args.child[2]), Path(args.child[3]))
        else:
            child(args.child[0], args.child[1], args.child[2], Path(args.child[3]))
        return

    from morgue.durations import parse_since

    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "requests.jsonl"
        server = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.publisher_site", "--children", str(args.children),
             "--per-child", str(args.per_child), "--now", repr(now), "--log", str(log)],
            cwd=REPO, stdout=subprocess.PIPE, text=True)
        assert server.stdout is not None
        base = server.stdout.readline().split()[1]
        site = PublisherSite(datetime.fromtimestamp(now, UTC), args.children, args.per_child)
        # one absolute cut-off for every variant: "45d" read in each child would move with the clock, and
        # at 5,000 URLs a month the articles are 9 minutes apart
        since = parse_since(args.since, now=site.now)
        wanted = {base + path for path in site.articles(since=since)}
        print(f"site: {args.children} sitemaps x {args.per_child} URLs = {args.children * args.per_child:,} "
              f"articles; since = {args.since!r}: {len(wanted):,} articles wanted")
        results: dict[str, dict[str, Any]] = {}
        try:
            for variant in args.variants.split(","):
                mark = len(log.read_text().splitlines()) if log.exists() else 0
                result = _run_child(variant, base + "/sitemap_index.xml", since.isoformat())
                fetched = [json.loads(line)["path"] for line in log.read_text().splitlines()[mark:]]
                result["fetches"] = len([p for p in fetched if p.startswith("/sitemap")])
                same = result.pop("articles", set()) == wanted
                results[variant] = result
                mib = result["peak_rss"] / 2**20
                print(f"  {variant:9}: {result['fetches']:4} sitemap fetches, {result['entries']:>9,} "
                      f"entries parsed, {result['seconds']:6.1f} s, peak RSS {mib:6.0f} MiB, summary: "
                      f"{result['sitemaps']} sitemaps, {result['skipped']} skipped by lastmod; "
                      f"articles found == wanted: {same} ({result['reason']})")
                if not same:
                    sys.exit(f"{variant}: the articles found differ from the {len(wanted)} wanted")
        finally:
            server.terminate()
            server.wait(timeout=10)
    before, after, streaming = results.get("before"), results.get("after"), results.get("streaming")

    def ratio(variant: dict[str, Any], key: str) -> float:
        assert before is not None
        return float(variant[key]) / float(before[key])

    if before is not None and after is not None:
        print(f"after/before: sitemap fetches {after['fetches']}/{before['fetches']} = "
              f"{ratio(after, 'fetches'):.3f}x, discovery time {ratio(after, 'seconds'):.3f}x, "
              f"peak RSS {ratio(after, 'peak_rss'):.2f}x")
    if before is not None and streaming is not None:
        print(f"streaming/before (every child fetched): time {ratio(streaming, 'seconds'):.2f}x, "
              f"peak RSS {ratio(streaming, 'peak_rss'):.2f}x")
    if args.parse:
        tree = _run_child("parse", "before", str(args.parse))
        stream = _run_child("parse", "after", str(args.parse))
        assert tree["count"] == stream["count"] == args.parse
        grown, flat = tree["growth"] / 2**20, stream["growth"] / 2**20
        print(f"one sitemap of {args.parse:,} entries ({tree['body'] / 2**20:.0f} MiB): memory above the "
              f"body {grown:.0f} MiB whole-tree vs {flat:.1f} MiB streaming "
              f"({flat / max(grown, 1e-9):.3f}x), "
              f"time {tree['seconds']:.1f} s vs {stream['seconds']:.1f} s "
              f"({stream['seconds'] / tree['seconds']:.2f}x)")

if __name__ == "__main__":
    main()
