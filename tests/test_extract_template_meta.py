"""Learned metadata sources (extract.template_meta): where a site keeps its headline, author, date and
lead, learned from the teacher pages, read on fitted pages, and left to the full extraction field by
field where the learned source is missing on a page."""

from __future__ import annotations

import json

from archive.extractions import template_identity
from archive.site_templates import describe, read_template_record, template_record
from extract import extract_article
from extract.template import Template
from extract.template_learner import TemplateLearner
from tests.template_site import SITE_NAME, author, lead, meta_page, page, published, title

BYLINE_TIME = "dom:div.layout/article.story/div.byline/time.published"
BYLINE_NAME = "dom:div.layout/article.story/div.byline/span.name"


def _url(n: int) -> str:
    return f"https://harbour.example.test/news/{n}.html"


def _learned(pages: range) -> TemplateLearner:
    learner = TemplateLearner()
    for n in pages:
        result = extract_article(meta_page(n), _url(n), template=learner.template, learn=learner.wants())
        assert result is not None
        learner.observe(result.to_dict())
        if learner.due():
            learner.learn()
    assert learner.template is not None
    return learner


def test_learned_sources_are_read_on_fitted_pages() -> None:
    template = _learned(range(1, 7)).template
    meta = template.meta
    # the site's og:title is its own name on every page: the headline is learned from the h1 the <title>
    # repeats, not from what the teacher answered
    assert meta["title"] == [{"source": "dom:div.layout/article.story/h1.headline", "agree": [4, 4],
                              "in_title": True}]
    # JSON-LD first (the full extraction reads it first), then the byline's name element
    assert [e["source"] for e in meta["authors"]] == ["ld", BYLINE_NAME]
    assert meta["published"] == [{"source": BYLINE_TIME, "agree": [4, 4]}]
    assert [e["source"] for e in meta["description"]] == ["meta:description",
                                                           "dom:div.layout/article.story/p.standfirst"]
    # a later page whose first <time> is a "latest" box's: the learned byline date is read, where the
    # full extraction of the same page takes the box's
    n = 9
    html = meta_page(n, ticker=True)
    fitted = extract_article(html, _url(n), template=template)
    assert fitted is not None and fitted.template == "template v1"
    assert fitted.title == title(n) and fitted.authors == [author(n)] and fitted.published == published(n)
    assert fitted.description == lead(n)
    assert fitted.metadata_from == {
        "title": "learned div.layout > article.story > h1.headline",
        "authors": "learned JSON-LD article",
        "published": f"learned {' > '.join(BYLINE_TIME[4:].split('/'))}",
        "description": "learned <meta description>"}
    alone = extract_article(html, _url(n))
    assert alone is not None and alone.title == SITE_NAME and alone.published == "2025-12-24T18:00:00+00:00"
    assert alone.metadata_from is None


def test_a_page_without_the_learned_source_gets_the_field_from_the_full_extraction() -> None:
    template = _learned(range(1, 7)).template
    n = 11
    no_ld = extract_article(meta_page(n, jsonld=False), _url(n), template=template)
    assert no_ld is not None and no_ld.template == "template v1"
    assert no_ld.authors == [author(n)]  # from the byline, the second learned source
    assert no_ld.metadata_from["authors"] == "learned div.layout > article.story > div.byline > span.name"
    assert no_ld.metadata_from["title"].startswith("learned ")
    # nor the byline's name element: the full extraction finds the author in the meta tag
    plain = meta_page(n, jsonld=False).replace(f'<span class="name">{author(n)}</span>', author(n))
    neither = extract_article(plain, _url(n), template=template)
    assert neither is not None and neither.template == "template v1" and neither.authors == [author(n)]
    assert neither.metadata_from["authors"] == ("full extraction (JSON-LD article missing; div.layout > "
                                                "article.story > div.byline > span.name missing)")
    # a headline the page's <title> does not repeat is not trusted: the full extraction's title instead
    html = meta_page(n).replace(f"<title>{title(n)} | ", "<title>Breaking | ")
    odd = extract_article(html, _url(n), template=template)
    assert odd is not None and odd.template == "template v1" and odd.title == SITE_NAME
    assert odd.metadata_from["title"] == ("full extraction (div.layout > article.story > h1.headline not in "
                                          "the page's <title>)")
    # no standfirst and no meta description: no lead from anywhere
    bare = meta_page(n).replace(f'<meta name="description" content="{lead(n)}">', "").replace(
        f'<p class="standfirst">{lead(n)}</p>', "")
    none = extract_article(bare, _url(n), template=template)
    assert none is not None and none.description is None
    assert none.metadata_from["description"] == ("full extraction (<meta description> missing; div.layout > "
                                                 "article.story > p.standfirst missing)")


