"""Word boundaries for scripts written without spaces (Thai, Lao, Khmer, Burmese, Chinese, Japanese).

SQLite's FTS5 tokenizer (unicode61, under porter) ends a token only at a character
that is neither a letter nor a number. A Thai sentence has no such character between
its words, so before this a word in the middle of a sentence could not be found: in
ผู้ว่าราชการจังหวัด ("provincial governor") the word ราชการ ran on into the next one.
(unicode61 also splits at Thai vowel and tone marks, which it counts as separators;
that happens the same way in the text and in the query, so it does no harm once the
edges of each word are known.)

mark_words puts U+200B ZERO WIDTH SPACE, the character Unicode provides for marking
such word boundaries, where ICU's dictionary-based word breaker finds one between
two characters of these scripts. The mark is invisible, is not white space to
Python or to Datasette's search escaping, and is a separator to FTS5. The build
marks body_text, and indexes a marked copy of each title, description and caption
that needs one (posts.title_words and the like); the search page and the table
pages' search box mark what a person types the same way, so a Thai word typed
alone, or several typed without spaces, match as a phrase.

ICU comes from icu4py, which ships ICU itself in its wheels (no system library).
"""
from __future__ import annotations

import functools
import re

MARK = "\u200b"

#: Thai, Lao, Myanmar, Khmer, Hiragana + Katakana, CJK ideographs (and their extension A
#: and compatibility blocks). Hangul is left out: Korean puts spaces between words.
UNSPACED = "\u0e01-\u0e5b\u0e81-\u0edf\u1000-\u109f\u1780-\u17ff\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_ANY = re.compile(f"[{UNSPACED}]")

#: UNSPACED as a flag per code point (1.1 MB): testing both sides of each of the ~1,000
#: boundaries of a Thai post this way is a third faster than a regex match per side.
_IN = bytearray(0x110000)
for _first, _last in re.findall(r"(.)-(.)", UNSPACED):
    _IN[ord(_first) : ord(_last) + 1] = b"\x01" * (ord(_last) - ord(_first) + 1)


@functools.cache
def _breaker():
    """ICU's word breaker, loaded at the first text that needs it: ICU's libraries cost
    ~4 MB of RSS in each process that loads them (6 with the Thai dictionary), which an
    archive without such text, and the build's writer process, need not pay."""
    from icu4py.breakers import WordBreaker
    from icu4py.locale import Locale

    root = Locale("und")  # ICU picks the dictionary by script, whatever the locale
    return lambda text: WordBreaker(text, root)


def mark_words(text: str | None) -> str | None:
    """`text` with MARK at each word boundary between two characters of UNSPACED.

    Text without such characters (most posts) comes back as the same object, after
    one regex scan. Boundaries next to a space, a digit, punctuation or an existing
    MARK are left alone. ~0.33 ms for a Thai post of 3 KB, half of it ICU's.
    """
    if not text or _ANY.search(text) is None:
        return text
    # The segments as strings: icu4py's segments() counts positions in UTF-16 code
    # units, which differ from Python's after any character beyond U+FFFF (an emoji).
    inside, pieces, marked, after_letter = _IN, [], False, False
    for segment in _breaker()(text):
        if after_letter and inside[ord(segment[0])]:
            pieces.append(MARK)
            marked = True
        pieces.append(segment)
        after_letter = inside[ord(segment[-1])]
    return "".join(pieces) if marked else text
