"""Seed files: one news site per TOML file in ``seeds/``, validated before any fetching.

A seed argument on the command line may also be a site name (looked up in the seeds folder), a path to a
``.toml`` file, or a URL (a sitemap, a feed or a page), which becomes a one-off seed.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from morgue.durations import parse_duration, parse_since
from morgue.errors import SeedError

__all__ = ["Seed", "load_seed", "load_seed_file", "parse_seed", "seed_from_url", "list_seeds", "SEED_KEYS"]

#: The seed's ``requisites``: for article pages, every page, every page with its scripts, or none.
REQUISITE_MODES = ("article", "all-pages", "all", "none")

SEED_KEYS = {
    "name": "site name, used in the index and on the command line",
    "start_urls": "home and section pages whose article links are followed",
    "sitemaps": "sitemap or sitemap-index URLs (robots.txt Sitemap: lines are used too)",
    "feeds": "RSS or Atom feed URLs",
    "allow": "regular expressions; a URL matching one is an article page",
    "deny": "regular expressions; a URL matching one is never an article page",
    "every": "how often the site is crawled, e.g. \"6h\"",
    "recrawl_within": "articles published within this window are re-checked on every crawl, e.g. \"3d\"",
    "since": "skip articles whose sitemap/feed date is older (a date or a duration such as \"30d\")",
    "robots": "\"obey\" (default) or \"ignore\" (logged on every crawl)",
    "max_pages": "stop after this many pages (0: no limit)",
    "allowed_domains": "extra domains the crawl may follow (the seed URLs' hosts always are)",
    "requisites": "style sheets, fonts and images archived with \"article\" pages (default), \"all-pages\", "
                  "\"all\" (every page, scripts too) or \"none\"",
    "extract": "table: drop / keep selectors (CSS or XPath) for this site's pages",
    "render": "true: after each crawl, render the new article captures (screenshots, PDF; morgue render)",
    "settings": "table: Scrapy settings for this site only, e.g. DOWNLOAD_DELAY = 2",
}


@dataclass
class Seed:
    """One site to crawl, as validated plain values."""

    name: str
    start_urls: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)
    every: timedelta = timedelta(hours=6)
    recrawl_within: timedelta = timedelta(days=3)
    since: datetime | None = None
    robots: str = "obey"
    max_pages: int = 0
    allowed_domains: list[str] = field(default_factory=list)
    requisites: str = "article"
    extract: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    source: str = "<command line>"
    render: bool = False

    @property
    def domains(self) -> list[str]:
        """Hosts the crawl stays on: those of every seed URL, plus allowed_domains."""
        hosts = {urlsplit(u).hostname or "" for u in (*self.start_urls, *self.sitemaps, *self.feeds)}
        return sorted(h for h in hosts | set(self.allowed_domains) if h)

    def is_article_url(self, url: str) -> bool:
        """allow/deny rules: denied never; with allow rules, only matches; else the spider's heuristics."""
        if any(re.search(p, url) for p in self.deny):
            return False
        return any(re.search(p, url) for p in self.allow) if self.allow else True


