"""What a post's body contributes to the relations stage, computed in the parser
workers: a MinHash signature of its word shingles (reprints) and its most frequent
words (related posts). Pure functions of body_text.

Words are runs of letters, digits and combining marks; body_text carries U+200B
between the words of Thai and other scripts written without spaces
(newsarchive.text.words), which ends a word here as a space does.
"""
from __future__ import annotations

import re
import zlib
from functools import cache

import numpy as np

#: A shingle is this many consecutive words. Five words rarely repeat between two
#: texts that are not copies (same subject, own wording), while a changed word costs
#: a copy only the five shingles that contain it.
SHINGLE_WORDS = 5
#: MinHash permutations: the signature is NUM_PERM 32-bit values (512 bytes a post).
NUM_PERM = 128
#: Bodies shorter than this are not compared: "See the photos above" in two posts is
#: not a reprint.
MIN_WORDS = 25
#: How many of its most frequent words (3 characters or more) a post keeps
#: for related posts; words most posts use get little weight there (see related.py).
TERMS_KEPT = 48

_WORD = re.compile(r"[\w\u0300-\u036f\u0900-\u0dff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]+")


def words(text: str | None) -> list[str]:
    """The body's words, lowercased, in order."""
    return _WORD.findall(text.lower()) if text else []


#: Odd 64-bit multipliers, one a place in a shingle.
_PLACES = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
                    0xFF51AFD7ED558CCD][:SHINGLE_WORDS], dtype=np.uint64)


def word_hashes(word_list: list[str]) -> np.ndarray:
    """Each word's CRC-32, in order (uint64)."""
    return np.fromiter(map(zlib.crc32, map(str.encode, word_list)), dtype=np.uint64, count=len(word_list))


def shingle_keys(hashes: np.ndarray) -> np.ndarray:
    """A 64-bit key of each shingle (SHINGLE_WORDS words in a row), distinct keys only,
    sorted: its words' hashes, each times its place's multiplier, summed (wrapping).
    One numpy pass, where a string per shingle cost a third of a post's time. Two
    different shingles share a key with odds of about 1 in 10^16 per pair: the
    similarity of two such sets is the similarity of the texts."""
    k = SHINGLE_WORDS
    n = len(hashes) - k + 1
    total = np.zeros(max(n, 0), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for place in range(k):
            total += hashes[place : place + n] * _PLACES[place]
    return np.unique(total)


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


@cache
def _template():
    # datasketch draws the permutations from its seed: made once a process, copied per post.
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=1, hashfunc=int)


def signature(hashes: np.ndarray) -> bytes:
    """The MinHash signature of a post's shingle hashes: NUM_PERM uint32, little-endian
    (datasketch premixes each hash with MurmurHash3's finalizer, then permutes)."""
    minhash = _template().copy()
    minhash.update_batch(hashes.tolist())
    return minhash.hashvalues.astype("<u4").tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4")


#: A stored term: the word's CRC-32 and its count in the post.
TERM = np.dtype([("word", "<u4"), ("count", "<u2")])


def top_terms(word_list: list[str], hashes: np.ndarray) -> bytes:
    """The post's TERMS_KEPT most frequent words of 3 letters or more, each as its
    CRC-32 and count (TERM), most frequent first, ties by the CRC. As numbers, the
    relations stage reads every post's terms into one array without a Python loop
    over words; two words sharing a CRC-32 count as one, rare enough not to move a
    ranking."""
    long_enough = np.fromiter(map(len, word_list), dtype=np.int32, count=len(word_list)) >= 3
    values, counts = np.unique(hashes[long_enough], return_counts=True)
    best = np.lexsort((values, -counts))[:TERMS_KEPT]
    terms = np.empty(len(best), dtype=TERM)
    terms["word"] = values[best]
    terms["count"] = np.minimum(counts[best], 65535)
    return terms.tobytes()


def feature_rows(post_id: str, body_text: str | None) -> list[tuple]:
    """The post's `_post_features` row, or none for a body under MIN_WORDS words."""
    word_list = words(body_text)
    if len(word_list) < MIN_WORDS:
        return []
    hashes = word_hashes(word_list)
    return [(post_id, signature(shingle_hashes(shingle_keys(hashes))), top_terms(word_list, hashes))]
