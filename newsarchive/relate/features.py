"""What a post's body contributes to the relations stage, computed in the parser
workers: a MinHash signature of its word shingles (reprints) and its most frequent
words (related posts). Pure functions of body_text.

Words are runs of letters, digits and combining marks; body_text carries U+200B
between the words of Thai and other scripts written without spaces
(newsarchive.text.words), which ends a word here as a space does.

A word's hash is a polynomial over its lowercased code points c_0 .. c_{n-1},
sum c_i * WORD_BASE^i mod 2^64, put through MurmurHash3's 64-bit finalizer so that
words alike spread over all the bits (`word_hash`). The shingles take all 64 bits, a
stored term the top 32.

`words` reads the words with a regular expression and `word_hashes` hashes them a
character at a time in Python: the reference. `feature_batch`, run for the posts a
parser process takes at a time, reads the same words in numpy over the texts' code
points and hashes them there too, from prefix sums of the code points times the
base's powers, with no Python call a word; it computes the MinHash in numpy with
datasketch's permutations, so that a worker loads neither datasketch nor the scipy
it imports. tests/test_features.py holds both paths equal, word for word and value
for value.

The posts of a batch are read as one text and their shingles permuted as one block:
a numpy call costs a few microseconds whatever its size, and a post's features took
some fifty of them, half their time.
"""
from __future__ import annotations

import re
from functools import cache
from typing import NamedTuple

import numpy as np

#: A shingle is this many consecutive words. Five words rarely repeat between two
#: texts that are not copies (same subject, own wording), while a changed word costs
#: a copy only the five shingles that contain it.
SHINGLE_WORDS = 5
#: MinHash permutations: the signature is NUM_PERM 32-bit values (512 bytes a post).
NUM_PERM = 128
#: The seed datasketch draws the permutations from (MinHash(seed=...)).
SEED = 1
#: Bodies shorter than this are not compared: "See the photos above" in two posts is
#: not a reprint.
MIN_WORDS = 25
#: How many of its most frequent words (3 characters or more) a post keeps
#: for related posts; words most posts use get little weight there (see related.py).
TERMS_KEPT = 48

#: Where the build keeps settings() (`_relations`): an update whose features would be
#: computed otherwise than the stored ones rebuilds in full (build.previous).
SETTINGS_KEY = "features"


def settings() -> dict:
    """Everything a post's stored features depend on besides its body: features of
    unchanged posts made with other settings cannot be compared with new ones."""
    return {"shingle_words": SHINGLE_WORDS, "num_perm": NUM_PERM, "seed": SEED, "min_words": MIN_WORDS,
            "terms_kept": TERMS_KEPT,
            "words": "letters, digits, _ and marks; polynomial of the lowercased code points, fmix64"}


#: What a word is made of besides \w: combining marks, and the vowel and tone marks of
#: Indic, Thai, Lao, Myanmar and Khmer script (marks, not letters, to Unicode).
_MARKS = "\u0300-\u036f\u0900-\u0dff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"
_WORD = re.compile(f"[\\w{_MARKS}]+")


def words(text: str | None) -> list[str]:
    """The body's words, lowercased, in order."""
    return _WORD.findall(text.lower()) if text else []


#: Odd 64-bit multipliers, one a place in a shingle.
_PLACES = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
                    0xFF51AFD7ED558CCD][:SHINGLE_WORDS], dtype=np.uint64)


#: The polynomial's base: odd, so that its powers are invertible mod 2^64, and 3 mod 4,
#: so that two words differing by a swap of two characters never share a sum.
WORD_BASE = 0xD6E8FEB86659FD93
_MASK64 = (1 << 64) - 1


def word_hash(word: str) -> int:
    """A word's 64-bit hash, a character at a time (Horner's rule, last character first):
    the reference the numpy path (_hash_runs) must equal."""
    total = 0
    for char in reversed(word):
        total = (total * WORD_BASE + ord(char)) & _MASK64
    return _fmix64(total)


