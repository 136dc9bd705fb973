"""Issue 5: every broken or hostile post gives a clear error, and nothing else is lost.

Each case is one purpose-made file, built for real (`build()` into a SQLite file) in
a folder beside two good posts.  Every case asserts its own outcome, either

* rejected: recorded in build_errors as `path:line: message` (exact line, and the
  part of the message that tells the author what to do), or
* accepted: the post is in the database with the values it should have,

and in every case the two good posts are in the database exactly as a build of
them alone puts them there (rows, lookups and full-text index).
"""
from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import frontmatter
import pytest

from newsarchive.build.pipeline import build
from newsarchive.parse import MAX_BYTES
from newsarchive.parse.yaml_loader import MAX_DEPTH, MAX_NODES

from .conftest import rows, write_posts

GOOD = {
    "good-a.md": (
        "---\n"
        'code: "GOODA1"\n'
        'title: "Harbour reopens"\n'
        "date: 2024-11-20T07:00:34.861Z\n"
        'category: "World"\n'
        'language: "en"\n'
        "tags: [ports, weather]\n"
        "image: https://example.org/harbour.jpg\n"
        "---\n\n"
        "The quokka harbour reopened on Monday.\n\n"
        "![Boats at dawn (Photo: Reuters)](https://example.org/boats.jpg)\n\n"
        "Read the [earlier report](https://example.org/news/12345/storm).\n"
    ),
    "good-b.md": (
        "---\n"
        'code: "GOODB2"\n'
        'title: "Derby ends level"\n'
        "date: 2024-11-20T14:00:00+07:00\n"
        'category: "Sport"\n'
        'language: "th"\n'
        "---\n\n"
        "The wombat derby ended level.\n"
    ),
}
GOOD_IDS = ("GOODA1", "GOODB2")


def good_rows(db: Path) -> dict:
    """Everything the two good posts put in the database."""
    ids = ",".join(f"'{i}'" for i in GOOD_IDS)
    return {
        "posts": rows(db, f"SELECT * FROM posts WHERE id IN ({ids}) ORDER BY id"),
        "post_images": rows(db, f"SELECT * FROM post_images WHERE post_id IN ({ids}) ORDER BY post_id, position"),
        "images": rows(db, f"SELECT images.* FROM images JOIN post_images ON image_id = images.id WHERE post_id IN ({ids}) ORDER BY images.id"),
        "captions": rows(db, f"SELECT captions.* FROM captions JOIN post_images ON caption_id = captions.id WHERE post_id IN ({ids})"),
        "links": rows(db, f"SELECT * FROM links WHERE post_id IN ({ids}) ORDER BY post_id, position"),
        "post_tags": rows(db, f"SELECT post_tags.* FROM post_tags WHERE post_id IN ({ids}) ORDER BY post_id, tag"),
        "categories": rows(db, f"SELECT categories.* FROM categories JOIN posts ON category = categories.name WHERE posts.id IN ({ids}) ORDER BY 1"),
        "languages": rows(db, f"SELECT languages.* FROM languages JOIN posts ON language = languages.code WHERE posts.id IN ({ids}) ORDER BY 1"),
        "post_authors": rows(db, f"SELECT * FROM post_authors WHERE post_id IN ({ids}) ORDER BY post_id, position"),
        "search": [
            rows(db, f"SELECT posts.id FROM posts_fts JOIN posts ON posts.rowid = posts_fts.rowid WHERE posts_fts MATCH ? AND posts.id IN ({ids})", (word,))
            for word in ("quokka", "wombat")
        ],
    }


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> dict:
    """The good posts' rows when they are built alone."""
    folder = write_posts(tmp_path_factory.mktemp("baseline") / "posts", GOOD)
    db = folder.parent / "news.db"
    summary = build(folder, db, quiet=True)
    assert summary.written and summary.added == 2 and not summary.problems
    expected = good_rows(db)
    assert expected["search"] == [[("GOODA1",)], [("GOODB2",)]]
    return expected


# ---------------------------------------------------------------------------- outcomes


