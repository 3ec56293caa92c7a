"""An archive with page requisites, made by a real tool: a small news site served by the demo server
(gzip style sheets), fetched by ``wget --warc-file --page-requisites``, imported with ``morgue import``.

Each coloured block sits at a known place, so a test can read back what Chromium drew: the page background
comes from the (gzipped) style sheet, a red photo from ``img src``, a green banner from a CSS ``url()``, a
blue ``loading=lazy`` photo far below the fold, and a yellow ``data-src`` image that wget does not fetch
(so it is missing from the archive). Plus PNG helpers to make and read images without Pillow.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

from morgue.demo_server import DemoServer

BACKGROUND = (0xC0, 0xFF, 0xEE)
RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 220, 0)
# (x, y) inside each block, in CSS pixels of the 1280-wide viewport
PHOTO_AT, BANNER_AT, LAZY_AT, MISSING_AT = (1000, 150), (1000, 325), (1000, 1650), (1000, 525)

_STYLE = """@charset "utf-8";
html, body { margin: 0; background: #c0ffee; font-family: "Liberation Serif", serif; }
article { width: 760px; padding: 20px; }
.photo { position: absolute; left: 900px; top: 100px; width: 200px; height: 100px; }
.banner { position: absolute; left: 900px; top: 300px; width: 200px; height: 50px;
          background: url(banner.png) repeat; }
.missing { position: absolute; left: 900px; top: 500px; width: 200px; height: 50px; }
.lazy { position: absolute; left: 900px; top: 1600px; width: 200px; height: 100px; }
"""

_PARAGRAPH = ("The harbour master said the new lights would be switched on before the winter storms, "
              "after months of delays caused by a shortage of parts and a dispute over the contract. "
              "Fishermen who work the early tides welcomed the news, saying the old lamps had failed "
              "twice this year and left the channel dark on the busiest mornings of the season. ")


def _article(title: str, extra: str = "") -> str:
    body = "\n".join(f"<p>{_PARAGRAPH}</p>" for _ in range(6))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/static/style.css">
<meta property="og:title" content="{title}">
<meta name="author" content="Ann Reporter">
<meta property="article:published_time" content="2026-11-20T08:00:00Z">
</head><body>
<article><h1>{title}</h1><p class="byline">By Ann Reporter</p>
{body}
</article>
<img class="photo" src="/static/photo.png" alt="photo">
<div class="banner"></div>
<img class="missing" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-src="/static/unfetched.png" alt="">
<img class="lazy" loading="lazy" src="/static/lazy.png" alt="lazy photo">
<div style="height: 1800px"></div>
{extra}
</body></html>
"""


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour RGB PNG."""
    row = b"\x00" + bytes(rgb) * width
    raw = row * height

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw)) + \
        chunk(b"IEND", b"")


@dataclass
class Pixels:
    width: int
    height: int
    channels: int
    rows: list[bytes]

    def at(self, x: int, y: int) -> tuple[int, int, int]:
        start = x * self.channels
        return tuple(self.rows[y][start:start + 3])  # type: ignore[return-value]


def read_png(data: bytes) -> Pixels:
    """Decode an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and colour in (2, 6), (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        filt = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if filt == 1:
                line[i] = (line[i] + a) & 255
            elif filt == 2:
                line[i] = (line[i] + b) & 255
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return Pixels(width, height, channels, rows)


def write_site(root: Path) -> dict[str, str]:
    """The site's files; returns {name: path} of its articles."""
    static = root / "static"
    static.mkdir(parents=True)
    (static / "style.css").write_text(_STYLE, encoding="utf-8")
    (static / "photo.png").write_bytes(png(200, 100, RED))
    (static / "banner.png").write_bytes(png(20, 10, GREEN))
    (static / "lazy.png").write_bytes(png(200, 100, BLUE))
    (static / "unfetched.png").write_bytes(png(200, 50, YELLOW))
    news = root / "news" / "2026"
    news.mkdir(parents=True)
    pages = {
        "lights": ("harbour-lights-switched-on.html", _article("Harbour lights to be switched on")),
        "ferry": ("ferry-timetable-changes.html", _article("Ferry timetable changes for winter")),
        "hang": ("page-that-never-loads.html", _article(
            "A page whose script never ends", "<script>for (;;) {}</script>")),
    }
    for name, text in pages.values():
        (news / name).write_text(text, encoding="utf-8")
    links = "".join(f'<li><a href="/news/2026/{pages[k][0]}">{k}</a></li>' for k in ("lights", "ferry"))
    (root / "index.html").write_text(f"<!doctype html><title>Harbour News</title><ul>{links}</ul>",
                                     encoding="utf-8")
    return {key: f"/news/2026/{name}" for key, (name, _) in pages.items()}


def build_render_archive(tmp: Path, *, pages: tuple[str, ...] = ("lights", "ferry", "hang")
                         ) -> dict[str, str]:
    """Serve the site, wget it into a WARC, ``morgue import`` it into ``tmp/data``; returns
    {page key: archived URL}."""
    from tests.conftest import run_morgue

    root = tmp / "site"
    paths = write_site(root)
    with DemoServer(root=root).start() as server:
        urls = {key: server.url(paths[key]) for key in pages}
        completed = subprocess.run(
            ["wget", "--quiet", "--page-requisites", "--compression=gzip", "--no-verbose", "--tries=1",
             f"--warc-file={tmp / 'site'}", "--no-warc-keep-log", "-P", str(tmp / "mirror"), *urls.values()],
            capture_output=True, text=True, timeout=120)
    # wget exits 8 when a requisite answered an error; the WARC holds everything fetched either way
    assert completed.returncode in (0, 8), completed.stderr
    result = run_morgue("import", str(tmp / "site.warc.gz"), "--data", str(tmp / "data"), "--all-pages")
    assert result.code == 0, result.stderr
    return urls
