"""Search: what a person types as a safe FTS5 query, a table search box's words marked
as body_text has them, and snippets whose highlights keep whole letters."""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qsl, urlencode

from markupsafe import Markup, escape

from ..text.words import MARK, mark_words


def _mark_ranges() -> str:
    """A regex class body of the combining marks (Unicode M*) of the Basic Multilingual Plane.

    `\\w` leaves them out, so a Thai, Hindi or Arabic word with a vowel or tone mark
    fell apart into several terms, each required anywhere in the post.
    """
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


#: A word as typed: letters, digits and combining marks (and MARK, should someone paste
#: marked text), with an optional `*` for a prefix search.
_COMBINING = _mark_ranges()
_TERM = re.compile(f"[\\w{_COMBINING}{MARK}]+\\*?")
MAX_TERMS = 32
HIGHLIGHT_OPEN, HIGHLIGHT_CLOSE = "\u27e6", "\u27e7"  # ⟦ ⟧: plain in CSV, <mark> in HTML


def fts_query(text: str | None) -> str:
    """Turn what a person types into a safe FTS5 query: every word quoted, all required.

    FTS5 query syntax (quotes, NEAR, column filters, a stray `-`) raises errors on
    ordinary input such as `US-China "trade`; quoting each word avoids that. A
    trailing `*` keeps prefix search. Empty input gives `""`, which matches nothing.
    A term in a script written without spaces gets its word boundaries marked (see
    newsarchive.text.words), as body_text has them: FTS5 then reads it as a phrase.
    """
    terms = _TERM.findall(text or "")[:MAX_TERMS]
    if not terms:
        return '""'
    terms = [mark_words(t) for t in terms]
    return " ".join(f'"{t[:-1]}"*' if t.endswith("*") else f'"{t}"' for t in terms)


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


def highlight(snippet: str) -> Markup:
    """HTML for a search snippet: escaped text with the matched words in <mark>."""
    html = str(escape(snippet))
    return Markup(html.replace(HIGHLIGHT_OPEN, "<mark>").replace(HIGHLIGHT_CLOSE, "</mark>"))
