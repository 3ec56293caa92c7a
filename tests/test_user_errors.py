"""Bad input from users: one line naming the file (and line) and what to do, a non-zero exit, no
traceback unless --debug, and nothing written where nothing should be."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Result, run_morgue


def one_line_error(result: Result) -> str:
    assert result.code != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].lower().startswith("error:")
    return lines[0]


@pytest.mark.parametrize(("text", "expected"), [
    ('name = "x"\nstart_urls = ["https://a.example/"]\nfoo = 1\n', "line 3: unknown key 'foo'"),
    ('name = "x"\nstart_urls = ["https://a.example/"\n', "line 2: not valid TOML"),
    ('name = "x"\nfeeds = ["notaurl"]\n', "line 2: feeds: 'notaurl' is not an http(s) URL"),
    ('name = "x"\nstart_urls = ["https://a.example/"]\nevery = "often"\n', "line 3: every:"),
    ('start_urls = ["https://a.example/"]\n', "name is required"),
])
def test_broken_seed_files(tmp_path: Path, text: str, expected: str) -> None:
    seed = tmp_path / "site.toml"
    seed.write_text(text, encoding="utf-8")
    line = one_line_error(run_morgue("crawl", str(seed), "--data", str(tmp_path / "data")))
    assert str(seed) in line and expected in line
    assert not (tmp_path / "data" / "morgue.db").exists()  # rejected before anything was set up


def test_a_broken_seed_in_the_seeds_folder(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "good.toml").write_text('name = "good"\nfeeds = ["https://a.example/feed"]\n')
    (seeds / "bad.toml").write_text('name = "bad"\nfeeds = "https://a.example/feed"\nevery = 5\n')
    line = one_line_error(run_morgue("schedule", "--seeds", str(seeds), "--data", str(tmp_path / "data")))
    assert "bad.toml" in line and "line 3" in line


def test_bad_urls(tmp_path: Path) -> None:
    for url in ("http://", "ftp://a.example/feed", "https:///nohost"):
        line = one_line_error(run_morgue("crawl", url, "--data", str(tmp_path / "data")))
        assert "not an http(s) URL" in line


def test_a_seed_that_does_not_exist(tmp_path: Path) -> None:
    line = one_line_error(run_morgue("crawl", "no-such-site", "--seeds", str(tmp_path), "--data",
                                     str(tmp_path / "data")))
    assert "no-such-site" in line and "not a URL, a .toml file or a site" in line


def test_a_data_directory_that_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "thesis.docx").write_bytes(b"PK\x03\x04")
    for args in (("search", "harbour"), ("verify",), ("reindex",), ("crawl", "https://a.example/feed")):
        line = one_line_error(run_morgue(*args, "--data", str(tmp_path)))
        assert "not a morgue data directory" in line, (args, line)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis.docx"]  # nothing written into it


def test_a_file_that_is_not_a_warc(tmp_path: Path) -> None:
    fake = tmp_path / "notes.warc.gz"
    fake.write_text("these are my notes, not a web archive\n")
    line = one_line_error(run_morgue("import", str(fake), "--data", str(tmp_path / "data")))
    assert "notes.warc.gz" in line and "nothing was imported" in line
    assert not list((tmp_path / "data" / "warc").glob("*")) if (tmp_path / "data" / "warc").exists() else True


def test_unknown_ids_and_path_tricks(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "warc").mkdir(parents=True)
    run_morgue("reindex", "--data", str(data))
    for command in ("show", "cite"):
        for bad in ("nosuchid1234", "../../etc/passwd", "/etc/passwd"):
            line = one_line_error(run_morgue(command, bad, "--data", str(data)))
            assert "no capture or article with id" in line
            assert "root:" not in line


def test_debug_shows_a_traceback(tmp_path: Path) -> None:
    seed = tmp_path / "site.toml"
    seed.write_text('name = "x"\nfoo = 1\n')
    result = run_morgue("--debug", "crawl", str(seed), "--data", str(tmp_path / "data"))
    assert result.code != 0 and "Traceback" in result.stderr and "SeedError" in result.stderr


def test_search_reads_a_pasted_page_and_broken_text_and_says_so_in_one_line(tmp_path: Path) -> None:
    """A 10,000-character query and a query with bytes that are not text (a lone surrogate, once decoded)
    are searched as their readable beginning: the message says so, and the query is not echoed back whole
    or broken; control characters alone are a one-line error."""
    from archive.index import Index

    Index(tmp_path / "morgue.db").close()
    data = ("--data", str(tmp_path))
    broken = "harbour\udced\udca0\udc80\udcff"  # the bytes ED A0 80 FF as Python passes them on
    for query, said in (("harbour " * 1250, "longer than 1,000 characters"),
                        (broken, "not valid text were left out: searched for harbour")):
        result = run_morgue("search", query, *data)
        assert result.code == 0 and "Traceback" not in result.stderr
        assert result.stderr.splitlines()[0].count(said) == 1
        assert result.stderr.endswith("no articles match\n")
        assert len(result.stderr) < 1200 and "\ufffd" not in result.stderr
    assert "control characters were left out" in one_line_error(run_morgue("search", "\x01\x02", *data))
