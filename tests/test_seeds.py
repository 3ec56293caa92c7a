"""Seed files are validated before any fetching; every error names the file, the line and the fix."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from morgue.errors import SeedError
from morgue.seeds import load_seed, load_seed_file, seed_from_url

GOOD = '''name = "gazette"
start_urls = ["https://news.example/"]
sitemaps = ["https://news.example/sitemap.xml"]
feeds = ["https://news.example/feed.xml"]
allow = ['/\\d{4}/\\d{2}/']
deny = ['/tag/']
every = "6h"
recrawl_within = "3d"

[settings]
DOWNLOAD_DELAY = 2
'''


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_seed(tmp_path: Path) -> None:
    seed = load_seed_file(write(tmp_path, GOOD))
    assert seed.name == "gazette"
    assert seed.every == timedelta(hours=6) and seed.recrawl_within == timedelta(days=3)
    assert seed.domains == ["news.example"]
    assert seed.settings == {"DOWNLOAD_DELAY": 2}
    assert seed.is_article_url("https://news.example/2026/11/a-story.html")
    assert not seed.is_article_url("https://news.example/tag/2026/11/")
    assert not seed.is_article_url("https://news.example/about")
    assert seed.render is False
    assert load_seed_file(write(tmp_path, GOOD.replace('every = "6h"', 'every = "6h"\nrender = true'),
                                "r.toml")).render is True


@pytest.mark.parametrize(("text", "line", "words"), [
    (GOOD.replace("sitemaps =", "sitemap ="), 3, "unknown key 'sitemap' (did you mean 'sitemaps'?)"),
    (GOOD.replace('every = "6h"', 'every = "six hours"'), 7, "not a duration"),
    (GOOD.replace("deny = ['/tag/']", "deny = ['/tag/(']"), 6, "not a valid regular expression"),
    (GOOD.replace('"https://news.example/feed.xml"', '"ftp://news.example/feed"'), 4, "not an http(s) URL"),
    (GOOD.replace('recrawl_within = "3d"', 'recrawl_within = "3d'), 8, "not valid TOML"),
    (GOOD.replace('name = "gazette"', 'name = "my site!"'), 1, "name is required"),
    (GOOD.replace('every = "6h"\n', 'every = "6h"\nrender = "yes"\n'), 8, "render must be true or false"),
])
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SeedError) as info:
        load_seed_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}, line {line}: "), message
    assert words in message


def test_a_seed_needs_somewhere_to_start(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="at least one of start_urls, sitemaps or feeds"):
        load_seed_file(write(tmp_path, 'name = "x"\n'))


def test_seed_arguments_resolve(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "gazette.toml")
    assert load_seed("gazette", tmp_path).name == "gazette"
    assert load_seed(str(tmp_path / "gazette.toml"), tmp_path).name == "gazette"
    assert seed_from_url("https://www.news.example/sitemap_index.xml").sitemaps
    assert seed_from_url("https://news.example/feed/").feeds
    assert seed_from_url("https://news.example/politics/").start_urls
    with pytest.raises(SeedError, match="sites there: gazette"):
        load_seed("nonesuch", tmp_path)
    with pytest.raises(SeedError, match="no such seed file"):
        load_seed(str(tmp_path / "missing.toml"), tmp_path)


def test_the_shipped_seeds_are_valid() -> None:
    from morgue.seeds import list_seeds

    seeds_dir = Path(__file__).resolve().parents[1] / "seeds"
    for seed in list_seeds(seeds_dir):
        assert seed.start_urls or seed.sitemaps or seed.feeds
