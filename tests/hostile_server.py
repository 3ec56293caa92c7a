"""A hostile news site for fault tests: one path per way a server can hurt a crawler, plus normal articles.

Run as ``python tests/hostile_server.py --port 0 [--articles N] [--delay S]``; prints
``READY http://127.0.0.1:PORT``. ``/sitemap.xml`` lists every hostile page and the first five normal
articles; ``/normal-sitemap.xml`` lists all N normal articles (a bigger site to kill a crawl in). With
``--hold FILE`` it also lists ``/articles/held.html``, which is answered only once FILE exists: a crawl
of it keeps running until the test says so, however fast the machine is.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BOMB_SIZE = 2 * 1024**3  # what the gzip bomb inflates to

HOSTILE = {
    "/articles/bomb.html": "gzip bomb (2 GiB of zeros when decompressed)",
    "/articles/loop-a.html": "redirect loop a -> b -> a",
    "/articles/self-loop.html": "redirects to itself",
    "/articles/random.html": "random bytes as text/html",
    "/articles/latin1.html": "Latin-1 without a charset",
    "/articles/cp1252.html": "Windows-1252 without a charset",
    "/articles/huge.html": "a 30 MB page",
    "/articles/nested.html": "20,000 nested elements",
    "/articles/empty.html": "an empty body",
    "/articles/short.html": "a body shorter than its Content-Length",
    "/articles/stall.html": "a server that stops answering",
    "/articles/report.pdf": "a PDF linked as an article",
}

LATIN1_WORD = "Señora Müller's café"
CP1252_WORD = "“smart quotes” cost 5 €"


def marker(n: int) -> str:
    """A word unique to normal article ``n`` (letters only, so full-text search finds it whole)."""
    letters = ""
    n += 26 * 26
    while n:
        n, r = divmod(n, 26)
        letters = chr(97 + r) + letters
    return "kestrel" + letters


_WORDS = ("harbour council ferry tide lighthouse fishing quay storm budget school market river bridge "
          "museum festival winter summer harvest election mayor report residents coast weather train").split()


def article_html(n: int, *, title: str | None = None, extra: str = "", charset_meta: bool = True) -> str:
    rng = random.Random(n)
    paragraphs = []
    for p in range(6):
        words = [rng.choice(_WORDS) for _ in range(45)]
        if p == 2:
            words.insert(20, marker(n))
        paragraphs.append("<p>" + " ".join(words).capitalize() + ".</p>")
    head_title = title or f"Harbour report {n}"
    meta = '<meta charset="utf-8">' if charset_meta else ""
    return (f"<!doctype html><html lang=\"en\"><head>{meta}<title>{head_title}</title>"
            f'<meta property="og:title" content="{head_title}">'
            '<meta property="article:published_time" content="2020-01-15T09:00:00Z"></head><body>'
            '<header><nav><a href="/">Home</a> <a href="/news/">News</a></nav></header>'
            f"<main><article><h1>{head_title}</h1><p class=\"byline\">By Ada Quayle</p>{extra}"
            + "".join(paragraphs) + "</article></main><footer>The Hostile Herald</footer></body></html>")


def _sitemap(base: str, paths: list[str]) -> bytes:
    urls = "".join(f"<url><loc>{base}{p}</loc></url>" for p in paths)
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{urls}</urlset>").encode()


class _State:
    articles = 5
    delay = 0.0
    hold = ""  # a file whose existence releases /articles/held.html
    bomb: bytes | None = None


def gzip_bomb() -> bytes:
    """BOMB_SIZE zero bytes, gzipped (about 2 MB)."""
    if _State.bomb is None:
        compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
        chunk = bytes(1 << 22)
        parts = [compressor.compress(chunk) for _ in range(BOMB_SIZE // len(chunk))]
        parts.append(compressor.flush())
        _State.bomb = b"".join(parts)
    return _State.bomb


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        return

    def _send(self, status: int, body: bytes, content_type: str = "text/html", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if _State.delay:
            time.sleep(_State.delay)
        base = f"http://{self.headers.get('Host')}"
        path = self.path.split("?", 1)[0]
        normal = [f"/articles/normal-{n}.html" for n in range(_State.articles)]
        if path == "/robots.txt":
            self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
        elif path == "/sitemap.xml":
            self._send(200, _sitemap(base, [*HOSTILE, *normal[:5]]), "application/xml")
        elif path == "/normal-sitemap.xml":
            held = ["/articles/held.html"] if _State.hold else []
            self._send(200, _sitemap(base, [*normal, *held]), "application/xml")
        elif path == "/articles/held.html" and _State.hold:
            while not Path(_State.hold).exists():
                time.sleep(0.05)
            self._send(200, article_html(1005).encode(), "text/html; charset=utf-8")
        elif path == "/bulky-sitemap.xml":  # articles between incompressible pages: fills a disk fast
            bulky = [p for n, a in enumerate(normal) for p in (a, f"/bulky/{n}.html")]
            self._send(200, _sitemap(base, bulky), "application/xml")
        elif path.startswith("/bulky/"):
            seed = sum(path.encode())
            self._send(200, random.Random(seed).randbytes(3_000_000), "text/html")
        elif path.startswith("/articles/normal-"):
            try:
                n = int(path.removeprefix("/articles/normal-").removesuffix(".html"))
            except ValueError:
                n = -1
            if 0 <= n < _State.articles:
                self._send(200, article_html(n).encode(), "text/html; charset=utf-8")
            else:
                self._send(404, b"not found")
        elif path == "/articles/bomb.html":
            self._send(200, gzip_bomb(), "text/html; charset=utf-8", Content_Encoding="gzip")
        elif path == "/articles/loop-a.html":
            self._send(302, b"", Location=f"{base}/articles/loop-b.html")
        elif path == "/articles/loop-b.html":
            self._send(302, b"", Location=f"{base}/articles/loop-a.html")
        elif path == "/articles/self-loop.html":
            self._send(301, b"", Location=f"{base}/articles/self-loop.html")
        elif path == "/articles/random.html":
            self._send(200, random.Random(8).randbytes(200_000), "text/html")
        elif path == "/articles/latin1.html":
            body = article_html(1001, title="Latin-1 page", extra=f"<p>{LATIN1_WORD} reopened.</p>",
                                charset_meta=False)
            self._send(200, body.encode("latin-1"), "text/html")
        elif path == "/articles/cp1252.html":
            body = article_html(1002, title="Windows page", extra=f"<p>{CP1252_WORD} at the quay.</p>",
                                charset_meta=False)
            self._send(200, body.encode("cp1252"), "text/html")
        elif path == "/articles/huge.html":
            filler = "<p>" + "harbour " * 120 + "</p>\n"
            body = article_html(1003, extra=filler * (30 * 1024 * 1024 // len(filler)))
            self._send(200, body.encode(), "text/html; charset=utf-8")
        elif path == "/articles/nested.html":
            body = ("<html><head><title>Nested</title></head><body>" + "<div>" * 20000
                    + "<p>deep inside the harbour</p>" + "</div>" * 20000 + "</body></html>")
            self._send(200, body.encode(), "text/html; charset=utf-8")
        elif path == "/articles/empty.html":
            self._send(200, b"", "text/html; charset=utf-8")
        elif path == "/articles/short.html":
            body = article_html(1004).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body) + 50_000))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
        elif path == "/articles/stall.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"<html><head><title>Stalled</title></head><body><p>")
            self.wfile.flush()
            time.sleep(120)
            self.close_connection = True
        elif path == "/articles/report.pdf":
            pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
            self._send(200, pdf, "application/pdf")
        elif path == "/":
            links = "".join(f'<a href="{p}">{p}</a> ' for p in normal[:5])
            self._send(200, f"<html><body><h1>The Hostile Herald</h1>{links}</body></html>".encode())
        else:
            self._send(404, b"<html><body>not found</body></html>")


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client killed mid-request (the crash tests do that) is expected here


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--articles", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--bomb", action="store_true", help="build the gzip bomb before READY (~7 s)")
    parser.add_argument("--hold", default="", help="answer /articles/held.html once this file exists")
    args = parser.parse_args(argv)
    if args.bomb:
        gzip_bomb()
    _State.articles = args.articles
    _State.delay = args.delay
    _State.hold = args.hold
    server = _QuietServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


@contextlib.contextmanager
def running(*args: str) -> Iterator[str]:
    """This server in a subprocess (for tests): yields its base URL, kills it afterwards."""
    process = subprocess.Popen([sys.executable, __file__, "--port", "0", *args], stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"hostile server did not start: {line!r}")
    try:
        yield line.split(" ", 1)[1]
    finally:
        process.kill()
        process.wait(timeout=10)


if __name__ == "__main__":
    main()


__all__ = ["HOSTILE", "LATIN1_WORD", "CP1252_WORD", "article_html", "gzip_bomb", "marker", "main"]
