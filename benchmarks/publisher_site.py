"""A large publisher's site, generated on the fly: a sitemap index of monthly sitemaps, every child with
its ``lastmod``, and tiny article pages. Nothing is written to disk, so 240 children x 5,000 URLs (1.2
million articles) cost no space; every date is relative to the ``now`` the server is started with, so a
test built on it passes on any day.

    python -m benchmarks.publisher_site --children 240 --per-child 5000 [--now EPOCH] [--log FILE]
        [--lie] [--extras] [--gzip]

prints ``READY http://127.0.0.1:PORT``. ``PublisherSite`` describes the same site in Python (which
articles exist and how old they are), so tests and benchmarks know what a crawl should find.

- ``/sitemap_index.xml``: children ``/sitemaps/m-K.xml`` (K = 0 is the newest month), each listed with
  the date of its newest entry as lastmod; with ``--lie``, child 0 is listed as if last changed 40 days
  ago although it holds today's articles.
- with ``--extras``: ``/sitemaps/evergreen.xml`` listed without lastmod (old articles, each with its
  lastmod), and a nested index ``/sitemaps/older-index.xml`` (lastmod: long ago) of two sitemaps of
  articles older than every month.
- ``/a/K/J.html``: article J of month K, a small page with its date.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["PublisherSite", "main"]

_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
_EXTRA_PER_CHILD = 20


@dataclass(frozen=True)
class PublisherSite:
    """The generated site: ``children`` months of ``per_child`` articles each, ``days`` days a month."""

    now: datetime
    children: int
    per_child: int
    days: float = 30.0
    lie: bool = False
    extras: bool = False

    # -- what exists --------------------------------------------------------------------------------------
    def age(self, child: int, j: int) -> timedelta:
        """Article J of month K: month K spans ages [K, K+1) months, article 0 the newest (15 minutes)."""
        return timedelta(days=(child + j / self.per_child) * self.days, minutes=15)

    def published(self, child: int, j: int) -> datetime:
        return self.now - self.age(child, j)

    def listed_lastmod(self, child: int) -> datetime:
        """The lastmod the index gives a monthly child: its newest entry's date (a lie for child 0)."""
        if self.lie and child == 0:
            return self.now - timedelta(days=40)
        return self.published(child, 0)

    def extra_sitemaps(self) -> dict[str, list[tuple[str, datetime]]]:
        """The extras' child sitemaps: path -> [(article path, date)], all older than every month."""
        if not self.extras:
            return {}
        oldest = self.children * self.days
        out: dict[str, list[tuple[str, datetime]]] = {}
        for name, start in (("evergreen", oldest + 10), ("older-1", oldest + 400), ("older-2", oldest + 800)):
            out[f"/sitemaps/{name}.xml"] = [(f"/a/{name}/{j}.html", self.now - timedelta(days=start + j))
                                             for j in range(_EXTRA_PER_CHILD)]
        return out

    def articles(self, since: datetime | None = None) -> dict[str, datetime]:
        """Every article path with its date (those dated at or after ``since``)."""
        out: dict[str, datetime] = {}
        for child in range(self.children):
            for j in range(self.per_child):
                date = self.published(child, j)
                if since is None or date >= since:
                    out[f"/a/{child}/{j}.html"] = date
        for entries in self.extra_sitemaps().values():
            out.update({path: date for path, date in entries if since is None or date >= since})
        return out

    # -- documents ----------------------------------------------------------------------------------------
    def index(self, base: str) -> str:
        items = [f"<sitemap><loc>{base}/sitemaps/m-{k}.xml</loc><lastmod>{_w3c(self.listed_lastmod(k))}"
                 "</lastmod></sitemap>" for k in range(self.children)]
        if self.extras:
            items.append(f"<sitemap><loc>{base}/sitemaps/evergreen.xml</loc></sitemap>")
            older = self.extra_sitemaps()["/sitemaps/older-1.xml"][0][1]
            items.append(f"<sitemap><loc>{base}/sitemaps/older-index.xml</loc><lastmod>{_w3c(older)}"
                         "</lastmod></sitemap>")
        return _sitemapindex(items)

    def older_index(self, base: str) -> str:
        extra = self.extra_sitemaps()
        items = [f"<sitemap><loc>{base}{path}</loc><lastmod>{_w3c(extra[path][0][1])}</lastmod></sitemap>"
                 for path in ("/sitemaps/older-1.xml", "/sitemaps/older-2.xml")]
        return _sitemapindex(items)

    def urlset(self, base: str, entries: Iterator[tuple[str, datetime]]) -> Iterator[str]:
        yield f'<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="{_NS}">'
        for path, date in entries:
            yield f"<url><loc>{base}{path}</loc><lastmod>{_w3c(date)}</lastmod></url>"
        yield "</urlset>"

    def month(self, child: int) -> Iterator[tuple[str, datetime]]:
        return ((f"/a/{child}/{j}.html", self.published(child, j)) for j in range(self.per_child))

    def document(self, path: str, base: str) -> tuple[str, str] | None:
        """(content type, body) of a path, or None for a 404."""
        xml = "application/xml; charset=utf-8"
        if path == "/robots.txt":
            return "text/plain", f"User-agent: *\nAllow: /\nSitemap: {base}/sitemap_index.xml\n"
        if path == "/sitemap_index.xml":
            return xml, self.index(base)
        if path == "/sitemaps/older-index.xml" and self.extras:
            return xml, self.older_index(base)
        if path.startswith("/sitemaps/m-") and path.endswith(".xml"):
            child = _int(path[len("/sitemaps/m-"):-4])
            if child is not None and 0 <= child < self.children:
                return xml, "".join(self.urlset(base, self.month(child)))
        if path in self.extra_sitemaps():
            return xml, "".join(self.urlset(base, iter(self.extra_sitemaps()[path])))
        if path.startswith("/a/") and path.endswith(".html"):
            date = self.articles().get(path) if self.extras else self._month_article(path)
            if date is not None:
                return "text/html; charset=utf-8", _article(path, date)
        return None

    def _month_article(self, path: str) -> datetime | None:
        parts = path[len("/a/"):-len(".html")].split("/")
        numbers = [_int(p) for p in parts]
        if len(numbers) != 2 or None in numbers:
            return None
        child, j = numbers
        assert child is not None and j is not None
        if 0 <= child < self.children and 0 <= j < self.per_child:
            return self.published(child, j)
        return None


