"""Scoring used by the benchmark and the shared-corpus tests, exactly as ``corpus/README.md`` defines it.

Kept in the package (not in the benchmark) so that tests and benchmark cannot drift apart. The appeal
judge here is deliberately independent of, and broader than, the removal phrases in
``extract.boilerplate.phrases``: scoring with our own removal list would only measure itself.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’»)]*\s+|\n+")

# What makes an extraneous sentence an appeal: it asks the reader for money, a subscription, a membership or
# a newsletter sign-up (en, de, fr, es, plus a few it/pt/nl words). Mentions without an ask ("a two-year
# subscription", "the donation centre") are not appeals.
# "us" is the pronoun, not the currency prefix of "US$14" (the scorer is case-insensitive).
_ASK = r"(you|your|us(?!\$)|our|please|today|now|here|free|help|keep|continue|join|access)"
# A membership is an appeal only when the sentence offers or asks for one ("become a member", "join
# today", "your membership helps"), not in news about one ("a path to Nato membership").
_MEMBERSHIP = (
    r"\b(join|become|buy|get|start|renew|upgrade|purchase|gift|your|our|free)\W+(\w+\W+){0,2}memberships?\b"
    r"|\bmemberships?\W+(\w+\W+){0,4}(you|your|us(?!\$)|today|now|join|starts?|from|only)\b"
)
_APPEAL = re.compile(
    r"\b(donat(e|ion|ing)|contribut(e|ion))\b.*\b" + _ASK + r"\b"
    r"|\b" + _ASK + r"\b.*\b(donat(e|ion|ing)|contribut(e|ion))\b"
    r"|\bsubscri(be|bing|ption|ber)s?\b.*\b" + _ASK + r"\b|\b(please|to|now|today|and|or)\s+subscribe"
    r"|^\W*subscribe|\bnewsletters?\b.*\b(sign|subscri\w*|inbox|email|receive|get|free)\b"
    r"|\b(sign|signing) ?up\b.*\b(newsletter|email|inbox|free|updates|our|to get)\b"
    r"|\b(in|to) your inbox\b|\bbecome an? (member|subscriber|supporter|patron|friend)\b"
    r"|" + _MEMBERSHIP + r"|\bsupport (us|our (work|journalism|reporting|mission))\b"
    r"|\b(independent|quality|local) journalism\b|\byour support\b|\bpatreon\b"
    r"|\babonn\w*|\bspende\w*|\bunterstützen sie\b|\bjetzt (lesen|testen|sichern|anmelden)\b"
    r"|\bmitglied werden\b|\bsoutenez\b|\bfaites un don\b|\bfaire un don\b|\binscrivez-vous\b"
    r"|\blettre d'information\b|\bsuscr[ií]b\w*|\bhazte (socio|miembro)\b|\bapoya\w*|\bbolet[ií]n\b"
    r"|\babbonati\b|\biscriviti\b|\bsostieni\b|\bassine\b|\bsteun ons\b|\bword lid\b",
    re.IGNORECASE,
)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text or "")


def shingles(text: str, n: int = 4) -> Counter[str]:
    """Multiset of n-token shingles; a text shorter than n tokens is one short shingle (as ScrapingHub)."""
    toks = tokens(text)
    return Counter(" ".join(toks[i : i + n]) for i in range(max(1, len(toks) - n + 1)) if toks[i : i + n])


@dataclass
class PageScore:
    precision: float
    recall: float


def score_page(truth: str, predicted: str) -> PageScore:
    """Per-page precision and recall on the shingle multisets (tp, fp, fn normalised by their sum)."""
    t, p = shingles(truth), shingles(predicted)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    if fp == 0 and fn == 0:
        return PageScore(1.0, 1.0)
    total = tp + fp + fn
    tp, fp, fn = tp / total, fp / total, fn / total
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return PageScore(precision, recall)


def f1_of(scores: Iterable[PageScore]) -> tuple[float, float, float]:
    """(F1, mean precision, mean recall): F1 of the two means, as the benchmark defines it."""
    scores = list(scores)
    if not scores:
        return 0.0, 0.0, 0.0
    p = sum(s.precision for s in scores) / len(scores)
    r = sum(s.recall for s in scores) / len(scores)
    return (2 * p * r / (p + r) if p + r else 0.0), p, r


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text or "") if s and s.strip()]


def extraneous_sentences(truth: str, predicted: str) -> list[str]:
    """Sentences of 3+ tokens whose 4-token shingles are less than half present in the ground truth."""
    truth_set = set(shingles(truth))
    out = []
    for sentence in sentences(predicted):
        if len(tokens(sentence)) < 3:
            continue
        sh = list(shingles(sentence).elements())
        if sum(s in truth_set for s in sh) < len(sh) / 2:
            out.append(sentence)
    return out


def is_appeal(sentence: str) -> bool:
    return bool(_APPEAL.search(sentence))


def leaked_appeals(truth: str, predicted: str) -> list[str]:
    """The extraneous sentences that are donation, subscription, membership or newsletter appeals."""
    return [s for s in extraneous_sentences(truth, predicted) if is_appeal(s)]


def same_title(truth: str | None, predicted: str | None) -> bool:
    """Whether an extracted title is the ground truth's: equal but for case and runs of spaces."""
    def norm(text: str | None) -> str:
        return " ".join((text or "").split()).casefold()

    return bool(norm(truth)) and norm(truth) == norm(predicted)
