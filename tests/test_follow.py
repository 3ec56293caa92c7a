"""Saved searches (``morgue follow``): a crawl, a saved search, an edit, another crawl: the second crawl's
summary names the edited article as new to the search, ``follow check`` then has nothing new, and
``--since`` looks back without moving the mark. Bad names and unsearchable queries get one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import DEMO_OLDEST, SiteProcess, run_morgue, write_seed

EDITED = "/news/2026/11/harbour-dredging.html"


def test_a_followed_search_reports_what_a_crawl_brought(demo_site: SiteProcess, tmp_path: Path) -> None:
    site, data = demo_site, tmp_path / "data"
    seed = write_seed(tmp_path / "gazette.toml", site.base_url, fresh_after=DEMO_OLDEST)
    first = run_morgue("crawl", str(seed), "--data", str(data))
    assert first.code == 0, first.stderr
    assert "followed searches" not in first.stdout  # nothing saved, nothing said
    added = run_morgue("follow", "add", "survey", "hydrographic survey", "--data", str(data))
    assert added.code == 0 and "following survey" in added.stdout, added.stderr
    other = run_morgue("follow", "add", "ferry", "ferry", "--site", "gazette", "--data", str(data))
    assert other.code == 0, other.stderr
    page = site.root / EDITED.lstrip("/")
    page.write_text(page.read_text(encoding="utf-8").replace("bathymetric", "hydrographic"), encoding="utf-8")
    second = run_morgue("crawl", str(seed), "--data", str(data))
    assert second.code == 0, second.stderr
    assert "followed searches: ferry: 0 new, survey: 1 new" in second.stdout
    assert f"survey: Harbour dredging to begin in January after years of silt complaints  " \
           f"{site.base_url}{EDITED}" in second.stdout
    again = run_morgue("follow", "check", "--data", str(data))
    assert again.code == 0 and "survey: 0 new" in again.stdout and "ferry: 0 new" in again.stdout
    back = run_morgue("follow", "check", "survey", "--since", "2000-01-01", "--json", "--data", str(data))
    assert back.code == 0, back.stderr
    hits = [json.loads(line) for line in back.stdout.splitlines()]
    assert [(h["search"], h["url"]) for h in hits] == [("survey", site.base_url + EDITED)]
    still = run_morgue("follow", "check", "--data", str(data))  # --since moved no mark
    assert "survey: 0 new" in still.stdout
    listed = run_morgue("follow", "list", "--data", str(data))
    assert listed.code == 0 and listed.stdout.startswith("ferry: 'ferry'  site gazette")
    assert "survey: 'hydrographic survey'" in listed.stdout
    removed = run_morgue("follow", "remove", "ferry", "--data", str(data))
    assert removed.code == 0
    assert "ferry" not in run_morgue("follow", "list", "--data", str(data)).stdout
    gone = run_morgue("follow", "remove", "ferry", "--data", str(data))
    assert gone.code == 1 and "no saved search named 'ferry'" in gone.stderr


def test_bad_saved_searches_are_refused_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bad_name = run_morgue("follow", "add", "Harbour Budget!", "harbour", "--data", str(data))
    assert bad_name.code == 1 and "'Harbour Budget!' is not a name for a saved search" in bad_name.stderr
    nothing = run_morgue("follow", "add", "empty", '"" ( )', "--data", str(data))
    assert nothing.code == 1 and "cannot follow" in nothing.stderr
    assert len(nothing.stderr.strip().splitlines()) == 1
    first = run_morgue("follow", "add", "harbour", "harbour", "--data", str(data))
    assert first.code == 0, first.stderr
    twice = run_morgue("follow", "add", "harbour", "quay", "--data", str(data))
    assert twice.code == 1 and "exists already" in twice.stderr
    unknown = run_morgue("follow", "check", "nope", "--data", str(data))
    assert unknown.code == 1 and "no saved search named 'nope'" in unknown.stderr
