"""Render one archived capture in Chromium from the archive alone: the views and what was served or missed.

Every request the page makes goes through one route handler that answers it from the archive
(``archive.replay``) or aborts it and writes it down; the page's own document is the capture's record
itself, not whatever is nearest. After the load the page is made to fetch what it would only fetch for a
reader who scrolls (``loading=lazy``, ``data-src`` placeholders), scrolled down and back, and left to settle
(requests answered, images decoded, fonts loaded) before each view is taken, so two renders of one capture
draw the same pixels.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

from archive.replay import ArchiveSource, Miss, Served

__all__ = ["render_capture", "RenderTimeout", "BrowserGone", "pin_pdf_dates"]

# Lazy loading, as news sites do it: the browser's own (loading=lazy), and scripts that copy data-src into
# src once an image scrolls into view (those scripts are rarely archived, and would not run here anyway).
_EAGER_JS = """() => {
  const lazy = ['data-src', 'data-lazy-src', 'data-original', 'data-full-src', 'data-lazy'];
  const placeholder = (v) => !v || v.startsWith('data:') || v.startsWith('about:');
  for (const el of document.querySelectorAll('img, iframe')) {
    if (el.getAttribute('loading') === 'lazy') el.setAttribute('loading', 'eager');
  }
  for (const img of document.querySelectorAll('img, source')) {
    if (placeholder(img.getAttribute(img.tagName === 'SOURCE' ? 'srcset' : 'src'))) {
      for (const name of lazy) {
        const v = img.getAttribute(name);
        if (v && img.tagName === 'IMG') { img.setAttribute('src', v); break; }
      }
    }
    const set = img.getAttribute('data-srcset') || img.getAttribute('data-lazy-srcset');
    if (set && !img.getAttribute('srcset')) img.setAttribute('srcset', set);
  }
}"""

_SCROLL_JS = """async (maxSteps) => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
  const root = document.scrollingElement || document.documentElement;
  for (let i = 0, y = 0; i < maxSteps && y < root.scrollHeight; i++, y += innerHeight) {
    window.scrollTo(0, y);
    await frame();
  }
  window.scrollTo(0, 0);
  await frame();
}"""

_SETTLE_JS = """async (ms) => {
  const wait = (p) => Promise.race([p, new Promise((r) => setTimeout(r, ms))]);
  const images = [...document.images].filter((i) => !i.complete);
  await wait(Promise.all(images.map((i) => new Promise((r) => { i.onload = i.onerror = r; }))));
  await wait(Promise.all([...document.images].map((i) => i.decode ? i.decode().catch(() => null) : null)));
  if (document.fonts) await wait(document.fonts.ready);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r())));
  const root = document.scrollingElement || document.documentElement;
  return root.scrollHeight;
}"""


class RenderTimeout(Exception):
    """The page did not load and settle within the time allowed."""


class BrowserGone(Exception):
    """Chromium died (crashed or was killed) while rendering."""


def _browser_gone(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("has been closed", "browser closed", "target closed", "crashed",
                                   "connection closed"))


def render_capture(chromium: Any, source: ArchiveSource, capture: dict[str, Any], *,
                   views: tuple[str, ...] = ("view", "fullPage", "thumbnail", "pdf")
                   ) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Render a capture's page: (view -> bytes, report with ``served`` and ``missing``).

    Raises RenderTimeout (with what was served so far in ``args[1]``) or BrowserGone."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    settings = chromium.settings
    url = capture["url"]
    document = source.exact(capture)
    served: dict[str, dict[str, Any]] = {}
    missing: dict[str, str] = {}
    pending = {"n": 0}
    report: dict[str, Any] = {"served": served, "missing": missing}

    def handle(route: Any) -> None:
        request = route.request
        # the page's first navigation is the capture itself (Chromium may spell its URL differently);
        # anything after it (a meta refresh, a script's location change) is looked up like any request
        if not report.get("document") and request.is_navigation_request() and \
                request.frame.parent_frame is None:
            report["document"] = request.url
            answer: Served | Miss = document
        else:
            answer = source.lookup(request.url, capture["captured_at"], method=request.method)
        if isinstance(answer, Served):
            served.setdefault(request.url, answer.info())
            route.fulfill(status=answer.status, headers=_header_dict(answer.headers), body=answer.body)
        else:
            assert isinstance(answer, Miss)
            missing.setdefault(request.url, answer.reason)
            route.abort("internetdisconnected")

    deadline = time.monotonic() + settings.timeout_s

    def left_ms() -> float:
        return max(1.0, (deadline - time.monotonic()) * 1000)

    try:
        context = chromium.new_context()
    except PlaywrightError as exc:
        raise BrowserGone(str(exc)) from exc
    try:
        context.route("**/*", handle)
        page = context.new_page()
        page.on("request", lambda _r: pending.__setitem__("n", pending["n"] + 1))
        page.on("requestfinished", lambda _r: pending.__setitem__("n", pending["n"] - 1))
        page.on("requestfailed", lambda _r: pending.__setitem__("n", pending["n"] - 1))
        page.goto(url, wait_until="load", timeout=left_ms())
        page.evaluate(_EAGER_JS)
        page.evaluate(_SCROLL_JS, 60)
        _quiet(page, pending, deadline)
        height = page.evaluate(_SETTLE_JS, min(left_ms(), 5000))
        _quiet(page, pending, deadline)
        outputs: dict[str, bytes] = {}
        if "view" in views:
            outputs["view"] = page.screenshot(type="png", animations="disabled", caret="hide",
                                              timeout=left_ms())
        if "fullPage" in views:
            tall = int(height or 0) > settings.full_page_max_height
            clip = {"x": 0, "y": 0, "width": settings.width, "height": settings.full_page_max_height}
            outputs["fullPage"] = page.screenshot(type="png", animations="disabled", caret="hide",
                                                  full_page=True, clip=clip if tall else None,
                                                  timeout=left_ms())
            report["full_page_cut"] = tall
        if "thumbnail" in views:
            outputs["thumbnail"] = _thumbnail(context, page, settings)
        if "pdf" in views:
            page.emulate_media(media="screen")
            outputs["pdf"] = pin_pdf_dates(page.pdf(width=f"{settings.width}px", print_background=True),
                                           capture["captured_at"])
        report["document_height"] = height
        report.pop("document", None)
        return outputs, report
    except PlaywrightTimeout as exc:
        raise RenderTimeout(f"did not load within {settings.timeout_s:g}s", report) from exc
    except PlaywrightError as exc:
        if _browser_gone(exc) or not chromium.alive():
            raise BrowserGone(str(exc).strip().splitlines()[0]) from exc
        if "timeout" in str(exc).lower():
            raise RenderTimeout(str(exc).strip().splitlines()[0], report) from exc
        raise
    finally:
        try:
            context.close()
        except PlaywrightError:
            pass


_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}[+\-Z]\d\d'\d\d'\)")


def pin_pdf_dates(pdf: bytes, captured_at: str) -> bytes:
    """The PDF with its CreationDate and ModDate set to the capture's time instead of the render's, so
    that two renders of one capture give the same bytes (Chromium's PDFs differ in nothing else; the
    render's own time is in the record's WARC-Date and its renderinfo). Same length: the xref stays valid.
    """
    stamp = re.sub(r"\D", "", captured_at)[:14].ljust(14, "0").encode("ascii")
    return _PDF_DATE.sub(lambda m: b"/" + m.group(1) + b" (D:" + stamp + b"+00'00')", pdf)


def _header_dict(headers: list[tuple[str, str]]) -> dict[str, str]:
    """Playwright takes one value per name: repeated headers joined as HTTP allows (Set-Cookie by lines)."""
    out: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in out:
            out[key] += ("\n" if key == "set-cookie" else ", ") + value
        else:
            out[key] = value
    return out


def _quiet(page: Any, pending: dict[str, int], deadline: float) -> None:
    """Wait until every request the page made has been answered (they are answered from memory)."""
    while pending["n"] > 0 and time.monotonic() < deadline:
        page.wait_for_timeout(10)


def _thumbnail(context: Any, page: Any, settings: Any) -> bytes:
    """A 640-pixel-wide JPEG of the viewport, scaled by Chromium itself (as Browsertrix's 640x360)."""
    cdp = context.new_cdp_session(page)
    try:
        scale = 640 / settings.width
        shot = cdp.send("Page.captureScreenshot", {
            "format": "jpeg", "quality": 80, "fromSurface": True,
            "clip": {"x": 0, "y": 0, "width": settings.width, "height": settings.height, "scale": scale}})
    finally:
        cdp.detach()
    return base64.b64decode(shot["data"])
