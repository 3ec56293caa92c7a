"""What a journalist sees in the reading room, in headless Chromium: search, facets, an article with its
citation, and an archived page whose ``<script>`` must not run. Saves search.png and article.png for a
person to look at, in tests/artifacts/screenshots/ (git-ignored), or in docs/screenshots/ — the README's
pictures — when MORGUE_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, serve_reading_room
from tests.test_reading_room import EDITED, HOSTILE_TITLE, TITLE_MARKUP, Archive, build_archive

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = (REPO / "docs" / "screenshots" if os.environ.get("MORGUE_UPDATE_SCREENSHOTS") == "1"
               else REPO / "tests" / "artifacts" / "screenshots")


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("MORGUE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{CHROMIUM} is required here (MORGUE_REQUIRE_BROWSER=1) but missing: "
                    "apt-get install -y chromium")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium); browser tests run in CI")


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    _require_chromium()
    return build_archive(tmp_path_factory.mktemp("browser_room"))


@pytest.fixture(scope="module")
def room_url(archive: Archive) -> Iterator[str]:
    with serve_reading_room(archive.data) as url:
        yield url


@pytest.fixture(scope="module")
def browser(archive: Archive) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    yield page
    context.close()


def test_search_with_facets(page: Any, room_url: str, archive: Archive) -> None:
    page.goto(room_url + "/")
    page.fill("input[name=q]", "harbour")
    page.press("input[name=q]", "Enter")
    page.wait_for_url(re.compile(r"/-/search\?q=harbour"))
    hits = page.locator("li.morgue-hit")
    count = hits.count()
    assert count >= 5
    assert page.locator("li.morgue-hit mark").count() >= count  # every snippet/title highlights the word
    assert page.locator("li.morgue-hit mark").first.inner_text().lower() == "harbour"
    assert page.locator(".morgue-syntax summary").inner_text() == "How to search"
    page.wait_for_selector('#morgue-facet-counts[data-loaded="1"]')
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "search.png"), full_page=True)

    facet = page.locator('section[data-facet="author"] a', has_text="Margaret Quayle")
    expected = int(facet.locator("xpath=following-sibling::span[1]").inner_text())
    facet.click()
    page.wait_for_url(re.compile(r"author=Margaret"))
    assert hits.count() == expected < count
    for i in range(expected):
        assert "Margaret Quayle" in hits.nth(i).locator(".morgue-meta").inner_text()
    page.wait_for_selector('#morgue-facet-counts[data-loaded="1"]')  # the filtered page's facets fill in
    assert page.locator('section[data-facet="author"] li.selected a', has_text="Margaret Quayle").count()
    page.click("text=newest first")
    assert "order=newest" in page.url


def test_facets_fill_in_after_the_results(page: Any, room_url: str, archive: Archive) -> None:
    """The results arrive without facet counts; the page's script fetches them and puts them in place."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    response = page.goto(room_url + "/-/search?q=harbour")
    assert response is not None and 'data-facet="' not in response.text()  # not in the results page
    page.wait_for_selector('#morgue-facet-counts[data-loaded="1"]')
    assert any("/-/search/facets?q=harbour" in url for url in requests)
    total = page.locator("li.morgue-hit").count()
    site = page.locator('section[data-facet="site"] li')
    assert site.count() == 1 and site.locator(".n").inner_text() == str(total)
    assert not page.locator(".morgue-facets-loading").count()
    assert page.locator(".morgue-total").inner_text() == str(total)


def test_facets_without_javascript(browser: Any, room_url: str, archive: Archive) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(room_url + "/-/search?q=harbour")
        assert page.locator('section[data-facet="author"]').count() == 0
        page.click("text=Count by site, author, language and year")
        page.wait_for_url(re.compile(r"facets=1"))
        facet = page.locator('section[data-facet="author"] a', has_text="Margaret Quayle")
        expected = int(facet.locator("xpath=following-sibling::span[1]").inner_text())
        facet.click()
        page.wait_for_url(re.compile(r"author=Margaret.*facets=1|facets=1.*author=Margaret"))
        hits = page.locator("li.morgue-hit")
        assert hits.count() == expected
        for i in range(expected):
            assert "Margaret Quayle" in hits.nth(i).locator(".morgue-meta").inner_text()
        assert page.locator('section[data-facet="author"] li.selected').count() == 1
    finally:
        context.close()


