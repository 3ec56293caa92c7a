"""Pages per second with 1 and with 3 cluster workers on the same local site (same machine, same run), and
the indexer's lag while 3 workers crawl.

    python benchmarks/bench_cluster.py [PAGES] [--lag-only] [--age SECONDS]

Starts a private redis-server and the benchmark site; each run crawls the whole site into a fresh data
directory with DOWNLOAD_DELAY=0 and per-host concurrency 8 (cluster-wide), then `morgue index` files it.
On a 2-core machine three workers share two cores with extraction, so the speed-up is bounded by them.

Lag run: 3 workers closing their WARC files every ``--age`` seconds (MORGUE_CLUSTER_WARC_MAX_AGE,
default 5 here) and `morgue index --follow` beside them, all on this machine. Every second it samples the
articles fetched (the site's request log) and the articles filed (the index): the lag is the difference,
pages fetched but not yet searchable. It prints the lag series and its trend (least-squares slope over the
crawl, in pages per second, against the fetch rate): flat means one indexer keeps up; and each article's
delay from fetch to searchable (its file's ``ingested_files.ingested_at`` minus the site's log of the
fetch), whose mean over the first and the last third of the crawl should be the same.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.redis_fixture import _free_port, seed_for, start_news_site  # noqa: E402

SETTINGS = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=false",
            "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8",
            "-s", "MORGUE_CLUSTER_IDLE=1", "-s", "MORGUE_CLUSTER_POLL=0.2", "-s", "MORGUE_EXTRACT_WORKERS=0"]


def morgue(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "morgue.cli", *args], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def run(workers: int, url: str, seed: Path, data: Path) -> float:
    subprocess.run(["redis-cli", "-u", url, "flushall"], check=True, capture_output=True)
    start = time.perf_counter()
    procs = [morgue("crawl", "--cluster", url, str(seed), "--data", str(data), *SETTINGS)]
    procs += [morgue("worker", "--cluster", url, "--data", str(data), *SETTINGS) for _ in range(workers - 1)]
    for p in procs:
        p.wait()
    # the idle wait at the end (MORGUE_CLUSTER_IDLE) is not crawling: subtract it
    return time.perf_counter() - start - 1.0


AGE = 5.0  # seconds a worker's WARC file stays open in the lag run (MORGUE_CLUSTER_WARC_MAX_AGE)


def _filed(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.OperationalError:  # created but not yet migrated
        return 0


def _backlog(data: Path) -> int:
    """Closed WARC files the indexer has not filed yet: its own backlog (the lag minus the open files)."""
    closed = {p.name for p in (data / "warc").glob("*.warc.gz")} if (data / "warc").is_dir() else set()
    db = data / "morgue.db"
    if not closed or not db.exists():
        return len(closed)
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return len(closed - {r[0] for r in conn.execute("SELECT name FROM ingested_files")})
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return len(closed)


def _slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return sum((t - mx) * (v - my) for t, v in points) / var if var else 0.0


def _delays(db: Path, site: object) -> list[tuple[float, float]]:
    """(fetched at, seconds until searchable) per article: the site's log of the fetch against the
    moment the indexer filed the article's WARC file (whole seconds)."""
    from datetime import datetime

    fetched = {str(r["path"]): float(r["end"]) for r in site.requests()}  # type: ignore[attr-defined]
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        rows = conn.execute("SELECT a.fetched_url, f.ingested_at FROM articles a "
                            "JOIN ingested_files f ON f.name = a.warc_file").fetchall()
    finally:
        conn.close()
    out = []
    for url, at in rows:
        path = "/" + url.split("/", 3)[3]
        if path in fetched:
            filed = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
            out.append((fetched[path], filed - fetched[path]))
    return sorted(out)