def _sitemapindex(items: list[str]) -> str:
    body = "".join(items)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="{_NS}">{body}</sitemapindex>'


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _w3c(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_WORDS = ("harbour council ferry tide quay budget lighthouse storm pontoon dredging market school library "
          "festival fishermen lifeboat shingle estuary mayor bridge").split()


def _article(path: str, date: datetime) -> str:
    seed = sum(path.encode())
    words = [_WORDS[(seed + i * 7) % len(_WORDS)] for i in range(120)]
    paragraphs = "".join(f"<p>{' '.join(words[i:i + 30])}.</p>" for i in range(0, 120, 30))
    title = f"Story {path[3:-5]}: the {words[0]} and the {words[1]}"
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
            f'<meta property="article:published_time" content="{date.isoformat()}"></head><body><article>'
            f"<h1>{title}</h1><time datetime=\"{date.isoformat()}\">{date:%d %B %Y}</time>{paragraphs}"
            "</article></body></html>")


def _handler(site: PublisherSite, log: Path | None, gzipped: bool) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            base = f"http://{self.headers.get('Host') or '127.0.0.1'}"
            found = site.document(path, base)
            status = 200 if found is not None else 404
            if log is not None:  # logged before the answer: a client that has it may look for it
                with lock, log.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"path": path, "status": status}) + "\n")
            content_type, text = found if found is not None else ("text/plain", "not found")
            body = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            if gzipped and path.startswith("/sitemaps/"):
                body = gzip.compress(body, compresslevel=1)
                self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            return

    return Handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=240)
    parser.add_argument("--per-child", type=int, default=5000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--now", type=float, default=None, help="the site's 'now' (epoch seconds)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", type=Path, default=None, help="append one JSON line per request")
    parser.add_argument("--lie", action="store_true", help="the index understates child 0's lastmod")
    parser.add_argument("--extras", action="store_true", help="a child without lastmod and a nested index")
    parser.add_argument("--gzip", action="store_true", help="sitemaps with Content-Encoding: gzip")
    args = parser.parse_args(argv)
    now = datetime.fromtimestamp(args.now if args.now is not None else time.time(), UTC)
    site = PublisherSite(now, args.children, args.per_child, args.days, lie=args.lie, extras=args.extras)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), _handler(site, args.log, args.gzip))
    server.daemon_threads = True
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