@dataclass
class Rejected:
    """Skipped, and recorded in build_errors as `path:line: message`."""

    line: int | None
    fragments: tuple
    level: str = "error"
    check: Callable | None = None  # check(db, tmp_path) for anything else to assert


@dataclass
class Accepted:
    """Built, with these column values (and this `extra` JSON, when given), and these
    warnings in build_errors, as (line, message fragment)."""

    columns: dict
    extra: object = ...  # ... = not checked, None = NULL, dict = the parsed JSON
    check: Callable | None = None  # check(db, row, tmp_path)
    warnings: tuple = ()


def rejected(line, *fragments, level="error", check=None):
    return Rejected(line, fragments, level, check)


def accepted(extra=..., check=None, warnings=(), **columns):
    return Accepted(columns, extra, check, warnings)


def case(name, content, outcome, id):
    return pytest.param(name, content, outcome, id=id)


def fm(*lines: str, body: str = "Body of the post.\n") -> str:
    """A post from frontmatter lines: line 1 is `---`, lines[0] is file line 2."""
    return "---\n" + "".join(f"{line}\n" for line in lines) + "---\n\n" + body


# ---------------------------------------------------------------------------- cases

BILLION_LAUGHS = (
    "---\n"
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{nxt}: &{nxt} [{','.join(['*' + prev] * 10)}]\n"
        for prev, nxt in zip("abcdefghi", "bcdefghij")
    )
    + "---\nbody\n"
)


def _python_object(folder: Path, tmp_path: Path):
    marker = tmp_path / "executed"
    write_posts(folder, {"case.md": fm("title: x", f"boom: !!python/object/apply:builtins.open [{str(marker)!r}, w]")})


def _marker_absent(db, tmp_path):
    assert not (tmp_path / "executed").exists(), "the tag was executed"


def _symlink_outside(folder: Path, tmp_path: Path):
    outside = tmp_path / "elsewhere" / "secret.md"
    outside.parent.mkdir()
    outside.write_text(fm("title: outside"))
    os.symlink(outside, folder / "case.md")


def _body_has(*words):
    def check(db, row, tmp_path):
        for word in words:
            assert word in row["body_text"]
    return check


def _tags(*names):
    def check(db, row, tmp_path):
        got = rows(db, "SELECT tag FROM post_tags WHERE post_id = ? ORDER BY tag", (row["id"],))
        assert [r[0] for r in got] == sorted(names)
    return check


def _category_and_language(category, language):
    def check(db, row, tmp_path):
        got = rows(
            db,
            "SELECT category, language FROM posts WHERE posts.id = ?",
            (row["id"],),
        )
        assert got == [(category, language)]
    return check


def _no_lead_image(db, row, tmp_path):
    assert row["lead_image_id"] is None and row["image_count"] == 0


def _no_language(db, row, tmp_path):
    assert row["language"] is None
    assert rows(db, "SELECT count(*) FROM languages WHERE code = ''") == [(0,)]


def _all_dates_utc(db, row, tmp_path):
    got = rows(db, "SELECT id, published_at FROM posts ORDER BY published_at")
    assert got == [
        ("GOODB2", "2024-11-20T07:00:00.000Z"),  # written 14:00+07:00
        ("GOODA1", "2024-11-20T07:00:34.861Z"),  # written with Z
        ("case", "2024-11-20T09:30:00.000Z"),  # written naive: taken as UTC
    ]


def _script_dropped(db, row, tmp_path):
    assert "<script>" in row["body"], "the body is stored as written"
    assert "alert" not in row["body_text"] and "steal" not in row["body_text"]