def _fmix64(h: int) -> int:
    """MurmurHash3's 64-bit finalizer on a Python int (_mix is the numpy one)."""
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def word_hashes(word_list: list[str]) -> np.ndarray:
    """Each word's word_hash, in order (uint64)."""
    return np.array([word_hash(word) for word in word_list], dtype=np.uint64)


def _shingle_sums(hashes: np.ndarray) -> np.ndarray:
    """A 64-bit key of each shingle, in order, repeats kept: its words' hashes, each
    times its place's multiplier, summed (wrapping)."""
    k = SHINGLE_WORDS
    n = len(hashes) - k + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    # Arrays of integers wrap silently (only numpy scalars warn of overflow).
    total = hashes[:n] * _PLACES[0]
    for place in range(1, k):
        total += hashes[place : place + n] * _PLACES[place]
    return total


def shingle_keys(hashes: np.ndarray) -> np.ndarray:
    """A 64-bit key of each shingle (SHINGLE_WORDS words in a row), distinct keys only,
    sorted. One numpy pass, where a string per shingle cost a third of a post's time.
    Two different shingles share a key with odds of about 1 in 10^16 per pair: the
    similarity of two such sets is the similarity of the texts."""
    return _distinct(np.sort(_shingle_sums(hashes)))


def _distinct(ordered: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array (np.unique's hashing path, which numpy
    2.x takes for 64-bit integers, costs ~8 times a sort of a post's keys)."""
    return ordered[_firsts(ordered)]


def _firsts(ordered: np.ndarray) -> np.ndarray:
    """Which places of a sorted array hold the first of their value."""
    first = np.empty(len(ordered), dtype=bool)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    return first


def shingle_hashes(keys: np.ndarray) -> np.ndarray:
    """The shingles as the 32-bit values a MinHash takes (the keys' top halves; a value
    repeated changes no minimum)."""
    return (keys >> np.uint64(32)).astype(np.uint32)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """|a ∩ b| / |a ∪ b| of two sets of shingle keys: the exact similarity the
    reprints table reports."""
    if len(a) == 0 and len(b) == 0:
        return 0.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


# ----------------------------------------------------------------------------- the MinHash


@cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """datasketch 2.0's permutations of MinHash(num_perm=NUM_PERM, seed=SEED) in its
    default scheme (affine32): h -> a * h + b mod 2^32, with `a` odd, both drawn from
    numpy's RandomState(SEED). Made here rather than taken from a datasketch MinHash
    because importing datasketch loads scipy.integrate: 39 MB and 0.25 s in each
    parser process."""
    draw = np.random.RandomState(SEED)
    a = draw.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = draw.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a.reshape(-1, 1), b.reshape(-1, 1)


def _premix(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, which datasketch applies to each value before
    permuting (a bijection that spreads similar inputs)."""
    h = values ^ (values >> np.uint32(16))
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


#: Shingles permuted at once: the block of NUM_PERM x this uint32 is 16 MiB, whatever
#: the posts' lengths (a 5 MiB body has ~900,000 shingles: 460 MB in one product).
PRODUCT_BLOCK = 32_768


def signature(hashes: np.ndarray) -> bytes:
    """The MinHash signature of a post's shingle hashes (uint32): NUM_PERM uint32,
    little-endian, the values datasketch's MinHash(seed=SEED).update_batch gives."""
    if len(hashes) == 0:
        return np.full(NUM_PERM, 0xFFFFFFFF, dtype="<u4").tobytes()
    return _signatures(hashes, np.array([len(hashes)]))[0].astype("<u4").tobytes()


def _signatures(hashes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The signatures (posts x NUM_PERM) of posts whose shingle hashes (uint32) follow
    one another in `hashes`, `counts` of them a post, none empty: the NUM_PERM x
    shingles product of their permuted values, a block of posts at a time, and its
    minimum along each post's columns."""
    values = _premix(hashes.astype(np.uint32, copy=False))
    bounds = np.r_[0, np.cumsum(counts)]
    out = np.empty((len(counts), NUM_PERM), dtype=np.uint32)
    post = 0
    while post < len(counts):
        last = max(post + 1, int(np.searchsorted(bounds, bounds[post] + PRODUCT_BLOCK, side="right")) - 1)
        if last == post + 1:
            out[post] = _minimum(values[bounds[post] : bounds[last]])
        else:
            block = _permuted(values[bounds[post] : bounds[last]])
            out[post:last] = np.minimum.reduceat(block, bounds[post:last] - bounds[post], axis=1).T
        post = last
    return out


def _permuted(values: np.ndarray) -> np.ndarray:
    a, b = _permutations()
    permuted = a * values
    permuted += b
    return permuted


def _minimum(values: np.ndarray) -> np.ndarray:
    """One post's signature, its shingles permuted PRODUCT_BLOCK at a time."""
    least = _permuted(values[:PRODUCT_BLOCK]).min(axis=1)
    for first in range(PRODUCT_BLOCK, len(values), PRODUCT_BLOCK):
        np.minimum(least, _permuted(values[first : first + PRODUCT_BLOCK]).min(axis=1), out=least)
    return least


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4")


#: A stored term: the top 32 bits of the word's hash and its count in the post.
TERM = np.dtype([("word", "<u4"), ("count", "<u2")])


def top_terms(hashes: np.ndarray, long_enough: np.ndarray) -> bytes:
    """The post's TERMS_KEPT most frequent words of 3 letters or more (`long_enough`),
    each as the top 32 bits of its hash and its count (TERM), most frequent first, ties
    by those bits. As numbers, the relations stage reads every post's terms into one
    array without a Python loop over words; two words sharing those bits count as one,
    rare enough not to move a ranking."""
    return _top_terms(hashes, long_enough, np.array([len(hashes)]))[0]


def _top_terms(hashes: np.ndarray, long_enough: np.ndarray, counts: np.ndarray) -> list[bytes]:
    """top_terms of posts whose words follow one another, `counts` of them a post: each
    word keyed by its post's place and its hash's top 32 bits, the keys counted in one
    sort."""
    post_of = np.repeat(np.arange(len(counts), dtype=np.uint64), counts)
    keys = np.sort((post_of[long_enough] << np.uint64(32)) | (hashes[long_enough] >> np.uint64(32)))
    starts = np.flatnonzero(_firsts(keys))
    distinct = keys[starts]
    times = np.diff(np.r_[starts, len(keys)])
    posts = (distinct >> np.uint64(32)).astype(np.int64)
    ranked = np.lexsort((distinct, -times, posts))  # by post, most frequent first, then by word
    place = np.arange(len(ranked)) - np.searchsorted(posts, posts[ranked])
    kept = ranked[place < TERMS_KEPT]
    terms = np.empty(len(kept), dtype=TERM)
    terms["word"] = distinct[kept] & np.uint64(0xFFFFFFFF)
    terms["count"] = np.minimum(times[kept], 65535)
    edges = np.searchsorted(posts[kept], np.arange(len(counts) + 1))
    blob = terms.tobytes()
    size = TERM.itemsize
    return [blob[edges[i] * size : edges[i + 1] * size] for i in range(len(counts))]


# ----------------------------------------------------------------------------- words in numpy


#: ASCII bytes as the tokeniser reads them: letters lowercased, digits and _ kept,
#: every other byte a space.
_ASCII = bytes(ord(chr(c).lower()) if c < 0x80 and (chr(c).isalnum() or c == 0x5F) else 0x20 for c in range(256))
_SPACE = 0x20
#: What str.lower() does not map a character at a time: İ becomes two characters and
#: Σ becomes ς at the end of a word. A text holding one is lowercased whole first
#: (every other character of the BMP lowercases to one character, which lowercases
#: to itself: tests/test_features.py checks it).
_CONTEXTUAL = ("\u0130", "\u03a3")


@cache
def _in_word() -> np.ndarray:
    """For each code point of the Basic Multilingual Plane, its lowercase when that is
    part of a word (as _WORD reads it) and a space when not (uint16): one lookup
    lowercases a text and marks its word boundaries. 128 KiB, ~30 ms once a process."""
    lower = np.fromiter((ord(chr(c).lower()[0]) for c in range(0x10000)), dtype=np.uint32, count=0x10000)
    lower[lower > 0xFFFF] = _SPACE  # none in Unicode 15; kept out of uint16 all the same
    word = np.fromiter((chr(c).isalnum() for c in range(0x10000)), dtype=bool, count=0x10000)
    word[ord("_")] = True
    for first, last in re.findall(r"(.)-(.)", _MARKS):
        word[ord(first) : ord(last) + 1] = True
    table = lower.astype(np.uint16)
    table[~word[table]] = _SPACE
    return table


class Words(NamedTuple):
    """Texts' words as the features take them, in order."""

    #: Each word's 64-bit hash (uint64), as word_hashes gives it.
    hashes: np.ndarray
    #: Whether the word has 3 characters or more.
    long: np.ndarray
    #: How many of the words are each text's, texts in order.
    counts: np.ndarray


def read_words(text: str) -> Words:
    """The words `words(text)` finds, hashed."""
    return read_words_batch([text])


def read_words_batch(texts: list[str]) -> Words:
    """The words `words(text)` finds in each text, hashed, the texts in order. Read as
    one text, the texts joined by spaces: each character is lowercased and told apart
    by a table lookup in numpy, with no regex match or string a word. A batch with a
    character beyond the BMP (an emoji) is lowercased by str.lower() first, and those
    characters looked up by the regex, once each."""
    texts = [_lowered_whole(text) for text in texts]
    joined = " ".join(texts)
    if joined.isascii():
        return _split(np.frombuffer(joined.encode().translate(_ASCII), dtype=np.uint8), texts)
    # surrogatepass: a lone surrogate (not a word character) reads as a space, as in _WORD.
    points = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    if points.max() <= 0xFFFF:
        return _split(_in_word()[points], texts)
    texts = [text.lower() for text in texts]
    points = np.frombuffer(" ".join(texts).encode("utf-32-le", "surrogatepass"), dtype="<u4")
    return _split(_kept_wide(points), texts)


def _lowered_whole(text: str) -> str:
    """The text, lowercased whole if it holds a character the table cannot lowercase."""
    if not text.isascii() and (_CONTEXTUAL[0] in text or _CONTEXTUAL[1] in text):
        return text.lower()
    return text


def _kept_wide(points: np.ndarray) -> np.ndarray:
    """The code points of lowercased texts, a space for each outside a word: the BMP's
    by the table (which keeps a lowercase character as it is), the rest by the regex."""
    kept = _in_word()[np.minimum(points, 0xFFFF)].astype(np.uint32)
    wide = np.flatnonzero(points > 0xFFFF)
    values, which = np.unique(points[wide], return_inverse=True)
    in_word = np.array([_WORD.fullmatch(chr(value)) is not None for value in values.tolist()], dtype=bool)
    kept[wide] = np.where(in_word[which], points[wide], _SPACE)
    return kept


def _split(kept: np.ndarray, texts: list[str]) -> Words:
    """The words of the joined texts, given as their lowercased code points with a
    space for every character outside a word."""
    edges = _edges(kept != _SPACE)
    starts = edges[::2]
    text_starts = np.cumsum([0] + [len(text) + 1 for text in texts])
    counts = np.diff(np.searchsorted(starts, text_starts))
    return Words(_hash_runs(kept, edges), edges[1::2] - starts >= 3, counts)


def _edges(flags: np.ndarray) -> np.ndarray:
    """Where each run of True in `flags` starts and ends (one past it), in turn, in order."""
    padded = np.zeros(len(flags) + 2, dtype=bool)
    padded[1:-1] = flags
    return np.flatnonzero(padded[1:] != padded[:-1])


#: Code points summed at a time: the powers of WORD_BASE and of its inverse are kept
#: for this many places (2 MiB a process), and a block of a text costs a few times
#: 8 bytes a code point, whatever the text's length.
HASH_BLOCK = 1 << 17


@cache
def _powers() -> tuple[np.ndarray, np.ndarray]:
    """WORD_BASE^j and WORD_BASE^-j mod 2^64 for j < HASH_BLOCK."""
    up = np.full(HASH_BLOCK, WORD_BASE, dtype=np.uint64)
    down = np.full(HASH_BLOCK, pow(WORD_BASE, -1, 1 << 64), dtype=np.uint64)
    up[0] = down[0] = 1
    return np.cumprod(up), np.cumprod(down)  # arrays of integers wrap, as mod 2^64 wants


def _hash_runs(points: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """word_hash of each word, the words given by their edges (start, end, start, ...)
    in `points`: with S[k] the sum of c_j * B^j over j < k, a word's polynomial is
    (S[end] - S[start]) * B^-start. S is made a block of HASH_BLOCK code points at a
    time (a word may cross blocks) and kept only at the edges."""
    up, down = _powers()
    at_edges = np.empty(len(edges), dtype=np.uint64)
    carry, scale = 0, 1  # S and B^first at the block's first place, mod 2^64
    step = _base_power(HASH_BLOCK)
    done = 0
    for first in range(0, max(len(points), 1), HASH_BLOCK):
        block = points[first : first + HASH_BLOCK]
        sums = np.empty(len(block) + 1, dtype=np.uint64)
        sums[0] = 0
        np.cumsum(block * up[: len(block)], out=sums[1:])
        last = int(np.searchsorted(edges, first + len(block), side="right"))
        at_edges[done:last] = sums[edges[done:last] - first] * np.uint64(scale) + np.uint64(carry)
        done = last
        carry = (carry + int(sums[-1]) * scale) & _MASK64
        scale = (scale * step) & _MASK64
    starts = edges[::2]
    block_scales = np.array([_base_power(-HASH_BLOCK * b) for b in range(len(points) // HASH_BLOCK + 1)], dtype=np.uint64)
    unscale = down[starts % HASH_BLOCK] * block_scales[starts // HASH_BLOCK]
    return _mix((at_edges[1::2] - at_edges[::2]) * unscale)


@cache
def _base_power(exponent: int) -> int:
    """WORD_BASE^exponent mod 2^64 (a negative exponent: a power of its inverse)."""
    return pow(WORD_BASE, exponent, 1 << 64)


def _mix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (_fmix64), in place on uint64."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def feature_rows(post_id: str, body_text: str | None) -> list[tuple]:
    """The post's `_post_features` row, or none for a body under MIN_WORDS words."""
    return feature_batch([(post_id, body_text)])[0]


def feature_batch(posts: list[tuple[str, str | None]]) -> list[list[tuple]]:
    """feature_rows of each (post_id, body_text), computed together."""
    found = read_words_batch([text or "" for _, text in posts])
    enough = found.counts >= MIN_WORDS
    rows: list[list[tuple]] = [[] for _ in posts]
    if not enough.any():
        return rows
    counts = found.counts[enough]
    words_kept = np.repeat(enough, found.counts)
    hashes, long = found.hashes[words_kept], found.long[words_kept]
    sums, shingles = _batch_shingle_sums(hashes, counts)
    signatures = _signatures(shingle_hashes(sums), shingles).astype("<u4")
    terms = _top_terms(hashes, long, counts)
    for place, index in enumerate(np.flatnonzero(enough).tolist()):
        rows[index] = [(posts[index][0], signatures[place].tobytes(), terms[place])]
    return rows


def _batch_shingle_sums(hashes: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shingle sums of posts whose words follow one another (`counts` a post, each
    at least SHINGLE_WORDS), and how many each post has: the sums over all the words,
    less those that run across two posts."""
    sums = _shingle_sums(hashes)
    ends = np.cumsum(counts)
    position = np.arange(len(sums))
    # A sum starting at position i is a post's own when i + SHINGLE_WORDS <= the end of i's post.
    post_end = np.repeat(ends, counts)[: len(sums)]
    return sums[position + SHINGLE_WORDS <= post_end], counts - SHINGLE_WORDS + 1
