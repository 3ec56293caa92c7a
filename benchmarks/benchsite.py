"""A local news site for benchmarks: real article pages (the shared corpus when present, else the demo
site's articles) repeated under distinct URLs up to N pages, listed in sitemaps, served by a subprocess."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parents[1]


def corpus_pages() -> list[bytes]:
    """Page bytes as captured: ../shared/corpus (all sets) if present, else the demo site's articles."""
    shared = Path(os.environ.get("MORGUE_SHARED") or REPO.parent / "shared") / "corpus"
    pages: list[bytes] = []
    if shared.is_dir():
        for path in sorted(shared.glob("*/*.html.gz")):
            pages.append(gzip.decompress(path.read_bytes()))
    else:
        demo = REPO / "morgue" / "demo_site"
        for path in sorted(demo.glob("*/20*/*/*.html")):
            pages.append(path.read_bytes().replace(b"{{BASE}}", b""))
    return pages


def site_pages(key: str) -> list[bytes]:
    """The pages of one site and period of ../shared/sites (``name:period``, e.g. ``cnn:2013``): a site in
    one template, as a real crawl of one publisher sees it."""
    name, _, period = key.partition(":")
    shared = Path(os.environ.get("MORGUE_SHARED") or REPO.parent / "shared") / "sites"
    pages = []
    for meta_path in sorted(shared.glob("*/*.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("site") == name and (not period or str(meta.get("period")) == period):
            pages.append(gzip.decompress(meta_path.with_name(meta_path.name[:-5] + ".html.gz").read_bytes()))
    if not pages:
        raise SystemExit(f"no pages of {key!r} under {shared}")
    return pages


def one_template_pages(count: int) -> list[bytes]:
    """``count`` articles in exactly one design: one demo article, each copy's headline and paragraphs
    numbered apart. Whichever pages a crawl learns the site's template from, it learns the same one, so
    crawls that see the pages in different orders (a cluster's workers, one machine) build one index."""
    import re

    demo = REPO / "morgue" / "demo_site"
    page = sorted(demo.glob("news/20*/*/*.html"))[0].read_bytes().replace(b"{{BASE}}", b"")
    return [re.sub(rb"</(p|h1)>", b" (%d)</\\1>" % i, page) for i in range(count)]


def build_site(root: Path, count: int, site: str | None = None) -> list[str]:
    """Write ``count`` pages under root/a/ and sitemaps listing them; returns the page paths. The pages
    are the whole corpus (many publishers, so no common template), one ``site`` of shared/sites, or
    (``site="one-template"``) ``one_template_pages``."""
    if site == "one-template":
        pages = one_template_pages(count)
    else:
        pages = site_pages(site) if site else corpus_pages()
    (root / "a").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = f"/a/{i:06d}-story.html"
        (root / path.lstrip("/")).write_bytes(pages[i % len(pages)])
        paths.append(path)
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    return paths


def build_styled_site(root: Path, count: int) -> list[str]:
    """``count`` pages made from the demo site's articles, each naming the demo's shared style sheet (with
    its @import and web font) and logo, and 2 or 3 photos of its own (about 30 KB each, incompressible
    like real JPEGs); returns the page paths."""
    import random
    import re
    import shutil

    demo = REPO / "morgue" / "demo_site"
    shutil.copytree(demo / "static", root / "static", dirs_exist_ok=True)
    articles = [re.sub(rb'<figure class="photo">.*?</figure>\n?', b"",
                       p.read_bytes().replace(b"{{BASE}}", b"").replace(b"{{CDN}}", b""))
                for p in sorted(demo.glob("*/20*/*/*.html"))]
    (root / "a").mkdir(parents=True, exist_ok=True)
    (root / "img").mkdir(parents=True, exist_ok=True)
    rng = random.Random(14)
    png_head = b"\x89PNG\r\n\x1a\n"
    paths = []
    for i in range(count):
        photos = []
        for k in range(2 + i % 2):
            name = f"/img/{i:06d}-{k}.png"
            (root / name.lstrip("/")).write_bytes(png_head + rng.randbytes(30_000))
            photos.append(f'<figure><img src="{name}" alt="" width="640" height="360"></figure>')
        page = articles[i % len(articles)].replace(
            b'<div class="article-body', "".join(photos).encode() + b'<div class="article-body', 1)
        path = f"/a/{i:06d}-story.html"
        (root / path.lstrip("/")).write_bytes(page)
        paths.append(path)
    (root / "robots.txt").write_text("User-agent: *\nAllow: /\n")
    return paths


def write_sitemaps(root: Path, base: str, paths: list[str], per_file: int = 5000) -> str:
    """A sitemap index over sitemaps of ``per_file`` URLs; returns the index URL."""
    names = []
    for n in range(0, len(paths), per_file):
        name = f"sitemap-{n // per_file}.xml"
        urls = "".join(f"<url><loc>{escape(base + p)}</loc></url>" for p in paths[n : n + per_file])
        (root / name).write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns='
            f'"http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
        )
        names.append(name)
    index = "".join(f"<sitemap><loc>{base}/{name}</loc></sitemap>" for name in names)
    (root / "sitemap_index.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns='
        f'"http://www.sitemaps.org/schemas/sitemap/0.9">{index}</sitemapindex>'
    )
    return f"{base}/sitemap_index.xml"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(root: Path, protocol: str = "HTTP/1.0") -> tuple[subprocess.Popen[bytes], str]:
    """Serve root with the standard library's threading HTTP server in another process. Its default
    HTTP/1.0 closes the connection after every response; with ``protocol="HTTP/1.1"`` connections are kept
    alive and Nagle's algorithm is off (TCP_NODELAY), as web servers and CDNs serve: without it every
    response on a kept connection waits ~40 ms for the delayed ACK of its header packet."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, str(port), str(root), protocol],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/robots.txt", timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    return process, base


def _serve_forever(port: int, root: str, protocol: str) -> None:
    """``python -m http.server --protocol PROTOCOL``, with TCP_NODELAY on kept-alive connections."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Handler(SimpleHTTPRequestHandler):
        protocol_version = protocol
        disable_nagle_algorithm = protocol == "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            return

    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=root))
    server.serve_forever()


if __name__ == "__main__":
    _serve_forever(int(sys.argv[1]), sys.argv[2], sys.argv[3])
