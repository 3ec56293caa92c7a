"""Search latency on a large index (issue 7): 200,000 articles by default, built once and cached.

    python benchmarks/bench_search.py [--articles 200000] [--rebuild]

Articles are made of sentences drawn from the shared corpus's bodies (or the demo site's articles), with
dates spread over five years, inserted through morgue's own schema (FTS5 triggers included). Queries: a
rare word, a phrase, two words, a word that matches most articles, and a phrase's worst case (two
near-universal words, rarely side by side), each best-match and newest-first. Prints the index size over
the text, the median and worst latency per query of ``Index.search`` and, as the baseline measured in the
same run, of the naive query (rank every match, no bound), with the ratio, and the reading room's search
page (a page of results, the total and four facets); targets: typical < 20 ms median, any < 300 ms, index
<= 1.5x the text.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.datasette.search import SearchRequest, facet_sql, run_search  # noqa: E402
from archive.datasette.summary import RECENT_SQL, SITES_SQL, TOTALS_SQL  # noqa: E402
from archive.index import Index  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"


def sentences() -> list[str]:
    shared = Path(os.environ.get("MORGUE_SHARED") or REPO.parent / "shared") / "corpus"
    texts: list[str] = []
    if shared.is_dir():
        texts = [json.loads(p.read_text(encoding="utf-8"))["body"] for p in sorted(shared.glob("*/*.json"))]
    else:
        from extract import extract_article

        for path in sorted((REPO / "morgue" / "demo_site").glob("*/20*/*/*.html")):
            result = extract_article(path.read_bytes(), "http://demo.example/")
            if result:
                texts.append(result.text)
    found = [s.strip() for t in texts for s in re.split(r"(?<=[.!?])\s+", t) if len(s.split()) >= 6]
    return found


def build(path: Path, count: int) -> None:
    rng = random.Random(7)
    pool = sentences()
    path.unlink(missing_ok=True)
    with Index(path) as index:
        db = index.db
        batch = []
        for n in range(count):
            paragraphs = [
                "  ".join(rng.choice(pool) for _ in range(rng.randint(2, 4)))
                for _ in range(rng.randint(3, 7))
            ]
            text = "\n\n".join(paragraphs)
            day = 1 + (n * 1826) // count
            published = time.strftime(
                "%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(1640995200 + day * 86400 + n % 86400)
            )
            batch.append(
                (
                    f"a{n:07d}",
                    f"https://news{n % 50}.example/{n}",
                    f"site{n % 50}",
                    1,
                    1,
                    rng.choice(pool)[:90],
                    text,
                    published,
                    published,
                    len(text.split()),
                )
            )
            if len(batch) == 5000:
                _insert(db.conn, batch)
                batch = []
        _insert(db.conn, batch)
        db.execute("ANALYZE")


def _insert(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO articles (id, url, site, version, latest, title, text, published, captured_at, "
        "word_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")


def pick_queries(db: sqlite3.Connection) -> dict[str, str]:
    """A rare word, a phrase from a real text, two co-occurring words, and a near-universal word."""
    vocab = db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.v USING fts5vocab(main, articles_fts, row)")
    del vocab
    rare = db.execute(
        "SELECT term FROM temp.v WHERE doc BETWEEN 5 AND 20 AND length(term) > 6 ORDER BY term LIMIT 1"
    ).fetchone()[0]
    common = db.execute("SELECT term FROM temp.v ORDER BY doc DESC LIMIT 1").fetchone()[0]
    text = db.execute("SELECT text FROM articles WHERE rowid = 1234").fetchone()[0]
    words = re.findall(r"[A-Za-z]{5,}", text)
    phrase = f'"{words[3]} {words[4]}"' if len(words) > 4 else words[0]
    mid = db.execute(
        "SELECT term FROM temp.v WHERE doc BETWEEN 2000 AND 20000 AND length(term) > 5 "
        "ORDER BY doc DESC LIMIT 2"
    ).fetchall()
    # the worst case for a phrase: two words in most articles, rarely (if ever) side by side
    top = [r[0] for r in db.execute("SELECT term FROM temp.v ORDER BY doc DESC LIMIT 2")]
    return {
        "rare word": rare,
        "phrase": phrase,
        "two words": f"{mid[0][0]} {mid[1][0]}",
        "most articles": common,
        "rare phrase of common words": f'"{top[1]} {top[0]}"',
    }


def naive(db: sqlite3.Connection, query: str, order: str) -> list:
    """Rank (or sort) every match, then take 20."""
    order_sql = "rank" if order == "rank" else "coalesce(articles.published, articles.captured_at) DESC"
    return db.execute(
        "SELECT articles.id, snippet(articles_fts, 1, '[', ']', ' … ', 16) FROM articles_fts "
        "JOIN articles ON articles.rowid = articles_fts.rowid "
        "WHERE articles_fts MATCH ? AND articles.latest = 1 "
        f"ORDER BY {order_sql} LIMIT 20",
        [query],
    ).fetchall()


def reading_room(db: sqlite3.Connection, query: str, order: str) -> None:
    """What the reading room's search page runs: a page, the total, and the four facets."""
    req = SearchRequest(q=query, order=order)
    run_search(db, req)
    for name in ("site", "author", "language", "year"):
        sql, params = facet_sql(req, name)
        db.execute(sql, params).fetchall()