def test_hostile_title_is_text_not_markup(page: Any, room_url: str, archive: Archive) -> None:
    page.goto(room_url + "/-/search?q=Mewstone")
    title = page.locator(f'li.morgue-hit[data-id="{archive.ids[HOSTILE_TITLE][-1]}"] h2')
    assert TITLE_MARKUP in title.inner_text()
    assert title.locator("img").count() == 0
    assert page.evaluate("typeof window.pwned") == "undefined"


def test_article_page_versions_removed_blocks_and_citation_copy(page: Any, room_url: str,
                                                                archive: Archive) -> None:
    page.goto(room_url + "/-/search?q=bathymetric")
    page.locator("li.morgue-hit h2 a").first.click()
    new = archive.ids[EDITED][-1]
    page.wait_for_url(re.compile(rf"/-/article/{new}$"))
    assert page.locator("h1").inner_text().startswith("Harbour dredging to begin in January")
    assert "Margaret Quayle" in page.locator(".morgue-byline").inner_text()
    assert page.locator(".morgue-diff del", has_text="eleven").count() == 1
    assert page.locator(".morgue-diff ins", has_text="fourteen").count() == 1

    removed = page.locator(".morgue-removed blockquote").first
    assert not removed.is_visible()  # collapsed until asked for
    page.locator(".morgue-removed summary").click()
    assert removed.is_visible()

    citation = page.locator("#morgue-citation-text").inner_text()
    assert f"{room_url}/-/article/{new}" in citation and "sha256:" in citation
    page.click("button.morgue-copy")
    page.wait_for_function("document.querySelector('button.morgue-copy').dataset.copied === '1'")
    assert page.evaluate("navigator.clipboard.readText()") == citation
    page.screenshot(path=str(SCREENSHOTS / "article.png"), full_page=True)


def test_archived_page_opens_and_its_script_does_not_run(page: Any, room_url: str, archive: Archive) -> None:
    new = archive.ids[EDITED][-1]
    page.goto(f"{room_url}/-/article/{new}")
    page.click("text=View archived page")
    page.wait_for_url(re.compile(rf"/-/archived/{new}$"))
    frame = _frame(page)  # the archived page, in the styled view's sandboxed frame
    # the archived page rendered (its own headline and text) ...
    assert frame.locator("h1").inner_text().startswith("Harbour dredging to begin in January")
    assert "fourteen weeks" in frame.locator("body").inner_text()
    # ... and its script did not run
    assert page.title() != "PWNED"
    assert frame.locator("body").get_attribute("data-pwned") is None
    assert page.evaluate("typeof window.pwned") == "undefined"
    page.goto(room_url + "/")
    assert page.evaluate("localStorage.getItem('pwned')") is None

    # control: the same archived bytes without the reading room's sandbox do run the script
    body = page.request.get(f"{room_url}/-/raw/{new}").body()
    page.set_content(body.decode("utf-8"))
    assert page.title() == "PWNED"
    assert page.evaluate("window.pwned") == 1


def _frame(page: Any) -> Any:
    page.wait_for_load_state("load")
    frames = [f for f in page.frames if "/-/replay/" in f.url]
    assert len(frames) == 1, [f.url for f in page.frames]
    return frames[0]