def lag_run(url: str, seed: Path, data: Path, site: object, pages: int, age: float = AGE) -> None:
    subprocess.run(["redis-cli", "-u", url, "flushall"], check=True, capture_output=True)
    rotate = ["-s", f"MORGUE_CLUSTER_WARC_MAX_AGE={age}"]
    start = time.perf_counter()
    procs = [morgue("crawl", "--cluster", url, str(seed), "--data", str(data), *SETTINGS, *rotate)]
    procs += [morgue("worker", "--cluster", url, "--data", str(data), *SETTINGS, *rotate) for _ in range(2)]
    indexer = morgue("index", "--follow", "--interval", "0.5", "--cluster", url, "--data", str(data))
    samples: list[tuple[float, int, int, int]] = []
    while any(p.poll() is None for p in procs):
        fetched = sum(site.article_hits().values())  # type: ignore[attr-defined]
        samples.append((time.perf_counter() - start, fetched, _filed(data / "morgue.db"), _backlog(data)))
        time.sleep(1.0)
    crawl_end = time.perf_counter() - start
    while _filed(data / "morgue.db") < pages and time.perf_counter() - start < crawl_end + 120:
        time.sleep(0.25)
    drained = time.perf_counter() - start - crawl_end
    indexer.terminate()
    indexer.wait()
    crawling = [(t, f - i) for t, f, i, _ in samples if 0 < f < pages]
    backlog = [b for _, f, _, b in samples if 0 < f < pages]  # from the first article to the last
    lags = [lag for _, lag in crawling]
    if not crawling:
        print("lag run: no samples while crawling")
        return
    rate = samples[-1][1] / crawl_end
    print(f"lag run: 3 workers (files closed every {age:g}s) + morgue index --follow, {pages} articles in "
          f"{crawl_end:.1f}s ({rate:.1f} pages/s); filed all {drained:.1f}s after the crawl ended")
    print("lag series (pages fetched, not yet filed; one sample a second): "
          + " ".join(str(lag) for lag in lags))
    step = max(1, len(samples) // 10)
    print("   t(s)  fetched  filed  lag  closed files not filed")
    for t, f, i, b in samples[::step]:
        print(f"  {t:5.0f}  {f:7d}  {i:5d}  {f - i:4d}  {b:4d}")
    third = max(1, len(lags) // 3)
    first, last = lags[:third], lags[-third:]
    print(f"lag: mean {sum(first) / len(first):.1f} in the first third of the crawl, "
          f"{sum(last) / len(last):.1f} in the last; max {max(lags)}; "
          f"trend {_slope(crawling):+.2f} pages/s against {rate:.1f} pages/s fetched")
    print(f"indexer backlog (closed files not filed yet): mean {sum(backlog) / max(1, len(backlog)):.2f}, "
          f"max {max(backlog, default=0)} files")
    timed = _delays(data / "morgue.db", site)
    delays = [d for _, d in timed]
    if delays:
        third = max(1, len(delays) // 3)
        head, tail = delays[:third], delays[-third:]
        print(f"fetch to searchable: mean {sum(head) / len(head):.1f}s for the first third of the articles, "
              f"{sum(tail) / len(tail):.1f}s for the last; max {max(delays):.1f}s ({len(delays)} articles); "
              f"trend {_slope(timed) * 60:+.2f}s per minute of crawl")


def main() -> None:
    lag_only = "--lag-only" in sys.argv
    argv = sys.argv[1:]
    age = float(argv.pop(argv.index("--age") + 1)) if "--age" in argv else AGE
    args = [a for a in argv if not a.startswith("--")]
    pages = int(args[0]) if args else 400
    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    port = _free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    url = f"redis://127.0.0.1:{port}/0"
    site = start_news_site(tmp / "site", pages)
    try:
        seed = seed_for(tmp / "bench.toml", site)
        results = {}
        for n in () if lag_only else (1, 3):
            seconds = run(n, url, seed, tmp / f"data{n}")
            fetched = sum(site.article_hits().values())
            site.log.write_text("")
            results[n] = fetched / seconds
            print(f"{n} worker(s): {fetched} articles in {seconds:.1f}s = {results[n]:.1f} pages/s")
        if results:
            print(f"speed-up 1 -> 3 workers: {results[3] / results[1]:.2f}x on {os.cpu_count()} cores")
        lag_run(url, seed, tmp / "data-lag", site, pages, age)
    finally:
        site.process.terminate()
        redis.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