def timed(fn, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=200_000)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeats", type=int, default=9)
    options = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"search-{options.articles}.db"
    if options.rebuild or not path.exists():
        start = time.perf_counter()
        build(path, options.articles)
        print(f"built {options.articles} articles in {time.perf_counter() - start:.0f}s ({path})")
    Index(path).close()  # bring a cached database up to the current schema
    with closing(sqlite3.connect(path)) as conn:
        if conn.execute("PRAGMA freelist_count").fetchone()[0]:
            conn.execute("VACUUM")  # a migrated cache keeps the old index's pages until vacuumed
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # reads through a large WAL are slow
        text = conn.execute("SELECT sum(length(CAST(text AS BLOB))) FROM articles").fetchone()[0]
    size = path.stat().st_size
    print(f"index: {size / 2**20:.0f} MiB for {text / 2**20:.0f} MiB of text = {size / text:.2f}x")
    index = Index(path, readonly=True)
    raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    queries = pick_queries(raw)
    print(f"{'query':<27} {'order':<7} {'matches':>8} {'morgue med/max ms':>18} {'naive med/max ms':>17} "
          f"{'speed-up':>8} {'reading room ms':>17}")
    for label, query in queries.items():
        matches = raw.execute(
            "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?", [query]
        ).fetchone()[0]
        for order in ("rank", "newest"):
            ours = timed(lambda q=query, o=order: index.search(q, limit=20, order=o), options.repeats)
            base = timed(lambda q=query, o=order: naive(raw, q, o), max(3, options.repeats // 3))
            room = timed(lambda q=query, o=order: reading_room(raw, q, o), max(3, options.repeats // 3))
            print(
                f"{label:<27} {order:<7} {matches:>8} {ours[0]:>9.1f}/{ours[1]:<8.1f} "
                f"{base[0]:>8.1f}/{base[1]:<8.1f} {base[0] / max(ours[0], 1e-6):>7.1f}x "
                f"{room[0]:>8.1f}/{room[1]:<8.1f}"
            )
    home_queries = (TOTALS_SQL, SITES_SQL, RECENT_SQL)
    home = timed(lambda: [raw.execute(sql).fetchall() for sql in home_queries], options.repeats)
    print(f"reading room home page (totals, sites, latest articles): {home[0]:.1f}/{home[1]:.1f} ms med/max")
    print("targets: rare word, phrase, two words < 20 ms median; every query < 300 ms")


if __name__ == "__main__":
    main()
