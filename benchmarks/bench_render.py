"""Render speed from the archive (issue 15): pages per second of ``morgue render``'s loop, against the same
pages drawn by the same Chromium straight from a live local server, in the same run.

    python benchmarks/bench_render.py [--rounds 5]

The archive is made as the tests make it (a local site with a gzip style sheet, images, a CSS background
and a lazy image, fetched by ``wget --page-requisites`` and imported). Both sides take the same four views
(viewport PNG, full-page PNG, thumbnail JPEG, PDF) of each page in a fresh browser context. The render side
also answers every request from the WARC records, makes lazy images load, scrolls, waits for the page to
settle and writes and indexes its five records; the baseline does none of that (``goto`` and the views).
The ratio says what rendering from the archive, reproducibly, costs over a plain screenshot.
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archive.index import Index  # noqa: E402
from morgue.demo_server import DemoServer  # noqa: E402
from render.browser import BrowserSettings, Chromium  # noqa: E402
from render.run import render_archive, select_captures  # noqa: E402
from tests.render_fixtures import build_render_archive  # noqa: E402


def live_baseline(chromium: Chromium, urls: list[str], rounds: int) -> float:
    """Pages per second: goto a live page and take the same four views, nothing else."""
    settings = chromium.settings
    started = time.monotonic()
    for _ in range(rounds):
        for url in urls:
            context = chromium.new_context()
            page = context.new_page()
            page.goto(url, wait_until="load")
            page.screenshot(type="png")
            page.screenshot(type="png", full_page=True)
            cdp = context.new_cdp_session(page)
            shot = cdp.send("Page.captureScreenshot", {"format": "jpeg", "quality": 80, "clip": {
                "x": 0, "y": 0, "width": settings.width, "height": settings.height,
                "scale": 640 / settings.width}})
            base64.b64decode(shot["data"])
            page.emulate_media(media="screen")
            page.pdf(width=f"{settings.width}px", print_background=True)
            context.close()
    return rounds * len(urls) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="times each page is drawn on each side")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="morgue-bench-render-") as name:
        tmp = Path(name)
        build_render_archive(tmp, pages=("lights", "ferry"))
        data = tmp / "data"
        settings = BrowserSettings()
        with Chromium(settings) as chromium, Index(data / "morgue.db") as index:
            captures = select_captures(index)
            render_archive(data, index, captures, chromium=chromium)  # warm-up: caches, fonts, JIT
            started = time.monotonic()
            for _ in range(args.rounds):
                summary = render_archive(data, index, select_captures(index, again=True), chromium=chromium)
                assert summary.rendered == len(captures), summary
            archive_rate = args.rounds * len(captures) / (time.monotonic() - started)
        # the baseline's browser may reach 127.0.0.1: the same switches but the host resolver's
        live = replace(settings, args=tuple(a for a in settings.args if not a.startswith("--host-resolver")))
        with Chromium(live) as chromium, DemoServer(root=tmp / "site").start() as server:
            urls = [server.base_url + urlsplit(c["url"]).path for c in captures]
            live_baseline(chromium, urls[:1], 1)  # warm-up
            live_rate = live_baseline(chromium, urls, args.rounds)
    pages = args.rounds * len(captures)
    print(f"render from the archive: {archive_rate:.2f} pages/s ({pages} pages, 4 views + renderinfo each)")
    print(f"baseline, same views from a live local server: {live_rate:.2f} pages/s")
    print(f"ratio: {archive_rate / live_rate:.2f}x")


if __name__ == "__main__":
    main()
