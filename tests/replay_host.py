"""A page that embeds ReplayWeb.page (``ui.js`` + the ``sw.js`` service worker, self-hosted as its
embedding guide says) and the WACZ it opens, served from 127.0.0.1 for the replay test.

The WACZ answers HTTP Range requests (ReplayWeb.page reads the ZIP's directory, the index blocks and the
WARC records by range). Every path under the replay base except ``sw.js`` answers 404: the service worker
serves those, and a 200 there (a directory listing) on the first load, before the worker took over, left
the replay stuck on it (webrecorder/replayweb.page#412). ``requests`` records every path asked for.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.conftest import REPO

__all__ = ["ReplayHost", "replaywebpage_dir", "serve_replay"]

FETCH_SCRIPT = REPO / "tests" / "replay" / "fetch-replaywebpage.sh"
REPLAY_BASE = "/replay/"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def replaywebpage_dir() -> Path:
    """ui.js and sw.js: ``$MORGUE_REPLAYWEBPAGE`` (.ci/run fetches them there), else a user cache that
    the fetch script fills with ``npm pack`` on first use. Raises RuntimeError saying what is missing."""
    configured = os.environ.get("MORGUE_REPLAYWEBPAGE")
    target = Path(configured) if configured else Path.home() / ".cache" / "morgue-tests" / "replaywebpage"
    if not (target / "sw.js").is_file():
        try:
            subprocess.run(["bash", str(FETCH_SCRIPT), str(target)], check=True, capture_output=True,
                           text=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", "") or exc
            raise RuntimeError(f"ReplayWeb.page is not in {target} and {FETCH_SCRIPT.name} could not "
                               f"fetch it with npm: {detail}") from None
    return target


@dataclass
class ReplayHost:
    base_url: str
    requests: list[str] = field(default_factory=list)

    def embed_url(self, url: str, ts: str = "") -> str:
        """The host page embedding ReplayWeb.page on ``url`` at ``ts`` (14 digits; empty: the latest)."""
        return f"{self.base_url}/embed.html?" + urlencode({"url": url, "ts": ts})

    def pages_url(self) -> str:
        """The host page embedding ReplayWeb.page's whole interface on no page: its list of pages."""
        return f"{self.base_url}/embed.html?" + urlencode({"embed": "default"})


def _handler(rwp: Path, wacz: Path, host: ReplayHost) -> type[BaseHTTPRequestHandler]:
    scripts = {"/ui.js": rwp / "ui.js", REPLAY_BASE + "sw.js": rwp / "sw.js"}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

        def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            host.requests.append(parts.path)
            if parts.path == "/embed.html":
                query = parse_qs(parts.query)
                page = _embed_page(query.get("url", [""])[0], query.get("ts", [""])[0],
                                   query.get("embed", ["replayonly"])[0])
                self._send(200, "text/html; charset=utf-8", page.encode("utf-8"))
            elif parts.path in scripts:
                self._send(200, "application/javascript", scripts[parts.path].read_bytes())
            elif parts.path == "/export.wacz":
                self._send_file(wacz, "application/wacz")
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _send_file(self, path: Path, content_type: str) -> None:
            size = path.stat().st_size
            start, end = 0, size - 1
            asked = self.headers.get("Range")
            match = _RANGE.match(asked.strip()) if asked else None
            if asked and (match is None or not any(match.groups())):
                self._send(416, "text/plain", b"bad range\n")
                return
            if match:
                first, last = match.groups()
                if first:
                    start, end = int(first), min(int(last), size - 1) if last else size - 1
                else:
                    start = max(size - int(last), 0)
                if start > end:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            self.send_response(206 if match else 200)
            self.send_header("Content-Type", content_type)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if match:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if self.command == "HEAD":
                return
            with open(path, "rb") as fh:
                fh.seek(start)
                self.wfile.write(fh.read(end - start + 1))

    return Handler


def _embed_page(url: str, ts: str, embed: str = "replayonly") -> str:
    attrs = {"source": "/export.wacz", "replayBase": REPLAY_BASE, "embed": embed, "coll": "export"}
    if url:
        attrs.update(url=url, ts=ts)
    rendered = " ".join(f'{name}="{html.escape(value)}"' for name, value in attrs.items())
    return ("<!doctype html><html><head><meta charset='utf-8'><title>morgue WACZ replay</title>"
            "<script src='/ui.js'></script></head><body style='margin:0'>"
            f"<replay-web-page style='display:block;width:1200px;height:860px' {rendered}>"
            "</replay-web-page></body></html>")


@contextmanager
def serve_replay(rwp: Path, wacz: Path) -> Iterator[ReplayHost]:
    """The replay host on a free port of 127.0.0.1, in a thread, for the duration of the block."""
    host = ReplayHost(base_url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(rwp, wacz, host))
    host.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
