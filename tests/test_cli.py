"""The command line as a user meets it: every command has help and is documented in README.md; bad input
gives one clear line and a non-zero exit; ``scrapy crawl`` from the project root works too."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from morgue.cli import cli
from tests.conftest import REPO, SiteProcess, run_morgue, write_seed

README = (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_and_is_documented(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert (cli.commands[name].help or "").strip(), f"morgue {name} has no help text"
    assert f"morgue {name}" in README, f"README.md does not document `morgue {name}`"


def test_a_broken_seed_file_is_rejected_before_fetching(tmp_path: Path) -> None:
    seed = tmp_path / "bad.toml"
    seed.write_text('name = "bad"\nsitemap = ["https://news.example/s.xml"]\n', encoding="utf-8")
    result = run_morgue("crawl", str(seed), "--data", str(tmp_path / "data"))
    assert result.code != 0
    assert "Traceback" not in result.stderr
    assert f"{seed}, line 2: unknown key 'sitemap'" in result.stderr
    assert not (tmp_path / "data" / "warc").exists() or not list((tmp_path / "data" / "warc").iterdir())


def test_a_data_directory_that_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("my notes")
    result = run_morgue("search", "harbour", "--data", str(tmp_path))
    assert result.code != 0 and "Traceback" not in result.stderr
    assert "is not a morgue data directory" in result.stderr
    missing = run_morgue("search", "harbour", "--data", str(tmp_path / "nothing-here"))
    assert missing.code != 0 and "no morgue archive in" in missing.stderr
    a_file = run_morgue("search", "harbour", "--data", str(tmp_path / "notes.txt"))
    assert a_file.code != 0 and "is a file, not a data directory" in a_file.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = run_morgue("--debug", "search", "x", "--data", str(tmp_path / "nothing-here"))
    assert result.code != 0 and "Traceback" in result.stderr


def test_a_bad_url_seed(tmp_path: Path) -> None:
    result = run_morgue("crawl", "ftp://news.example/", "--data", str(tmp_path / "d"))
    assert result.code != 0 and "not an http(s) URL" in result.stderr and "Traceback" not in result.stderr


def test_scrapy_crawl_from_the_project_root(demo_site: SiteProcess, tmp_path: Path) -> None:
    seed = write_seed(tmp_path / "gazette.toml", demo_site.base_url)
    data = tmp_path / "data"
    completed = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "news", "-a", f"seed={seed}", "-s", f"MORGUE_DATA={data}",
         "-s", "LOG_LEVEL=WARNING"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert completed.returncode == 0, completed.stderr
    conn = sqlite3.connect(data / "morgue.db")
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 14
    assert conn.execute("SELECT DISTINCT site FROM articles").fetchall() == [("gazette",)]


def test_demo_runs_the_whole_pipeline(tmp_path: Path) -> None:
    result = run_morgue("demo", "--data", str(tmp_path / "demo"))
    assert result.code == 0, result.stderr
    assert "14 new articles" in result.stdout
    if Path("/usr/bin/chromium").exists():  # the demo renders its articles from the archive when it can
        assert "rendered 14 pages" in result.stdout and "0 timed out, 0 failed" in result.stdout
    assert "morgue search" in result.stdout and "morgue serve" in result.stdout
    found = run_morgue("search", "Fresnel", "--data", str(tmp_path / "demo"), "--json")
    assert "lighthouse-keeper-cottage" in found.stdout


def test_crawl_summary_counts_pages_without_article_text(demo_site: SiteProcess, tmp_path: Path) -> None:
    """A page in the sitemap whose HTML holds no article text is archived but not filed: the summary
    says how many, so articles never vanish from the count unexplained."""
    page = demo_site.root / "culture" / "2026" / "11" / "shanty-festival.html"
    page.write_text("<html><head><title>Shanty festival</title></head><body><div><img src='/a.png'>"
                    "</div></body></html>", encoding="utf-8")
    seed = write_seed(tmp_path / "gazette.toml", demo_site.base_url)
    result = run_morgue("crawl", str(seed), "--data", str(tmp_path / "data"))
    assert result.code == 0, result.stderr
    assert "13 new articles" in result.stdout
    assert "not articles: 1 archived HTML page(s) had no article text to file" in result.stdout
    with sqlite3.connect(tmp_path / "data" / "morgue.db") as db:  # archived all the same
        kept = db.execute("SELECT count(*) FROM captures WHERE url LIKE '%/shanty-festival.html'").fetchone()
    assert kept[0] == 1
