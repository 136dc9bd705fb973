"""The features the parser workers compute for the relations stages
(newsarchive.relate.features): the words read in numpy equal the reference regex's,
and the MinHash signature equals datasketch's, value for value."""
from __future__ import annotations

import subprocess
from pathlib import Path
import sys

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import assume, given, settings
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


def polynomial_hash(word: str) -> int:
    """A word's hash from its definition: the sum of its code points times the base's
    powers, mod 2^64, through MurmurHash3's fmix64."""
    mod = 1 << 64
    h = sum(ord(char) * pow(features.WORD_BASE, i, mod) for i, char in enumerate(word)) % mod
    for shift, factor in ((33, 0xFF51AFD7ED558CCD), (33, 0xC4CEB9FE1A85EC53), (33, 1)):
        h = ((h ^ (h >> shift)) * factor) % mod
    return h


def datasketch_signature(hashes: np.ndarray) -> bytes:
    minhash = MinHash(num_perm=features.NUM_PERM, seed=features.SEED, hashfunc=int)
    minhash.update_batch(hashes.tolist())
    return minhash.hashvalues.astype("<u4").tobytes()


def reference_row(text: str) -> list[tuple]:
    """The feature row as the regex and datasketch give it, terms counted with a dict."""
    word_list = features.words(text)
    if len(word_list) < features.MIN_WORDS:
        return []
    hashes = [polynomial_hash(w) for w in word_list]
    keys = features.shingle_keys(np.array(hashes, dtype=np.uint64))
    counts: dict[int, int] = {}
    for word, value in zip(word_list, hashes):
        if len(word) >= 3:
            counts[value >> 32] = counts.get(value >> 32, 0) + 1
    best = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: features.TERMS_KEPT]
    terms = np.array(best, dtype=features.TERM) if best else np.empty(0, dtype=features.TERM)
    return [("p", datasketch_signature(features.shingle_hashes(keys)), terms.tobytes())]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=60))
def test_words_read_in_numpy_are_the_regexs(pieces):
    text = "".join(pieces)
    found = features.read_words(text)
    word_list = features.words(text)
    assert found.hashes.tolist() == features.word_hashes(word_list).tolist()
    assert found.long.tolist() == [len(w) >= 3 for w in word_list]


HASHED_TEXTS = [
    "",
    "The ferry left the harbour at dawn, the captain said.",
    "Die Fähre verließ den Hafen „früh“ am Morgen; e\u0301te\u0301 ÀÉÎ \u212aelvin",
    "เรือ\u200bข้าม\u200bฟาก\u200bผู้ว่า\u200bราชการ",
    "ΟΔΟΣ ΣΑΣ Σ οδός",
    "\u0130stanbul İZMİR",
    "emoji 🚢 between 😀words, 𐐀DESERET and 𝐁old",
    "x" * 70_000 + " " + "y" * 300_001 + " z " + "é" * 140_000,  # words longer than a hash block
    "snake_case 2024 \u0928\u092e\u0938\u094d\u0924\u0947 \u3000 \u00a0 \ud800 end",
]


@pytest.mark.parametrize("text", HASHED_TEXTS, ids=range(len(HASHED_TEXTS)))
def test_words_hashed_in_numpy_equal_the_definition(text):
    """Each word's hash in numpy, over the texts' code points in blocks, equals the sum
    of its code points times the base's powers computed in plain Python, alone and in a
    batch of other texts."""
    expected = [polynomial_hash(word) for word in features.words(text)]
    assert features.read_words(text).hashes.tolist() == expected
    assert features.word_hashes(features.words(text)).tolist() == expected
    batch = features.read_words_batch(["a few words", text, "ΟΔΟΣ 🚢 the end"])
    assert batch.counts.tolist() == [3, len(expected), 3]
    assert batch.hashes[3 : 3 + len(expected)].tolist() == expected


def test_words_crossing_hash_blocks_keep_their_hash(monkeypatch):
    """Words that cross one or many of HASH_BLOCK's boundaries, or end on one."""
    monkeypatch.setattr(features, "HASH_BLOCK", 7)
    features._powers.cache_clear()
    try:
        for text in ["abcdefg hijklm nopqrstuvwxyz ab c " * 3, "é" * 7, "abcdef g" + "ü" * 30 + " 🚢x", "a" * 14]:
            assert features.read_words(text).hashes.tolist() == [polynomial_hash(w) for w in features.words(text)]
    finally:
        monkeypatch.undo()
        features._powers.cache_clear()


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


@settings(max_examples=120, deadline=None)
@given(st.lists(st.one_of(st.none(), st.lists(st.sampled_from(FRAGMENTS), min_size=40, max_size=150).map(" ".join),
                          st.text(max_size=40)), min_size=1, max_size=20))
def test_a_batch_of_posts_gets_each_posts_own_row(texts):
    """feature_batch reads the texts of a chunk as one: no word, shingle or term of one
    post may reach another's row, whatever their scripts, lengths and emoji."""
    rows = features.feature_batch([(f"p{i}", text) for i, text in enumerate(texts)])
    assume(sum(map(bool, rows)) >= 2)
    assert rows == [[("p" + str(i),) + row[0][1:]] if (row := reference_row(text or "")) else []
                    for i, text in enumerate(texts)]


def test_long_posts_are_permuted_a_block_at_a_time(monkeypatch):
    """A post longer than PRODUCT_BLOCK shingles, and posts that share a block with
    others, keep datasketch's values."""
    monkeypatch.setattr(features, "PRODUCT_BLOCK", 97)
    rng = np.random.default_rng(11)
    vocabulary = [f"word{i}" for i in range(400)]
    texts = [" ".join(rng.choice(vocabulary, size)) for size in (30, 250, 31, 26, 1000, 60, 25)]
    rows = features.feature_batch([("p", text) for text in texts])
    assert rows == [reference_row(text) for text in texts]


def test_a_huge_body_is_read_in_bounded_memory():
    """A 5 MiB body (the largest the build reads) has ~900,000 shingles: permuted in one
    product they would take 460 MB. Peak RSS of the process, over what it held before."""
    code = (
        "import resource, numpy as np; from newsarchive.relate.features import feature_rows;"
        "text = ' '.join(f'w{i % 5000}' for i in range(900_000));"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss;"
        "assert feature_rows('p', text);"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)"
    )
    grown_kib = int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert grown_kib < 120 * 1024


def test_a_chunk_parses_as_its_files_do_one_by_one(tmp_path):
    """The parser processes parse a chunk of files and compute its features together:
    every file gets the result it gets alone, a broken file among them included."""
    from newsarchive.build.workers import parse_chunk, parse_task
    from newsarchive.db.write import PACKED_TABLES

    folder = Path(__file__).resolve().parent.parent / "sample" / "posts"
    paths = sorted(folder.rglob("*.md"))[:15]
    broken = tmp_path / "broken.md"
    broken.write_text("---\ntitle: [unclosed\n---\nbody\n")
    tasks = [(path.name, str(path)) for path in paths[:7]] + [("broken.md", str(broken))]
    tasks += [(path.name, str(path)) for path in paths[7:]]
    chunk = parse_chunk(tasks)
    assert chunk == [parse_task(task) for task in tasks]
    features_at = PACKED_TABLES.index("_post_features")
    assert sum(bool(result.post[1][features_at]) for result in chunk if hasattr(result, "post")) >= 10
