"""A real Redis server for cluster tests (Debian's redis-server) on a free loopback port, and a news site
of a few hundred article pages whose server logs when each request starts and ends."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(name="redis_url")
def redis_server_fixture(tmp_path: Path) -> Iterator[str]:
    """redis://127.0.0.1:PORT/0 of a private redis-server; fails (not skips) when MORGUE_REQUIRE_REDIS=1."""
    debian = Path("/usr/bin/redis-server")
    binary = shutil.which("redis-server") or (str(debian) if debian.exists() else None)
    if binary is None:
        if os.environ.get("MORGUE_REQUIRE_REDIS") == "1":
            pytest.fail("redis-server is required here (MORGUE_REQUIRE_REDIS=1) but missing")
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    port = _free_port()
    # Redis keeps its own clock (the politeness leases use its TIME), so it runs on the real one even when
    # the suite runs under libfaketime, whose clock_gettime() it cannot start with (jemalloc recursion).
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME", "FAKETIME_NO_CACHE")}
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


_SERVER = r'''
import json, sys, threading, time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from functools import partial
root, log, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])
lock = threading.Lock()
class H(SimpleHTTPRequestHandler):
    status = None
    def log_message(self, *a): pass
    def send_response(self, code, message=None):
        self.status = code
        super().send_response(code, message)
    def do_GET(self):
        start = time.time()
        if self.path.startswith("/a/"):
            time.sleep(delay)
        super().do_GET()
        with lock, open(log, "a") as fh:
            fh.write(json.dumps({"path": self.path, "start": start, "end": time.time(),
                                 "ua": self.headers.get("User-Agent"),
                                 "lease": self.headers.get("X-Morgue-Lease-Granted"),
                                 "ims": self.headers.get("If-Modified-Since"),
                                 "status": self.status}) + "\n")
class S(ThreadingHTTPServer):
    daemon_threads = True
server = S(("127.0.0.1", 0), partial(H, directory=root))
print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
'''


@dataclass
class NewsSite:
    base_url: str
    paths: list[str]
    log: Path
    process: subprocess.Popen[str]

    def requests(self) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def article_hits(self) -> dict[str, int]:
        hits = {p: 0 for p in self.paths}
        for r in self.requests():
            if r["path"] in hits:
                hits[str(r["path"])] += 1
        return hits


def start_news_site(root: Path, count: int, *, delay: float = 0.0, pages: str | None = None) -> NewsSite:
    """``count`` article pages (the benchmark generator's: real pages under distinct URLs; ``pages``
    "one-template" for one publisher's design), a sitemap index and robots.txt, served by a threading
    server that logs start and end time of every request."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import benchsite

    paths = benchsite.build_site(root, count, pages)
    log = root.parent / f"{root.name}-requests.jsonl"
    process = subprocess.Popen([sys.executable, "-c", _SERVER, str(root), str(log), str(delay)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    base = line.split(" ", 1)[1]
    benchsite.write_sitemaps(root, base, paths)
    (root / "robots.txt").write_text(f"User-agent: *\nAllow: /\nSitemap: {base}/sitemap_index.xml\n")
    return NewsSite(base, paths, log, process)


def seed_for(path: Path, site: NewsSite, name: str = "bench") -> Path:
    # requisites off: the benchmark's pages may be real ones from ../shared/corpus, whose style sheets and
    # images live on the real web
    path.write_text(f'name = "{name}"\nsitemaps = ["{site.base_url}/sitemap_index.xml"]\n'
                    'requisites = "none"\n', encoding="utf-8")
    return path
