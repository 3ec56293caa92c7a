"""A news site whose pages need style sheets, fonts and images, some of them hostile, on two hosts.

Served in a thread of the test process: the main site on 127.0.0.1 and a "CDN" on 127.0.0.2 (another
loopback address, so another host with its own robots.txt). Static files answer ETag / 304, so re-crawls
can be checked for conditional requisite fetches. The 200 MB image is generated as it is sent.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.hostile_server import article_html

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5d2b2e90000000049454e44ae426082")
WOFF2 = b"wOF2" + bytes(60)  # only sniffed, never rendered, in the crawl tests
HUGE = 200 * 1024 * 1024


@dataclass
class SiteState:
    cdn: str = ""  # base URL of the second host
    pages: list[str] = field(default_factory=lambda: ["/news/styled.html", "/news/bad.html",
                                                      "/news/many.html"])  # what the sitemap lists
    log: list[tuple[str, str, int]] = field(default_factory=list)  # (host, path, status)
    favicon: bool = True  # whether the site serves /favicon.ico (False: 404)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # while set, every requisite request (on either host) is held unanswered until this event is set
    hold: threading.Event | None = None
    held: int = 0  # requisite requests that were held
    edition: int = 1  # above 1: the styled pages are edited (new text, one more image, a new ETag)
    flaky: int = 0  # times /img/flaky.png was asked for (the first gets a 503)


_REQUISITE_PATHS = ("/css/", "/img/", "/fonts/", "/photos/", "/private/", "/js/", "/favicon.ico")


def _styled(state: SiteState) -> str:
    head = ('<link rel="stylesheet" href="/css/site.css"><link rel="icon" href="/favicon.ico">'
            '<link rel="preload" as="font" href="/fonts/serif.woff2" crossorigin>'
            '<script src="/js/app.js"></script>')
    body = ('<img id="logo" src="/img/logo.png" srcset="/img/logo.png 1x, /img/logo@2x.png 2x" alt="logo">'
            '<img id="lazy" data-src="/img/lazy.png" alt="">'
            f'<img id="cdn" src="{state.cdn}/photos/harbour.png" alt="">'
            f'<img src="{state.cdn}/private/secret.png" alt="">'
            '<img src="data:image/png;base64,iVBORw0KGgo=" alt=""><img src="javascript:alert(1)" alt="">')
    if state.edition > 1:
        body += f'<p>Corrected in edition {state.edition}.</p><img id="edited" src="/img/plain.png" alt="">'
    return article_html(1, title="Styled harbour report", extra=body).replace("</head>", head + "</head>")


def _bad() -> str:
    body = ('<link rel="stylesheet" href="/css/site.css">'
            '<img src="/img/huge.png"><img src="/img/missing.png">'
            '<img src="/img/fake.png"><img src="/img/stall.png">')
    return article_html(2, title="Hostile images report", extra=body)


def _handback() -> str:
    """Requisites the fetcher process hands back to Scrapy (a redirect, a 503, a truncated body) and a
    gzipped style sheet it reads itself."""
    body = ('<link rel="stylesheet" href="/css/gz.css">'
            '<img src="/img/moved.png"><img src="/img/flaky.png"><img src="/img/short.png">')
    return article_html(8, title="Handed back report", extra=body)


def _many() -> str:
    imgs = "".join(f'<img src="/img/many/{n}.png">' for n in range(5000))
    return article_html(3, title="Five thousand pictures report", extra=imgs)


_CSS = {
    "/css/site.css": '@import url("a.css");\nbody{background:#fff url(/img/bg.png)}\n'
                     '@font-face{font-family:House;src:url(/fonts/serif.woff2) format("woff2")}\n',
    "/css/a.css": '@import "b.css";\nh1{color:#0b3d5c}\n',
    "/css/b.css": "@import url(a.css);\np{margin:0}\n",  # back to a.css: an @import loop
}


def handler_for(state: SiteState, cdn: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            return

        def _send(self, status: int, body: bytes, content_type: str, etag: bool = False) -> None:
            tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if etag and self.headers.get("If-None-Match") == tag:
                self._log(304)
                self.send_response(304)
                self.send_header("ETag", tag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._log(status)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if etag:
                self.send_header("ETag", tag)
            self.end_headers()
            self.wfile.write(body)

        def _log(self, status: int) -> None:
            with state.lock:
                state.log.append(("cdn" if cdn else "site", self.path, status))

        def _stream(self, total: int | None) -> None:
            """A PNG header and then zeros, never held in memory or on disk whole."""
            self._log(200)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            if total is not None:
                self.send_header("Content-Length", str(total))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            chunk = bytes(1 << 20)
            sent = 0
            with contextlib.suppress(OSError):
                self.wfile.write(PNG[:16])
                while sent < (total or HUGE):
                    self.wfile.write(chunk)
                    sent += len(chunk)

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            path = self.path.split("?")[0]
            hold = state.hold
            if hold is not None and path.startswith(_REQUISITE_PATHS):
                with state.lock:
                    state.held += 1
                hold.wait(300)
            if cdn:
                if path == "/robots.txt":
                    return self._send(200, b"User-agent: *\nDisallow: /private/\n", "text/plain")
                if path.startswith("/photos/"):
                    return self._send(200, PNG, "image/png", etag=True)
                return self._send(404, b"not here", "text/plain")
            pages = {"/news/styled.html": _styled, "/news/bad.html": lambda s: _bad(),
                     "/news/many.html": lambda s: _many(),
                     "/news/handback.html": lambda s: _handback(),
                     "/news/endless.html": lambda s: article_html(
                         4, title="Endless image report", extra='<img src="/img/endless.png">'),
                     "/news/second.html": lambda s: _styled(s).replace("Styled harbour", "Second styled"),
                     # articles that name no icon (a browser asks the host for /favicon.ico)
                     "/news/plain-1.html": lambda s: article_html(
                         5, title="Plain report one", extra='<img src="/img/plain.png">'),
                     "/news/plain-2.html": lambda s: article_html(6, title="Plain report two"),
                     "/news/plain-3.html": lambda s: article_html(7, title="Plain report three")}
            if path == "/robots.txt":
                return self._send(200, b"User-agent: *\nAllow: /\n", "text/plain")
            if path == "/sitemap.xml":
                urls = "".join(f"<url><loc>http://{self.headers['Host']}{p}</loc></url>"
                               for p in state.pages)
                body = ('<?xml version="1.0" encoding="UTF-8"?><urlset '
                        f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>')
                return self._send(200, body.encode(), "application/xml")
            if path in pages:
                return self._send(200, pages[path](state).encode(), "text/html; charset=utf-8", etag=True)
            if path in _CSS:
                return self._send(200, _CSS[path].encode(), "text/css", etag=True)
            if path == "/img/moved.png":
                self._log(302)
                self.send_response(302)
                self.send_header("Location", "/img/target.png")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if path == "/img/flaky.png":  # 503 the first time it is asked for
                with state.lock:
                    state.flaky += 1
                    first = state.flaky == 1
                if first:
                    return self._send(503, b"busy", "text/plain")
                return self._send(200, PNG, "image/png")
            if path == "/img/short.png":  # ends before its Content-Length
                self._log(200)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG) * 4))
                self.send_header("Connection", "close")
                self.close_connection = True
                self.end_headers()
                self.wfile.write(PNG)
                return None
            if path == "/css/gz.css":
                css = gzip.compress(b"body { background: url(/img/from-gzip.png) }")
                self._log(200)
                self.send_response(200)
                self.send_header("Content-Type", "text/css")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(css)))
                self.end_headers()
                self.wfile.write(css)
                return None
            if path == "/img/huge.png":
                return self._stream(HUGE)
            if path == "/img/endless.png":
                return self._stream(None)
            if path == "/img/fake.png":
                return self._send(200, b"<html><body>Sorry, image not found</body></html>", "image/png")
            if path == "/img/stall.png":
                time.sleep(60)  # far past any timeout the tests set: a timeout, whatever the load
                return self._send(200, PNG, "image/png")
            if path.startswith("/fonts/"):
                return self._send(200, WOFF2, "font/woff2", etag=True)
            if (path.startswith("/img/") and path != "/img/missing.png"
                    or path == "/favicon.ico" and state.favicon):
                return self._send(200, PNG, "image/png", etag=True)
            if path == "/js/app.js":
                return self._send(200, b"window.top.location='http://example.invalid/'", "text/javascript")
            return self._send(404, b"<html><body>not found</body></html>", "text/html")

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a crawler hanging up on a capped download is expected here


def stop_holding(state: SiteState, release: threading.Event, proc: subprocess.Popen[Any]) -> None:
    """Answer what the site holds and make sure the crawl's process group is gone (a failed test's too)."""
    release.set()
    state.hold = None
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@contextlib.contextmanager
def serving() -> Iterator[tuple[str, SiteState]]:
    """The site (base URL) and its CDN, each in a thread; yields (base URL, shared state)."""
    state = SiteState()
    cdn = _QuietServer(("127.0.0.2", 0), handler_for(state, cdn=True))
    site = _QuietServer(("127.0.0.1", 0), handler_for(state, cdn=False))
    state.cdn = f"http://127.0.0.2:{cdn.server_address[1]}"
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (cdn, site)]
    for thread in threads:
        thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}", state
    finally:
        for server in (site, cdn):
            server.shutdown()
            server.server_close()
