"""`morgue index` filing stored extractions against re-extracting the same WARC files (same run, issue 17).

    python benchmarks/bench_index.py [--pages 400] [--workers N]

Crawls the benchmark site once (``morgue crawl``: every article's extraction is stored beside its
response), then files the same WARC files into two fresh indexes with ``crawler.cluster.indexer.index_once``
— the code behind ``morgue index`` — once filing the stored extractions and once with ``--re-extract``
(extraction in ``--workers`` processes, default one per core). Prints pages/s of each and the ratio
(target: filing >= 10x re-extracting), and checks that both indexes hold the same articles.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from benchsite import build_site, serve, write_sitemaps  # noqa: E402


def _crawl(pages: int, tmp: Path) -> Path:
    root = tmp / "site"
    paths = build_site(root, pages)
    server, base = serve(root)
    try:
        write_sitemaps(root, base, paths)
        (root / "robots.txt").write_text(f"User-agent: *\nAllow: /\nSitemap: {base}/sitemap_index.xml\n")
        seed = tmp / "bench.toml"
        # no page requisites: the benchmark's pages name hundreds each (none of them served), which makes
        # the crawl ten times slower and does not touch what is measured (the filing of the articles)
        seed.write_text(f'name = "bench"\nsitemaps = ["{base}/sitemap_index.xml"]\nrequisites = "none"\n')
        data = tmp / "crawled"
        subprocess.run([sys.executable, "-m", "morgue.cli", "crawl", str(seed), "--data", str(data),
                        "-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=false",
                        "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8"], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
        return data
    finally:
        server.terminate()


def _file(warc: Path, data: Path, *, reuse: bool, workers: int) -> tuple[float, int]:
    """Seconds to file every WARC file into a fresh index, and the articles filed."""
    import archive.ingest as ingest
    from archive.index import Index
    from crawler.cluster.indexer import index_once
    from extract import EXTRACTOR_VERSION

    shutil.copytree(warc, data / "warc")
    start = time.perf_counter()
    with Index(data / "morgue.db") as index:
        result = index_once(index, data, reuse=ingest.Reuse(str(EXTRACTOR_VERSION)) if reuse else None,
                            workers=workers)
    seconds = time.perf_counter() - start
    return seconds, sum(result.outcomes.get(k, 0) for k in ("new", "version", "unchanged"))


def _articles(db: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return sorted(conn.execute("SELECT url, version, title, text, removed FROM articles"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=400)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-index-"))
    try:
        crawled = _crawl(args.pages, tmp)
        warc = crawled / "warc"
        extract_s, extracted = _file(warc, tmp / "re-extract", reuse=False, workers=args.workers)
        stored_s, filed = _file(warc, tmp / "stored", reuse=True, workers=args.workers)
        same = _articles(tmp / "re-extract" / "morgue.db") == _articles(tmp / "stored" / "morgue.db")
        slow, fast = extracted / extract_s, filed / stored_s
        print(f"re-extracting ({args.workers} processes): {extracted} articles in {extract_s:.2f}s = "
              f"{slow:.1f} pages/s")
        print(f"filing stored extractions:  {filed} articles in {stored_s:.2f}s = {fast:.1f} pages/s")
        print(f"ratio stored / re-extract: {fast / slow:.1f}x (target >= 10x); same articles: {same}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
