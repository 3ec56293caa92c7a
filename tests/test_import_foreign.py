"""import of what other tools archived: files that bend the WARC format, ARC files, WACZ packages.

The files are made here: by hand, byte by byte, for each deviation older tools are known for (see
``tests/foreign_files.py``), by ``wget --warc-file`` against the demo site, by warcio's writer, and by
py-wacz's ``wacz create``. Each is imported unchanged, its deviations are reported with file and offset,
and what it holds is searchable, showable, citable and survives ``verify`` and ``reindex``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import sqlite3
import subprocess
import sys
import urllib.request
import zipfile
from contextlib import closing
from io import BytesIO
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.reading_room import make_datasette
from tests import foreign_files as ff
from tests.conftest import SiteProcess, run_morgue
from tests.pywb_server import running_wayback
from tests.test_import import _wget

SITE = "http://harbour.example"


def _url(slug: str) -> str:
    return f"{SITE}/news/2014/01/{slug}.html"


def _body(word: str) -> bytes:
    """An article page whose text holds a word only it has (to find it by search)."""
    return ff.ARTICLE.replace(b"</article>", f"<p>Only this page mentions {word}.</p></article>".encode())


def _deviating_files() -> dict[str, tuple[bytes, list[tuple[int, str, str]]]]:
    """name -> (bytes, [(offset, kind, words the report must use)]), one deviation per file."""
    info = ff.warcinfo()
    files: dict[str, tuple[bytes, list[tuple[int, str, str]]]] = {}
    lf_info = ff.warcinfo(eol=b"\n", trailer=b"\n\n")
    files["lf-only.warc"] = (
        lf_info + ff.response(_url("lf"), 11, _body("lfzebra"), eol=b"\n", trailer=b"\n\n"),
        [
            (0, "lf-line-endings", "end in a bare LF instead of the CRLF"),
            (len(lf_info), "record-end", "followed by LF LF instead of the CRLF CRLF"),
        ],
    )
    cut = ff.warcinfo(trailer=b"")
    files["no-trailer.warc"] = (
        cut
        + ff.response(_url("trailer"), 12, _body("trailerzebra"), trailer=b"")
        + ff.response(_url("trailer2"), 13, _body("trailertwozebra")),
        [
            (0, "record-end", "followed by nothing instead of the CRLF CRLF"),
            (len(cut), "record-end", "followed by nothing instead of the CRLF CRLF"),
        ],
    )
    files["no-trailer.warc.gz"] = (
        ff.gz(info, ff.response(_url("trailergz"), 14, _body("gztrailerzebra"), trailer=b"")),
        [(len(gzip.compress(info)), "record-end", "followed by nothing")],
    )
    request = ff.warc_record(
        "request",
        _url("blank"),
        b"",
        record_id="<urn:uuid:00000000-0000-4000-8000-00000000aa01>",
        content_type="application/http; msgtype=request",
        blank_line=False,
        trailer=b"",
    )
    first = ff.gz(info, ff.response(_url("blank"), 15, _body("blankzebra")))
    files["no-blank-line.warc.gz"] = (
        first + ff.gz(request),
        [(len(first), "no-blank-line", "not followed by the blank line")],
    )
    noblank = ff.warcinfo(record_id="<urn:uuid:00000000-0000-4000-8000-00000000aa02>", blank_line=False)
    files["no-blank-line.warc"] = (
        noblank + ff.response(_url("blank2"), 16, _body("blanktwozebra")),
        [(0, "no-blank-line", "not followed by the blank line")],
    )
    short = ff.response(_url("short"), 17, _body("shortzebra"), length_delta=-3)
    files["length-short.warc"] = (
        info + short + ff.response(_url("after-short"), 18, _body("aftershortzebra")),
        [(len(info), "content-length", "Content-Length says")],
    )
    files["length-long.warc"] = (
        info
        + ff.response(_url("long"), 19, _body("longzebra"), length_delta=4)
        + ff.response(_url("after-long"), 20, _body("afterlongzebra")),
        [(len(info), "content-length", "Content-Length says")],
    )
    files["length-long.warc.gz"] = (
        ff.gz(info, ff.response(_url("longgz"), 21, _body("gzlongzebra"), length_delta=5)),
        [(len(gzip.compress(info)), "content-length", "where the gzip member ends")],
    )
    files["heritrix.arc"] = (
        ff.arc_file("heritrix.arc", [(_url("arc"), _body("arczebra")), (_url("arc2"), _body("arctwozebra"))]),
        [],
    )
    files["heritrix.arc.gz"] = (
        ff.arc_file("heritrix.arc.gz", [(_url("arcgz"), _body("gzarczebra"))], gzipped=True),
        [],
    )
    return files


def _warcio_reads(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in ArchiveIterator(fh))


def _query(data: Path, sql: str) -> set[tuple[object, ...]]:
    with closing(sqlite3.connect(data / "morgue.db")) as conn:
        return set(conn.execute(sql).fetchall())


def _snapshot(data: Path, *, lock: bool = True) -> dict[str, object]:
    """Every file under the data directory (bytes), and the index as SQL: what "changes nothing" means.
    Without ``lock``, the lock file (the pid of the last writer, not archive content) is left out."""
    files = {
        str(p.relative_to(data)): p.read_bytes()
        for p in sorted(data.rglob("*"))
        if p.is_file() and not p.name.startswith("morgue.db") and (lock or p.name != ".morgue.lock")
    }
    conn = sqlite3.connect(data / "morgue.db")
    try:
        dump = list(conn.iterdump())
    finally:
        conn.close()
    return {"files": files, "db": dump}


@pytest.fixture
def bent(tmp_path: Path) -> dict[str, tuple[Path, list[tuple[int, str, str]]]]:
    out = tmp_path / "bent"
    out.mkdir()
    made = {}
    for name, (raw, expected) in _deviating_files().items():
        (out / name).write_bytes(raw)
        made[name] = (out / name, expected)
    return made


def test_files_that_bend_the_format_are_imported_as_they_are(
    bent: dict[str, tuple[Path, list[tuple[int, str, str]]]], tmp_path: Path
) -> None:
    for name in (
        "lf-only.warc",
        "no-trailer.warc.gz",
        "no-blank-line.warc.gz",
        "length-short.warc",
        "length-long.warc.gz",
        "heritrix.arc",
        "heritrix.arc.gz",
    ):
        assert _warcio_reads(bent[name][0]) >= 2, name  # the bar: warcio reads these
    data = tmp_path / "data"
    paths = [str(p) for p, _ in bent.values()]
    result = run_morgue("import", *paths, "--all-pages", "--data", str(data))
    assert result.code == 0, result.stderr
    for name, (path, expected) in bent.items():
        assert (data / "warc" / name).read_bytes() == path.read_bytes()  # kept byte for byte
        for offset, kind, words in expected:
            line = next(
                (x for x in result.stderr.splitlines() if f"{name} offset {offset}: {kind}:" in x), None
            )
            assert line is not None and words in line, (name, offset, kind, result.stderr)
    assert "deviations from the WARC/ARC format" in result.stdout
    words = [
        "lfzebra",
        "trailerzebra",
        "trailertwozebra",
        "gztrailerzebra",
        "blankzebra",
        "blanktwozebra",
        "shortzebra",
        "aftershortzebra",
        "longzebra",
        "afterlongzebra",
        "gzlongzebra",
        "arczebra",
        "arctwozebra",
        "gzarczebra",
    ]
    found = {}
    for word in words:
        hits = [
            json.loads(x)
            for x in run_morgue("search", word, "--json", "--data", str(data)).stdout.splitlines()
        ]
        assert len(hits) == 1, (word, hits)
        found[word] = hits[0]["id"]
    # the text of a record whose Content-Length was off is the whole of it, and cites with its digest
    short = run_morgue("show", found["shortzebra"], "--raw", "--data", str(data))
    assert short.stdout.endswith("</article></body></html>")
    cite = json.loads(run_morgue("cite", found["longzebra"], "--format", "json", "--data", str(data)).stdout)
    assert cite["payload_digest_checked"] and cite["archive_format"] == "WARC"
    # an ARC record is cited as one, with the digest morgue computed when it imported it
    arc = run_morgue("cite", found["arczebra"], "--data", str(data))
    assert arc.code == 0 and "ARC file heritrix.arc, offset" in arc.stdout
    arc_json = json.loads(
        run_morgue("cite", found["gzarczebra"], "--format", "json", "--data", str(data)).stdout
    )
    assert arc_json["archive_format"] == "ARC" and arc_json["payload_digest"].startswith("sha256:")
    assert any("ARC files carry no digests" in n for n in arc_json["notes"])
    headers = run_morgue("show", found["arczebra"], "--headers", "--data", str(data)).stdout
    assert "archive-date: 20140127171112" in headers and "HTTP/1.1 200" in headers
    verify = run_morgue("verify", "--data", str(data))
    assert verify.code == 0, verify.stdout + verify.stderr
    for name, (_, expected) in bent.items():
        for offset, kind, _ in expected:
            assert f"deviation of an imported file: {name} offset {offset}: {kind}:" in verify.stdout
    assert "not damage" in verify.stderr
    before = _query(data, "SELECT id FROM captures")
    assert run_morgue("reindex", "--data", str(data)).code == 0
    after = _query(data, "SELECT id FROM captures")
    assert after == before and len(before) == len(words)
    assert run_morgue("verify", "--data", str(data)).code == 0
    assert len(run_morgue("search", "arczebra", "--json", "--data", str(data)).stdout.splitlines()) == 1


def test_damage_is_refused_and_found_later(
    bent: dict[str, tuple[Path, list[tuple[int, str, str]]]], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    info = ff.warcinfo()
    record = ff.response(_url("flipped"), 31, _body("flippedzebra"))
    at = record.index(b"bathymetric")
    flipped = tmp_path / "flipped.warc"
    flipped.write_bytes(info + record[:at] + b"B" + record[at + 1 :])
    result = run_morgue("import", str(flipped), str(bent["heritrix.arc"][0]), "--data", str(data))
    assert result.code == 1
    assert f"{flipped}: block-digest at offset {len(info)}:" in result.stderr
    assert (
        "a citation of it would vouch for bytes" in result.stderr and "nothing was imported" in result.stderr
    )
    assert not (data / "warc" / "heritrix.arc").exists()
    junk = tmp_path / "junk.warc"
    junk.write_bytes(b"this is not an archive\n" * 20)
    refused = run_morgue("import", str(junk), "--data", str(data))
    assert (
        refused.code == 1
        and f"{junk}: unreadable at offset 0: expected a WARC/1.x version line" in refused.stderr
    )
    whole = tmp_path / "whole.warc.gz"  # gzipped as one stream: no record can be pointed at
    whole.write_bytes(gzip.compress(info + ff.response(_url("whole"), 32, _body("wholezebra"))))
    refused = run_morgue("import", str(whole), "--data", str(data))
    assert refused.code == 1 and f"{whole}: whole-file-gzip at offset 0:" in refused.stderr
    assert "warcio recompress" in refused.stderr
    # an imported ARC file changed afterwards is damage to verify, even though ARC has no digests
    assert run_morgue("import", str(bent["heritrix.arc"][0]), "--data", str(data)).code == 0
    kept = data / "warc" / "heritrix.arc"
    raw = kept.read_bytes()
    at = raw.index(b"bathymetric")
    kept.write_bytes(raw[:at] + b"B" + raw[at + 1 :])
    verify = run_morgue("verify", "--data", str(data))
    assert verify.code == 1
    assert "heritrix.arc: changed-since-import: the file's sha256 is no longer" in verify.stdout
    assert "index-mismatch" in verify.stdout and "payload_digest" in verify.stdout


def _browsertrix_warc(path: Path) -> tuple[str, bytes, str]:
    """A WARC as Browsertrix writes one (with warcio's writer): a page, its request, and the text,
    screenshot and thumbnail records beside it. Returns (page url, screenshot bytes, text)."""
    url = f"{SITE}/news/2024/03/untitled-dredging.html"
    body = (
        b"<html><body><div class='story'>"  # no <title>, no <h1>: only pages.jsonl names it
        + b"<p>Dredging of the old harbour resumed on Monday after the bathymetric survey found the "
        b"channel silted to four metres; the council expects the work to last until spring.</p>"
        * 5
        + b"</div></body></html>"
    )
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
    text = "Dredging of the old harbour resumed on Monday."
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        writer.write_record(
            writer.create_warcinfo_record(path.name, {"software": "Browsertrix-Crawler 1.0.0"})
        )
        http = StatusAndHeaders(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))], protocol="HTTP/1.1"
        )
        response = writer.create_warc_record(url, "response", payload=BytesIO(body), http_headers=http)
        writer.write_record(response)
        concurrent = {"WARC-Concurrent-To": response.rec_headers.get_header("WARC-Record-ID")}
        for prefix, content_type, data in (
            ("urn:text:", "text/plain", text.encode()),
            ("urn:view:", "image/png", png),
            ("urn:thumbnail:", "image/png", png[:30]),
        ):
            writer.write_record(
                writer.create_warc_record(
                    prefix + url,
                    "resource",
                    payload=BytesIO(data),
                    warc_content_type=content_type,
                    warc_headers_dict=concurrent,
                )
            )
    return url, png, text


def _wacz_create(tmp_path: Path) -> tuple[Path, str, bytes, str]:
    warc = tmp_path / "rec-browsertrix.warc.gz"
    url, png, text = _browsertrix_warc(warc)
    pages = tmp_path / "pages.jsonl"
    pages.write_text(
        json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"})
        + "\n"
        + json.dumps({"url": url, "ts": "2024-03-04T10:00:00Z", "title": "Dredging resumes"})
        + "\n"
    )
    wacz = tmp_path / "crawl.wacz"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "wacz"),
            "create",
            "-o",
            str(wacz),
            str(warc),
            "-p",
            str(pages),
            "-c",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return wacz, url, png, text


def test_a_wacz_package(tmp_path: Path) -> None:
    wacz, url, png, text = _wacz_create(tmp_path)
    data = tmp_path / "data"
    result = run_morgue("import", str(wacz), "--all-pages", "--data", str(data))
    assert result.code == 0, result.stderr
    assert "match their sha256 hashes" in result.stderr
    with zipfile.ZipFile(wacz) as zf:
        inside = zf.read("archive/rec-browsertrix.warc.gz")
    assert (data / "warc" / "crawl-rec-browsertrix.warc.gz").read_bytes() == inside
    hits = [
        json.loads(x)
        for x in run_morgue("search", "bathymetric", "--json", "--data", str(data)).stdout.splitlines()
    ]
    assert [(h["url"], h["title"]) for h in hits] == [(url, "Dredging resumes")]  # the title pages.jsonl gave
    shown = run_morgue("show", hits[0]["id"], "--data", str(data)).stdout
    ids = {}
    for kind in ("text", "screenshot", "thumbnail"):
        line = next(x for x in shown.splitlines() if x.strip().startswith(f"{kind}:"))
        ids[kind] = line.split()[1]
    assert run_morgue("show", ids["text"], "--text", "--data", str(data)).stdout == text
    screenshot = subprocess.run(
        [sys.executable, "-m", "morgue.cli", "show", ids["screenshot"], "--raw", "--data", str(data)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert screenshot.stdout == png
    described = run_morgue("show", ids["screenshot"], "--data", str(data)).stdout
    assert f"screenshot of {url}" in described and "image/png" in described
    assert run_morgue("verify", "--data", str(data)).code == 0
    # the reading room's article page shows Browsertrix's thumbnail, linking to its screenshot
    room = make_datasette(data)
    page = asyncio.run(room.client.get(f"/-/article/{hits[0]['id']}"))
    assert page.status_code == 200
    assert f'<a href="/-/resource/{ids["screenshot"]}"><img src="/-/resource/{ids["thumbnail"]}"' in page.text
    assert "imported with crawl-rec-browsertrix.warc.gz" in page.text
    for kind, content in (("screenshot", png), ("thumbnail", png[:30])):
        served = asyncio.run(room.client.get(f"/-/resource/{ids[kind]}"))
        assert served.status_code == 200 and served.content == content
        assert served.headers["content-type"] == "image/png"
    assert asyncio.run(room.client.get(f"/-/resource/{ids['text']}")).status_code == 404
    # a package whose WARC no longer matches its datapackage.json hash is refused whole
    tampered = tmp_path / "tampered.wacz"
    with zipfile.ZipFile(wacz) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            content = src.read(item)
            if item.filename.startswith("archive/"):
                content = content[:-1] + bytes([content[-1] ^ 1])
            dst.writestr(item, content)
    other = tmp_path / "other"
    refused = run_morgue("import", str(tampered), "--data", str(other))
    assert refused.code == 1
    assert (
        f"{tampered}: archive/rec-browsertrix.warc.gz does not match its hash in datapackage.json"
        in refused.stderr
    )
    assert not any((other / "warc").iterdir())


@pytest.fixture
def wget_plain(demo_site: SiteProcess, tmp_path: Path) -> Path:
    """An uncompressed WARC written by wget (``--no-warc-compression``)."""
    work = tmp_path / "wget"
    work.mkdir()
    subprocess.run(
        [
            _wget(),
            "-q",
            "--warc-file=" + str(tmp_path / "gazette-plain"),
            "--no-warc-compression",
            "-r",
            "-l",
            "1",
            demo_site.url("/news/"),
        ],
        cwd=work,
        check=False,
        timeout=120,
    )
    path = tmp_path / "gazette-plain.warc"
    assert path.exists()
    return path


def test_dry_run_and_a_second_import_change_nothing(wget_plain: Path, tmp_path: Path) -> None:
    wacz, _, _, _ = _wacz_create(tmp_path)
    arc = tmp_path / "old.arc.gz"
    arc.write_bytes(ff.arc_file(arc.name, [(_url("dry"), _body("dryzebra"))], gzipped=True))
    fresh = tmp_path / "fresh"
    dry_new = run_morgue("import", str(wget_plain), str(arc), "--dry-run", "--data", str(fresh))
    assert dry_new.code == 0, dry_new.stderr
    assert not fresh.exists()  # a dry run does not even create the data directory
    assert (
        f"{wget_plain}: WARC, " in dry_new.stdout
        and "would be copied to warc/gazette-plain.warc" in dry_new.stdout
    )
    data = tmp_path / "data"
    assert run_morgue("import", str(wget_plain), "--data", str(data)).code == 0
    before = _snapshot(data)
    dry = run_morgue("import", str(wget_plain), str(arc), str(wacz), "--dry-run", "--data", str(data))
    assert dry.code == 0, dry.stderr
    assert f"{wget_plain}: WARC, " in dry.stdout and "already here" in dry.stdout
    assert f"{arc}: ARC, 2 records, 1 captures (1 not yet indexed)" in dry.stdout
    assert f"{wacz}!archive/rec-browsertrix.warc.gz: WARC" in dry.stdout
    assert "dry run: 3 file(s) would be imported, 1 page titles from pages.jsonl" in dry.stdout
    assert "nothing was changed" in dry.stdout
    assert _snapshot(data) == before
    assert run_morgue("import", str(arc), str(wacz), "--all-pages", "--data", str(data)).code == 0
    assert run_morgue("verify", "--data", str(data)).code == 0
    once = _snapshot(data, lock=False)
    again = run_morgue("import", str(wget_plain), str(arc), str(wacz), "--all-pages", "--data", str(data))
    assert again.code == 0, again.stderr
    assert "3 already here" in again.stdout and "0 new captures" in again.stdout
    assert _snapshot(data, lock=False) == once
    hashes = dict(_query(data, "SELECT name, sha256 FROM imports"))
    assert hashes[wget_plain.name] == hashlib.sha256(wget_plain.read_bytes()).hexdigest()


def test_imported_arc_files_are_exported_to_wacz_as_warc(tmp_path: Path) -> None:
    """ReplayWeb.page's reader (warcio.js) reads no ARC and WACZ holds WARC files: an export converts an
    imported ARC file's records (warcio's arc2warc), keeping morgue's ARC record ids, and the package
    passes py-wacz's validator, its index finds them and pywb replays them."""
    from tests.test_wacz import _cdxj, _validate, _wayback

    for name, pages, gzipped in (("heritrix.arc", [("arc", "arczebra"), ("arc2", "arctwozebra")], False),
                                 ("heritrix2.arc.gz", [("arcgz", "gzarczebra")], True)):
        (tmp_path / name).write_bytes(
            ff.arc_file(name, [(_url(slug), _body(word)) for slug, word in pages], gzipped=gzipped))
    data = tmp_path / "data"
    imported = run_morgue("import", str(tmp_path / "heritrix.arc"), str(tmp_path / "heritrix2.arc.gz"),
                          "--all-pages", "--data", str(data))
    assert imported.code == 0, imported.stderr
    with closing(sqlite3.connect(data / "morgue.db")) as conn:
        indexed = dict(conn.execute("SELECT url, record_id FROM captures"))
    out = tmp_path / "arc.wacz"
    exported = run_morgue("export", "--wacz", str(out), "--data", str(data))
    assert exported.code == 0, exported.stderr
    with zipfile.ZipFile(out) as zf:
        members = sorted(n for n in zf.namelist() if n.startswith("archive/"))
        assert members == ["archive/heritrix-from-arc.warc.gz", "archive/heritrix2-from-arc.warc.gz"]
        found = {}
        for member in members:
            for record in ArchiveIterator(BytesIO(zf.read(member))):
                if record.rec_type == "response":
                    found[record.rec_headers.get_header("WARC-Target-URI")] = (
                        record.rec_headers.get_header("WARC-Record-ID"), record.content_stream().read())
        cdxj = _cdxj(zf)
    assert {url: rid for url, (rid, _) in found.items()} == indexed  # morgue's ARC record ids
    assert b"gzarczebra" in found[_url("arcgz")][1] and b"arctwozebra" in found[_url("arc2")][1]
    assert sum(1 for line in cdxj if '"url": "' + _url("arc") + '"' in line) == 1
    copy = tmp_path / "copy.wacz"  # `wacz validate` changes the file it checks
    copy.write_bytes(out.read_bytes())
    check = _validate(copy)
    assert check.returncode == 0 and "Validation succeeded" in check.stdout, check.stdout + check.stderr
    wayback = _wayback()
    if wayback is None:
        return  # the replay check needs pywb (.ci/run installs it; test_wacz fails without it in CI)
    collection = tmp_path / "collections" / "morgue"
    (collection / "archive").mkdir(parents=True)
    (collection / "indexes").mkdir()
    with zipfile.ZipFile(out) as zf:
        for member in members:
            (collection / member).write_bytes(zf.read(member))
    (collection / "indexes" / "index.cdxj").write_text("\n".join(cdxj) + "\n")
    with running_wayback(wayback, tmp_path) as port:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/morgue/20140127171112id_/{_url('arc2')}",
                                    timeout=30) as response:
            assert b"arctwozebra" in response.read()
