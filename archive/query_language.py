"""The search language for people: what a journalist types, read as meant, as an FTS5 MATCH expression.

FTS5's own syntax rejects what news is searched for most (``O'Brien``, ``covid-19``, ``U.S.``, ``£2.4``:
"syntax error", "no such column"). Here every bare word is quoted, so FTS5's tokenizer splits it exactly as
it split the articles and a word with punctuation inside becomes the phrase of its parts. The operators
people know keep working: ``"a phrase"``, ``OR``, ``NOT`` / ``-word``, ``word*``, ``title:word``, brackets.
Anything else (a stray quote or bracket, a dangling operator, a query of only exclusions, control
characters, a pasted page) is read as sensibly as it can be, with a message in words saying what was
searched for instead. ``translate`` is the one entry point: ``morgue search`` (``Index.search``), the
reading room's search page and datasette's table search all go through it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

__all__ = ["MAX_CHARS", "MAX_WORDS", "Translation", "translate"]

MAX_CHARS = 1000  # a pasted paragraph still fits; a pasted page does not reach the engine
MAX_WORDS = 64
COLUMNS = {"title": "title", "headline": "title", "text": "text", "body": "text"}
_OPERATORS = ("OR", "AND", "NOT")
_DOUBLE_QUOTES = dict.fromkeys(map(ord, "“”„‟«»＂"), '"')
# Scripts written without spaces between words: FTS5's unicode61 tokenizer keeps a whole run as one
# token, so a word typed from such a run is searched as the beginning of a token (東京 finds 東京都知事は).
_UNSPACED = ("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER",
             "MYANMAR")
_HYPHENATED = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")


@dataclass(frozen=True)
class Translation:
    """``match`` is the FTS5 expression ("" when nothing in the query can be searched); ``message`` says
    in words what was read differently from how it was typed, and what was searched for instead; ``text``
    is the query as typed, cleaned of what cannot be shown (control characters, broken characters)."""

    match: str
    message: str | None
    text: str


@dataclass
class _Term:
    text: str
    quoted: bool = False
    prefix: bool = False
    column: str | None = None


@dataclass
class _All:  # every positive part must match, no negative part may
    positive: list[object] = field(default_factory=list)
    negative: list[object] = field(default_factory=list)


@dataclass
class _Any:
    parts: list[object] = field(default_factory=list)


def translate(typed: str) -> Translation:
    """Read what a person typed into a search box; see the module docstring for the language."""
    notes: list[str] = []
    text = _clean(typed, notes)
    parser = _Parser(_lex(text, notes), notes)
    tree = parser.parse()
    match = _emit(tree, notes) or ""
    if parser.words > MAX_WORDS:
        notes.append(f"only the first {MAX_WORDS} words are searched")
    notes = list(dict.fromkeys(notes))
    if not match:
        if not notes and not text.strip():
            return Translation("", None, text)  # nothing typed
        reason = "; ".join(notes) if notes else "it has no letters or digits"
        return Translation("", f"Nothing to search for: {reason}.", text)
    message = None
    if notes:
        said = "; ".join(notes)
        message = f"{said[0].upper()}{said[1:]}: searched for {match} instead."
    return Translation(match, message, text)


# -- cleaning and lexing ----------------------------------------------------------------------------------
def _clean(typed: str, notes: list[str]) -> str:
    if len(typed) > MAX_CHARS:
        cut = typed[:MAX_CHARS]
        space = cut.rfind(" ")
        typed = cut[:space] if space > MAX_CHARS // 2 else cut
        notes.append(f"the query is longer than {MAX_CHARS:,} characters, so only its beginning is searched")
    kept = []
    controls = broken = 0
    for ch in typed:
        category = unicodedata.category(ch)
        if category == "Cs" or ch == "\ufffd":  # a lone surrogate, or what a broken byte decoded to
            broken += 1
        elif category == "Cc":
            if ch in "\t\n\r\f\v":
                kept.append(" ")
            else:
                controls += 1
                kept.append(" ")
        else:
            kept.append(ch)
    if controls:
        notes.append("control characters were left out")
    if broken:
        notes.append("characters that are not valid text were left out")
    return "".join(kept).translate(_DOUBLE_QUOTES)


_Token = tuple[str, object]  # ("(" | ")" | "OR" | "AND" | "NOT" | "COL" | "TERM", value)


def _lex(text: str, notes: list[str]) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append((ch, None))
            i += 1
        elif ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                notes.append("the closing quote was missing")
                end = n
            term = _Term(text[i + 1 : end], quoted=True)
            i = end + 1
            if i < n and text[i] == "*":
                term.prefix = True
                while i < n and text[i] == "*":
                    i += 1
            tokens.append(("TERM", term))
        elif ch == "-" and i + 1 < n and (text[i + 1] in '"(' or text[i + 1].isalpha()):
            tokens.append(("NOT", None))  # -word: leave it out (-19 stays a number)
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in '()"':
                i += 1
            _word(text[start:i], tokens)
    return tokens


def _word(word: str, tokens: list[_Token]) -> None:
    if word in _OPERATORS:
        tokens.append((word, None))
        return
    name, colon, rest = word.partition(":")
    if colon and name.lower() in COLUMNS:
        tokens.append(("COL", COLUMNS[name.lower()]))
        if not rest:
            return
        word = rest
    stripped = word.rstrip("*")
    if stripped != word and _searchable(stripped):
        tokens.append(("TERM", _Term(stripped, prefix=True)))
    else:
        tokens.append(("TERM", _Term(word)))


def _searchable(text: str) -> bool:
    """Whether FTS5's unicode61 tokenizer finds a token in ``text`` (letters, digits, private use)."""
    return any(unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "Co" for ch in text)


