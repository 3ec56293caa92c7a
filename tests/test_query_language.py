"""The search language for people (archive.query_language) on a real SQLite index: what journalists type
finds the articles a reader expects, through every entry point — ``Index.search`` (``morgue search``),
the reading room's search page and datasette's table search — and nothing typed is an engine error."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive.index import Index, SearchError, capture_row
from archive.query_language import MAX_CHARS, translate
from archive.reading_room import make_datasette
from archive.records import RecordPointer

BASE = "https://gazette.example/"

# name -> (title, text): each query below names the articles it must find, and no others
ARTICLES: dict[str, tuple[str, str]] = {
    "obrien": ("Councillor resigns after audit",
               "Councillor Siobhán O'Brien resigned on Tuesday. O'Brien said she had done nothing wrong."),
    "brien-street": ("Brien Street to close", "Brien Street, off the quay, closes for repairs in May."),
    "covid": ("Covid-19 ward reopens", "The covid-19 ward at the infirmary reopened with twelve beds."),
    "covid-other": ("Ward 19 closes", "Covid cases fell in the town, and ward 19 closed for cleaning."),
    "email": ("Council e-mail leak", "An e-mail sent to all staff listed the planned cuts."),
    "email-joined": ("Staff told by email", "Staff were told by email that the depot would move."),
    "us": ("U.S. envoy visits", "The U.S. envoy toured the harbour and met fishermen."),
    "us-pronoun": ("Readers write", "Let us hear from you: write to the letters page."),
    "money": ("Harbour wall to cost £2.4 million",
              "The harbour-wall repairs will cost £2.4 million, the council said."),
    "money-other": ("Schools budget", "Schools get £4.2 million. 4 new teachers start in 2026."),
    "wall": ("Storm damage", "The harbour wall collapsed in the storm on Friday night."),
    "report": ("Report published",
               "The full report is at https://council.example/reports/sea-defences.pdf for anyone to read."),
    "metoo": ("March on the promenade", "Marchers chanted #MeToo along the promenade on Saturday."),
    "tokyo": ("姉妹都市の代表団", "東京都知事は、港の防波堤を視察した。"),
    "athens": ("Αθήνα: νέο λιμάνι", "Η Αθήνα ανακοίνωσε νέο λιμάνι για τα πλοία."),
    "moscow": ("Делегация в порту", "Делегация из Москвы посетила порт в понедельник."),
    "cairo": ("وفد زائر", "وفد من القاهرة زار الميناء صباح اليوم."),
    "cafe": ("Café Zürich reopens", "The Café Zürich on the quay reopens; its owner Zoë Müller is glad."),
    "lighthouse": ("Lighthouse keeper retires",
                   "The lighthouse keeper retired after forty years; he came ashore by ferry."),
    "ferry": ("New ferry timetable", "A new ferry timetable starts in spring; the lighthouse is unaffected."),
    "lifeboat": ("Lifeboat crew honoured", "The lifeboat crew were honoured for a night rescue."),
    "bus": ("Bus drivers strike", "Bus drivers strike over pay on Monday."),
    "regatta": ("Rowing regatta record", "A record time at the regatta drew crowds to the harbour."),
    "dredging": ("Harbour dredging begins", "Dredging of the harbour mouth begins next week."),
    "quote": ("Mayor promises pier", 'The mayor said "we will rebuild the pier" at the meeting.'),
    "meeting": ("Council meets", "The council meets at 10:30 on 28/11/2026 in the town hall."),
    "jobs": ("Jobs at risk", "Up to 2,400 jobs are at risk at the shipyard."),
    "att": ("Telecoms deal", "AT&T signed a deal for the harbour's mobile mast."),
    "library": ("Library hours cut", "The council cut library hours; libraries open four days."),
}

HARBOUR_WALL = {"money", "wall"}
EITHER_BOAT = {"ferry", "lifeboat", "lighthouse"}
FERRY = {"ferry", "lighthouse"}

# (what a journalist types, the articles it must find, a phrase the message must contain or None for no
# message). An empty set with a message: nothing could be searched, and the message says why.
QUERIES: list[tuple[str, set[str], str | None]] = [
    # names with apostrophes and accents
    ("O'Brien", {"obrien"}, None),
    ("O’Brien", {"obrien"}, None),  # a typographic apostrophe
    ("o'brien", {"obrien"}, None),
    ("Siobhán O'Brien", {"obrien"}, None),
    ("Siobhan O'Brien", {"obrien"}, None),  # typed without the accent
    ("Brien", {"obrien", "brien-street"}, None),
    ("Zoë Müller", {"cafe"}, None),
    ("Zoe Muller", {"cafe"}, None),
    ("café zürich", {"cafe"}, None),
    ("CAFE", {"cafe"}, None),
    # hyphens, abbreviations, figures, times, dates
    ("covid-19", {"covid"}, None),
    ("Covid-19 ward", {"covid"}, None),
    ("covid", {"covid", "covid-other"}, None),
    ("e-mail", {"email", "email-joined"}, None),
    ("U.S.", {"us"}, None),
    ("U.S. envoy", {"us"}, None),
    ("£2.4 million", {"money"}, None),
    ("2.4 million", {"money"}, None),
    ("harbour-wall", HARBOUR_WALL, None),
    ('"harbour wall"', HARBOUR_WALL, None),
    ("2,400", {"jobs"}, None),
    ("10:30", {"meeting"}, None),
    ("28/11/2026", {"meeting"}, None),
    ("AT&T", {"att"}, None),
    # URLs, domains, hashtags
    ("https://council.example/reports/sea-defences.pdf", {"report"}, None),
    ("council.example", {"report"}, None),
    ("#MeToo", {"metoo"}, None),
    ("metoo", {"metoo"}, None),
    # non-Latin scripts
    ("東京", {"tokyo"}, None),  # no spaces between words: found as the beginning of 東京都知事は
    ("東京都知事", {"tokyo"}, None),
    ("Αθήνα", {"athens"}, None),
    ("ΑΘΉΝΑ", {"athens"}, None),
    ("Москвы", {"moscow"}, None),
    ("Москв*", {"moscow"}, None),
    ("القاهرة", {"cairo"}, None),
    # the operators people know
    ('"lighthouse keeper"', {"lighthouse"}, None),
    ("lighthouse NOT ferry", set(), None),  # the lighthouse article mentions the ferry
    ("lighthouse -timetable", {"lighthouse"}, None),
    ("ferry OR lifeboat", EITHER_BOAT, None),
    ("ferry AND lighthouse", FERRY, None),
    ("(bus OR ferry) NOT strike", FERRY, None),
    ("harbour dredging", {"dredging"}, None),
    ("dredg*", {"dredging"}, None),
    ("libra*", {"library"}, None),
    ("title:regatta", {"regatta"}, None),
    ("title:harbour", {"money", "dredging"}, None),
    ("harbour -title:harbour", {"wall", "us", "regatta", "att"}, None),
    ("title:(ferry OR lifeboat)", {"ferry", "lifeboat"}, None),
    ('"we will rebuild"', {"quote"}, None),
    # stray quotes and brackets, dangling operators: read sensibly, with a message
    ('"lighthouse keeper', {"lighthouse"}, "closing quote"),
    ('mayor "we will rebuild', {"quote"}, "closing quote"),
    ("((bus OR ferry) -strike", FERRY, "closing bracket"),
    ("ferry)", FERRY, "closing bracket"),
    ("ferry OR", FERRY, "OR needs a word"),
    ("OR ferry", FERRY, "OR needs a word"),
    ("ferry NOT", FERRY, "NOT needs a word"),
    ("lifeboat OR -ferry", {"lifeboat"}, "only says what to leave out"),
    # what cannot be searched: a message, never an error
    ("-ferry", set(), "only says what to leave out"),
    ("NOT ferry", set(), "only says what to leave out"),
    ("🙂", set(), "no letters or digits"),
    ('""', set(), "no letters or digits"),
    ("*", set(), "no letters or digits"),
    ("title:", set(), "title: needs a word"),
    # pasted junk
    ("ferry\x00\x07", FERRY, "control characters"),
    ("ferry\udcff", FERRY, "not valid text"),
    ("ferry " * 2000, FERRY, f"longer than {MAX_CHARS:,} characters"),
]


def _pointer(n: int) -> RecordPointer:
    return RecordPointer(warc_file="morgue-1.warc.gz", offset=1000 * n, length=900,
                         record_id=f"<urn:uuid:{n}>", record_type="response", payload_digest=f"sha256:P{n}",
                         block_digest=f"sha256:B{n}", date="2026-11-20T10:00:00.000Z")


@dataclass
class Fixture:
    data: Path
    names: dict[str, str]  # article id -> name

    def named(self, ids: list[str]) -> set[str]:
        return {self.names[i] for i in ids}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    data = tmp_path_factory.mktemp("query_language")
    names = {}
    with Index(data / "morgue.db") as index:
        for n, (name, (title, text)) in enumerate(ARTICLES.items(), start=1):
            url = BASE + name
            row = capture_row(_pointer(n), url=url, status=200, headers=[("Content-Type", "text/html")],
                              payload_length=1000, site="gazette", crawl_id=1, kind="page")
            index.add_capture(row)
            extraction = {"text": text, "title": title, "authors": ["Ann Writer"], "language": "en",
                          "published": f"2026-11-{n % 28 + 1:02d}T08:00:00+00:00", "extractor": "test"}
            status, article_id = index.add_article(row, extraction, url=url, site="gazette")
            assert status == "new"
            names[article_id] = name
        index.commit()
    return Fixture(data, names)


@pytest.fixture(scope="module")
def room(archive: Fixture) -> Any:
    return make_datasette(archive.data)


def _get(room: Any, path: str, params: dict[str, str]) -> Any:
    """GET with the parameters percent-encoded as a browser would; a lone surrogate (which cannot be
    sent) goes as the invalid UTF-8 byte it stands for."""
    query = "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'surrogateescape'))}" for k, v in params.items())
    return asyncio.run(room.client.get(f"{path}?{query}"))


def _ids(query: str) -> str:
    return query if len(query) < 40 else query[:37] + "..."


@pytest.mark.parametrize(("query", "expected", "note"), QUERIES, ids=[_ids(q) for q, _, _ in QUERIES])
def test_morgue_search_finds_what_a_reader_expects(archive: Fixture, query: str, expected: set[str],
                                                   note: str | None) -> None:
    with Index(archive.data / "morgue.db", readonly=True) as index:
        if not expected and note:
            with pytest.raises(SearchError, match=re.escape(note)):
                index.search(query, limit=100)
            return
        hits = index.search(query, limit=100)
    assert {h.url.removeprefix(BASE) for h in hits} == expected
    if note:
        assert hits.message and note.lower() in hits.message.lower() and "searched for" in hits.message
    else:
        assert hits.message is None


@pytest.mark.parametrize(("query", "expected", "note"), QUERIES, ids=[_ids(q) for q, _, _ in QUERIES])
def test_reading_room_search_finds_what_a_reader_expects(archive: Fixture, room: Any, query: str,
                                                         expected: set[str], note: str | None) -> None:
    response = _get(room, "/-/search", {"q": query})
    page = response.text
    assert response.status_code == (400 if note and not expected else 200), page[-2000:]
    assert archive.named(re.findall(r'<li class="morgue-hit" data-id="([^"]+)"', page)) == expected
    messages = re.findall(r'<p class="message-(?:info|error)[^"]*">(.*?)</p>', page, re.S)
    if note:
        assert any(note.lower() in m.lower() for m in messages), messages
    else:
        assert messages == []


@pytest.mark.parametrize(("query", "expected", "note"), QUERIES, ids=[_ids(q) for q, _, _ in QUERIES])
def test_datasette_table_search_finds_what_a_reader_expects(archive: Fixture, room: Any, query: str,
                                                            expected: set[str], note: str | None) -> None:
    response = _get(room, "/morgue/articles.json", {"_search": query, "_shape": "array", "_col": "url"})
    assert response.status_code == 200, response.text
    assert {row["url"].removeprefix(BASE) for row in response.json()} == expected


def test_table_search_page_shows_a_query_that_can_be_searched_again(room: Any) -> None:
    page = _get(room, "/morgue/articles", {"_search": "O'Brien -audit"}).text
    shown = re.search(r'<input[^>]*name="_search"[^>]*value="([^"]*)"', page)
    assert shown, "the table page has its search box"
    import html

    again = html.unescape(shown.group(1))
    assert translate(again).match == translate("O'Brien -audit").match


def test_the_translation_reads_the_same_when_searched_again() -> None:
    """What morgue searched for (shown in messages and in datasette's search box) is itself a query in
    the language that means the same."""
    for query, _, _ in QUERIES:
        match = translate(query).match
        assert translate(match).match == match, query


def test_messages_say_what_was_searched_instead() -> None:
    assert translate("O'Brien").match == '"O\'Brien"'
    assert translate('"lighthouse keeper').message == (
        'The closing quote was missing: searched for "lighthouse keeper" instead.')
    assert translate("harbour (ferry OR bus) -strike").match == "(harbour AND (ferry OR bus)) NOT strike"
    assert translate("-ferry").message == (
        "Nothing to search for: -ferry only says what to leave out, so it was ignored; add a word to find.")
    assert translate("   ").match == "" and translate("   ").message is None
    assert translate("").match == "" and translate("").message is None


_FTS = sqlite3.connect(":memory:")
_FTS.execute("CREATE VIRTUAL TABLE t USING fts5(title, text, tokenize='porter unicode61')")
_FTS.execute("INSERT INTO t VALUES ('O''Brien', 'covid-19 e-mail U.S. £2.4 東京都')")
_PIECES = [*"ab O'-\"()*:#.£,/\\^+{}[]", " OR ", " AND ", " NOT ", "NEAR", "title", "text:", "東京", "\x00",
           "\udcff"]
_TYPED = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed=st.one_of(st.text(max_size=60), _TYPED))
def test_no_typed_query_is_an_engine_error(typed: str) -> None:
    translation = translate(typed)
    if translation.match:
        _FTS.execute("SELECT count(*) FROM t WHERE t MATCH ?", [translation.match]).fetchone()
    else:
        assert translation.message or not translation.text.strip()
    translation.text.encode("utf-8")  # shown on the page: always encodable