def _wait_in_sandbox(page: Any, frame: Any, predicate: str, seconds: float = 30) -> None:
    """Wait until ``predicate`` holds in the archived page's frame, polled from here.

    ``frame.wait_for_function`` cannot wait in it: the frame is sandboxed without scripts, so Playwright's
    polling (requestAnimationFrame or timers in the frame) never runs again after a first false answer,
    and the test failed whenever the fonts or images were still loading at that first look."""
    for _ in range(int(seconds * 10)):
        if frame.evaluate(predicate):
            return
        page.wait_for_timeout(100)
    state = frame.evaluate("""({fonts: document.fonts.status,
        images: [...document.images].map(i => [i.currentSrc || i.src, i.complete])})""")
    raise AssertionError(f"not true after {seconds} s in the archived page: {predicate}; {state}")


def test_styled_archived_page_comes_from_the_archive_alone(page: Any, room_url: str,
                                                            archive: Archive) -> None:
    """The live site is stopped (build_archive stops it): the page's style sheet and its @import, the web
    font, the srcset logo, the lazy photo and the photo from the second host all come from the archive."""
    new = archive.ids[EDITED][-1]
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    messages: list[Any] = []
    page.expose_function("morgueSawMessage", lambda data: messages.append(data))
    page.add_init_script("window.addEventListener('message', e => window.morgueSawMessage(String(e.data)))")
    page.goto(f"{room_url}/-/article/{new}")
    page.click("text=View archived page")
    page.wait_for_url(re.compile(rf"/-/archived/{new}$"))
    frame = _frame(page)
    _wait_in_sandbox(page, frame, "document.fonts.status === 'loaded' && "
                                  "[...document.images].every(i => i.complete)")
    assert frame.locator("h1").inner_text().startswith("Harbour dredging to begin in January")
    # site.css applies, and type.css which it @imports, with the archived web font
    assert "Georgia" in frame.evaluate("getComputedStyle(document.body).fontFamily")
    kicker = frame.evaluate("getComputedStyle(document.querySelector('.kicker')).fontFamily")
    assert "Harbour Signal" in kicker
    assert frame.evaluate("document.fonts.check('16px \"Harbour Signal\"')")
    assert frame.evaluate("[...document.fonts].some(f => f.family.includes('Harbour Signal') "
                          "&& f.status === 'loaded')")
    images = frame.evaluate("""[...document.images].map(i => ({src: i.currentSrc, w: i.naturalWidth,
                               cls: i.className, alt: i.alt}))""")
    logo = next(i for i in images if "/static/logo-" in i["src"])
    assert logo["w"] > 0 and logo["src"].endswith("/static/logo-1x.png")  # the srcset candidate for 1x
    lazy = next(i for i in images if i["cls"] == "lazy")
    assert lazy["w"] == 320 and lazy["src"].endswith("/static/photos/dredger.png")
    cdn = next(i for i in images if "lighthouse.png" in i["src"])
    assert cdn["w"] == 320 and "/-/replay/" in cdn["src"] and archive.base_url not in cdn["src"]
    # everything came from the reading room; nothing went to the (stopped) site or the web
    assert requests and all(url.startswith(room_url + "/") for url in requests), requests
    # the archived script that reaches for window.top never ran
    assert page.url.endswith(f"/-/archived/{new}") and page.title() != "PWNED"
    assert messages == [] and "example.invalid" not in " ".join(requests)
    assert frame.evaluate("typeof window.pwned") == "undefined"
    assert "All" in page.locator(".morgue-complete").inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "archived.png"))


def test_raw_view_stays(page: Any, room_url: str, archive: Archive) -> None:
    new = archive.ids[EDITED][-1]
    page.goto(f"{room_url}/-/archived/{new}")
    assert page.locator("a", has_text="Raw view").get_attribute("href") == f"/-/raw/{new}"
    # (goto, not click: after a click from a page holding a sandboxed frame, Playwright 1.5x loses track
    # of the sandboxed page it lands on and its locators wait forever)
    page.goto(f"{room_url}/-/raw/{new}")
    assert page.locator("h1").inner_text().startswith("Harbour dredging to begin in January")
    assert page.evaluate("typeof window.pwned") == "undefined"
    # unstyled: the raw view loads nothing besides the HTML
    assert "Georgia" not in page.evaluate("getComputedStyle(document.body).fontFamily")
