"""A small HTTP server for the bundled demo news site (standard library only).

``morgue demo`` and the end-to-end tests crawl this site instead of the real web, so the server behaves
like a real news site where it matters to a crawler: conditional requests (ETag / Last-Modified -> 304),
gzip ``Content-Encoding`` when asked, a gzipped sitemap, a permanent redirect, a transiently failing page
(500 then 200), 404s, HEAD, and files read from disk on every request so a test can edit an article
between two crawls and see a new ETag.

Text files (html, xml, txt) may contain the placeholder ``{{BASE}}``; it is replaced by the server's real
origin (``http://127.0.0.1:PORT``) at serve time, also inside ``.gz`` files.

With ``as_of`` (``--as-of now``), every date the site shows is moved so that its newest article is from that
day (``morgue.demo_dates``): ``morgue demo`` serves it so, and a re-crawl of the demo behaves the same in any
year. Without it the files are served with their own dates (November 2026), which the tests rely on.

Run it as a subprocess with ``python -m morgue.demo_server [--root DIR] [--port 0] [--log FILE]
[--as-of now|DATE]``; it prints one line ``READY http://127.0.0.1:PORT`` when it is listening.

A second listener on another port stands for the site's image CDN (another origin, with its own
robots.txt): it serves the site's ``cdn/`` folder at its root, and ``{{CDN}}`` in text files is its origin.
Its requests are logged with the absolute URL as their path, so they never pass for the site's own.
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import hashlib
import io
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

from morgue.demo_dates import DateShift

__all__ = [
    "DEFAULT_ROOT",
    "FLAKY_PATHS",
    "DemoServer",
    "DemoSite",
    "LoggedRequest",
    "serve_site",
    "main",
]

#: The bundled site (package data), used when no ``root`` is given.
DEFAULT_ROOT: Path = Path(__file__).resolve().parent / "demo_site"

PLACEHOLDER = b"{{BASE}}"
CDN_PLACEHOLDER = b"{{CDN}}"
#: The folder of the site served by the second ("CDN") listener.
CDN_FOLDER = "cdn"

#: Paths that answer 500 on their first request and 200 afterwards (once per server instance), so the
#: crawler's retry logic is exercised.
FLAKY_PATHS: frozenset[str] = frozenset({"/news/2026/11/ferry-timetable-chaos.html"})

#: ``/old/<rest>`` is the site's pre-relaunch URL scheme; it answers 301 to ``/<rest>``.
REDIRECT_PREFIX = "/old/"

# Content types by suffix; text types get a charset and placeholder substitution.
_TEXT_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
}
# Feeds are recognised by name: real sites serve them with their specific media types.
_NAMED_TYPES: dict[str, str] = {
    "feed.xml": "application/rss+xml; charset=utf-8",
    "atom.xml": "application/atom+xml; charset=utf-8",
}
_BINARY_TYPES: dict[str, str] = {
    ".pdf": "application/pdf",
    ".gz": "application/gzip",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
}
# Only markup is compressed on the wire, as on a typical nginx setup (gzip_types).
_COMPRESSIBLE_SUFFIXES = frozenset({".html", ".htm", ".xml"})

_LOGGED_HEADERS = ("If-None-Match", "If-Modified-Since", "User-Agent", "Accept-Encoding")


class LoggedRequest(NamedTuple):
    """One request as the server saw it; tests assert on conditional headers and statuses."""

    method: str
    path: str  # raw request target, query string included
    headers: dict[str, str]  # only _LOGGED_HEADERS that were sent
    status: int


class _Resource(NamedTuple):
    body: bytes  # identity representation (placeholders substituted)
    content_type: str
    etag: str  # quoted strong ETag of ``body``
    mtime: float
    compressible: bool


def _content_type(path: Path) -> tuple[str, bool]:
    """Return (media type, is_text) for a file name."""
    if path.name in _NAMED_TYPES:
        return _NAMED_TYPES[path.name], True
    suffix = path.suffix.lower()
    if suffix in _TEXT_TYPES:
        return _TEXT_TYPES[suffix], True
    return _BINARY_TYPES.get(suffix, "application/octet-stream"), False


def _gzip(data: bytes) -> bytes:
    """Deterministic gzip (mtime 0) so the same content always yields the same bytes and ETag."""
    return gzip.compress(data, compresslevel=6, mtime=0)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "HarbourGazette/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silence the default stderr access log; requests go to ``request_log`` instead."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve(head=False)

    def do_HEAD(self) -> None:  # noqa: N802 - stdlib naming
        self._serve(head=True)

    # -- core -------------------------------------------------------------------------------------------

    def _serve(self, head: bool) -> None:
        site = self.server.site
        raw_path = self.path
        cdn = self.server is site._cdn_httpd
        path = unquote(urlsplit(raw_path).path) or "/"
        # The response is assembled in memory and sent after the request is logged, so that whoever has
        # read a response can count on finding its request in the log.
        connection, self.wfile = self.wfile, io.BytesIO()
        try:
            try:
                status = self._dispatch_cdn(site, path, head) if cdn else self._dispatch(site, path, head)
            except Exception:  # a broken demo page should not kill the connection silently
                status = self._send_simple(500, "Internal Server Error", head)
            response = self.wfile.getvalue()
        finally:
            self.wfile = connection
        site._record(self.command, site.cdn_url + raw_path if cdn else raw_path, self.headers, status)
        self.wfile.write(response)

    def _dispatch_cdn(self, site: DemoServer, path: str, head: bool) -> int:
        file = site._resolve("/" + CDN_FOLDER + path)
        if file is None or file.is_dir():
            return self._send_simple(404, "Not Found", head)
        return self._send_resource(site._load(file), head)

    def _dispatch(self, site: DemoServer, path: str, head: bool) -> int:
        if path.startswith(REDIRECT_PREFIX):
            return self._redirect(site.base_url + "/" + path[len(REDIRECT_PREFIX) :], head)
        path = site.dates.original_path(path)
        if path is None:  # an article's pre-shift address
            return self._send_simple(404, "Not Found", head)
        if path in FLAKY_PATHS and site._first_hit(path):
            return self._send_simple(500, "Internal Server Error: upstream timeout, please retry", head)
        file = site._resolve(path)
        if file is None:
            return self._send_simple(404, "Not Found", head)
        if file.is_dir():
            return self._redirect(site.base_url + path + "/", head)
        res = site._load(file)
        return self._send_resource(res, head)

    def _send_resource(self, res: _Resource, head: bool) -> int:
        use_gzip = res.compressible and _accepts_gzip(self.headers.get("Accept-Encoding", ""))
        etag = res.etag[:-1] + '-gzip"' if use_gzip else res.etag
        last_modified = email.utils.formatdate(res.mtime, usegmt=True)
        if self._not_modified(res, etag):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            self.send_header("Cache-Control", "public, max-age=60")
            if res.compressible:
                self.send_header("Vary", "Accept-Encoding")
            self.end_headers()
            return 304
        body = _gzip(res.body) if use_gzip else res.body
        self.send_response(200)
        self.send_header("Content-Type", res.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        self.send_header("Cache-Control", "public, max-age=60")
        if res.compressible:
            self.send_header("Vary", "Accept-Encoding")
        if use_gzip:
            self.send_header("Content-Encoding", "gzip")
        self.end_headers()
        if not head:
            self.wfile.write(body)
        return 200

    def _not_modified(self, res: _Resource, etag: str) -> bool:
        """RFC 9110 precedence: If-None-Match wins; If-Modified-Since only when it is absent."""
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            if inm.strip() == "*":
                return True
            wanted = {_strip_etag(tag) for tag in inm.split(",")}
            return _strip_etag(etag) in wanted or _strip_etag(res.etag) in wanted
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError, IndexError):
                return False
            return int(res.mtime) <= int(since)
        return False

    def _redirect(self, location: str, head: bool) -> int:
        body = f'<html><body>Moved to <a href="{location}">{location}</a></body></html>'.encode()
        self.send_response(301)
        self.send_header("Location", location)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
        return 301

    def _send_simple(self, status: int, message: str, head: bool) -> int:
        body = f"<html><head><title>{status}</title></head><body><h1>{message}</h1></body></html>\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if not head:
            self.wfile.write(body)
        return status


def _accepts_gzip(header: str) -> bool:
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "x-gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and q[2:].strip() in ("0", "0.0", "0.00", "0.000"))
    return False


def _strip_etag(tag: str) -> str:
    """Compare ETags weakly and ignore the -gzip suffix: both representations share one resource."""
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    return tag.removesuffix("-gzip")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    site: DemoServer


class DemoServer:
    """The demo site served over HTTP from a background thread.

    Use as a context manager or call :meth:`close`. ``request_log`` lists every request (method, raw
    path, selected request headers, status) so tests can check what a crawler fetched and how.
    """

    def __init__(
        self,
        root: Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        on_request: Callable[[LoggedRequest], None] | None = None,
        as_of: datetime | None = None,
    ) -> None:
        self.root: Path = Path(root).resolve() if root is not None else DEFAULT_ROOT
        if not self.root.is_dir():
            raise FileNotFoundError(f"demo site root not found: {self.root}")
        self.dates: DateShift = DateShift(0) if as_of is None else DateShift.as_of(self.root, as_of)
        self.request_log: list[LoggedRequest] = []
        self._on_request = on_request
        self._lock = threading.Lock()
        self._hit: set[str] = set()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.site = self
        self._cdn_httpd = _HTTPServer((host, 0), _Handler)
        self._cdn_httpd.site = self
        self.host: str = host
        self.port: int = self._httpd.server_address[1]
        self.base_url: str = f"http://{host}:{self.port}"
        self.cdn_url: str = f"http://{host}:{self._cdn_httpd.server_address[1]}"
        self._thread: threading.Thread | None = None
        self._cdn_thread = threading.Thread(target=self._cdn_httpd.serve_forever,
                                            kwargs={"poll_interval": 0.1}, daemon=True)
        self._cdn_thread.start()

    # -- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> DemoServer:
        """Serve in a daemon thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread (subprocess mode)."""
        self._httpd.serve_forever(poll_interval=0.1)

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        self._close_cdn()

    def _close_cdn(self) -> None:
        if self._cdn_thread.is_alive():
            self._cdn_httpd.shutdown()
            self._cdn_thread.join(timeout=5)
        self._cdn_httpd.server_close()

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def url(self, path: str) -> str:
        """Absolute URL for a site path such as ``/news/``."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def requests_for(self, path: str) -> list[LoggedRequest]:
        """Logged requests whose path (query string ignored) equals ``path``."""
        with self._lock:
            return [r for r in self.request_log if urlsplit(r.path).path == path]

    # -- internals used by the handler -------------------------------------------------------------------

    def _record(self, method: str, raw_path: str, headers: Message, status: int) -> None:
        selected = {name: str(headers[name]) for name in _LOGGED_HEADERS if headers[name] is not None}
        entry = LoggedRequest(method, raw_path, selected, status)
        with self._lock:
            self.request_log.append(entry)
        if self._on_request is not None:
            self._on_request(entry)

    def _first_hit(self, path: str) -> bool:
        with self._lock:
            if path in self._hit:
                return False
            self._hit.add(path)
            return True

    def _resolve(self, path: str) -> Path | None:
        """Map a URL path to a file under root (``/x/`` -> ``/x/index.html``); None if missing or outside."""
        rel = path.lstrip("/")
        candidate = (self.root / rel).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            return None
        if candidate.is_dir():
            if not path.endswith("/"):
                return candidate  # caller redirects to the slash form
            candidate = candidate / "index.html"
        if not candidate.is_file():
            return None
        return candidate

    def _load(self, file: Path) -> _Resource:
        """Read the file now (so edits show up on the next fetch) and substitute the origin."""
        raw = file.read_bytes()
        mtime = file.stat().st_mtime
        ctype, is_text = _content_type(file)
        base, cdn = self.base_url.encode(), self.cdn_url.encode()
        if is_text:
            raw = self.dates.apply(raw.replace(PLACEHOLDER, base).replace(CDN_PLACEHOLDER, cdn))
        elif file.suffix.lower() == ".gz":
            raw = _gzip(self.dates.apply(gzip.decompress(raw).replace(PLACEHOLDER, base)
                                         .replace(CDN_PLACEHOLDER, cdn)))
        etag = '"' + hashlib.sha1(raw).hexdigest()[:20] + '"'
        compressible = is_text and file.suffix.lower() in _COMPRESSIBLE_SUFFIXES
        return _Resource(raw, ctype, etag, mtime, compressible)


