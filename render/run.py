"""``morgue render``: render every article capture not rendered yet, one page at a time, each written to
the archive as soon as it is done.

A page that does not load in time is recorded as a timeout (a renderinfo record with what it had asked
for) and the next page goes on; a page whose requisites are missing is rendered anyway, the missing list
recorded. When Chromium dies the browser is launched again and the page tried once more: what earlier
pages wrote is already in the WARC file and the index (committed page by page), so nothing is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive.index import Index, capture_filter
from archive.ingest import is_html
from archive.records import warc_date
from archive.renders import RENDER_WARC_PREFIX, RENDER_WARCINFO_KEY, RenderedPage, write_render
from archive.replay import ArchiveSource
from archive.warc_reader import WarcReadError
from archive.warc_writer import WarcWriter
from render.browser import BrowserSettings, Chromium
from render.page import BrowserGone, RenderTimeout, render_capture

__all__ = ["RenderSummary", "select_captures", "render_archive", "DONE_STATUSES"]

#: Renders that count as done: a page that timed out once will time out again (``--again`` retries it).
DONE_STATUSES = ("ok", "timeout")


@dataclass
class RenderSummary:
    rendered: int = 0
    timeouts: int = 0
    errors: int = 0
    skipped: int = 0
    missing: int = 0  # requisites not in the archive, over all pages rendered
    restarts: int = 0
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)  # one line per page that did not render cleanly
    warc_files: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"rendered {self.rendered} pages in {self.seconds:.1f}s: {self.timeouts} timed out, "
                f"{self.errors} failed, {self.skipped} skipped, {self.missing} requisites missing, "
                f"browser restarted {self.restarts} times")


def select_captures(index: Index, *, site: str | None = None, since: str | None = None,
                    capture_ids: Iterable[str] = (), again: bool = False) -> list[dict[str, Any]]:
    """The captures to render: the given ids, else every article capture (each version) of ``site``
    captured at or after ``since`` whose latest render is not done (all of them with ``again``)."""
    ids = [i.strip().lower() for i in capture_ids]
    done = "" if again else (
        "AND NOT EXISTS (SELECT 1 FROM renders r WHERE r.capture_id = c.id AND r.view = 'renderinfo' "
        f"AND r.status IN ({', '.join(repr(s) for s in DONE_STATUSES)}))")
    if ids:
        marks = ", ".join("?" for _ in ids)
        rows = list(index.db.query(f"SELECT c.* FROM captures c WHERE c.id IN ({marks})", ids))  # noqa: S608
        found = {r["id"] for r in rows}
        unknown = [i for i in ids if i not in found]
        if unknown:
            raise LookupError(f"no capture with id {unknown[0]!r} in this archive "
                              "(ids are the 12-character codes shown by morgue search)")
        order = {capture_id: n for n, capture_id in enumerate(ids)}
        return sorted(rows, key=lambda r: order[r["id"]])
    where, params = capture_filter(site, since, table="c")
    sql = ("SELECT c.* FROM articles a JOIN captures c ON c.id = a.capture_id "
           f"WHERE {' AND '.join(where)} {done} ORDER BY c.captured_at, c.id")
    return list(index.db.query(sql, params))


def render_archive(
    data_path: Path, index: Index, captures: list[dict[str, Any]], *,
    settings: BrowserSettings | None = None, progress: Callable[[str], None] | None = None,
    after_page: Callable[[RenderedPage], None] | None = None, chromium: Chromium | None = None,
) -> RenderSummary:
    """Render ``captures`` into ``data_path``'s archive (the caller holds the data directory's lock).

    ``after_page`` is called once each page's records are written and indexed."""
    started = time.monotonic()
    summary = RenderSummary()
    if not captures:
        return summary
    settings = settings or BrowserSettings()
    warc_dir = data_path / "warc"
    own = chromium is None
    browser = chromium or Chromium(settings)
    source = ArchiveSource(index.db.conn, warc_dir)
    writer = WarcWriter(warc_dir, prefix=RENDER_WARC_PREFIX, warcinfo={
        RENDER_WARCINFO_KEY: "views made from this archive by morgue render",
        "browser": f"Chromium {browser.version} (Playwright {Chromium.playwright_version()})"})
    try:
        for n, capture in enumerate(captures, 1):
            if progress:
                progress(f"[{n}/{len(captures)}] {capture['url']}")
            if not is_html(capture["content_type"]) or capture["record_type"] != "response":
                summary.skipped += 1
                what = capture["content_type"] or "no content type"
                summary.lines.append(
                    f"skipped {capture['id']} ({capture['url']}): {what} {capture['record_type']}, not an "
                    "HTML page; its archived bytes are their own view (morgue show --raw)")
                continue
            page = _render_one(browser, source, capture, settings, summary)
            for row in write_render(writer, page):
                index.add_render(row)
            writer.flush(sync=True)
            index.commit()
            summary.missing += len(page.info.get("missing") or [])
            if page.status == "ok":
                summary.rendered += 1
            if page.info.get("missing"):
                missing = page.info["missing"]
                summary.lines.append(f"{capture['id']} ({capture['url']}): rendered without {len(missing)} "
                                     f"requisites not in the archive, e.g. {missing[0]['url']}")
            if after_page:
                after_page(page)
    finally:
        writer.close()
        summary.warc_files = [p.name for p in writer.closed_files]
        if own:
            browser.close()
        summary.seconds = time.monotonic() - started
    return summary


