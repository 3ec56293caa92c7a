"""WACZ export: checked by py-wacz's validator, then read back by hand (its structure checks are lax):
every file's sha256 in datapackage.json, the digest file, pages.jsonl with titles and text, CDXJ lines
pointing at the right records, and, where pywb is installed, replay of both versions of an edited page."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.conftest import run_morgue
from tests.test_reindex import EDITED, build_archive


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    base = tmp_path_factory.mktemp("wacz")
    data, base_url = build_archive(base)
    out = base / "gazette.wacz"
    result = run_morgue("export", "--wacz", str(out), "--data", str(data))
    assert result.code == 0, result.stderr
    return data, base_url, out


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(path)],
                          capture_output=True, text=True)


def test_passes_the_validator(exported: tuple[Path, str, Path]) -> None:
    check = _validate(exported[2])
    assert check.returncode == 0 and "Validation succeeded" in check.stdout, check.stdout + check.stderr


def test_read_back(exported: tuple[Path, str, Path]) -> None:
    data, base_url, out = exported
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        package = json.loads(zf.read("datapackage.json"))
        assert package["wacz_version"] == "1.1.1" and package["profile"] == "data-package"
        digest = json.loads(zf.read("datapackage-digest.json"))
        assert digest["hash"] == "sha256:" + hashlib.sha256(zf.read("datapackage.json")).hexdigest()
        listed = {r["path"] for r in package["resources"]}
        assert listed == names - {"datapackage.json", "datapackage-digest.json"}
        for resource in package["resources"]:
            content = zf.read(resource["path"])
            assert resource["hash"] == "sha256:" + hashlib.sha256(content).hexdigest(), resource["path"]
            assert resource["bytes"] == len(content)
        warcs = sorted(n for n in names if n.startswith("archive/"))
        assert all(zf.getinfo(n).compress_type == zipfile.ZIP_STORED for n in warcs)
        # no filter: the archive's WARC files, byte for byte
        originals = sorted((data / "warc").glob("*.warc.gz"))
        assert [n.removeprefix("archive/") for n in warcs] == [p.name for p in originals]
        for name, path in zip(warcs, originals, strict=True):
            assert zf.read(name) == path.read_bytes()
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()]
        assert pages[0]["format"] == "json-pages-1.0"
        edited = [p for p in pages[1:] if p["url"] == base_url + EDITED]
        assert len(edited) == 2 and all(p["title"] and p["text"] for p in edited)
        assert "bathymetric" in edited[0]["text"] and "hydrographic" in edited[1]["text"]
        cdx = zf.read("indexes/index.cdx").decode().splitlines()
        checked = 0
        for line in cdx:
            _, _, fields = line.split(" ", 2)
            entry = json.loads(fields)
            if entry.get("mime") == "warc/revisit" or "digest" not in entry:
                continue
            member = zf.read("archive/" + entry["filename"])
            start = int(entry["offset"])
            record = next(iter(ArchiveIterator(io.BytesIO(member[start:start + int(entry["length"])]))))
            assert record.rec_headers.get_header("WARC-Target-URI") == entry["url"]
            checked += 1
        assert checked >= len(pages) - 1


def test_filters_by_capture_time_and_keeps_revisit_targets(exported: tuple[Path, str, Path],
                                                          tmp_path: Path) -> None:
    data, base_url, _ = exported
    second = sorted((data / "warc").glob("*.warc.gz"))[-1]
    since = second.name.split("-")[1]
    stamp = f"{since[:4]}-{since[4:6]}-{since[6:8]}T{since[8:10]}:{since[10:12]}:{since[12:14]}"
    out = tmp_path / "later.wacz"
    result = run_morgue("export", "--wacz", str(out), "--data", str(data), "--since", stamp)
    assert result.code == 0, result.stderr
    nowhere = tmp_path / "no.wacz"
    bad = run_morgue("export", "--wacz", str(nowhere), "--data", str(data), "--until", "yesterday")
    assert bad.code != 0 and "'yesterday' is not a date" in bad.stderr and "--until" in bad.stderr
    assert not nowhere.exists()
    assert _validate(out).returncode == 0
    with zipfile.ZipFile(out) as zf:
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()][1:]
        assert [p["url"] for p in pages] == [base_url + EDITED]
        records = {}
        for name in zf.namelist():
            if name.startswith("archive/"):
                for record in ArchiveIterator(io.BytesIO(zf.read(name))):
                    records[record.rec_headers.get_header("WARC-Record-ID")] = record.rec_type
        revisit_targets = []
        for record in ArchiveIterator(io.BytesIO(zf.read("archive/" + second.name))):
            if record.rec_type == "revisit":
                revisit_targets.append(record.rec_headers.get_header("WARC-Refers-To"))
        assert revisit_targets and all(records.get(t) == "response" for t in revisit_targets)
        assert any(n.endswith("-subset.warc.gz") for n in zf.namelist())
    empty = run_morgue("export", "--wacz", str(tmp_path / "none.wacz"), "--data", str(data), "--site", "nope")
    assert empty.code == 1 and "no captures match" in empty.stderr


def _wayback() -> str | None:
    candidates = [os.environ.get("MORGUE_PYWB_WAYBACK"), shutil.which("wayback")]
    return next((c for c in candidates if c and Path(c).exists()), None)


def test_replays_in_pywb(exported: tuple[Path, str, Path], tmp_path: Path) -> None:
    wayback = _wayback()
    if wayback is None:
        if os.environ.get("MORGUE_REQUIRE_PYWB") == "1":
            pytest.fail("pywb is required here (MORGUE_REQUIRE_PYWB=1) but MORGUE_PYWB_WAYBACK is not set")
        pytest.skip("pywb is not installed (it pins redis<3, which conflicts with the cluster extra); "
                    "set MORGUE_PYWB_WAYBACK to a wayback binary from its own venv")
    _, base_url, out = exported
    collection = tmp_path / "collections" / "morgue"
    (collection / "archive").mkdir(parents=True)
    (collection / "indexes").mkdir()
    with zipfile.ZipFile(out) as zf:
        for name in zf.namelist():
            if name.startswith("archive/"):
                (collection / name).write_bytes(zf.read(name))
        (collection / "indexes" / "index.cdxj").write_bytes(zf.read("indexes/index.cdx"))
        pages = [json.loads(line) for line in zf.read("pages/pages.jsonl").decode().splitlines()][1:]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([wayback, "-p", str(port), "-b", "127.0.0.1"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        edited = [p for p in pages if p["url"] == base_url + EDITED]
        for page, word in zip(edited, ("bathymetric", "hydrographic"), strict=True):
            ts = "".join(ch for ch in page["ts"] if ch.isdigit())[:14]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/morgue/{ts}id_/{page['url']}",
                                        timeout=20) as response:
                body = response.read()
                if response.headers.get("Content-Encoding") == "gzip":
                    import gzip

                    body = gzip.decompress(body)
            assert word.encode() in body
    finally:
        server.terminate()
        server.wait(timeout=10)
