"""Bad input never raises: random bytes, empty, wrong or missing charset, absurd nesting."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extract import extract_article
from extract.decode import decode_html

BODY = (
    "<p>Le café de la gare a rouvert ses portes après deux ans de travaux, au grand plaisir des habitués.</p>"
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_random_bytes_never_raise(data):
    result = extract_article(data, "https://example.test/x")
    assert result is None or isinstance(result.text, str)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=500), st.sampled_from(["<div>", "</p>", "<p>", "<<", "<!--", "<html><body>", "&#0;"]))
def test_malformed_html_never_raises(noise, tag):
    result = extract_article(f"<html><body>{tag}{noise}{BODY * 3}{tag}{noise}", encoding="no-such-charset")
    assert result is None or "\x00" not in result.text


def test_empty_and_non_html():
    assert extract_article(b"") is None
    assert extract_article("   ") is None
    assert extract_article(b"%PDF-1.7\n\x00\x01\x02binary") is None
    assert extract_article(b"just some plain text, no markup at all") is None


def test_latin1_without_declaration():
    page = f"<html><body><article>{BODY * 4}</article></body></html>".encode("latin-1")
    result = extract_article(page)
    assert result is not None and "café" in result.text and "\ufffd" not in result.text


def test_http_charset_wins_and_utf8_mislabelled_latin1():
    page = f"<html><body><article>{BODY * 4}</article></body></html>"
    assert "café" in extract_article(page.encode("cp1252"), encoding="windows-1252").text
    labelled = ('<meta charset="iso-8859-1">' + page).encode("utf-8")
    assert "café" in decode_html(labelled)


def test_deep_nesting():
    page = "<html><body>" + "<div>" * 20000 + BODY * 3 + "</div>" * 20000 + "</body></html>"
    result = extract_article(page)
    assert result is None or isinstance(result.text, str)


def test_a_page_of_links_only_is_not_an_article():
    """A section shell or menu page (all its words inside links) is archived but never filed as an article."""
    nav = '<nav><a href="/">Home</a> <a href="/news">News</a></nav>'
    assert extract_article(f"<html><body>{nav}</body></html>", "https://example.test/") is None
    links = "".join(f'<li><a href="/story-{i}">Council story {i} of the day</a></li>' for i in range(12))
    section = f"<html><body>{nav}<ul>{links}</ul></body></html>"
    assert extract_article(section, "https://example.test/s") is None
    # a brief with a sentence of its own is still an article, links around it or not
    brief = "<p>The council voted on Tuesday to close the harbour wall.</p>"
    result = extract_article(
        f"<html><body>{nav}<article>{brief}</article></body></html>", "https://example.test/b"
    )
    assert result is not None and "harbour wall" in result.text
