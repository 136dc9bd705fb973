"""Search snippets in bounded time, whatever the post.

FTS5's snippet() scores a window at every match against every other match: its cost
grows with the square of the matches in a post times the phrases searched for (a 4 MB
post of one word held a CPU for minutes, and 32 phrases over 500 words took seconds),
and SQLite's time limit cannot stop one call. So a snippet is made here instead, from
bounded text: the first SCAN_CHARS of each searched column, cut into parts of about
PART_CHARS and indexed in memory (local_fts) with the posts index's own tokenizer, so
a part matches exactly as the post did. The first matching part (the body
first) is highlighted by FTS5's highlight() and cut to SNIPPET_WORDS words around its
first match.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from .local_fts import LocalIndex
from .search import HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN, whole_letters

#: Words a snippet holds, and how many of them come before its first matched word.
SNIPPET_WORDS, WORDS_BEFORE = 24, 6
#: Longest snippet, in characters (a script written without spaces has no words to count).
MAX_CHARS, MAX_BEFORE = 320, 80
#: Characters of each column searched for the passage: a match past them is not shown.
SCAN_CHARS = 20_000
#: The columns are indexed in parts of about this many characters; the first matching
#: part is highlighted, so its size bounds the work of highlight().
PART_CHARS = 1_000
#: The posts index's columns (db.schema.FTS_TABLES) in the order a passage is looked for
#: in them: the body first, as the title is shown beside the snippet anyway.
COLUMNS = ("body_text", "description_words", "description", "title_words", "title")
_WORD = re.compile(r"\S+")


class Passage(NamedTuple):
    """A post's snippet: plain, and with the matched words between ⟦ and ⟧."""

    plain: str
    marked: str


class _Part(NamedTuple):
    post: int
    text: str
    first: bool  # the column's text starts here
    last: bool  # and ends here


def passages(posts: list[tuple[str | None, ...]], wanted: str) -> list[Passage]:
    """The snippet of each post, given its columns' text (in COLUMNS order, each at most
    SCAN_CHARS) and `wanted`, the FTS5 query of the phrases searched for."""
    parts = [_Part(post, *cut) for post, columns in enumerate(posts) for text in columns for cut in _cut(text)]
    with LocalIndex() as index:
        # One table finds each post's first matching part; a second holds only those, as
        # highlight() in the big table costs a scan of the phrases' whole lists a row.
        first: dict[int, int] = {}
        for rowid in index.matching(index.table((i, p.text) for i, p in enumerate(parts)), wanted):
            first.setdefault(parts[rowid].post, rowid)
        chosen = index.table((i, parts[i].text) for i in first.values())
        marked = index.highlighted(chosen, wanted, HIGHLIGHT_OPEN, HIGHLIGHT_CLOSE)
    return [_passage(parts, first.get(post), marked, columns) for post, columns in enumerate(posts)]


def _cut(text: str | None):
    """(part, first, last) of a column's text, parts cut at white space where there is some."""
    if not text:
        return
    text, start = text[:SCAN_CHARS], 0
    while start < len(text):
        end = start + PART_CHARS
        if end < len(text):
            space = text.rfind(" ", start + PART_CHARS // 2, end)
            end = space + 1 if space > 0 else end
        yield text[start:end], start == 0, end >= len(text)
        start = end


def _passage(parts: list[_Part], rowid: int | None, marked: dict[int, str], columns) -> Passage:
    if rowid is None or rowid not in marked:
        # A match past SCAN_CHARS, or a phrase across two parts: the body's opening.
        opening = next((t for t in columns if t), "")
        shown = _window(opening[:PART_CHARS], True, len(opening) <= PART_CHARS)
        return Passage(whole_letters(shown), whole_letters(shown))
    part = parts[rowid]
    window = _window(marked[rowid], part.first, part.last)
    if HIGHLIGHT_OPEN in part.text or HIGHLIGHT_CLOSE in part.text:
        plain = window  # the post's own brackets cannot be told from the marks: shown as they are
    else:
        plain = window.replace(HIGHLIGHT_OPEN, "").replace(HIGHLIGHT_CLOSE, "")
    return Passage(whole_letters(plain), whole_letters(window))


def _window(text: str, first: bool, last: bool) -> str:
    """SNIPPET_WORDS words of `text` from WORDS_BEFORE before its first mark (or from its
    start), at most MAX_CHARS, with … where the column's text goes on."""
    at = max(text.find(HIGHLIGHT_OPEN), 0)
    words = [m.span() for m in _WORD.finditer(text)]
    if not words:
        return text.strip()
    holding = next((i for i, (_, end) in enumerate(words) if end > at), len(words) - 1)
    low = max(holding - WORDS_BEFORE, 0)
    start = max(words[low][0], at - MAX_BEFORE)
    end = min(words[min(low + SNIPPET_WORDS, len(words)) - 1][1], start + MAX_CHARS)
    shown = text[start:end]
    if shown.rfind(HIGHLIGHT_OPEN) > shown.rfind(HIGHLIGHT_CLOSE):
        shown += HIGHLIGHT_CLOSE  # cut inside a matched phrase
    before = "…" if start > 0 or not first else ""
    after = "…" if end < len(text.rstrip()) or not last else ""
    return before + shown + after
