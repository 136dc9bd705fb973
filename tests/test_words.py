"""Word marks for scripts written without spaces, and the search terms that use them."""
from __future__ import annotations

import sqlite3

import pytest

from newsarchive.build.pipeline import build
from newsarchive.parse import walk_body
from newsarchive.db.check import check_file
from newsarchive.db.schema import FTS_TABLES
from newsarchive.site.search import fts_query, mark_search_words, whole_letters
from newsarchive.text.words import MARK, mark_words

from .conftest import get, rows, write_posts

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


# ------------------------------------------------------------------ titles, descriptions, captions

#: A Thai post whose title, description and photo caption hold words its body does not:
#: เปิด (open) only in the title, ราชการ (government) only in the description, ผลไม้
#: (fruit) only in the caption (which body_text also carries, where the photo stands).
THAI_POST = """---
code: "ART2410110130THAI01"
title: "ตลาดน้ำกลับมาเปิดอีกครั้ง"
description: "ผู้ว่าราชการจังหวัดภูเก็ตกล่าว"
language: "th"
date: 2024-10-11T01:30:00.000Z
---

![เรือขายผลไม้ในคลอง (Photo: Reuters)](https://images.example.test/boat.jpg)

Ferry services resumed on Monday.
"""
ENGLISH_POST = """---
code: "ART2410110131ENGL01"
title: "Ferry services resume"
description: "The harbour reopened."
date: 2024-10-11T01:31:00.000Z
---

![A ferry at the pier (Photo: AP)](https://images.example.test/ferry.jpg)

Ferry services resumed on Monday.
"""
THAI_ID, ENGLISH_ID = "ART2410110130THAI01", "ART2410110131ENGL01"


@pytest.fixture
def thai_db(tmp_path):
    posts = write_posts(tmp_path / "posts", {"thai.md": THAI_POST, "english.md": ENGLISH_POST})
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    return posts, db


def _post_ids(db, column, typed):
    return [r[0] for r in rows(db, "select posts.id from posts_fts join posts on posts.rowid = posts_fts.rowid"
                                   " where posts_fts match ?", [f"{{{column}}} : {fts_query(typed)}"])]


@pytest.mark.parametrize("column, typed", [("title", "เปิด"), ("description", "ราชการ")])
def test_a_thai_word_only_in_a_title_or_description_is_found(thai_db, column, typed):
    _, db = thai_db
    assert _post_ids(db, " ".join(FTS_TABLES["posts"]), typed) == [THAI_ID]
    # The column as published has no word edges there; its marked copy does.
    assert _post_ids(db, column, typed) == []
    assert _post_ids(db, f"{column}_words", typed) == [THAI_ID]


def test_marked_copies_only_where_marking_changes_the_text(thai_db):
    _, db = thai_db
    got = dict((r[0], r[1:]) for r in rows(db, "select id, title_words, description_words from posts"))
    assert got[ENGLISH_ID] == (None, None)
    assert got[THAI_ID] == (mark_words("ตลาดน้ำกลับมาเปิดอีกครั้ง"), mark_words("ผู้ว่าราชการจังหวัดภูเก็ตกล่าว"))
    assert MARK in got[THAI_ID][0]
    captions = dict(rows(db, "select text, text_words from captions"))
    assert captions == {"เรือขายผลไม้ในคลอง (Photo: Reuters)": mark_words("เรือขายผลไม้ในคลอง (Photo: Reuters)"),
                        "A ferry at the pier (Photo: AP)": None}


def test_a_thai_word_inside_a_caption_is_found(thai_db):
    _, db = thai_db
    found = rows(db, "select captions.text from captions_fts join captions on captions.rowid = captions_fts.rowid"
                     " where captions_fts match ?", [fts_query("ผลไม้")])
    assert found == [("เรือขายผลไม้ในคลอง (Photo: Reuters)",)]
    assert rows(db, "select count(*) from captions_fts where captions_fts match ?", ["{text} : " + fts_query("ผลไม้")]) == [(0,)]


def test_updating_a_thai_title_keeps_the_index_exact(thai_db):
    """An incremental build changes the index row by row through the triggers: the old
    title's words leave it, the new one's arrive, and FTS5's full integrity-check (which
    re-tokenises every row from its columns) passes."""
    posts, db = thai_db
    (posts / "thai.md").write_text(THAI_POST.replace("ตลาดน้ำกลับมาเปิดอีกครั้ง", "ร้านอาหารปิดชั่วคราว"), encoding="utf-8")
    summary = build(posts, db, quiet=True, checks="full")
    assert (summary.updated, summary.failed) == (1, 0)
    assert _post_ids(db, "title_words", "เปิด") == []
    assert _post_ids(db, "title_words", "อาหาร") == [THAI_ID]
    assert check_file(db, expected_posts=2, fts_content=True) == []


def test_datasette_finds_thai_words_of_titles_and_captions(thai_db, app_for):
    _, db = thai_db
    ds = app_for(db)
    assert [r["id"] for r in get(ds, "/news/posts.json?_shape=array&_search=เปิด").json()] == [THAI_ID]
    assert [r["id"] for r in get(ds, "/news/search.json?_shape=array&q=ราชการ").json()] == [THAI_ID]
    captions = get(ds, "/news/captions.json?_shape=array&_search=ผลไม้").json()
    assert [r["text"] for r in captions] == ["เรือขายผลไม้ในคลอง (Photo: Reuters)"]
