"""Boilerplate layers on fixtures written for morgue: hashed class names, appeals in four languages."""

from pathlib import Path

import pytest

from extract import extract_article
from extract.article import extract_with_layers
from extract.boilerplate.phrases import APPEAL, TRIGGER, appeal_hits, is_appeal

FIXTURES = Path(__file__).parent / "fixtures" / "extract"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_hashed_class_donation_and_newsletter_boxes_removed_body_kept():
    result = extract_article(load("donation_hashed.html"), "https://gazette.example.test/news/flood-wall")
    assert result is not None
    for body in (
        "voted on Tuesday to build",
        "14 million euros",
        "lorries that will use",
        "thanked the engineers",
    ):
        assert body in result.text
    for junk in (
        "Stories like this take weeks",
        "Your donation keeps",
        "Give now",
        "morning briefing",
        "straight to your inbox",
        "Sign me up",
    ):
        assert junk not in result.text
    reasons = {(b.reason, b.text.split()[0]) for b in result.removed}
    assert ("structure", "Independent") in reasons and ("structure", "Get") in reasons
    # the paragraph that asks for nothing by itself went with its box
    assert any("Stories like this take weeks" in b.text for b in result.removed)


def test_without_structure_layer_the_box_is_only_partly_caught():
    result = extract_with_layers(load("donation_hashed.html"), layers={"phrase"})
    assert result is not None
    assert "Stories like this take weeks" in result.text  # needs the box, not the words


@pytest.mark.parametrize(
    "junk",
    [
        "Jetzt abonnieren",
        "Soutenez notre rédaction",
        "Suscríbete a nuestro",
        "Sign up for our free newsletter",
    ],
)
def test_multilingual_appeals_removed(junk):
    result = extract_article(load("appeals_multilingual.html"))
    assert result is not None
    assert junk not in result.text
    assert any(junk in b.text and b.reason == "phrase" for b in result.removed)


def test_multilingual_body_kept():
    text = extract_article(load("appeals_multilingual.html")).text
    for body in (
        "bis mindestens Oktober",
        "über die neue Südbrücke",
        "30 Millionen Euro",
        "bitte die Fahrgäste aber um Geduld",
        "frühestens 2030",
    ):
        assert body in text
    assert "\n\n" in text and "\n\n\n" not in text


@pytest.mark.parametrize(
    "text",
    [
        "Support our journalism with a donation today.",
        "Sign up for our newsletter.",
        "Subscribe to continue reading.",
        "Become a member and read without limits.",
        "Unterstützen Sie unseren Journalismus.",
        "Melden Sie sich für unseren Newsletter an.",
        "Abonnez-vous pour lire la suite.",
        "Faites un don à la rédaction.",
        "Hazte socio y apoya nuestro periodismo.",
        "Recibe nuestro boletín en tu correo.",
        "The MCJ Newsletter is a FREE weekly email curating news, jobs and events.",
        "For subscribers there are referral rewards if you refer 100 other readers.",
        "Just sign up on the platform and fill out the details to get exposure to investors.",
    ],
)
def test_appeal_phrases(text):
    assert is_appeal(text)
    assert TRIGGER.search(text.lower())


@pytest.mark.parametrize(
    "text",
    [
        "Netflix said subscriptions rose by 9 million in the quarter, beating forecasts.",
        "The charity's donations fell sharply after the scandal, its accounts show.",
        "Der Verein hat 300 Mitglieder und trifft sich jeden Dienstag im Rathaus.",
        "Les abonnés du réseau de chaleur paieront 12 % de plus cet hiver, selon la métropole.",
        "GPs said the referral process for scans now takes up to six weeks.",
        "The weekly paper went free in 2019, and its daily edition closed.",
    ],
)
def test_news_about_money_is_not_an_appeal(text):
    assert not is_appeal(text)


def test_every_appeal_alternative_has_a_trigger_word():
    """The cheap pre-filter must never hide a phrase the full pattern would find."""
    samples = [m.group(0) for m in APPEAL.finditer(load("appeals_multilingual.html").decode())]
    assert samples
    for sample in samples:
        assert TRIGGER.search(sample.lower()), sample
        assert appeal_hits(sample) >= 1


def test_fast_lower_case_pattern_finds_what_the_reference_finds():
    """``_APPEAL_LOWER`` (lower-cased text, leading \\b factored out) must agree with ``APPEAL`` exactly."""
    from extract.boilerplate.phrases import _APPEAL_LOWER, _PHRASES

    assert all(p.startswith(r"\b") for p in _PHRASES)  # what factoring the \b out relies on
    texts = [
        load(name).decode("utf-8")
        for name in ("appeals_multilingual.html", "donation_hashed.html", "site_page_1.html")
    ] + ["SIGN UP FOR OUR NEWSLETTER.", "Jetzt Abonnieren!", "Unlock 50% OFF today", "SUPPORT OUR JOURNALISM"]
    found = 0
    for text in texts:
        reference = [(m.start(), m.group(0).lower()) for m in APPEAL.finditer(text)]
        assert reference == [(m.start(), m.group(0)) for m in _APPEAL_LOWER.finditer(text.lower())]
        found += len(reference)
    assert found >= 10
    assert is_appeal("SIGN UP FOR OUR NEWSLETTER.") and appeal_hits("Jetzt Abonnieren!") == 1
