"""Appeals recognised by what they say: asks for money, subscriptions, memberships, newsletter sign-ups.

Only phrases addressed to the reader count ("support our journalism", "sign up for our newsletter"), not
topics ("the charity's donations rose"), so that news *about* subscriptions or donations survives.
English, German, French and Spanish; each pattern is a phrase, never a lone word.
"""

from __future__ import annotations

import re

_EN = [
    r"\bdonat(e|ion|ing) (to|today|now|and|or)\b",
    r"\bdonate (now|today|here)\b",
    r"\b(your|a) (donation|contribution|gift)s? (allows?|helps?|will|of|keeps?|to)\b",
    r"\b(support|fund|back) (us|our (journalism|reporting|work|newsroom|mission|coverage|journalists)"
    r"|independent journalism|quality journalism"
    r"|(local|independent|public-interest|nonprofit) (news|journalism))",
    r"\b(purchas\w*|buy\w*) a subscription\b|\bsupport (my|this) work\b",
    r"\byour support (helps|makes|matters|allows|means|is)\b",
    r"\bwith your support\b",
    r"\b(subscribe|sign up|signup|register) (now|today|here|for free|free)\b",
    r"\bsubscribe (to|for) (our|the|get|receive|stay|unlock|access|continue|read|keep|independent"
    r"|\w+ premium)\b",
    r"\b(start|get|begin|try) (your|a) (free )?(trial|subscription|membership)\b",
    r"\b(sign|signing) ?up (for|to) (our|the|a|get|receive|free|\w+'s)\b",
    r"\b(sign|signing) ?up (on|at|via) (the|our) (platform|site|website|app)\b",
    r"\b(get|receive|delivered|sent|straight|direct(ly)?|land)\b([^.!?]|\.(?=\w)){0,60}"
    r"\b(in|to|into) your inbox\b",
    r"\b(unlock|save|get|enjoy|take)\b[^.!?]{0,30}\b\d+ ?% off\b|\bsubscription (today|now)\b",
    r"\bour (free |daily |weekly |morning |evening |best |email )*newsletters?\b",
    r"\bfree (daily|weekly|monthly|bi-?weekly) (e-?mail|newsletter|digest|briefing)\b",
    r"\breferral (rewards?|programs?|programmes?|bonus(es)?)\b",
    r"\bnewsletters? (sign[- ]?up|straight|delivered|every)\b",
    r"\bbecome an? (member|subscriber|supporter|patron|friend)\b",
    r"\bjoin (us|our) (today|now|as a|community of)\b",
    r"\b(already a|existing) (subscriber|member)\b",
    r"\bsubscribers? only\b",
    r"\b(to|and) (continue|keep) reading\b",
    r"\bunlimited (digital )?access\b",
    r"\b(this|the rest of this) (article|story|content) is (only )?(available|reserved|exclusive)\b",
    r"\bthank you for (subscribing|signing up|your support|reading)\b",
]
_DE = [
    r"\bjetzt (abonnieren|anmelden|spenden|unterstützen|mitglied werden|weiterlesen|testen|sichern)\b",
    r"\b(unterstützen|unterstütze) (sie |du )?(uns|unsere(n)? (arbeit|journalismus|redaktion))\b",
    r"\bmit (einer|ihrer|deiner) spende\b",
    r"\bnewsletter (abonnieren|bestellen)\b",
    r"\b(unseren|unserem|den|zum) newsletter\b",
    r"\bmitglied werden\b",
    r"\b(für|nur für) abonnent(en|innen)\b",
    r"\b(abonnieren|abonniere) sie\b",
    r"\bins postfach\b",
    r"\bmelden sie sich (für|zu|zum|hier)\b",
    r"\b\w*abo (abschließen|testen|sichern)\b",
]
_FR = [
    r"\bsoutenez(-nous| notre| le| la)\b",
    r"\b(faites|faire) un don\b",
    r"\babonnez-vous\b",
    r"\binscrivez-vous (à|a|gratuitement)\b",
    r"\b(notre|la) (lettre d'information|newsletter)\b",
    r"\b(réservée?s?|réservé) aux abonnés\b",
    r"\bdéjà abonné\b",
    r"\bvotre soutien\b",
    r"\bdevenez (membre|abonné|donateur)\b",
    r"\bdans votre boîte (mail|e-mail|aux lettres)\b",
]
_ES = [
    r"\bsuscr[ií]b(ete|ase|irse|ite)\b",
    r"\bhazte (socio|miembro|suscriptor)\b",
    r"\b(apoya|apóyanos|apoyar) (a |)(nuestro|el|este) periodismo\b",
    r"\bapóyanos\b",
    r"\b(haz|hacer) una donación\b",
    r"\bdona (ahora|hoy|aquí)\b",
    r"\bnuestro (boletín|newsletter)\b",
    r"\btu (apoyo|contribución|donación)\b",
    r"\bexclusivo para (suscriptores|socios)\b",
    r"\bya (eres|soy) (suscriptor|socio)\b",
    r"\ben tu (bandeja|correo)\b",
]
_PHRASES = _EN + _DE + _FR + _ES
# The reference pattern, for any text.
APPEAL = re.compile("|".join(f"(?:{p})" for p in _PHRASES), re.IGNORECASE)
# The same phrases for *lower-cased* text, as used below: without IGNORECASE and with the leading ``\b``
# factored out into "start of a word", ~2.5x faster than APPEAL (tests check both find the same phrases).
_APPEAL_LOWER = re.compile(r"\b(?=\w)(?:" + "|".join(f"(?:{p[2:]})" for p in _PHRASES) + ")")  # p[2:]: "\b"

