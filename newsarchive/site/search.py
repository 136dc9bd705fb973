"""Search: what a person types read as a search (words, OR, NOT, "phrases", prefix*) and
written as a safe FTS5 query, a table search box's words marked as body_text has them,
and snippets whose highlights keep whole letters."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from markupsafe import Markup, escape

from ..text.words import MARK, mark_words


def _mark_ranges() -> str:
    """A regex class body of the combining marks (Unicode M*) of the Basic Multilingual
    Plane: the vowel and tone marks that FTS5 counts as separators (see whole_letters)."""
    ranges, start, prev = [], None, None
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code)).startswith("M"):
            if start is None:
                start = code
            elif code != prev + 1:
                ranges.append((start, prev))
                start = code
            prev = code
    ranges.append((start, prev))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


_COMBINING = _mark_ranges()
#: Most words a search may hold: each is one more list of posts for FTS5 to merge.
MAX_TERMS = 32
#: Around each matched word of a snippet from SQLite, for the HTML page to show as <mark>
#: (JSON and CSV get snippets made without them).
HIGHLIGHT_OPEN, HIGHLIGHT_CLOSE = "\u27e6", "\u27e7"  # ⟦ ⟧
#: Deepest nesting of brackets (the reader recurses once per level).
MAX_DEPTH = 16
#: Operators, written in capitals as in FTS5 (in lower case they are words).
OPERATORS = ("AND", "OR", "NOT")
#: What ends a word as typed: white space, a quote mark or a bracket.
_TOKEN = re.compile(r'\s*(?:(?P<quote>")|(?P<open>\()|(?P<close>\))|(?P<word>[^\s"()]+))')
#: A letter or digit, which FTS5's tokenizer keeps; anything else (punctuation, a lone
#: vowel or tone mark, a word mark) it drops, so a word of nothing else matches nothing.
_TOKEN_CHARACTER = re.compile(r"[^\W_]")


_STRAY_CLOSE = "A closing bracket ) has no opening ( before it."
_UNCLOSED = "A bracket ( is not closed: put ) after what it groups, as in (harbour OR port)."


class SearchSyntaxError(ValueError):
    """What a person typed cannot be read as a search; the message says how to write it."""


@dataclass(frozen=True)
class Phrase:
    """Words to find next to each other, in order (one word is a phrase of one); with
    `prefix`, the last word is the start of a word."""

    text: str
    prefix: bool = False


@dataclass(frozen=True)
class Group:
    """`op` (AND or OR) of its items."""

    op: str
    items: tuple


@dataclass(frozen=True)
class Without:
    """Posts matching `kept` that do not match `left_out` (FTS5's NOT)."""

    kept: object
    left_out: object


@dataclass(frozen=True)
class Search:
    """A search as read: the FTS5 query to run (None: nothing to search for) and notes
    for the reader about how it was read."""

    fts: str | None
    notes: tuple[str, ...] = ()
    #: The FTS5 query of every phrase searched for (not those left out), any of them:
    #: what a snippet highlights.
    wanted: str | None = None


def read_search(text: str | None) -> Search:
    """Read a search as documented (docs/browsing.md): words are all required, `OR`
    between two parts finds either, `NOT` (or a leading `-`) leaves posts out,
    `"a phrase"` finds words next to each other, `word*` finds words that start so,
    brackets group; `AND` may be written. Operators bind as in FTS5: NOT, then AND,
    then OR. Anything else a person types is a word: FTS5's own syntax (column filters,
    NEAR, `^`) is never reached, so no typed text can make SQLite raise.

    Raises SearchSyntaxError, with the fix in its message, for a quote or bracket left
    open, an operator without its words, or a search of nothing but NOT.
    """
    tokens = _tokens(text or "")
    notes = tuple(
        f"“{word}” is searched as a word: write {word.upper()} in capitals for the operator."
        for word in dict.fromkeys(t.text for t in tokens if isinstance(t, Phrase) and t.text in ("or", "not", "and"))
    )
    if not tokens:
        return Search(None, notes)
    reader = _Reader(tokens)
    tree = reader.either()
    if reader.at is not None:  # only a ")" stops `either` early
        raise SearchSyntaxError(_STRAY_CLOSE)
    if reader.terms > MAX_TERMS:
        raise SearchSyntaxError(f"A search takes at most {MAX_TERMS} words; this one has {reader.terms}.")
    return Search(_fts(tree), notes, " OR ".join(dict.fromkeys(_fts(p) for p in _wanted(tree))) or None)


def _wanted(tree) -> list[Phrase]:
    """The phrases of a search a match holds (those under NOT are left out)."""
    if isinstance(tree, Phrase):
        return [tree]
    if isinstance(tree, Without):
        return _wanted(tree.kept)
    return [phrase for item in tree.items for phrase in _wanted(item)]


def fts_query(text: str | None) -> str:
    """The FTS5 query for what a person typed (see read_search): `""`, which matches
    nothing, when there is nothing to search for."""
    return read_search(text).fts or '""'


def _tokens(text: str) -> list:
    """Phrases and operators ("AND", "OR", "NOT", "(", ")") in the order typed.

    A word keeps its inner punctuation (`US-China`, `covid-19`): FTS5's tokenizer reads
    it as the words it holds, next to each other, as in the posts. A word of no letter or
    digit (a stray `-`, `*` or `…`) is left out, as the tokenizer would leave it out.
    """
    tokens: list = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:  # only white space is left
            break
        pos = m.end()
        if m["open"] or m["close"]:
            tokens.append(m["open"] or m["close"])
        elif m["quote"]:
            end = text.find('"', pos)
            if end < 0:
                raise SearchSyntaxError(
                    'A quote mark is not closed: put " at both ends of a phrase, as in "harbour festival".')
            prefix = text.startswith("*", end + 1)
            _phrase(tokens, text[pos:end], prefix)
            pos = end + 1 + prefix
        elif m["word"] in OPERATORS:
            tokens.append(m["word"])
        else:
            word = m["word"]
            if word.startswith("-") and _TOKEN_CHARACTER.search(word):
                tokens.append("NOT")
                word = word[1:]
            prefix = word.endswith("*")
            _phrase(tokens, word.rstrip("*"), prefix)
    return tokens


def _phrase(tokens: list, text: str, prefix: bool) -> None:
    if _TOKEN_CHARACTER.search(text):
        tokens.append(Phrase(mark_words(text), prefix))


class _Reader:
    """Recursive descent over the tokens: either := both (OR both)*, both := part
    ([AND] [NOT] part)*, part := phrase | ( either )."""

    def __init__(self, tokens: list):
        self.tokens, self.pos, self.terms, self.depth = tokens, 0, 0, 0

    @property
    def at(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        token = self.at
        self.pos += 1
        return token

    def either(self):
        items = [self.both()]
        while self.at == "OR":
            self.take()
            items.append(self.both("OR"))
        return items[0] if len(items) == 1 else Group("OR", tuple(items))

    def both(self, after: str | None = None):
        """Parts that must all match; the NOT ones leave posts out of the rest."""
        kept, left_out = [], []
        while self.at not in (None, "OR", ")"):
            op = self.take() if self.at in ("AND", "NOT") else None
            if op == "AND" and self.at == "NOT":
                op = self.take()
            if self.at in (None, "OR", ")", "AND", "NOT"):
                raise SearchSyntaxError(_needs_word(op or self.at, "after"))
            (left_out if op == "NOT" else kept).append(self.part())
        if not kept and not left_out:
            if after:
                raise SearchSyntaxError(_needs_word(after, "after"))
            if self.at is None:  # a "(" ended the search
                raise SearchSyntaxError(_UNCLOSED)
            if self.at == ")" and not self.depth:
                raise SearchSyntaxError(_STRAY_CLOSE)
            raise SearchSyntaxError(_needs_word(self.at, "before"))
        if not kept:
            raise SearchSyntaxError(
                "NOT (and a leading -) only leaves posts out: give a word to find too, as in harbour NOT ferry.")
        tree = kept[0] if len(kept) == 1 else Group("AND", tuple(kept))
        if left_out:
            tree = Without(tree, left_out[0] if len(left_out) == 1 else Group("OR", tuple(left_out)))
        return tree

    def part(self):
        token = self.take()
        if isinstance(token, Phrase):
            self.terms += 1
            return token
        self.depth += 1  # token is "("
        if self.depth > MAX_DEPTH:
            raise SearchSyntaxError(f"Brackets nest at most {MAX_DEPTH} deep.")
        inner = self.either()
        if self.take() != ")":
            raise SearchSyntaxError(_UNCLOSED)
        self.depth -= 1
        return inner


def _needs_word(op: str, side: str) -> str:
    if op == ")":
        return "Brackets need words inside them, as in (harbour OR port)."
    example = {"OR": "harbour OR fisheries", "AND": "harbour AND festival", "NOT": "harbour NOT ferry"}[op]
    return f"{op} needs a word {side} it, as in {example}."


def _fts(tree, inside: str | None = None) -> str:
    """FTS5 query text for a tree: each phrase quoted (so FTS5 reads its text only as
    words), every group of more than one part in brackets unless it joins its parent's."""
    if isinstance(tree, Phrase):
        return '"' + tree.text.replace('"', '""') + '"' + ("*" if tree.prefix else "")
    if isinstance(tree, Without):
        text = f"{_fts(tree.kept, 'NOT')} NOT {_fts(tree.left_out, 'NOT')}"
    elif tree.op == "AND" and all(isinstance(item, Phrase) for item in tree.items):
        text = " ".join(_fts(item) for item in tree.items)  # FTS5 ANDs phrases side by side
    else:
        text = f" {tree.op} ".join(_fts(item, tree.op) for item in tree.items)
    return text if inside is None else f"({text})"


def mark_search_words(query_string: bytes) -> bytes:
    """A table page's query string with the words of `_search` and `_search_<column>` marked.

    Datasette quotes each space-separated term of a table search itself; a Thai term
    typed without spaces has to carry its word marks (see newsarchive.text.words) to match
    body_text, as the search page's terms do. Any other query string comes back as is.
    """
    if b"_search" not in query_string:
        return query_string
    try:
        pairs = parse_qsl(query_string.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return query_string
    marked = [(name, mark_words(value) if name == "_search" or name.startswith("_search_") else value)
              for name, value in pairs]
    if marked == pairs:
        return query_string
    return urlencode(marked).encode("ascii")


_CLOSE_BEFORE_MARKS = re.compile(f"{HIGHLIGHT_CLOSE}([{_COMBINING}]+)")


def whole_letters(snippet: str | None) -> str | None:
    """A search snippet as a reader wants it: highlights that end after the vowel and tone
    marks of their last letter, and no word marks (newsarchive.text.words).

    FTS5 counts combining marks (Thai vowels and tone marks, Devanagari vowel signs) as
    separators, so a highlight of ผลไม้ closed before its final tone mark, which
    then sat on the closing bracket instead of its letter. The word marks are for the
    index; in a snippet, shown or downloaded, they would only be invisible noise.
    """
    if not snippet:
        return snippet
    if MARK in snippet:
        snippet = snippet.replace(MARK, "")
    if HIGHLIGHT_CLOSE not in snippet:
        return snippet
    return _CLOSE_BEFORE_MARKS.sub(lambda m: m[1] + HIGHLIGHT_CLOSE, snippet)


def highlight(snippet: str, plain: str = "") -> Markup:
    """HTML for a search snippet: escaped text with the matched words in <mark>.

    `plain` is the same snippet made without marks: should the post's own text hold ⟦ or
    ⟧, which marks are FTS5's cannot be told, and the snippet is shown without them.
    """
    if HIGHLIGHT_OPEN in plain or HIGHLIGHT_CLOSE in plain:
        return escape(plain)
    html = str(escape(snippet))
    return Markup(html.replace(HIGHLIGHT_OPEN, "<mark>").replace(HIGHLIGHT_CLOSE, "</mark>"))
