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
from collections import Counter
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
#: How many of its most frequent words (3 letters or more, not numbers) a post keeps
#: for related posts; words most posts use get little weight there (see related.py).
TERMS_KEPT = 48

_WORD = re.compile(r"[\w\u0300-\u036f\u0900-\u0dff\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff]+")


def words(text: str | None) -> list[str]:
    """The body's words, lowercased, in order."""
    return _WORD.findall(text.lower()) if text else []


def shingles(word_list: list[str]) -> set[str]:
    """Every run of SHINGLE_WORDS consecutive words, as one string."""
    k = SHINGLE_WORDS
    return {" ".join(word_list[i : i + k]) for i in range(len(word_list) - k + 1)}


def jaccard(a: set, b: set) -> float:
    """|a ∩ b| / |a ∪ b|: the exact similarity the reprints table reports."""
    if not a and not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


@cache
def _template():
    # datasketch draws the permutations from its seed: made once a process, copied per post.
    from datasketch import MinHash

    return MinHash(num_perm=NUM_PERM, seed=1, hashfunc=int)


def signature(shingle_set: set[str]) -> bytes:
    """The MinHash signature of a shingle set: NUM_PERM uint32, little-endian.

    Each shingle enters as its CRC-32 (datasketch premixes it with MurmurHash3's
    finalizer): one C call a shingle instead of a SHA-1.
    """
    minhash = _template().copy()
    minhash.update_batch([zlib.crc32(s.encode()) for s in shingle_set])
    return minhash.hashvalues.astype("<u4").tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4")


#: A stored term: the word's CRC-32 and its count in the post.
TERM = np.dtype([("word", "<u4"), ("count", "<u2")])


def top_terms(word_list: list[str]) -> bytes:
    """The post's TERMS_KEPT most frequent words (ties: the first in order of the
    alphabet), each as its CRC-32 and count (TERM), most frequent first. As numbers
    the relations stage reads every post's terms into one array without a Python
    loop over words; two words sharing a CRC-32 count as one, rare enough not to
    move a ranking."""
    counts = Counter(w for w in word_list if len(w) >= 3 and not w.isdigit())
    best = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TERMS_KEPT]
    return np.array([(zlib.crc32(w.encode()), min(c, 65535)) for w, c in best], dtype=TERM).tobytes()


def feature_rows(post_id: str, body_text: str | None) -> list[tuple]:
    """The post's `_post_features` row, or none for a body under MIN_WORDS words."""
    word_list = words(body_text)
    if len(word_list) < MIN_WORDS:
        return []
    return [(post_id, signature(shingles(word_list)), top_terms(word_list))]
