"""Pages per second with 1 and with 3 cluster workers on the same local site (same machine, same run).

    python benchmarks/bench_cluster.py [PAGES]

Starts a private redis-server and the benchmark site; each run crawls the whole site into a fresh data
directory with DOWNLOAD_DELAY=0 and per-host concurrency 8 (cluster-wide), then `morgue index` files it.
On a 2-core machine three workers share two cores with extraction, so the speed-up is bounded by them.
"""

from __future__ import annotations

import os
import shutil
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


def main() -> None:
    pages = int(sys.argv[1]) if len(sys.argv) > 1 else 400
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
        for n in (1, 3):
            seconds = run(n, url, seed, tmp / f"data{n}")
            fetched = sum(site.article_hits().values())
            site.log.write_text("")
            results[n] = fetched / seconds
            print(f"{n} worker(s): {fetched} articles in {seconds:.1f}s = {results[n]:.1f} pages/s")
        print(f"speed-up 1 -> 3 workers: {results[3] / results[1]:.2f}x on {os.cpu_count()} cores")
    finally:
        site.process.terminate()
        redis.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