#: Alias: the brief calls the running site ``DemoSite``.
DemoSite = DemoServer


def serve_site(root: Path | str | None = None, host: str = "127.0.0.1", port: int = 0,
               as_of: datetime | None = None) -> DemoServer:
    """Start the demo site in a background thread and return the running server."""
    return DemoServer(root, host, port, as_of=as_of).start()


def _moment(text: str) -> datetime:
    """``now`` or an ISO date/time (UTC unless it says otherwise), for ``--as-of``."""
    if text == "now":
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not 'now' or an ISO date: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    """Subprocess entry point: print ``READY <base_url>`` once listening, serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m morgue.demo_server", description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="site directory (default: bundled site)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--log", type=Path, default=None, help="append one JSON line per request")
    parser.add_argument("--as-of", type=_moment, default=None, metavar="now|DATE",
                        help="move the site's dates so that its newest article is from that day")
    args = parser.parse_args(argv)

    log_lock = threading.Lock()

    def write_log(entry: LoggedRequest) -> None:
        line = {
            "method": entry.method,
            "path": entry.path,
            "status": entry.status,
            "if_none_match": entry.headers.get("If-None-Match"),
            "if_modified_since": entry.headers.get("If-Modified-Since"),
            "user_agent": entry.headers.get("User-Agent"),
            "time": time.time(),
        }
        with log_lock, open(args.log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    server = DemoServer(args.root, args.host, args.port, on_request=write_log if args.log else None,
                        as_of=args.as_of)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"READY {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()
        server._close_cdn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
