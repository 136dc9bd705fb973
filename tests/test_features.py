"""The features the parser workers compute for the relations stages
(newsarchive.relate.features): the words read in numpy equal the reference regex's,
and the MinHash signature equals datasketch's, value for value."""
from __future__ import annotations

import subprocess
import sys
import zlib

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from newsarchive.relate import features

#: Fragments that test where a word ends: accents and combining marks, Thai with its
#: vowel and tone marks and the build's word mark, dashes and typographic quotes, a
#: dotted capital I that lowercases to two characters, no-break and ideographic
#: spaces, an emoji (beyond the BMP), a lone surrogate, underscores and digits; capitals
#: that lowercase by their context (a final sigma) or to ASCII (the kelvin sign).
FRAGMENTS = [
    "harbour", "Ferry", "e\u0301t\u00e9", "\u00fcber", "ผู้ว่า", "ราชการ", "\u200b", "\u2014", "\u201cq\u201d",
    "\u0130stanbul", "\u00a0", "\u3000", "\U0001F600", "\ud800", "snake_case", "2024", " ", "\n", ".", "-",
    "\u0928\u092e\u0938\u094d\u0924\u0947", "\u00df", "ab", "x", "ΟΔΟΣ", "ΣΑΣ", "\u212aelvin", "ÀÉÎ", "HARBOUR",
]


def datasketch_signature(hashes: np.ndarray) -> bytes:
    minhash = MinHash(num_perm=features.NUM_PERM, seed=features.SEED, hashfunc=int)
    minhash.update_batch(hashes.tolist())
    return minhash.hashvalues.astype("<u4").tobytes()


def reference_row(text: str) -> list[tuple]:
    """The feature row as the regex and datasketch give it, terms counted with a dict."""
    word_list = features.words(text)
    if len(word_list) < features.MIN_WORDS:
        return []
    crcs = [zlib.crc32(w.encode()) for w in word_list]
    keys = features.shingle_keys(np.array(crcs, dtype=np.uint64))
    counts: dict[int, int] = {}
    for word, crc in zip(word_list, crcs):
        if len(word) >= 3:
            counts[crc] = counts.get(crc, 0) + 1
    best = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: features.TERMS_KEPT]
    terms = np.array(best, dtype=features.TERM) if best else np.empty(0, dtype=features.TERM)
    return [("p", datasketch_signature(features.shingle_hashes(keys)), terms.tobytes())]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=60))
def test_words_read_in_numpy_are_the_regexs(pieces):
    text = "".join(pieces)
    found = features.read_words(text)
    word_list = features.words(text)
    assert found.hashes.tolist() == [zlib.crc32(w.encode()) for w in word_list]
    assert found.long.tolist() == [len(w) >= 3 for w in word_list]


def test_the_table_lowercases_as_str_lower_does_outside_its_exceptions():
    """read_words lowercases a character at a time by table, except for a text holding
    one of features._CONTEXTUAL, which it lowercases whole: that is exact when every
    other character of the BMP lowercases to one character that stays as it is."""
    table = features._in_word()
    for code in range(0x10000):
        char = chr(code)
        if char in features._CONTEXTUAL:
            continue
        lower = char.lower()
        assert len(lower) == 1 and lower.lower() == lower, hex(code)
        assert table[code] in (ord(lower), features._SPACE), hex(code)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=20, max_size=200))
def test_feature_rows_equal_the_regex_and_datasketchs(pieces):
    text = " ".join(pieces)
    assert features.feature_rows("p", text) == reference_row(text)


@pytest.mark.parametrize("text", [
    "the ferry left the harbour at dawn and " * 40,  # ASCII
    "Die Fähre verließ den Hafen — „früh“ am Morgen, sagte der Kapitän. " * 20,
    "เรือ\u200bข้าม\u200bฟาก\u200bออก\u200bจาก\u200bท่า " * 30,
    "The ferry 🚢 left the harbour at dawn, the captain said. " * 20,  # beyond the BMP: the regex
])
def test_a_bodys_row_in_each_script(text):
    assert features.feature_rows("p", text) == reference_row(text)


def test_signature_of_many_values_equals_datasketchs():
    values = np.random.default_rng(7).integers(0, 2**32, 5000, dtype=np.uint64).astype(np.uint32)
    assert features.signature(values) == datasketch_signature(values)
    assert features.signature(values[:1]) == datasketch_signature(values[:1])


def test_the_permutations_are_datasketchs():
    a, b = features._permutations()
    theirs = MinHash(num_perm=features.NUM_PERM, seed=features.SEED).permutations
    assert np.array_equal(a.ravel(), theirs[0]) and np.array_equal(b.ravel(), theirs[1])


def test_a_short_body_has_no_row():
    assert features.feature_rows("p", "only a few words here") == []
    assert features.feature_rows("p", None) == []


def test_computing_features_loads_neither_datasketch_nor_scipy():
    code = (
        "import sys; from newsarchive.relate.features import feature_rows;"
        "assert feature_rows('p', 'Die Fähre verließ den Hafen früh am Morgen. ' * 10);"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('datasketch', 'scipy')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert loaded.strip() == "[]"


def test_shingle_keys_are_the_distinct_sums_of_five_words_sorted():
    hashes = np.random.default_rng(3).integers(0, 40, 300, dtype=np.uint64)  # few words: repeated shingles
    places = [int(p) for p in features._PLACES]
    expected = sorted({sum(int(h) * p for h, p in zip(hashes[i : i + 5], places)) % 2**64
                       for i in range(len(hashes) - 4)})
    assert features.shingle_keys(hashes).tolist() == expected
    assert features.shingle_keys(hashes[:4]).tolist() == []
