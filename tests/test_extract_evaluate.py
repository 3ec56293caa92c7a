"""The corpus scorer's appeal judge (extract.evaluate): it must flag asks, and not news that mentions the
words. corpus/README.md: a page leaks when an extraneous sentence is a donation, subscription, membership or
newsletter *appeal*."""

import pytest

from extract.evaluate import is_appeal, leaked_appeals

APPEALS = [
    "Become a member today.",
    "Your membership supports independent journalism.",
    "Membership starts at $5 a month.",
    "Get a free membership now.",
    "Join our membership programme.",
    "Support us today.",
    "Subscribe to us now",
    "Please donate to keep us going.",
    "Sign up for our newsletter.",
    "Get the latest news in your inbox.",
    "Thank you for subscribing to our daily newsletter.",
    "Unterstützen Sie uns mit einer Spende.",
]
NOT_APPEALS = [
    # news quoting a membership (fundus/uk_Metro_2024_07_17): "membership" alone is not an ask
    "It will endeavour to play a leading role in providing Ukraine with a clear path to Nato membership.",
    "I Tried Amp, the AI Strength Training System and It May Replace My Gym Membership",
    "Again, a membership plugin will do.",
    # a price list in a review: "Us$" is a currency, not the pronoun "us"
    "- Monthly subscription: Us$8.5",
    "Annual subscription: US$77.99",
    "The council approved the budget on Tuesday.",
]


@pytest.mark.parametrize("sentence", APPEALS)
def test_appeals_are_flagged(sentence):
    assert is_appeal(sentence)


@pytest.mark.parametrize("sentence", NOT_APPEALS)
def test_mentions_are_not_appeals(sentence):
    assert not is_appeal(sentence)


def test_leaked_appeals_only_counts_extraneous_sentences():
    truth = "The club opened its doors. Become a member today and help the club grow its team."
    predicted = truth + "\n\nSign up for our newsletter to get the news in your inbox."
    assert leaked_appeals(truth, predicted) == ["Sign up for our newsletter to get the news in your inbox."]
    assert leaked_appeals(truth, truth) == []
