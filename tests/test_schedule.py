"""``morgue schedule`` and ``morgue run-due`` against a real crawl of the demo site: what is due, that a
run crawls it once, and that overlapping invocations never crawl a site twice at once."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from archive.lock import DataDirLock
from morgue.schedule import plan
from morgue.seeds import Seed
from tests.conftest import REPO, SiteProcess, run_morgue, write_seed


def _crawls(data: Path) -> list[dict[str, object]]:
    conn = sqlite3.connect(data / "morgue.db")
    conn.row_factory = sqlite3.Row
    return [dict(r) for r in conn.execute("SELECT * FROM crawls ORDER BY id")]


def test_run_due_crawls_what_is_due_once(demo_site: SiteProcess, tmp_path: Path) -> None:
    seeds, data = tmp_path / "seeds", tmp_path / "data"
    seeds.mkdir()
    write_seed(seeds / "gazette.toml", demo_site.base_url)
    before = run_morgue("schedule", "--data", str(data), "--seeds", str(seeds))
    assert before.code == 0, before.stderr
    assert "gazette" in before.stdout and "never run" in before.stdout and "due now" in before.stdout

    first = run_morgue("run-due", "--data", str(data), "--seeds", str(seeds))
    assert first.code == 0, first.stderr
    assert "due: gazette" in first.stdout and "14 new articles" in first.stdout
    second = run_morgue("run-due", "--data", str(data), "--seeds", str(seeds))
    assert second.code == 0, second.stderr
    assert "nothing due; next: gazette in " in second.stdout
    runs = _crawls(data)
    assert len(runs) == 1 and runs[0]["status"] == "finished" and runs[0]["new_articles"] == 14

    listing = run_morgue("schedule", "--data", str(data), "--seeds", str(seeds), "--json")
    row = json.loads(listing.stdout)
    assert row["site"] == "gazette" and row["every"] == "6h" and row["due"] is False
    assert row["last_run"]["pages"] == runs[0]["pages"] and row["result"] == "finished"
    started = datetime.fromisoformat(str(runs[0]["started_at"]).replace("Z", "+00:00"))
    assert row["next_due"] == (started + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
    human = run_morgue("schedule", "--data", str(data), "--seeds", str(seeds))
    assert "14n" in human.stdout and "finished" in human.stdout


def test_run_due_skips_while_another_morgue_holds_the_archive(demo_site: SiteProcess, tmp_path: Path) -> None:
    seeds, data = tmp_path / "seeds", tmp_path / "data"
    seeds.mkdir()
    write_seed(seeds / "gazette.toml", demo_site.base_url)
    data.mkdir()
    with DataDirLock(data):
        blocked = run_morgue("run-due", "--data", str(data), "--seeds", str(seeds))
    assert blocked.code == 0
    assert "nothing started" in blocked.stderr and "another morgue process" in blocked.stderr
    assert demo_site.requests() == [] and not (data / "morgue.db").exists()


def test_overlapping_run_due_invocations_crawl_each_site_once(demo_site: SiteProcess, tmp_path: Path) -> None:
    seeds, data = tmp_path / "seeds", tmp_path / "data"
    seeds.mkdir()
    write_seed(seeds / "gazette.toml", demo_site.base_url)
    command = [sys.executable, "-m", "morgue.cli", "run-due", "--data", str(data), "--seeds", str(seeds)]
    processes = [subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=240) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert len(_crawls(data)) == 1
    crawled = [out for out, _ in outputs if "due: gazette" in out]
    other = [out + err for out, err in outputs if "due: gazette" not in out]
    assert len(crawled) == 1 and len(other) == 1
    # the second either found the archive busy or, if it started after, nothing due
    assert "nothing started" in other[0] or "nothing due" in other[0]
    article_gets = [r for r in demo_site.requests() if r["path"] == "/news/2026/11/harbour-dredging.html"]
    assert len(article_gets) == 1


def test_due_rules(tmp_path: Path) -> None:
    seed = Seed(name="gazette", start_urls=["http://127.0.0.1:9/"], every=timedelta(hours=6))
    data = tmp_path / "data"
    (data / "warc").mkdir(parents=True)
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert plan([seed], data, now)[0].due  # never run
    conn = sqlite3.connect(data / "morgue.db")
    conn.execute("CREATE TABLE crawls (id INTEGER PRIMARY KEY, site TEXT, started_at TEXT, finished_at TEXT,"
                 " status TEXT)")
    conn.execute("INSERT INTO crawls (site, started_at, finished_at, status) VALUES "
                 "('gazette', '2026-11-29T07:00:00Z', '2026-11-29T07:10:00Z', 'finished')")
    conn.commit()
    site = plan([seed], data, now)[0]
    assert not site.due and site.next_due == datetime(2026, 11, 29, 13, tzinfo=UTC)
    assert plan([seed], data, now + timedelta(hours=1))[0].due
    (data / "jobs" / "gazette").mkdir(parents=True)
    (data / "jobs" / "gazette" / "requests.seen").write_text("")
    resumable = plan([seed], data, now)[0]
    assert resumable.due and resumable.resumable  # an interrupted crawl resumes at once


def test_schedule_reports_bad_seed_folders(tmp_path: Path) -> None:
    missing = run_morgue("schedule", "--seeds", str(tmp_path / "nope"), "--data", str(tmp_path / "d"))
    assert missing.code == 1 and "no seeds folder" in missing.stderr
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "bad.toml").write_text('name = "x"\nevery = "soon"\nfeeds = ["http://a/"]\n')
    bad = run_morgue("run-due", "--seeds", str(tmp_path / "s"), "--data", str(tmp_path / "d"))
    assert bad.code == 1 and "bad.toml" in bad.stderr and "every" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_example_seeds_are_valid_and_listed(tmp_path: Path) -> None:
    """The seeds/ shipped as examples parse and show in the schedule (nothing is fetched)."""
    result = run_morgue("schedule", "--seeds", str(REPO / "seeds"), "--data", str(tmp_path / "d"), "--json")
    assert result.code == 0, result.stderr
    sites = {json.loads(line)["site"] for line in result.stdout.splitlines()}
    assert sites == {p.stem for p in (REPO / "seeds").glob("*.toml")} and len(sites) >= 2