# -- parsing ----------------------------------------------------------------------------------------------
class _Parser:
    """Recursive descent over the tokens; never fails: what does not fit is noted and left out.

    any := all (OR all)* ; all := ([NOT|-] primary)+ ; primary := "(" any ")" | [column:] primary | term
    """

    def __init__(self, tokens: list[_Token], notes: list[str]) -> None:
        self.tokens, self.notes, self.i, self.words = tokens, notes, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        self.i += 1
        return self.tokens[self.i - 1]

    def parse(self) -> object:
        parts = []
        while self.peek() is not None:
            parts.append(self.any())
            if self.peek() == ")":
                self.take()
                self.notes.append("a closing bracket without its opening one was left out")
        return parts[0] if len(parts) == 1 else _All(positive=parts)

    def any(self) -> object:
        parts = [self.all()]
        if self.peek() == "OR" and parts[0] == _All():
            self.notes.append("OR needs a word on each side; the one at the start was left out")
        while self.peek() == "OR":
            self.take()
            if self.peek() in (None, ")", "OR"):
                self.notes.append("OR needs a word on each side; the one at the end was left out")
                continue
            parts.append(self.all())
        return _Any(parts) if len(parts) > 1 else parts[0]

    def all(self) -> object:
        group = _All()
        while self.peek() not in (None, ")", "OR"):
            kind = self.peek()
            if kind == "AND":
                self.take()
                continue
            negated = False
            while self.peek() == "NOT":
                self.take()
                negated = not negated
            if self.peek() in (None, ")", "OR", "AND"):
                self.notes.append("NOT needs a word after it; the one at the end was left out")
                continue
            (group.negative if negated else group.positive).append(self.primary(None))
        return group.positive[0] if len(group.positive) == 1 and not group.negative else group

    def primary(self, column: str | None) -> object:
        kind, value = self.take()
        if kind == "(":
            inner = self.any()
            if self.peek() == ")":
                self.take()
            else:
                self.notes.append("the closing bracket was missing")
            return _with_column(inner, column)
        if kind == "COL":
            if self.peek() in ("(", "COL", "TERM"):
                return self.primary(column or str(value))
            self.notes.append(f"{value}: needs a word right after it; it was left out")
            return _All()
        assert isinstance(value, _Term)
        self.words += 1
        if self.words > MAX_WORDS:
            return _All()
        value.column = value.column or column
        return value


def _with_column(node: object, column: str | None) -> object:
    if column is None:
        return node
    if isinstance(node, _Term):
        node.column = node.column or column
    elif isinstance(node, _All):
        for part in node.positive + node.negative:
            _with_column(part, column)
    elif isinstance(node, _Any):
        for part in node.parts:
            _with_column(part, column)
    return node


# -- the FTS5 expression ----------------------------------------------------------------------------------
def _emit(node: object, notes: list[str]) -> str | None:
    """The FTS5 expression for a node, or None when nothing in it can be searched. Every compound part
    is bracketed and AND is written out (FTS5 rejects ``(a) (b)``)."""
    if isinstance(node, _Term):
        return _term(node)
    if isinstance(node, _Any):
        noted = len(notes)
        parts = [p for p in (_emit(part, notes) for part in node.parts) if p]
        if len(parts) < len(node.parts) and parts and len(notes) == noted:
            notes.append("a part of OR with nothing to search for was left out")
        return " OR ".join(_bracket(p) for p in parts) if parts else None
    assert isinstance(node, _All)
    positive = [p for p in (_emit(part, notes) for part in node.positive) if p]
    negative = [p for p in (_emit(part, notes) for part in node.negative) if p]
    if not positive:
        if negative:
            left_out = " ".join(f"-{_bracket(p)}" for p in negative)
            notes.append(f"{left_out} only says what to leave out, so it was ignored; add a word to find")
        return None
    expression = " AND ".join(_bracket(p) for p in positive)
    if negative:
        if len(positive) > 1:
            expression = f"({expression})"
        expression += " NOT " + (f"({' OR '.join(_bracket(p) for p in negative)})" if len(negative) > 1
                                 else _bracket(negative[0]))
    return expression


def _bracket(expression: str) -> str:
    simple = not any(f" {op} " in expression for op in _OPERATORS)
    return expression if simple or _enclosed(expression) else f"({expression})"


def _enclosed(expression: str) -> bool:
    """Whether the expression is one bracketed group, "(a OR b)" (not "(a) OR (b)")."""
    if not (expression.startswith("(") and expression.endswith(")")):
        return False
    depth, quoted = 0, False
    for i, ch in enumerate(expression):
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
            if depth == 0 and i < len(expression) - 1:
                return False
    return True


def _term(term: _Term) -> str | None:
    if not _searchable(term.text):
        return None
    prefix = term.prefix or (not term.quoted and _unspaced(term.text))
    expression = _string(term.text) + ("*" if prefix else "")
    if not term.quoted and not prefix and _HYPHENATED.fullmatch(term.text):
        # e-mail is also written email, co-operate cooperate
        expression = f"{expression} OR {_string(term.text.replace('-', ''))}"
        return f"{term.column}:({expression})" if term.column else expression
    return f"{term.column}:{expression}" if term.column else expression


def _string(text: str) -> str:
    """An FTS5 string: bare when FTS5 reads it as one bareword, otherwise in double quotes."""
    if text.isalnum() and text not in (*_OPERATORS, "NEAR"):
        return text
    return '"' + text.replace('"', '""') + '"'


def _unspaced(text: str) -> bool:
    letters = [ch for ch in text if unicodedata.category(ch)[0] == "L"]
    return bool(letters) and all(unicodedata.name(ch, "").startswith(_UNSPACED) for ch in letters)