def test_a_page_that_does_not_fit_gets_the_full_metadata_extraction() -> None:
    template = _learned(range(1, 7)).template
    n = 12
    other = page(n, "b")  # the harbour site's other layout: the template's body is missing
    result = extract_article(other, _url(n), template=template)
    assert result is not None and result.template is None and "missing" in result.fallback
    assert result.metadata_from is None
    assert result.title == extract_article(other, _url(n)).title == title(n)


def test_learned_metadata_is_archived_and_an_older_record_replays_unchanged() -> None:
    template = _learned(range(1, 7)).template
    uri, body, _ = template_record("harbour", template)
    site, back = read_template_record(body)
    assert site == "harbour" and back == template and back.meta == template.meta
    assert template_identity(back.to_dict()) == template_identity(template.to_dict())
    # a record written before metadata was learned has no "meta": it replays as it was, same digest
    old = {k: v for k, v in template.to_dict().items() if k != "meta"}
    _, replayed = read_template_record(json.dumps({"site": "harbour", "template": old}).encode())
    assert replayed.meta == {} and replayed.to_dict() == old
    assert template_identity(replayed.to_dict()) == template_identity(old)
    fitted = extract_article(meta_page(9, ticker=True), _url(9), template=replayed)
    assert fitted is not None and fitted.template == "template v1" and fitted.metadata_from is None
    assert fitted.title == SITE_NAME  # without learned sources: the full extraction's answer, as before


def test_templates_lists_the_learned_sources() -> None:
    template = _learned(range(1, 7)).template
    row = {"site": "harbour", "version": 1, "status": "active", "template": json.dumps(template.to_dict()),
           "learned_at": "x", "expires_at": "y", "pages_learned": 4, "fitted": 2, "fallbacks": 0,
           "note": None}
    lines = describe([row])
    assert ("  title: div.layout > article.story > h1.headline (inside the page's <title> on 4 of 4 pages)"
            in lines)
    assert ("  description: <meta description> (agreed with the full extraction on 4 of 4 pages), then "
            "div.layout > article.story > p.standfirst (agreed with the full extraction on 4 of 4 pages)"
            in lines)


def test_a_template_without_meta_learns_none_from_pages_that_disagree() -> None:
    """Metadata is learned only where the teacher pages agree: here every page keeps its date in a
    different place (the box comes first on half of them), so no date source is learned."""
    learner = TemplateLearner()
    for n in range(1, 9):
        html = meta_page(n, ticker=n % 2 == 0)
        result = extract_article(html, _url(n), template=learner.template, learn=learner.wants())
        learner.observe(result.to_dict())
        if learner.due():
            learner.learn()
    t = learner.template
    assert isinstance(t, Template) and "title" in t.meta
    assert "published" not in t.meta


def test_byline_names() -> None:
    from extract.template_meta import byline_names

    assert byline_names("By Ada Quayle and Ben Tiller") == ["Ada Quayle", "Ben Tiller"]
    assert byline_names("by Cora Marsh, Dan Ferris & Ada Quayle") == ["Cora Marsh", "Dan Ferris",
                                                                      "Ada Quayle"]
    assert byline_names("Sandra Anderson") == ["Sandra Anderson"] and byline_names("  ") == []
