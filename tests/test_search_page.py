"""The reading room's search page answers at the query's speed: its total is counted only so far and says
so ("100+"); the facets request that follows counts on and gives the true number. On a real index."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from archive.datasette.search import COUNT_CAP, PAGE_SIZE, TOTAL_CAP
from archive.index import Index, capture_row
from archive.reading_room import make_datasette
from archive.records import RecordPointer

MANY = TOTAL_CAP + 30
FEW = PAGE_SIZE // 2


def _index(data: Path, many: int = MANY, few: int = FEW) -> None:
    with Index(data / "morgue.db") as index:
        for n in range(many):
            pointer = RecordPointer(
                warc_file="m.warc.gz",
                offset=100 * n,
                length=90,
                record_id=f"<urn:{n}>",
                record_type="response",
                payload_digest=f"sha256:P{n}",
                block_digest=f"sha256:B{n}",
                date="2026-11-20T10:00:00.000Z",
            )
            url = f"https://site{n % 3}.example/{n}"
            row = capture_row(
                pointer,
                url=url,
                status=200,
                headers=[],
                payload_length=90,
                site=f"site{n % 3}",
                crawl_id=1,
                kind="page",
            )
            index.add_capture(row)
            words = "harbour wall" + (" ferry" if n < few else "")
            index.add_article(
                row,
                {
                    "text": f"Story {n} about the {words}.",
                    "title": f"Story {n}",
                    "published": f"2026-11-{n % 28 + 1:02d}T08:00:00+00:00",
                    "extractor": "test",
                },
                url=url,
                site=f"site{n % 3}",
            )
        index.commit()


def _site_facet(fragment: str) -> dict[str, int]:
    """The site facet's counts in a facets fragment."""
    found = re.findall(r'<a href="[^"]*">(site\d)</a> <span class="n">(\d+)</span>', fragment)
    return {site: int(n) for site, n in found}


