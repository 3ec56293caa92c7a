"""versions, diff and the Memento TimeMap of an article edited between two crawls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import run_morgue
from tests.test_reindex import EDITED, build_archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return build_archive(tmp_path_factory.mktemp("versions"))


def test_versions_and_diff(archive: tuple[Path, str]) -> None:
    data, base_url = archive
    url = base_url + EDITED
    listed = run_morgue("versions", url, "--json", "--data", str(data))
    assert listed.code == 0, listed.stderr
    versions = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [v["version"] for v in versions] == [1, 2] and versions[1]["latest"] == 1
    diff = run_morgue("diff", url, "--data", str(data))
    assert diff.code == 0, diff.stderr
    assert "[-bathymetric-]{+hydrographic+}" in diff.stdout
    assert f"--- v1 {versions[0]['id']}" in diff.stdout and f"+++ v2 {versions[1]['id']}" in diff.stdout
    by_id = run_morgue("diff", url, "--from", versions[1]["id"], "--to", "1", "--data", str(data))
    assert "[-hydrographic-]{+bathymetric+}" in by_id.stdout
    bad = run_morgue("diff", url, "--from", "7", "--data", str(data))
    assert bad.code == 1 and "has versions 1" in bad.stderr


def test_timemap_lists_every_capture(archive: tuple[Path, str]) -> None:
    data, base_url = archive
    url = base_url + EDITED
    result = run_morgue("timemap", url, "--data", str(data), "--replay-prefix", "http://replay.test/morgue/")
    assert result.code == 0, result.stderr
    entries = result.stdout.strip().split(",\n")
    assert entries[0] == f'<{url}>; rel="original"'
    assert 'rel="self"; type="application/link-format"' in entries[1]
    mementos = entries[2:]
    assert len(mementos) == 2
    assert 'rel="first memento"' in mementos[0] and 'rel="last memento"' in mementos[1]
    for line in mementos:
        assert re.match(rf'<http://replay\.test/morgue/\d{{14}}/{re.escape(url)}>; rel="[a-z ]+"; '
                        r'datetime="\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT"$', line), line
    missing = run_morgue("timemap", base_url + "/nowhere", "--data", str(data))
    assert missing.code == 1 and "no captures" in missing.stderr