# Markers of a body cut short by a paywall (also appeals, but they additionally flag the page).
PAYWALL = re.compile(
    r"subscribe to (continue|keep) reading|to continue reading|this (article|story|content) is (only )?"
    r"(available|reserved|exclusive) (to|for) (subscribers|members)|subscribers? only|already a subscriber"
    r"|réservée? aux abonnés|nur für abonnent|weiterlesen mit|exclusivo para suscriptores"
    r"|la suite est réservée|der vollständige artikel",
    re.IGNORECASE,
)


# Every APPEAL phrase contains one of these lower-case literals. Checking them first is ~20x cheaper than
# the full pattern, and most text on a page contains none (tests/test_extract_boilerplate.py keeps them
# in step).
TRIGGER_WORDS = (
    "dona",  # donate, donation, donación, dona ahora
    "contribution",
    "gift",
    "support",  # support us/our/independent..., your support
    "fund ",
    "back us",
    "back our",
    "subscri",  # subscribe, subscriber, subscription
    "sign up",
    "signup",
    "signing up",
    "register ",
    "trial",
    "membership",
    "inbox",
    "newsletter",
    "become a",
    "join ",
    "already a",
    "existing",
    "continue reading",
    "keep reading",
    "unlimited",
    "article is",
    "story is",
    "content is",
    "thank you for",
    "jetzt ",
    "unterstütz",
    "spende",
    "mitglied",
    "abonn",
    "postfach",
    "melden sie",
    "abo ",
    "soutenez",
    "un don",
    "inscrivez",
    "lettre d",
    "soutien",
    "devenez",
    "boîte",
    "suscr",
    "hazte",
    "apoy",
    "apóy",
    "boletín",
    "bandeja",
    "tu correo",
    "exclusivo",
    "ya eres",
    "ya soy",
    "% off",
    "free daily",
    "free weekly",
    "free monthly",
    "free bi",
    "referral",
)
TRIGGER = re.compile("|".join(map(re.escape, TRIGGER_WORDS)))


def _lower(text: str) -> str:
    """Lower-cased text for ``_APPEAL_LOWER``, or "" when no trigger word is in it (nothing to find)."""
    low = text.lower()
    return low if TRIGGER.search(low) else ""


def appeal_hits(text: str, enough: int | None = None) -> int:
    """How many appeal phrases a text contains (counting stops at ``enough``)."""
    low = _lower(text)
    if not low:
        return 0
    n = 0
    for _ in _APPEAL_LOWER.finditer(low):
        n += 1
        if n == enough:
            break
    return n


def appeal_match(text: str) -> str | None:
    """The first appeal phrase in a text known to hold a trigger word (no pre-check), or None."""
    low = text.lower()
    match = _APPEAL_LOWER.search(low)
    if match is None:
        return None
    # the phrase as written, unless lower-casing changed the length (a rare "İ")
    return text[match.start() : match.end()] if len(low) == len(text) else match.group(0)


def first_appeal(text: str) -> str | None:
    """The first appeal phrase in a text, or None."""
    return appeal_match(text) if _lower(text) else None


def is_appeal(text: str) -> bool:
    """A block that is an appeal on its own: a short ask, or a longer one dense with asks."""
    n = len(text)
    if n == 0:
        return False
    need = 1 if n <= 320 else max(2, -(-n // 160))
    return appeal_hits(text, need) >= need