def _line_of(text: str, key: str) -> int | None:
    match = re.search(rf"^\s*{re.escape(key)}\s*=", text, re.MULTILINE)
    if match:
        return text.count("\n", 0, match.start()) + 1
    match = re.search(rf"^\s*\[\s*{re.escape(key)}\s*\]", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _check_url(value: Any, source: str, key: str, line: int | None) -> str:
    if not isinstance(value, str):
        raise SeedError(source, f"{key} must list URLs as strings, not {value!r}", line)
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SeedError(source, f"{key}: {value!r} is not an http(s) URL", line)
    return value.strip()


def parse_seed(data: Mapping[str, Any], *, source: str = "<seed>", text: str = "") -> Seed:
    """Validate a seed mapping; every problem raises SeedError naming the key and, with text, its line."""
    unknown = sorted(set(data) - set(SEED_KEYS))
    if unknown:
        key = unknown[0]
        close = [k for k in SEED_KEYS if k.startswith(key[:3])]
        hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(SEED_KEYS)}"
        raise SeedError(source, f"unknown key {key!r}{hint}", _line_of(text, key))

    def line(key: str) -> int | None:
        return _line_of(text, key)

    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name or ""):
        raise SeedError(source, "name is required: letters, digits, '.', '_' or '-' (e.g. name = \"bbc\")",
                        line("name"))
    seed = Seed(name=name, source=source)
    for key in ("start_urls", "sitemaps", "feeds"):
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise SeedError(source, f"{key} must be a list of URLs", line(key))
        setattr(seed, key, [_check_url(v, source, key, line(key)) for v in value])
    if not (seed.start_urls or seed.sitemaps or seed.feeds):
        raise SeedError(source, "give at least one of start_urls, sitemaps or feeds")
    for key in ("allow", "deny", "allowed_domains"):
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SeedError(source, f"{key} must be a list of strings", line(key))
        if key != "allowed_domains":
            for pattern in value:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise SeedError(source, f"{key}: {pattern!r} is not a valid regular expression ({exc})",
                                    line(key)) from None
        setattr(seed, key, list(value))
    for key in ("every", "recrawl_within"):
        if key in data:
            try:
                setattr(seed, key, parse_duration(str(data[key])))
            except ValueError as exc:
                raise SeedError(source, f"{key}: {exc}", line(key)) from None
    if "since" in data:
        try:
            seed.since = parse_since(str(data["since"]))
        except ValueError as exc:
            raise SeedError(source, f"since: {exc}", line("since")) from None
    robots = data.get("robots", "obey")
    if robots not in ("obey", "ignore"):
        raise SeedError(source, f"robots must be \"obey\" or \"ignore\", not {robots!r}", line("robots"))
    seed.robots = robots
    requisites = data.get("requisites", "article")
    if requisites not in REQUISITE_MODES:
        raise SeedError(source, "requisites must be " + ", ".join(f'"{m}"' for m in REQUISITE_MODES)
                        + f", not {requisites!r}", line("requisites"))
    seed.requisites = requisites
    max_pages = data.get("max_pages", 0)
    if not isinstance(max_pages, int) or isinstance(max_pages, bool) or max_pages < 0:
        raise SeedError(source, "max_pages must be a whole number, 0 for no limit", line("max_pages"))
    seed.max_pages = max_pages
    render = data.get("render", False)
    if not isinstance(render, bool):
        raise SeedError(source, f"render must be true or false, not {render!r}", line("render"))
    seed.render = render
    for key in ("extract", "settings"):
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise SeedError(source, f"[{key}] must be a table", line(key))
        setattr(seed, key, dict(value))
    if seed.extract:
        _check_extract_rules(seed, source, line("extract"))
    return seed


def _check_extract_rules(seed: Seed, source: str, line: int | None) -> None:
    """Validate the [extract] table with the extractor's own parser, so a bad selector fails early."""
    try:
        from extract import SiteRules
    except ImportError:  # extractor not importable: nothing more to check here
        return
    try:
        SiteRules.from_mapping(seed.extract)
    except (ValueError, TypeError) as exc:
        raise SeedError(source, f"[extract]: {exc}", line) from None


def load_seed_file(path: Path) -> Seed:
    """Read and validate one seed file."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SeedError(source, "no such seed file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(source, f"cannot read the seed file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        line = int(match.group(1)) if match else None
        if line is None and "end of document" in str(exc):
            line = len(text.splitlines()) or 1  # the problem runs to the end of the file
        raise SeedError(source, f"not valid TOML: {message}", line) from None
    return parse_seed(data, source=source, text=text)


def seed_from_url(url: str) -> Seed:
    """A one-off seed from a URL: a sitemap, a feed, or a page whose links are followed."""
    url = _check_url(url, url, "URL", None)
    parts = urlsplit(url)
    name = (parts.hostname or "site").removeprefix("www.")
    lower = url.lower()
    if "sitemap" in lower or lower.endswith((".xml.gz",)):
        return Seed(name=name, sitemaps=[url])
    if any(token in lower for token in ("rss", "atom", "feed")):
        return Seed(name=name, feeds=[url])
    return Seed(name=name, start_urls=[url])


def list_seeds(seeds_dir: Path) -> list[Seed]:
    """Every seed file in a folder, validated (the first broken one raises)."""
    return [load_seed_file(p) for p in sorted(seeds_dir.glob("*.toml"))]


def load_seed(arg: str, seeds_dir: Path) -> Seed:
    """Resolve a SEED argument: URL, path to a .toml file, or site name in ``seeds_dir``."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", arg):
        return seed_from_url(arg)
    path = Path(arg)
    if path.suffix == ".toml" or path.exists():
        return load_seed_file(path)
    candidate = seeds_dir / f"{arg}.toml"
    if candidate.exists():
        return load_seed_file(candidate)
    known = ", ".join(p.stem for p in sorted(seeds_dir.glob("*.toml"))) or "none"
    raise SeedError(arg, f"not a URL, a .toml file or a site in {seeds_dir}/ (sites there: {known})")
