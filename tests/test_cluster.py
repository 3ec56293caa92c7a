"""Cluster crawling against a real Redis and a local site of a few hundred articles: three worker
processes, each article fetched once, a SIGKILLed worker losing nothing, per-host limits across workers,
the indexer's result (filed from the extractions the workers stored, none extracted again) equal to a
single-machine crawl of the same site, and a ``crawls`` row per cluster round."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.datasette.summary import SITES_SQL
from archive.reading_room import CANNED_QUERIES
from tests.conftest import REPO, run_morgue
from tests.redis_fixture import (
    redis_server_fixture,  # noqa: F401 - the redis_url fixture
    seed_for,
    start_news_site,
)

ARTICLES = 300
COMMON = ["-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=false",
          "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=8", "-s", "MORGUE_EXTRACT_WORKERS=0"]
CLUSTER = ["-s", "MORGUE_CLUSTER_IDLE=3", "-s", "MORGUE_CLUSTER_HEARTBEAT=3", "-s", "MORGUE_CLUSTER_POLL=0.2"]


_SPAWNED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test() -> Iterator[None]:
    """Kill what a test started, however it ended: a worker left behind by a failed or timed-out test
    keeps polling a Redis that is gone, and starves the tests after it of CPU."""
    yield
    while _SPAWNED:
        process = _SPAWNED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


def _spawn(*args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "morgue.cli", *args], cwd=REPO, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _SPAWNED.append(process)
    return process


def _three_workers(url: str, seed: Path, data: Path, extra: list[str]) -> list[subprocess.Popen[str]]:
    first = _spawn("crawl", "--cluster", url, str(seed), "--data", str(data), *COMMON, *CLUSTER, *extra)
    others = [_spawn("worker", "--cluster", url, "--data", str(data), *COMMON, *CLUSTER, *extra)
              for _ in range(2)]
    return [first, *others]


def _wait(processes: list[subprocess.Popen[str]], timeout: float = 300) -> list[tuple[int, str, str]]:
    out = []
    for p in processes:
        stdout, stderr = p.communicate(timeout=timeout)
        out.append((p.returncode, stdout, stderr))
    return out


def _articles(db: Path) -> set[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return set(conn.execute("SELECT url, title, text, published, authors FROM articles WHERE latest = 1"))
    finally:
        conn.close()


def _article_facts(db: Path) -> set[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return set(conn.execute("SELECT url, version, title, text, published, authors, language, section, "
                                "site_name, word_count, removed, extractor FROM articles"))
    finally:
        conn.close()


def _rows(db: Path, sql: str, params: dict[str, object] | None = None) -> list[dict[str, object]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params or {})]
    finally:
        conn.close()


def _rounds_in_warcinfo(warc_dir: Path) -> set[str]:
    from archive.ingest import warcinfo_fields
    from archive.warc_reader import iter_records

    return {warcinfo_fields(next(iter_records(p))).get("morgue-round", "")
            for p in warc_dir.glob("*.warc.gz")}


def _templates_and_extractions(warc_dir: Path) -> tuple[dict[str, set[bytes]], dict[str, object]]:
    """The template records in the workers' files ({uri: bodies}), and per response the template its
    last stored extraction names (the one an indexer files)."""
    from archive.extractions import is_extraction_record
    from archive.site_templates import TEMPLATE_URN_PREFIX
    from archive.warc_reader import iter_records

    templates: dict[str, set[bytes]] = {}
    named: dict[str, object] = {}
    for path in sorted(warc_dir.glob("*.warc.gz")):
        for record in iter_records(path):
            if record.url.startswith(TEMPLATE_URN_PREFIX):
                templates.setdefault(record.url, set()).add(record.payload)
            elif is_extraction_record(record.pointer.record_type, record.content_type):
                named[str(record.warc_header("WARC-Concurrent-To"))] = json.loads(record.payload)["template"]
    return templates, named


def _writers(warc_dir: Path) -> set[str]:
    return {p.name.removesuffix(".warc.gz").rsplit("-", 1)[1] for p in warc_dir.glob("*.warc.gz")}


def test_three_workers_fetch_each_article_once_and_index_like_one_machine(tmp_path: Path,
                                                                          redis_url: str) -> None:
    """On a site in one template: the workers share the template the first of them learned (through
    Redis), extract every page through it where they fetch it, and the indexer extracts none again."""
    site = start_news_site(tmp_path / "site", ARTICLES, pages="one-template")
    try:
        seed = seed_for(tmp_path / "bench.toml", site)
        single = run_morgue("crawl", str(seed), "--data", str(tmp_path / "single"), *COMMON)
        assert single.code == 0, single.stderr
        site.log.write_text("")

        data = tmp_path / "cluster"
        results = _wait(_three_workers(redis_url, seed, data, []))
        for code, stdout, stderr in results:
            assert code == 0, stdout + stderr
        hits = site.article_hits()
        assert sorted(set(hits.values())) == [1], {p: n for p, n in hits.items() if n != 1}
        assert len(_writers(data / "warc")) >= 2  # the work really was shared
        assert not list((data / "warc").glob("*.open"))
        assert not (data / "morgue.db").exists()  # workers never write the index
        # one template version, learned by one worker, archived by every worker that used it, named by
        # the last stored extraction of every page (the pages it was learned from were corrected at the
        # end of their worker's crawl, as one machine's crawl corrects them)
        templates, named = _templates_and_extractions(data / "warc")
        assert list(templates) == ["urn:morgue:template:bench:v1"]
        [body] = templates["urn:morgue:template:bench:v1"]
        assert len(named) == ARTICLES
        assert {(t["version"] if isinstance(t, dict) else t) for t in named.values()} == {1}
        assert len({json.dumps(t, sort_keys=True) for t in named.values()}) == 1

        indexed = run_morgue("index", "--data", str(data))
        assert indexed.code == 0, indexed.stderr
        assert "filed" in indexed.stdout
        # every article filed from the extraction its worker stored: none extracted a second time
        assert f"{ARTICLES} stored extractions filed, 0 pages extracted" in indexed.stdout
        assert _articles(data / "morgue.db") == _articles(tmp_path / "single" / "morgue.db")
        assert _article_facts(data / "morgue.db") == _article_facts(tmp_path / "single" / "morgue.db")
        assert len(_articles(data / "morgue.db")) == ARTICLES
        # the test means something: the site's template served every page
        through = "SELECT count(*) AS n FROM articles WHERE removed LIKE '%template v1:%'"
        assert _rows(data / "morgue.db", through)[0]["n"] == ARTICLES

        # one crawls row for the round, named in every worker's warcinfo, filled by the indexer
        crawls = _rows(data / "morgue.db", "SELECT * FROM crawls")
        assert len(crawls) == 1
        row = crawls[0]
        assert _rounds_in_warcinfo(data / "warc") == {row["cluster_round"]}
        captures = _rows(data / "morgue.db", "SELECT count(*) AS n FROM captures WHERE crawl_id = :id",
                         {"id": row["id"]})[0]["n"]
        assert captures == _rows(data / "morgue.db", "SELECT count(*) AS n FROM captures")[0]["n"]
        assert (row["site"], row["status"], row["new_articles"], row["new_versions"], row["captures"],
                row["errors"], row["robots_blocked"]) == ("bench", "finished", ARTICLES, 0, captures, 0, 0)
        assert json.loads(row["errors_by_kind"]) == {}
        assert row["pages"] >= ARTICLES and row["started_at"] <= row["finished_at"] and row["seconds"] > 0
        # one summary per worker that archived anything: a worker that joins after the queue drained
        # crawls 0 pages and writes no WARC file, so no summary (crawler.session), which the pace of the
        # workers' start decides, not morgue
        assert len(json.loads(row["cluster_summaries"])) == len(_writers(data / "warc"))
        schedule = run_morgue("schedule", "--seeds", str(tmp_path), "--data", str(data))
        assert schedule.code == 0, schedule.stderr
        line = next(ln for ln in schedule.stdout.splitlines() if ln.startswith("bench "))
        assert "finished" in line and f" {ARTICLES}n 0v " in line and "never run" not in line

        again = run_morgue("index", "--data", str(data))
        assert "nothing new to file" in again.stdout
        assert _rows(data / "morgue.db", "SELECT * FROM crawls") == crawls
        verify = run_morgue("verify", "--data", str(data))
        assert verify.code == 0, verify.stdout + verify.stderr
        # the round's row is rebuilt from the WARC files alike
        rebuilt = run_morgue("reindex", "--reuse", "--data", str(data))
        assert rebuilt.code == 0, rebuilt.stderr
        assert f"{ARTICLES} stored extractions filed, 0 pages extracted" in rebuilt.stdout
        assert _rows(data / "morgue.db", "SELECT * FROM crawls") == crawls
        assert _article_facts(data / "morgue.db") == _article_facts(tmp_path / "single" / "morgue.db")
    finally:
        site.process.terminate()


def test_a_worker_killed_mid_crawl_loses_nothing(tmp_path: Path, redis_url: str) -> None:
    site = start_news_site(tmp_path / "site", ARTICLES, delay=0.03)
    try:
        seed = seed_for(tmp_path / "bench.toml", site)
        data = tmp_path / "cluster"
        workers = _three_workers(redis_url, seed, data, ["-s", "CONCURRENT_REQUESTS_PER_DOMAIN=6"])
        victim = workers[1]
        deadline = time.monotonic() + 120
        while sum(1 for n in site.article_hits().values() if n) < ARTICLES // 4:
            assert time.monotonic() < deadline, "the crawl did not get going"
            time.sleep(0.1)
        victim.send_signal(signal.SIGKILL)
        killed_at = sum(1 for n in site.article_hits().values() if n)
        results = _wait([workers[0], workers[2]])
        victim.communicate()
        for code, stdout, stderr in results:
            assert code == 0, stdout + stderr
        assert killed_at < ARTICLES  # killed mid-crawl
        assert any("requeued" in stdout for _, stdout, _ in results)
        hits = site.article_hits()
        assert all(n >= 1 for n in hits.values()), [p for p, n in hits.items() if n == 0]

        indexed = run_morgue("index", "--data", str(data))
        assert indexed.code == 0, indexed.stderr
        assert "its writer died" in indexed.stdout  # the victim's .open file was finished, not dropped
        urls = {row[0] for row in _articles(data / "morgue.db")}
        assert urls == {site.base_url + p for p in site.paths}
        verify = run_morgue("verify", "--data", str(data))
        assert verify.code == 0, verify.stdout + verify.stderr
    finally:
        site.process.terminate()


def test_per_host_limits_hold_across_workers(tmp_path: Path, redis_url: str) -> None:
    site = start_news_site(tmp_path / "site", 40, delay=0.15)
    try:
        seed = seed_for(tmp_path / "bench.toml", site)
        limits = ["-s", "MORGUE_CLUSTER_HOST_CONCURRENCY=2", "-s", "MORGUE_CLUSTER_HOST_DELAY=0.1",
                  "-s", "MORGUE_CLUSTER_LEASE_HEADER=True"]
        results = _wait(_three_workers(redis_url, seed, tmp_path / "cluster", limits))
        for code, stdout, stderr in results:
            assert code == 0, stdout + stderr
        requests = sorted(site.requests(), key=lambda r: r["start"])
        assert sum(1 for r in requests if str(r["path"]).startswith("/a/")) == 40
        events = sorted([(r["start"], 1) for r in requests] + [(r["end"], -1) for r in requests],
                        key=lambda e: (e[0], e[1]))
        active = peak = 0
        for _, step in events:
            active += step
            peak = max(peak, active)
        assert peak <= 2
        assert peak == 2  # the limit was reached, so the check above means something
        # The cluster spaces the starts it controls, the lease grants (Redis clock, ms), by the delay;
        # what a site sees also carries each request's transit time, which no crawler controls. Every
        # request reached the server only after its lease, and the grants are at least 0.1 s apart.
        assert all(r["lease"] for r in requests), "every request went through a cluster lease"
        grants = sorted(int(r["lease"]) / 1000 for r in requests)
        assert all(r["start"] >= int(r["lease"]) / 1000 - 0.002 for r in requests)
        gaps = [b - a for a, b in zip(grants, grants[1:], strict=False)]
        # Each grant is stamped in whole milliseconds (Redis TIME, truncated) and the delay key expires at
        # millisecond precision, so a gap between two stamps is only known to within 2 ms.
        assert min(gaps) >= 0.1 - 0.002
    finally:
        site.process.terminate()


def test_cluster_options_fail_clearly_without_redis(tmp_path: Path) -> None:
    result = run_morgue("worker", "--cluster", "redis://127.0.0.1:1/0", "--data", str(tmp_path / "d"))
    assert result.code == 1
    assert "cannot reach Redis at redis://127.0.0.1:1/0" in result.stderr
    result = run_morgue("worker", "--cluster", "http://x", "--data", str(tmp_path / "d"))
    assert "write a Redis URL" in result.stderr
    result = run_morgue("worker", "--data", str(tmp_path / "d"), env={"MORGUE_CLUSTER": ""})
    assert result.code != 0 and "--cluster" in result.stderr


def test_run_due_enqueues_due_sites_into_the_cluster(tmp_path: Path, redis_url: str) -> None:
    from crawler.cluster.connection import connect
    from crawler.cluster.frontier import Frontier

    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "one.toml").write_text('name = "one"\nsitemaps = ["http://127.0.0.1:9/sitemap.xml"]\n'
                                    'every = "1h"\n')
    args = ("run-due", "--cluster", redis_url, "--seeds", str(seeds), "--data", str(tmp_path / "d"))
    first = run_morgue(*args)
    assert first.code == 0, first.stderr
    assert "one: queued 1 start requests" in first.stdout
    frontier = Frontier(connect(redis_url))
    assert frontier.queued("one") == 1
    assert "one" in frontier.seeds()
    second = run_morgue(*args)
    assert "one: not due (running)" in second.stdout  # its work is still queued
    assert frontier.queued("one") == 1
    assert not (tmp_path / "d" / "morgue.db").exists()


def test_a_cluster_recrawl_reads_unchanged_sitemaps_from_the_archive(tmp_path: Path, redis_url: str) -> None:
    """Second round: the unchanged sitemap index is answered 304 and the workers parse its archived copy
    (from the shared data directory) to reach a changed sitemap, which lists one new article."""
    site = start_news_site(tmp_path / "site", 12)
    try:
        seed = seed_for(tmp_path / "bench.toml", site)
        data = tmp_path / "cluster"
        args = ("crawl", "--cluster", redis_url, str(seed), "--data", str(data), *COMMON, *CLUSTER)
        first = run_morgue(*args)
        assert first.code == 0, first.stderr
        assert run_morgue("index", "--data", str(data)).code == 0

        root = tmp_path / "site"
        new_page = "/a/999999-story.html"
        (root / new_page.lstrip("/")).write_bytes((root / site.paths[0].lstrip("/")).read_bytes())
        child = root / "sitemap-0.xml"
        entry = f"<url><loc>{site.base_url}{new_page}</loc></url>"
        blocked = f"<url><loc>{site.base_url}/a/blocked-story.html</loc></url>"
        child.write_text(child.read_text().replace("</urlset>", entry + blocked + "</urlset>"))
        robots = root / "robots.txt"
        robots.write_text(robots.read_text().replace("Allow: /", "Disallow: /a/blocked\nAllow: /"))
        time.sleep(1.1)  # If-Modified-Since has one-second resolution
        mark = len(site.requests())
        second = run_morgue(*args)
        assert second.code == 0, second.stderr
        later = {str(r["path"]): r for r in site.requests()[mark:]}
        assert later["/sitemap_index.xml"]["ims"] and later["/sitemap_index.xml"]["status"] == 304
        assert later["/sitemap-0.xml"]["status"] == 200  # changed; found through the archived index
        assert new_page in later
        assert not [p for p in site.paths if p in later and not later[p]["ims"]]  # no full re-fetch
        assert run_morgue("index", "--data", str(data)).code == 0
        assert site.base_url + new_page in {row[0] for row in _articles(data / "morgue.db")}

        # each round its own crawls row: the second found one new article, accounted for each known one
        # (skipped as known, or re-checked and found unchanged) and was refused one URL by robots.txt
        db = data / "morgue.db"
        first_row, second_row = _rows(db, "SELECT * FROM crawls ORDER BY started_at, id")
        assert first_row["cluster_round"] != second_row["cluster_round"]
        assert (first_row["new_articles"], second_row["new_articles"]) == (12, 1)
        assert second_row["skipped_known"] + second_row["not_modified"] + second_row["unchanged"] == 12
        assert (first_row["robots_blocked"], second_row["robots_blocked"]) == (0, 1)
        assert json.loads(second_row["robots_blocked_urls"]) == [site.base_url + "/a/blocked-story.html"]
        # the reading room's home page and crawl history read the cluster's rows like any crawl's
        home = {r["site"]: r for r in _rows(db, SITES_SQL)}
        assert home["bench"]["crawls"] == 2 and home["bench"]["last_new"] == 1
        assert home["bench"]["last_crawl"] == second_row["started_at"]
        history = _rows(db, CANNED_QUERIES["crawl_history"]["sql"], {"site": "bench"})
        assert [h["new_articles"] for h in history] == [1, 12]
    finally:
        site.process.terminate()
