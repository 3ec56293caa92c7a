"""Search queries for an index that keeps no word positions, and the phrase check that makes up for it.

The full-text index is FTS5 with ``detail=column`` (schema v6): it records which articles and columns
hold a word but not where, which makes it about a third of the size of a positional index (issue 7: the
whole index must stay within 1.5x the text). FTS5 answers words, prefixes, AND, OR, NOT and column filters
from it, but not phrases. So a phrase of several words is asked of FTS5 as all of its words (a superset
of the answer) and each candidate is then checked here: the phrase's words in that order, separated only
by spaces or punctuation, in the title or the text (or the column the query names). A word matches as
typed or with any ending after its Porter stem, as FTS5's ``porter`` tokenizer would: "climate protest"
finds "Climate protesters"; case and accents are ignored, as ``unicode61`` ignores them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import snowballstemmer

__all__ = ["QueryError", "Phrase", "PlannedQuery", "plan", "table_search", "words_of_phrases"]

WORD = re.compile(r"[^\W_]+")  # what unicode61 keeps as a token: letters and digits
COLUMNS = ("title", "text")
_STRING = re.compile(r'"(?:[^"]|"")*"')
_LEXEME = re.compile(r'"(?:[^"]|"")*"?|\s+|[^"\s]+')
_OPERATORS = re.compile(r"(?<![\w\"])(?:OR|NOT|NEAR)(?![\w\"])|[()+^]")
_SYNTAX = re.compile(r'["*():^{}]|(?<![\w"])(?:AND|OR|NOT|NEAR)(?![\w"])')
_COLSPEC = re.compile(r"(?:\{(?P<many>[^}]*)\}|(?P<one>[^\W\d][\w]*))\s*:\s*$")


class QueryError(ValueError):
    """A query this index cannot answer, with the reason in the user's terms."""


@functools.lru_cache(maxsize=1)
def _stemmer() -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer("porter")  # the algorithm of FTS5's porter tokenizer


def fold(text: str) -> str:
    """Lower case without accents (``unicode61``'s folding), for text that is not plain ASCII."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@dataclass(frozen=True)
class Phrase:
    """A phrase of several words and where to look for it."""

    words: tuple[str, ...]
    columns: tuple[str, ...]
    pattern: re.Pattern[str]

    def found_in(self, values: dict[str, str | None]) -> bool:
        for column in self.columns:
            value = values.get(column) or ""
            if _search(self.pattern, value) or (not value.isascii() and _search(self.pattern, fold(value))):
                return True
        return False


def _search(pattern: re.Pattern[str], text: str) -> bool:
    """A match that starts at the beginning of a word (``\\b`` would make the regex scan slowly)."""
    for match in pattern.finditer(text):
        start = match.start()
        if start == 0 or not (text[start - 1].isalnum()):
            return True
    return False


def _phrase_pattern(words: list[str]) -> re.Pattern[str]:
    stems = [_stemmer().stemWord(w) for w in words]
    parts = []
    for word, stem in zip(words, stems, strict=True):
        forms = {word, stem}
        if stem.endswith("i"):  # porter's y -> i: "ponies" and "pony" share the stem "poni"
            forms.add(stem[:-1] + "y")
        choices = sorted((re.escape(f) for f in forms), key=len)
        parts.append(f"(?:{'|'.join(choices)})[^\\W_]*")
    return re.compile(r"[\W_]+".join(parts), re.IGNORECASE)


@dataclass(frozen=True)
class PlannedQuery:
    """``match`` is what FTS5 is asked; every phrase must then be found in a candidate."""

    match: str
    phrases: tuple[Phrase, ...] = ()

    def accepts(self, values: dict[str, str | None]) -> bool:
        return all(phrase.found_in(values) for phrase in self.phrases)


@functools.lru_cache(maxsize=256)
def plan(query: str) -> PlannedQuery:
    """Rewrite the phrases of several words in an FTS5 query into their words, to be checked afterwards.

    A query without such phrases is passed on unchanged. Raises QueryError where a phrase could not be
    checked afterwards (inside OR, NOT, NEAR or parentheses)."""
    lexemes = _LEXEME.findall(query)
    phrases: list[Phrase] = []
    out = ""
    for n, lexeme in enumerate(lexemes):
        words = [fold(w) for w in WORD.findall(lexeme[1:-1].replace('""', '"'))]
        if not lexeme.startswith('"') or len(words) < 2 or not _STRING.fullmatch(lexeme):
            out += lexeme  # FTS5 itself reports an unterminated string
            continue
        # FTS5 has no implicit AND next to parentheses, so the words go in as they are, each with the
        # phrase's column filter: the query is a plain conjunction (OR, NOT, NEAR are refused below)
        spec = _COLSPEC.search(out)
        columns, filter_ = COLUMNS, ""
        if spec:
            named = (spec["many"] or "").split() or [spec["one"]]
            columns = tuple(c for c in COLUMNS if c in named)
            filter_ = f"{{{' '.join(named)}}}:"
            out = out[: spec.start()]
        prefix = n + 1 < len(lexemes) and lexemes[n + 1].startswith("*")
        if prefix:
            lexemes[n + 1] = lexemes[n + 1][1:]
        out += " ".join(f'{filter_}"{w}"' for w in words) + ("*" if prefix else "")
        phrases.append(Phrase(tuple(words), columns, _phrase_pattern(words)))
    if phrases:
        outside = "".join(x for x in lexemes if not x.startswith('"'))
        clash = _OPERATORS.search(outside)
        if clash:
            raise QueryError(
                f"a phrase of several words cannot be combined with {clash.group(0)!r} in this archive's "
                "index (it keeps no word positions); search the phrase with other words only, or leave "
                "out the quotes to find articles with all of its words"
            )
    return PlannedQuery(out, tuple(phrases))


def words_of_phrases(query: str) -> str:
    """An FTS5 query with every phrase of several words turned into all of its words, unchecked: for
    datasette's table search, which sends its escaped query straight to FTS5 (a phrase there finds the
    articles with all of its words; the reading room's search checks the phrase itself)."""

    def words(match: re.Match[str]) -> str:
        found = WORD.findall(match.group(0)[1:-1].replace('""', '"'))
        return match.group(0) if len(found) < 2 else " ".join(f'"{w}"' for w in found)

    return _STRING.sub(words, query)


def table_search(query: str) -> str:
    """datasette's ``escape_fts`` for the articles table: a query written in FTS5 syntax (quotes, ``*``,
    AND/OR/NOT, a column filter) is used as written, anything else as words (each quoted, so that
    "covid-19" or "U.S." are not syntax errors); phrases of several words become their words."""
    if not _SYNTAX.search(query):
        query = " ".join('"' + word.replace('"', '""') + '"' for word in query.split())
    return words_of_phrases(query)
