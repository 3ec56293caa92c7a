"""Learned site templates (extract.template, extract.template_learner) on a generated site: learning, the
fallback checks, a redesign halfway through, and a site with no common structure."""

from __future__ import annotations

from extract import extract_article
from extract.template import Template, learn
from extract.template_learner import TemplateLearner
from tests.template_site import CAPTION, NEWSLETTER, RELATED, SHARE, odd_page, page, paragraphs


def _url(n: int) -> str:
    return f"https://harbour.example.test/news/{n}.html"


def _run(learner: TemplateLearner, pages: list[tuple[int, str]]) -> list[dict]:
    """Extract pages in order as a crawl does: through the template when there is one, learning as it goes."""
    out = []
    for n, html in pages:
        result = extract_article(html, _url(n), template=learner.template, learn=True)
        assert result is not None, n
        data = result.to_dict()
        learner.observe(data)
        if learner.due():
            learner.learn()
        out.append({"n": n, **data})
    return out


def _no_body_lost(results: list[dict]) -> None:
    for r in results:
        flat = " ".join(r["text"].split())
        missing = [p for p in paragraphs(r["n"]) if p not in flat]
        assert missing == [], (r["n"], r["template"], r["fallback"], missing)


def test_template_learned_from_the_first_pages_drops_furniture_and_keeps_the_body() -> None:
    learner = TemplateLearner()
    results = _run(learner, [(n, page(n, "a")) for n in range(1, 13)])
    _no_body_lost(results)
    template = learner.template
    assert template is not None and template.version == 1
    # the container is named without the per-article digits of its id and classes
    assert template.container[-1] == "div#story-.story-.story-body"
    assert {"*/div.share-tools", "*/div.related-links", "*/figure.photo"} <= set(template.drop)
    through = [r for r in results if r["template"]]
    assert [r["n"] for r in through] == list(range(5, 13))  # four teacher pages, then the template
    for r in through:
        assert SHARE[:20] not in r["text"] and CAPTION not in r["text"]
        assert not any(t in r["text"] for t in RELATED)
        assert r["title"].startswith("Harbour report number") and r["published"].startswith("2026-03-")
        reasons = {b["reason"] for b in r["removed"]}
        assert reasons == {"template"}
        details = [b["detail"] for b in r["removed"]]
        assert "template v1: */figure.photo (furniture on 4 of 4 pages)" in details
    # JSON round trip (the form it is stored in)
    assert Template.from_dict(template.to_dict()) == template


def test_redesign_halfway_falls_back_without_eating_body_text_and_starts_a_new_version() -> None:
    learner = TemplateLearner()
    pages = [(n, page(n, "a")) for n in range(1, 9)]
    pages += [(n, page(n, "hijack")) for n in range(9, 11)]  # container kept, body moved out of it
    pages += [(n, page(n, "b")) for n in range(11, 25)]  # a new layout
    results = _run(learner, pages)
    _no_body_lost(results)
    by_n = {r["n"]: r for r in results}
    assert "prose outside the container" in by_n[9]["fallback"]
    assert "container" in by_n[11]["fallback"] and "missing" in by_n[11]["fallback"]
    assert learner.template is not None and learner.template.version == 2
    assert learner.template.container == ["main.content-v", "section.article-text"]
    assert learner.redesigns == 1
    assert [t.version for t in learner.learned_now] == [1, 2]
    late = [r for r in results if r["n"] >= 18]
    assert all(r["template"] == "template v2" for r in late)
    assert all(NEWSLETTER not in r["text"] for r in late)
    assert learner.counts[1][1] >= 2  # fallbacks were counted against version 1


def test_a_page_too_short_for_the_template_falls_back() -> None:
    learner = TemplateLearner()
    _run(learner, [(n, page(n, "a")) for n in range(1, 6)])
    assert learner.template is not None
    full = page(99, "a")
    start = full.index('id="story-99">') + len('id="story-99">')
    end = full.index("</article>")
    video = "<p>Watch the video of the harbour storm and the rescue crews at work.</p></div>"
    short = full[:start] + video + full[end:]
    result = extract_article(short, _url(99), template=learner.template)
    assert result is not None and result.template is None
    assert "characters in the container" in result.fallback
    # the end-of-crawl re-extraction asks for the template's text only: no full pipeline for a misfit
    assert extract_article(short, _url(99), template=learner.template, fallback=False) is None
    fits = extract_article(full, _url(99), template=learner.template, fallback=False)
    assert fits is not None and fits.template == "template v1"


def test_a_site_with_no_common_structure_gets_no_template_and_says_so() -> None:
    learner = TemplateLearner()
    results = _run(learner, [(n, odd_page(n)) for n in range(1, 13)])
    _no_body_lost(results)
    assert learner.template is None
    assert learner.why_not.startswith("no common structure: the article body sits in")
    assert all(r["template"] is None and r["fallback"] is None for r in results)
    template, why = learn([r["observation"] for r in results])
    assert template is None and "no common structure" in why


def test_too_few_pages_learn_nothing() -> None:
    observations = [extract_article(page(n, "a"), _url(n), learn=True).observation for n in (1, 2)]
    template, why = learn(observations)
    assert template is None and why == "2 page(s) to learn from, 4 needed"


def test_pages_of_another_kind_coming_together_are_not_a_redesign() -> None:
    """A site whose pages are mostly of one template, with now and then a page of another kind: a few of
    those in a row (half of the latest pages) fall back without starting a new version, and a page of
    the site's own template still goes through the one version learned."""
    kinds = ["a"] * 10 + ["b"] + ["a"] * 5 + ["b"] + ["a"] * 5 + ["b", "a", "b", "b", "b"] + ["a"] * 6
    learner = TemplateLearner()
    results = _run(learner, [(n, page(n, kind)) for n, kind in enumerate(kinds, start=1)])
    _no_body_lost(results)
    assert [t.version for t in learner.learned_now] == [1] and learner.redesigns == 0
    assert learner.counts[1] == [kinds.count("a") - 4, kinds.count("b")]
    assert all(r["template"] == "template v1" for r in results[-6:])
