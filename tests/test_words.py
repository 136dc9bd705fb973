"""Word marks for scripts written without spaces, and the search terms that use them."""
from __future__ import annotations

import sqlite3

import pytest

from newsarchive.extract import walk_body
from newsarchive.web import fts_query, mark_search_words, whole_letters
from newsarchive.words import MARK, mark_words

M = MARK


@pytest.mark.parametrize(
    "text, words",
    [
        # "provincial governor of Phuket": four words, one run of Thai letters
        ("ผู้ว่าราชการจังหวัดภูเก็ต", ["ผู้", "ว่า", "ราชการ", "จังหวัด", "ภูเก็ต"]),
        ("美国将向乌克兰提供地雷", ["美国", "将", "向", "乌克兰", "提供", "地雷"]),
        ("東京都は新しい橋を建設します", ["東京", "都", "は", "新しい", "橋", "を", "建設", "し", "ます"]),
    ],
)
def test_mark_words_splits_unspaced_scripts_at_word_boundaries(text, words):
    marked = mark_words(text)
    assert marked.split(M) == words
    assert marked.replace(M, "") == text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Ferry services resume", "Ferry services resume"),
        ("", ""),
        (None, None),
        ("ภูเก็ต", "ภูเก็ต"),  # one word: nothing to mark
        # Marks only between two letters of the script: not next to a space, a digit,
        # Latin letters or punctuation.
        ("ราคา 12 บาท (Photo: AP)", "ราคา 12 บาท (Photo: AP)"),
        ("Phuketภูเก็ต", "Phuketภูเก็ต"),
        # Characters beyond U+FFFF (ICU counts them as two) do not shift the marks.
        ("ผลไม้😀ผลไม้ 𠀀 ab", f"ผล{M}ไม้😀ผล{M}ไม้ 𠀀 ab"),
        # A boundary the source already marked stays one mark.
        (f"ผู้ว่า{M}ราชการ", f"ผู้{M}ว่า{M}ราชการ"),
    ],
)
def test_mark_words_leaves_other_text_alone(text, expected):
    assert mark_words(text) == expected


def test_text_without_unspaced_scripts_is_returned_as_is():
    text = "The harbour ferry resumed on Monday. " * 50
    assert mark_words(text) is text


def test_body_text_marks_thai_words_and_counts_them():
    parts = walk_body("ตลาดน้ำกลับมาเปิดอีกครั้ง\n\nFerry services resume today.\n")
    thai, english = parts.text.split("\n")
    assert thai == M.join(["ตลาด", "น้ำ", "กลับ", "มา", "เปิด", "อีก", "ครั้ง"])
    assert english == "Ferry services resume today."
    assert parts.word_count == 7 + 4


def _fts(*texts):
    conn = sqlite3.connect(":memory:")
    conn.execute("create virtual table f using fts5(t, tokenize='porter')")
    conn.executemany("insert into f(rowid, t) values (?, ?)", enumerate(texts, 1))
    return conn


def _found(conn, typed):
    return [r[0] for r in conn.execute("select rowid from f where f match ? order by rowid", [fts_query(typed)])]


@pytest.mark.parametrize("typed", ["ราชการ", "จังหวัด", "ผู้ว่าราชการ", "ว่าราชการจังหวัด"])
def test_a_thai_word_inside_a_sentence_is_found_only_once_marked(typed):
    """The reason for the marks: FTS5's tokenizer finds no word edges in Thai itself."""
    sentence = "ผู้ว่าราชการจังหวัดภูเก็ตกล่าว"
    assert _found(_fts(mark_words(sentence), "ตลาดน้ำ"), typed) == [1]
    if typed != "ผู้ว่าราชการ":  # the start of a run happens to be a token edge anyway
        assert _found(_fts(sentence, "ตลาดน้ำ"), typed) == []


@pytest.mark.parametrize(
    "typed, query",
    [
        ("ferry", '"ferry"'),
        ("ferry*", '"ferry"*'),
        # A word with vowel and tone marks is one term (\w alone split it into three).
        ("ผู้ว่า", f'"ผู้{M}ว่า"'),
        ("नमस्ते", '"नमस्ते"'),
        ("ผู้ว่าราชการ ภูเก็ต", f'"ผู้{M}ว่า{M}ราชการ" "ภูเก็ต"'),
    ],
)
def test_fts_query_keeps_words_whole_and_marks_them(typed, query):
    assert fts_query(typed) == query


def test_table_search_terms_are_marked_and_other_parameters_kept():
    from urllib.parse import parse_qs, quote

    qs = f"_search={quote('ผู้ว่าราชการ')}&_search_title={quote('ตลาดน้ำ')}&_sort=id&_searchmode=escaped".encode()
    got = parse_qs(mark_search_words(qs).decode())
    assert got == {
        "_search": [f"ผู้{M}ว่า{M}ราชการ"], "_search_title": [f"ตลาด{M}น้ำ"],
        "_sort": ["id"], "_searchmode": ["escaped"],
    }
    english = b"_search=harbour+ferry&_size=5"
    assert mark_search_words(english) is english


@pytest.mark.parametrize(
    "snippet, fixed",
    [
        ("ขาย⟦ผลไม⟧้และขนม", "ขาย⟦ผลไม้⟧และขนม"),
        ("the ⟦ferry⟧ left", "the ⟦ferry⟧ left"),
        ("⟦नमस⟧्ते", "⟦नमस्⟧ते"),
        (f"ขาย{M}⟦ผล{M}ไม⟧้{M}และ", "ขาย⟦ผลไม้⟧และ"),
        (None, None),
    ],
)
def test_snippets_highlight_whole_letters_without_word_marks(snippet, fixed):
    assert whole_letters(snippet) == fixed