def test_the_total_is_counted_so_far_and_says_so_the_facets_count_on(tmp_path: Path) -> None:
    _index(tmp_path)
    room = make_datasette(tmp_path)
    page = asyncio.run(room.client.get("/-/search", params={"q": "harbour"})).text
    assert len(re.findall(r'<li class="morgue-hit"', page)) == PAGE_SIZE
    assert (
        f'<span class="morgue-total" data-capped="1" title="counted up to {TOTAL_CAP}">{TOTAL_CAP}+'
        "</span> articles match"
    ) in page
    facets = asyncio.run(room.client.get("/-/search/facets", params={"q": "harbour"})).text
    assert f'data-total-text="{MANY}"' in facets  # the script puts the true number in place of "100+"
    assert _site_facet(facets) == {f"site{i}": len(range(i, MANY, 3)) for i in range(3)}
    # a search whose results fit on the page is counted exactly by the page itself
    few = asyncio.run(room.client.get("/-/search", params={"q": "ferry"})).text
    assert f'<span class="morgue-total">{FEW}</span> articles match' in few
    last_page = str(MANY // PAGE_SIZE + 1)
    last = asyncio.run(room.client.get("/-/search", params={"q": "harbour", "page": last_page}))
    assert f'<span class="morgue-total">{MANY}</span> articles match' in last.text


def test_more_than_count_cap_matches_are_labelled_as_an_estimate(tmp_path: Path) -> None:
    """One article past the facets' count: its total says "10,000+" and the facets say they were counted
    over the first 10,000; exactly 10,000 matches are said as they are, with no estimate label."""
    _index(tmp_path, many=COUNT_CAP + 1, few=COUNT_CAP)
    room = make_datasette(tmp_path)
    label = f"More than {COUNT_CAP:,} articles match: the counts below are over the first {COUNT_CAP:,}."
    over = asyncio.run(room.client.get("/-/search/facets", params={"q": "harbour"})).text
    assert f'data-total-text="{COUNT_CAP:,}+"' in over and label in over
    sites = _site_facet(over)
    assert sum(sites.values()) == COUNT_CAP  # what the label says: the first COUNT_CAP matches, no more
    page = asyncio.run(room.client.get("/-/search", params={"q": "harbour", "facets": "1"})).text
    assert label in page  # the page without JavaScript says the same
    exact = asyncio.run(room.client.get("/-/search/facets", params={"q": "ferry"})).text
    assert f'data-total-text="{COUNT_CAP:,}"' in exact and "More than" not in exact
    assert _site_facet(exact) == {f"site{i}": len(range(i, COUNT_CAP, 3)) for i in range(3)}


def test_a_total_the_page_query_counts_itself_is_the_filtered_number(tmp_path: Path) -> None:
    """When few enough articles match the words for the page's own query to count them (a window count,
    no second pass), the total is still the number matching with the filters, on every page and order."""
    _index(tmp_path, many=90, few=70)  # "ferry" in 70 articles, over three sites: 24, 23 and 23
    room = make_datasette(tmp_path)

    def total(**params: str) -> str:
        page = asyncio.run(room.client.get("/-/search", params={"q": "ferry", **params})).text
        return re.search(r'<span class="morgue-total"[^>]*>([^<]*)</span>', page).group(1)

    assert total() == "70" and total(order="newest") == "70" and total(page="2") == "70"
    by_site = {f"site{i}": len(range(i, 70, 3)) for i in range(3)}
    for site, n in by_site.items():
        assert total(site=site) == str(n) and total(site=site, order="newest") == str(n)
        assert total(site=site, page="2") == str(n)


def test_a_search_over_the_event_loops_budget_is_answered_alike_from_datasettes_threads(
    tmp_path: Path, monkeypatch: object
) -> None:
    """``inline.quick_first``: a search within the budget is answered on the event loop's thread, one over
    it is interrupted there and answered by datasette's SQL threads; the page is the same either way, and
    a query the engine cannot read is still reported as such, not taken for an interruption."""
    from datasette.database import Database

    from archive.datasette import inline

    _index(tmp_path)
    room = make_datasette(tmp_path)
    handed: list[int] = []
    real = Database.execute_fn

    async def counted(self: Database, fn: object) -> object:
        handed.append(1)
        return await real(self, fn)

    monkeypatch.setattr(Database, "execute_fn", counted)  # type: ignore[attr-defined]
    monkeypatch.setattr(inline, "_EVERY", 1)  # type: ignore[attr-defined]
    searches = [
        {"q": "harbour"},
        {"q": "ferry", "order": "newest"},
        {"q": "harbour -ferry", "site": "site1"},
        {"q": "harbour", "page": "3"},
    ]

    def pages(budget: float) -> list[str]:
        monkeypatch.setattr(inline, "BUDGET_MS", budget)  # type: ignore[attr-defined]
        handed.clear()
        found = [asyncio.run(room.client.get("/-/search", params=p)).text for p in searches]
        assert len(handed) == (0 if budget > 0 else len(searches))  # where each was answered
        return found

    asyncio.run(room.client.get("/"))  # the home page's own reads, before counting
    here = pages(10_000.0)
    assert pages(-1.0) == here
    assert all('class="morgue-hit"' in page for page in here)

    def broken(conn: object) -> None:
        conn.execute("SELECT * FROM articles_fts WHERE articles_fts MATCH 'a AND'")  # type: ignore[attr-defined]

    async def engine_error() -> str:
        try:
            await inline.quick_first(room, room.get_database("morgue"), broken)
        except Exception as exc:  # noqa: BLE001 - the engine's own error is what is checked
            return f"{type(exc).__name__}: {exc}"
        return "no error"

    monkeypatch.setattr(inline, "BUDGET_MS", 10_000.0)  # type: ignore[attr-defined]
    assert asyncio.run(engine_error()).startswith("OperationalError: fts5: syntax error")