def _render_one(browser: Chromium, source: ArchiveSource, capture: dict[str, Any],
                settings: BrowserSettings, summary: RenderSummary) -> RenderedPage:
    """One page, tried again once in a new browser if Chromium dies under it."""
    info: dict[str, Any] = {
        "capture_id": capture["id"], "url": capture["url"], "capture_record_id": capture["record_id"],
        "captured_at": capture["captured_at"], "settings": settings.describe(),
        "browser": {"name": "chromium", "playwright": Chromium.playwright_version()},
    }
    outputs: dict[str, bytes] = {}
    report: dict[str, Any] = {}
    for attempt in (1, 2):
        rendered_at = datetime.now(UTC)
        try:
            browser.ensure()
            info["browser"]["version"] = browser.version
            outputs, report = render_capture(browser, source, capture)
            info["status"] = "ok"
            break
        except RenderTimeout as exc:
            report = exc.args[1] if len(exc.args) > 1 else {}
            info.update(status="timeout", error=f"render timeout: {exc.args[0]}")
            summary.timeouts += 1
            summary.lines.append(f"{capture['id']} ({capture['url']}): render timeout, {exc.args[0]}; "
                                 "recorded, no views")
            browser.relaunch()  # the next page gets a browser of its own, not a spinning renderer
            break
        except BrowserGone as exc:
            summary.restarts += 1
            if attempt == 2:
                info.update(status="error", error=f"the browser died twice rendering this page: {exc}")
                summary.errors += 1
                summary.lines.append(f"{capture['id']} ({capture['url']}): {info['error']}")
        except (WarcReadError, ValueError, OSError) as exc:
            info.update(status="error", error=f"cannot read the archived page: {exc}")
            summary.errors += 1
            summary.lines.append(f"{capture['id']} ({capture['url']}): {info['error']}")
            break
    info["attempts"] = attempt
    info["served"] = sorted(report.get("served", {}).values(), key=lambda s: s["url"])
    info["missing"] = [{"url": u, "reason": r} for u, r in sorted(report.get("missing", {}).items())]
    for key in ("document_height", "full_page_cut"):
        if key in report:
            info[key] = report[key]
    stamp = warc_date(rendered_at)
    info["rendered_at"] = stamp
    return RenderedPage(capture=capture, url=capture["url"], rendered_at=stamp, outputs=outputs, info=info)