CASES = [
    # --------------------------------------------------------------- encodings
    case("case.md", b"\xef\xbb\xbf" + fm('title: "Kept despite a BOM"', "category: World").encode(),
         accepted(title="Kept despite a BOM", title_source="frontmatter", file_format="utf-8-sig;lf;yaml", extra=None),
         id="utf8-bom-title-kept"),
    case("case.md", fm("title: caf\xe9 society", "category: x").encode("latin-1"),
         rejected(2, "not valid UTF-8 (byte 0xe9", "re-save the file as UTF-8"),
         id="latin1-in-frontmatter-line-2"),
    case("case.md", fm("title: x", body="Line one.\n\n\u201cSmart\u201d quotes from Word.\n").encode("cp1252"),
         rejected(7, "not valid UTF-8 (byte 0x93"),
         id="windows-1252-smart-quotes-in-body-line-7"),
    case("case.md", fm("title: Z\xfcrich \u65e5\u672c", body="K\xf6rper.\n").encode("utf-16"),
         accepted(title="Z\xfcrich \u65e5\u672c", file_format="utf-16;lf;yaml", body_text="K\xf6rper."),
         id="utf16-le-with-bom"),
    case("case.md", b"\xfe\xff" + fm("title: Big end").encode("utf-16-be"),
         accepted(title="Big end", file_format="utf-16;lf;yaml"),
         id="utf16-be-with-bom"),
    case("case.md", fm("title: x", body="a\nb\n").encode("utf-16") + b"\x00\xd8",
         rejected(7, "not valid UTF-16"),
         id="utf16-truncated-lone-surrogate"),
    case("case.md", fm("title: x").encode("utf-16-le"),
         rejected(1, "NUL character", "UTF-16 without a BOM"),
         id="utf16-without-bom"),
    case("case.md", b"\xef\xbb\xbf\xef\xbb\xbf" + fm("title: x").encode(),
         rejected(1, "no frontmatter", "invisible U+FEFF"),
         id="two-boms"),
    # ----------------------------------------------------------- line endings
    case("case.md", fm("title: Only CR", "date: 2024-01-02T03:04:05Z", body="One.\n\nTwo.\n").replace("\n", "\r").encode(),
         accepted(title="Only CR", published_at="2024-01-02T03:04:05.000Z", file_format="utf-8;cr;yaml",
                  body="\rOne.\r\rTwo.\r", body_text="One.\nTwo."),
         id="cr-only-line-endings"),
    case("case.md", fm("title: Windows", "category: x", "date: 2024-02-30").replace("\n", "\r").encode(),
         rejected(4, "date '2024-02-30' is not a real date"),
         id="cr-only-error-line-counts-cr"),
    case("case.md", fm("title: x", "category: caf\xe9").replace("\n", "\r").encode("latin-1"),
         rejected(3, "not valid UTF-8 (byte 0xe9"),
         id="cr-only-not-utf8-line-counts-cr"),
    case("case.md", fm("title: x", body="One.\r\rTwo \x00.\r").replace("\n", "\r").encode(),
         rejected(7, "contains a NUL character"),
         id="cr-only-nul-line-counts-cr"),
    case("case.md", fm("title: Windows", body="One.\n").replace("\n", "\r\n").encode(),
         accepted(title="Windows", file_format="utf-8;crlf;yaml", body="\r\nOne.\r\n", body_text="One."),
         id="crlf-line-endings"),
    case("case.md", fm("title: a", "category: [x", body="b\n").replace("\n", "\r\n").encode(),
         rejected(4, "YAML"),
         id="crlf-yaml-error-line"),
    # ----------------------------------------------------------------- fences
    case("case.md", "---\ntitle: never closed\n\nBody.\n",
         rejected(1, "frontmatter opened with '---' on line 1 is never closed"),
         id="unclosed-fence"),
    case("case.md", "Just a note, no frontmatter.\n",
         rejected(1, "no frontmatter: the first line must be '---' (YAML) or '+++' (TOML)"),
         id="no-frontmatter"),
    case("case.md", fm("- a", "- b"),
         rejected(2, "frontmatter is a list, not a mapping"),
         id="frontmatter-is-a-list"),
    case("case.md", fm("just a sentence"),
         rejected(2, "frontmatter is a single value, not a mapping"),
         id="frontmatter-is-a-scalar"),
    case("case.md", "---\n---\nThe body gives the title.\n",
         accepted(id="case", title="The body gives the title.", title_source="body", extra=None),
         id="frontmatter-empty-id-from-path"),
    case("case.md", "---   \ntitle: Spaces after fences\n---  \t\nBody.\n",
         accepted(title="Spaces after fences"),
         id="fences-with-trailing-spaces"),
    case("case.md", "---\ntitle: x\n...\nBody.\n",
         rejected(3, "closed with '...' on line 3", "close it with '---'"),
         id="yaml-dots-terminator"),
    case("case.md", "---\ntitle: Just frontmatter\n---",
         accepted(title="Just frontmatter", body="", body_text=""),
         id="closing-fence-at-eof-no-body"),
    case("case.md", '+++\ntitle = "TOML post"\ndate = 2024-11-20T14:00:00+07:00\ncategory = "World"\nrating = 5\n+++\nBody.\n',
         accepted(title="TOML post", published_at="2024-11-20T07:00:00.000Z", file_format="utf-8;lf;toml", extra={"rating": 5}),
         id="toml-frontmatter"),
    case("case.md", '+++\ntitle = "x"\ndate = \n+++\nBody.\n',
         rejected(3, "TOML: Invalid value"),
         id="toml-syntax-error-line"),
    case("case.md", '+++\ntitle = "x"\nn = ' + "[" * 5000 + "]" * 5000 + "\n+++\nBody.\n",
         rejected(2, "TOML: nested too deeply"),
         id="toml-deep-nesting"),
    # ------------------------------------------------------------------- YAML
    case("case.md", fm("title: a", "category: b", "language: en", "description: one: two", "origin_url: x"),
         rejected(5, "YAML: mapping values are not allowed here"),
         id="yaml-error-4th-frontmatter-line-is-file-line-5"),
    case("case.md", fm("title: a", "tags:", "\t- x"),
         rejected(4, "tab character", "indent with spaces"),
         id="tab-indentation"),
    # A key written twice keeps its last value, as PyYAML and Jekyll read it.
    case("case.md", fm("title: First", "category: b", "title: Second"),
         accepted(title="Second", category="b", extra={"title (line 2)": "First"},
                  warnings=[(2, "key 'title' is written twice, on lines 2 and 4: the value on line 4 is kept, "
                                "the one on line 2 is in extra as 'title (line 2)'")]),
         id="duplicate-key-last-value-kept"),
    case("case.md", fm("title: a", "1: one", '"1": also one'),
         accepted(title="a", extra={"1": "also one", "1 (line 3)": "one"},
                  warnings=[(3, "key '1' is written twice, on lines 3 and 4")]),
         id="duplicate-key-once-read-as-text"),
    case("case.md", fm('title: "One"', 'title: "Two"', 'title: "Three"'),
         accepted(title="Three", extra={"title (line 2)": "One", "title (line 3)": "Two"},
                  warnings=[(2, "on lines 2 and 4"), (3, "on lines 3 and 4")]),
         id="duplicate-key-three-times-simple-lines"),
    case("case.md", fm("title: a", "tags: [x, y]", "meta:", "  note: first", "  n: 1", "  note: second", "tags: [z]"),
         accepted(title="a", extra={"meta": {"note": "second", "n": 1}, "note (line 5)": "first", "tags (line 3)": ["x", "y"]},
                  warnings=[(3, "key 'tags' is written twice, on lines 3 and 8"),
                            (5, "key 'note' is written twice, on lines 5 and 7")],
                  tags='["z"]', check=_tags("z")),
         id="duplicate-keys-nested-and-a-list"),
    # Frontmatter over FAST_MAX_CHARS: libyaml is not asked.
    case("case.md", fm("title: a", "long: " + "x" * 70_000, "title: b"),
         accepted(title="b", warnings=[(2, "key 'title' is written twice, on lines 2 and 4")]),
         id="duplicate-key-read-by-the-pure-python-loader"),
    case("case.md", '+++\ntitle = "First"\nn = [1,\n  2]\ntitle = """Second\ntitle = 3"""\nn = 3\n+++\nBody.\n',
         accepted(title="Second title = 3", file_format="utf-8;lf;toml", extra={"n": 3, "title (line 2)": "First", "n (line 3)": [1, 2]},
                  warnings=[(2, "key 'title' is written twice, on lines 2 and 5"), (3, "key 'n' is written twice, on lines 3 and 7")]),
         id="toml-duplicate-keys-last-value-kept"),
    case("case.md", '+++\ntitle = "x"\n[a]\nv = 1\n[a]\nw = 2\n+++\nBody.\n',
         rejected(5, "TOML: Cannot declare ('a',) twice"),
         id="toml-table-declared-twice"),
    case("case.md", fm("title: a", "content: not the body", "handler: not code"),
         accepted(title="a", extra={"content": "not the body", "handler": "not code"}),
         id="keys-content-and-handler-kept-in-extra"),
    case("case.md", fm("title: a", "1: one", "true: yes", "1.0: float", "null: nothing", "~: tilde"),
         accepted(title="a", extra={"1": "one", "true": "yes", "1.0": "float", "null": "nothing", "~": "tilde"}),
         id="non-string-keys-become-text"),
    case("case.md", fm("title: a", "answer: NO", "agree: yes", "toggle: on", "zip: 01234", "time: 1:30",
                       "octal: 0o17", "hex: 0x1F", "version: 1.10.2", "count: 42"),
         accepted(extra={"answer": "NO", "agree": "yes", "toggle": "on", "zip": "01234", "time": "1:30",
                         "octal": "0o17", "hex": "0x1F", "version": "1.10.2", "count": 42}),
         id="yaml-1.1-traps-stored-as-written"),
    case("case.md", fm("title: a", "category: b", "date: 2024-02-30"),
         rejected(4, "date '2024-02-30' is not a real date (day is out of range for month)"),
         id="impossible-date"),
    case("case.md", fm("title: a", "date: 2024-11-20 09:30:00"),
         accepted(published_at="2024-11-20T09:30:00.000Z", date_source="frontmatter", check=_all_dates_utc),
         id="naive-and-zoned-datetimes-normalised-to-utc"),
    case("case.md", fm("title: a", "date: 2024-12-31T22:00:00-05:00", "updated: 2024-12-31T22:00:00-05:00"),
         accepted(published_at="2025-01-01T03:00:00.000Z", published_month="2025-01",
                  extra={"updated": "2024-12-31T22:00:00-05:00"}),
         id="zoned-datetime-crosses-year-in-utc"),
    case("case.md", fm("title: a", "date: 9999-12-31T23:00:00-05:00"),
         rejected(3, "out of range"),
         id="date-overflows-in-utc"),
    case("case.md", fm("title: a", "date: 2024-01-01T00:00:00+99:00"),
         rejected(3, "UTC offset +99:00 is out of range"),
         id="date-with-impossible-offset"),
    case("case.md", fm("title: a", "date: 0001-01-01T00:00:00Z"),
         accepted(published_at="0001-01-01T00:00:00.000Z", published_month="0001-01"),
         id="date-in-year-1-sorts-as-text"),
    case("case.md", fm("title: a", "date: 20241120"),
         rejected(3, "date '20241120' is not a date", "ISO 8601"),
         id="date-is-a-number"),
    case("case.md", _python_object,
         rejected(3, "unsupported YAML tag", "python/object/apply:builtins.open", check=_marker_absent),
         id="python-object-tag-not-executed"),
    case("case.md", fm("title: a", "x: !!int twelve"),
         rejected(3, "'twelve' is not a valid !!int value"),
         id="explicit-tag-with-bad-value"),
    case("case.md", BILLION_LAUGHS,
         rejected(6, "expands to more than", "alias bomb"),  # `e:` is the first to pass the bound
         id="alias-bomb-10-to-the-10"),
    case("case.md", fm("title: a", "x: " + "[" * 100_000 + "]" * 100_000),
         rejected(3, f"nested deeper than {MAX_DEPTH} levels"),
         id="deep-flow-nesting"),
    case("case.md", fm("title: a", "a: &a " + "[" * 30 + "1" + "]" * 30, "b: " + "[" * 30 + "*a" + "]" * 30),
         rejected(4, f"nested deeper than {MAX_DEPTH} levels (through an alias)"),
         id="deep-nesting-through-an-alias"),
    case("case.md", fm("title: a", "x: [" + "1, " * MAX_NODES + "1]"),
         rejected(3, f"more than {MAX_NODES:,} values"),
         id="too-many-values"),
    case("case.md", fm("title: a", "a: &a [*a]"),
         rejected(3, "refers to itself"),
         id="recursive-alias"),
    case("case.md", fm("title: a", "? [a, b]", ": c"),
         rejected(3, "a list is used as a key"),
         id="list-as-key"),
    case("case.md", fm("title: a", "x: !custom thing"),
         rejected(3, "unsupported YAML tag: !custom"),
         id="unknown-local-tag"),
    case("case.md", fm("base: &base {category: World, language: en}", "<<: *base", "title: Merged", "language: th"),
         accepted(title="Merged", extra={"base": {"category": "World", "language": "en"}},
                  check=_category_and_language("world", "th")),
         id="merge-key-explicit-wins"),
    # ------------------------------------------------- NUL, controls, Unicode
    case("case.md", fm("title: a", body="Fine.\n\nNot \x00 fine.\n"),
         rejected(7, "contains a NUL character"),
         id="nul-in-file"),
    case("case.md", fm("title: a", "category: bell\x07here"),
         rejected(3, "character '\\x07' (U+0007) is not allowed in YAML frontmatter"),
         id="control-char-in-yaml"),
    case("case.md", fm("title: a", body="Bell \x07, escape \x1b[31m red, form feed \x0c end.\n"),
         accepted(title="a", check=_body_has("Bell \x07", "\x1b[31m", "end.")),
         id="control-chars-in-body-kept"),
    case("case.md", fm("title: a", "note: \"next\x85line\""),
         rejected(3, "U+0085 (NEXT LINE)", "line break"),
         id="nel-in-yaml"),
    case("case.md", fm("title: a", "note: one\u2028two: three"),
         rejected(3, "U+2028 (LINE SEPARATOR)"),
         id="line-separator-in-yaml"),
    case("case.md", fm("title: a", 'x: "\\ud800"'),
         rejected(3, "lone surrogate"),
         id="lone-surrogate-escape-in-value"),
    case("case.md", fm("title: a", '"\\udfff": x'),
         rejected(3, "lone surrogate"),
         id="lone-surrogate-escape-in-key"),
    case("case.md", fm('title: "nul \\0 inside"'),
         rejected(2, "NUL character"),
         id="nul-escape-in-yaml"),
    # ---------------------------------------------------------------- numbers
    case("case.md", fm("title: a", "big: 123456789012345678901234567890", "neg: -9223372036854775809",
                       "max: 9223372036854775807", "huge: " + "7" * 5000),
         accepted(extra={"big": "123456789012345678901234567890", "neg": "-9223372036854775809",
                         "max": 9223372036854775807, "huge": "7" * 5000}),
         id="integers-over-2-63-kept-as-digits"),
    case("case.md", fm("title: a", "n: .nan", "i: .inf", "m: -.inf", "over: 1e400"),
         accepted(extra={"n": "NaN", "i": "Infinity", "m": "-Infinity", "over": "1e400"}),
         id="nan-and-infinity-as-text"),
    # ---------------------------------------------------------- empty & huge
    case("case.md", b"",
         rejected(None, "file is empty"),
         id="empty-file"),
    case("case.md", " \n\n\t\n",
         rejected(None, "file is empty"),
         id="whitespace-only-file"),
    case("case.md", fm("title: Huge").encode() + b"word " * (MAX_BYTES // 5 + 1),
         rejected(None, f"over the {MAX_BYTES // 1048576} MB cap", "pasted binary or a dump"),
         id="huge-file-over-the-cap"),
    # ------------------------------------------------------------- the folder
    case("zz-dup.md", fm('code: "GOODA1"', "title: Same code"),
         accepted(id="zz-dup.md", title="Same code",
                  warnings=[(2, "id 'GOODA1' is also good-a.md's, which keeps it")]),
         id="same-code-undated-post-keeps-its-path-as-id"),
    case("case.md", _symlink_outside,
         rejected(None, "skipped: symlink points outside the posts folder", level="skipped"),
         id="symlink-leaving-the-folder"),
    case(".#post.md", fm("title: lock"),
         rejected(None, "skipped: editor lock or temp file", level="skipped"),
         id="emacs-lock-file"),
    case("~$post.md", fm("title: word lock"),
         rejected(None, "skipped: editor lock or temp file", level="skipped"),
         id="office-lock-file"),
    case(".hidden.md", fm("title: hidden"),
         rejected(None, "skipped: hidden file", level="skipped"),
         id="hidden-file"),
    # --------------------------------------------------- wrong shapes of keys
    case("case.md", fm("title: [Two, Titles]", body="The body line.\n"),
         accepted(title="The body line.", title_source="body", extra={"title": ["Two", "Titles"]}),
         id="title-is-a-list"),
    case("case.md", fm("title: a", "category: [World, Asia]"),
         accepted(extra={"category": ["World", "Asia"]}, check=_category_and_language("world", None)),
         id="category-is-a-list"),
    case("case.md", fm("title: a", "image:", "  url: https://example.org/x.jpg", "  alt: x"),
         accepted(extra={"image": {"url": "https://example.org/x.jpg", "alt": "x"}}, check=_no_lead_image),
         id="image-is-a-mapping"),
    case("case.md", fm("title: a", "tags: Floods, Bangkok ,  rain "),
         accepted(extra=None, check=_tags("floods", "bangkok", "rain")),
         id="tags-is-a-string"),
    case("case.md", fm("title: a", "code: [A1, B2]"),
         accepted(id="case", extra={"code": ["A1", "B2"]}),
         id="code-is-a-list-id-from-path"),
    case("case.md", fm("title: a", "language: '--'"),
         accepted(extra={"language": "--"}, check=_no_language),
         id="language-without-letters"),
    case("case.md", fm("title: a", "date: true"),
         rejected(3, "date must be text"),
         id="date-is-a-boolean"),
    # ------------------------------------------------------------ hostile bodies
    case("case.md", fm("title: a", body="<div><script>alert('steal')</script><p>Visible text</p></div>\n"),
         accepted(body_text="Visible text", check=_script_dropped),
         id="body-only-html-with-script"),
    case("case.md", fm("title: a", body=">" * 10_000 + " deep words\n\nAfter the quote.\n"),
         accepted(title="a", check=_body_has("deep words", "After the quote.")),
         id="body-10000-nested-blockquotes"),
    case("case.md", fm("title: a", body="- " * 10_000 + "innermost item\n\nAfter the list.\n"),
         accepted(title="a", check=_body_has("innermost item", "After the list.")),
         id="body-10000-nested-list-items"),
    case("case.md", fm("title: a", body="word " * 200_000 + "\n"),
         accepted(word_count=200_000),
         id="body-one-1mb-line"),
    case("case.md", fm("title: a", body="[" * 20_000 + "x" + "](y)" * 20_000 + "\n"),
         accepted(title="a", check=_body_has("x")),
         id="body-20000-nested-link-brackets"),
    # Template syntax that never closes, in bulk: read in one pass (it was quadratic once).
    case("case.md", fm("title: a", body="{{ site.x " + "| url " * 100_000 + "\n\nAfter.\n"),
         accepted(title="a", check=_body_has("After.")),
         id="body-100000-unclosed-liquid-filters"),
    case("case.md", fm("title: a", body="[caption " * 100_000 + "\n\n[caption]" + "<img src=x " * 50_000 + "tail[/caption]\n\nAfter.\n"),
         accepted(title="a", check=_body_has("After.")),
         id="body-100000-unclosed-wordpress-captions"),
]


@pytest.mark.parametrize("name, content, outcome", CASES)
def test_hostile_post(tmp_path, baseline, name, content, outcome):
    folder = write_posts(tmp_path / "posts", GOOD)
    if callable(content):
        content(folder, tmp_path)
    else:
        write_posts(folder, {name: content})
    db = tmp_path / "news.db"

    summary = build(folder, db, quiet=True)

    assert summary.written
    assert good_rows(db) == baseline, "the good posts are built exactly as without the bad file"
    errors = rows(db, "SELECT path, line, level, message FROM build_errors")
    if isinstance(outcome, Rejected):
        assert len(errors) == 1, errors
        path, line, level, message = errors[0]
        assert (path, line, level) == (name, outcome.line, outcome.level), errors
        for fragment in outcome.fragments:
            assert fragment in message
        assert "byte offset" not in message and "position" not in message
        where = name if outcome.line is None else f"{name}:{outcome.line}"
        assert [str(p) for p in summary.problems] == [f"{where}: {message}"]
        assert rows(db, "SELECT id FROM posts ORDER BY id") == [(i,) for i in GOOD_IDS]
        if outcome.check:
            outcome.check(db, tmp_path)
    else:
        assert [(path, level) for path, _, level, _ in errors] == [(name, "warning")] * len(outcome.warnings), errors
        for (_, line, _, message), (want_line, fragment) in zip(errors, outcome.warnings):
            assert line == want_line and fragment in message, errors
        assert [str(p) for p in summary.problems] == [f"{name}:{line}: warning: {message}" for _, line, _, message in errors]
        conn = sqlite3.connect(db)
        conn.row_factory = sqlite3.Row
        found = conn.execute("SELECT * FROM posts WHERE path = ?", (name,)).fetchall()
        conn.close()
        assert len(found) == 1
        row = dict(found[0])
        assert {k: row[k] for k in outcome.columns} == outcome.columns
        if outcome.extra is not ...:
            assert (json.loads(row["extra"]) if row["extra"] is not None else None) == outcome.extra
        if outcome.check:
            outcome.check(db, row, tmp_path)
        assert summary.added == 3 and summary.failed == 0


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40


def test_alias_bomb_is_small_and_would_expand_to_billions():
    """By construction: the file is a few hundred bytes, and fully expanded it holds
    10**10 strings, so the case above can only finish if the loader refuses it
    before expanding anything."""
    assert len(BILLION_LAUGHS.encode()) < 600
    assert BILLION_LAUGHS.count("*") == 9 * 10  # ten levels of ten: 10**10 leaves


def test_python_frontmatter_loses_bom_metadata_but_we_do_not():
    """Why the reader does not hand BOM files to python-frontmatter as text."""
    text = (b"\xef\xbb\xbf" + fm("title: x").encode()).decode("utf-8")
    assert frontmatter.loads(text).metadata == {}


def test_parsing_leaves_no_cyclic_garbage(tmp_path):
    """The build's writer parses with Python's cycle collector paused (a serial build,
    a small update): whatever a post's parse leaves must be freed by reference
    counting alone, good posts and hostile ones, or a long build would hold it all.
    The one exception is a frontmatter whose alias contains itself: its node graph is
    a cycle by construction (8 objects, freed by the collection at the build's end)."""
    import gc

    from newsarchive.build.scan import scan
    from newsarchive.build.workers import ParseFailure, parse_task

    from .conftest import CORPUS_18F, SAMPLE

    hostile = tmp_path / "hostile"
    write_posts(hostile, {f"{i:03d}-{c.values[0]}": c.values[1] for i, c in enumerate(CASES)
                          if isinstance(c.values[1], (bytes, str))})
    tasks = [(f.path, f.abspath) for folder in (SAMPLE, CORPUS_18F, hostile) for f in scan(folder)[0]]
    assert len(tasks) > 600
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    left = {}
    try:
        for task in tasks:
            result = parse_task(task)
            found = gc.collect()
            if found:
                failed = isinstance(result, ParseFailure)
                left[task[0]] = (found, "error" if failed else "ok", result.message if failed else None)
    finally:
        if was_enabled:
            gc.enable()
    assert list(left.values()) == [(8, "error", "an alias refers to itself (recursive structure)")], left
