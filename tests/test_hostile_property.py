"""Issue 5, property-based: whatever one file holds, it becomes a post or a recorded
error, never an uncaught exception, and never a change to any other post.

Most examples go through read_post + extract + the store's insert (into an
in-memory database, rolled back), which is what a build worker and the writer do;
a smaller number run the real build and compare the other posts with a baseline.
"""
from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
import sqlite_utils
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from newsarchive.db.schema import create_schema
from newsarchive.db.write import write_record
from newsarchive.build.pipeline import build
from newsarchive.parse import ArchiveLoader, PostError, extract, read_post, walk_body, yamlsafe
from newsarchive.text.sitegen import read_templates

from .conftest import SPECIMEN, write_posts
from .test_hostile_inputs import GOOD, GOOD_IDS, good_rows, rows

TOML_POST = '+++\ntitle = "A TOML post"\ndate = 2024-11-20T14:00:00+07:00\ncategory = "World"\ntags = ["a", "b"]\n+++\n\nBody with a [link](https://example.org/1).\n'
VICTIM = GOOD["good-a.md"].replace("GOODA1", "VICTIM1")  # its own id, so not a duplicate by birth
BASES = [SPECIMEN.read_text(encoding="utf-8") if SPECIMEN.exists() else VICTIM, VICTIM, TOML_POST]

#: Characters and fragments that mean something to YAML, TOML, Markdown or a decoder.
HOSTILE = [
    *"\n\r\t:-[]{}&*!|>'\"#%@`\\,?~=+ <",
    "---", "+++", "...", "\r\n", "\x00", "\ufeff", "\u2028", "\x85", "\x07", "\x1b", "\ud800", "\udfff",
    "\xe9", "\u65e5", "\U0001F600", "<<: *a", "&a ", "*a", "!!python/object:os.system", "!!binary ",
    "\\ud800", "\\0", "0o17", "1e400", "9" * 30, "2024-02-30", "- ", "> ", "<script>", "](", "![",
]
#: Whole frontmatter lines that have broken a loader before (inserted at a line start).
HOSTILE_LINES = [
    '"\\ud800": x', "x: !!int abc", "x: !!bool maybe", "x: !!timestamp 2024-02-30", "1: a", "true: b",
    "? [a, b]\n: c", "n: " + "1" * 5000, "date: 9999-12-31T23:00:00-05:00", "date: 2024-01-01T00:00+99:00",
    "a: &a [*a]", "x: " + "[" * 200, "code: [A, B]", "language: '--'", "x: \"\\0\"", "title: \"\\ud800\"",
    "<<: {title: merged}", "k: 1e400", "\tk: v", "...", "--- ", "+++",
]
snippets = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=st.one_of(st.sampled_from([c for c in HOSTILE if len(c) == 1]), st.characters()), min_size=1, max_size=6),
)


@st.composite
def mutated_posts(draw) -> bytes:
    """A valid post with a few characters inserted, deleted or replaced, then encoded."""
    text = draw(st.sampled_from(BASES))
    for _ in range(draw(st.integers(1, 6))):
        # Mostly in and around the frontmatter, where the parsers are.
        high = min(len(text), draw(st.sampled_from([120, 400, len(text)])))
        pos = draw(st.integers(0, high))
        op = draw(st.sampled_from(["insert", "delete", "replace", "line"]))
        if op == "line":
            start = max(text.rfind("\n", 0, pos) + 1, 4)  # a line start, after the opening fence
            text = text[:start] + draw(st.sampled_from(HOSTILE_LINES)) + "\n" + text[start:]
        elif op == "insert":
            text = text[:pos] + draw(snippets) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 12)) :]
        else:
            text = text[:pos] + draw(snippets) + text[pos + draw(st.integers(1, 6)) :]
    text = text.replace("\n", draw(st.sampled_from(["\n", "\n", "\n", "\r\n", "\r"])))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16"]))
    return text.encode(encoding, "surrogatepass")


raw_bytes = st.builds(
    lambda head, data, tail: head + data + tail,
    st.sampled_from([b"", b"---\n", b"+++\n", b"\xef\xbb\xbf---\n", b"\xff\xfe", b"---\r"]),
    st.binary(max_size=1500),
    st.sampled_from([b"", b"\n---\n", b"\n+++\nbody\n"]),
)
any_file = st.one_of(raw_bytes, mutated_posts())


def line_count(data: bytes) -> int:
    """Lines of the file as an editor shows them (CRLF, CR and LF each end a line)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", "replace")
    else:
        text = data.decode("utf-8", "replace")
    return text.count("\n") + text.count("\r") - text.count("\r\n") + 1


@pytest.fixture(scope="module")
def scratch_db():
    """An empty database with the real schema; each example's rows are rolled back."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    create_schema(sqlite_utils.Database(conn))
    yield conn
    conn.close()


def parse_and_store(conn, data: bytes) -> str:
    """What a worker and the writer do with one file; 'ok' or 'error', or it raises."""
    try:
        record = extract(read_post("victim.md", data))
    except PostError as exc:
        assert isinstance(exc.message, str) and exc.message.strip()
        if exc.line is not None:
            assert 1 <= exc.line <= line_count(data), (exc.line, exc.message)
        return "error"
    conn.execute("SAVEPOINT example")
    try:
        write_record(conn, record)  # e.g. a lone surrogate would raise here
    finally:
        conn.execute("ROLLBACK TO example")
        conn.execute("RELEASE example")
    return "ok"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=any_file)
def test_any_file_is_a_post_or_an_error(scratch_db, data):
    assert parse_and_store(scratch_db, data) in ("ok", "error")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=mutated_posts())
def test_mutated_specimen_is_a_post_or_an_error(scratch_db, data):
    assert parse_and_store(scratch_db, data) in ("ok", "error")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> dict:
    folder = write_posts(tmp_path_factory.mktemp("baseline") / "posts", GOOD)
    db = folder.parent / "news.db"
    build(folder, db, quiet=True)
    return good_rows(db)


#: A key written twice: the post is kept, with a warning (tests/test_duplicate_keys.py).
TWICE = VICTIM.replace("date: ", "date: 2023-01-01\ndate: ", 1).encode()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=any_file)
@example(data=TWICE)
def test_real_build_keeps_every_other_post(baseline, data):
    """The file is a post, with warnings or none, or refused with one error."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_posts(Path(tmp) / "posts", {**GOOD, "victim.md": data})
        db = Path(tmp) / "news.db"
        summary = build(folder, db, quiet=True)
        assert summary.written
        assert good_rows(db) == baseline
        built = rows(db, "SELECT id FROM posts WHERE path = 'victim.md'")
        levels = [level for (level,) in rows(db, "SELECT level FROM build_errors WHERE path = 'victim.md'")]
        if built:
            assert len(built) == 1 and set(levels) <= {"warning"}, (built, levels)
        else:
            assert levels == ["error"], levels
        assert not any("internal error" in p.message for p in summary.problems)
        others = {r[0] for r in rows(db, "SELECT id FROM posts WHERE path != 'victim.md'")}
        assert others == set(GOOD_IDS)


#: Lines around frontmatter fences: fences with trailing blanks, near-fences, YAML's
#: own document end, keys, blank lines.
FENCE_LINES = ["---", "--- ", "----", "---\x0c", "--- x", " ---", "+++", "+++ ", "++++", "...", "title: T", "a: 1", "", "Body."]


def _outcome(data: bytes):
    try:
        post = read_post("p.md", data)
    except PostError as exc:
        return ("error", exc.message, exc.line)
    lf = lambda text: text.replace("\r\n", "\n")  # noqa: E731
    return ("post", post.meta, post.key_lines, post.body_line, lf(post.frontmatter_text), lf(post.body), post.fence)


@settings(max_examples=300, deadline=None)
@given(first=st.sampled_from(["---", "+++"]), lines=st.lists(st.sampled_from(FENCE_LINES), max_size=8), end=st.booleans())
def test_fence_search_agrees_with_the_line_by_line_reading(first, lines, end):
    """read_post finds the closing fence of an LF-only file with one search and reads
    any other file line by line: both must see the same post, or the same error."""
    text = "\n".join([first, *lines]) + ("\n" if end else "")
    assert _outcome(text.encode()) == _outcome(text.replace("\n", "\r\n").encode())


#: Pieces of Liquid, Hugo and WordPress syntax, to be put together in any order.
TEMPLATE_PIECES = [
    "{{", "}}", "{%", "%}", "{{<", ">}}", "{{%", "%}}", "{{-", "-}}", " raw ", " endraw ", " comment ", " endcomment ",
    " image ", '"a.jpg"', "'b'", " src=", " caption=", "[caption", "]", "[/caption]", "<img src=x>", "</a>",
    " site.baseurl ", " | url ", " post_url 2015-01-01-x ", " figure ", "/", "\n", "\n\n", "=", '"', "'", "x",
]


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(st.sampled_from(TEMPLATE_PIECES), max_size=40))
def test_any_template_soup_reads_without_error(pieces):
    """Broken, unbalanced or nested template syntax never stops reading a body: the
    reading gives text, and the Markdown walk of it gives its parts."""
    body = "".join(pieces)
    assert isinstance(read_templates(body), str)
    parts = walk_body(body)
    assert all(image.url is not None for image in parts.images)


#: Frontmatter lines near the edge of what yamlsafe reads without a YAML parser:
#: words that YAML reads as numbers, booleans or null, quotes with escapes, odd
#: characters and spacing, comments, duplicate and nested keys.
_EDGE_WORDS = st.sampled_from([
    "post", "true", "False", "NULL", "null", "~", "yes", "no", "on", "1", "-1", "01234", "1.5", "1e3", ".inf",
    "0x1F", "2020-01-01", "2020-01-01T05:02:01.540Z", "a:b", "a:", "a#b", "a b", "_x", "x/y", "+1", "--",
])
_EDGE_TEXT = st.text(alphabet=st.sampled_from(list('abc  ab"\\#:\t\x85\u2028\x7f\x01é€\U0001F600\ufeff\'')), max_size=8)
_KEYS = st.sampled_from(["code", "title", "date", "layout", "true", "null", "a-b", "_k", "K9", "x y", "1", "code"])
_SEP = st.sampled_from([" ", " ", " ", "  ", "", "\t"])
_TAIL = st.sampled_from(["", "", "", " ", "  # c", "\t", "x"])
_EDGE_LINE = st.one_of(
    st.builds(lambda k, sep, w, tail: f"{k}:{sep}{w}{tail}", _KEYS, _SEP, _EDGE_WORDS, _TAIL),
    st.builds(lambda k, sep, t, tail: f'{k}:{sep}"{t}"{tail}', _KEYS, _SEP, _EDGE_TEXT, _TAIL),
    st.builds(lambda k, sep, t, tail: f'{k}:{sep}"{t}"{tail}', _KEYS, _SEP, _EDGE_TEXT, _TAIL),
    st.sampled_from(["", "   ", "# comment", "- item", "  nested: 1", "---", "key:", "key: [1, 2]", "\r"]),
)
#: Lines the shortcut should take, so that most texts reach the comparison.
_PLAIN_LINE = st.builds(
    lambda k, v: f"{k}: {v}",
    st.sampled_from(["code", "title", "date", "layout", "category", "language", "image"]),
    st.sampled_from(["post", "2020-01-01", "en", "WORLD"])
    | st.lists(st.sampled_from(["a", "b", " ", "-", "é", "€", ":", "#", "'", '\\"', "\\\\"]), max_size=8).map(
        lambda parts: '"' + "".join(parts) + '"'),
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.one_of(_PLAIN_LINE, _PLAIN_LINE, _EDGE_LINE), min_size=1, max_size=6,
                unique_by=lambda line: line.split(":", 1)[0]))
def test_frontmatter_read_without_a_parser_reads_as_the_parser_does(lines):
    """What _simple_mapping accepts, the pure-Python YAML loader reads the same way."""
    text = "\n".join(lines) + "\n"
    simple = yamlsafe._simple_mapping(text)
    if simple is None:
        return
    reference = yamlsafe._load(text, ArchiveLoader)
    assert simple == reference


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(_PLAIN_LINE, _PLAIN_LINE, _EDGE_LINE), min_size=2, max_size=8))
def test_keys_written_twice_read_alike_on_every_path(lines):
    """Frontmatter whose keys may repeat reads the same through load_frontmatter (which
    takes the shortcut, libyaml or the pure-Python loader), libyaml and the pure-Python
    loader: the last value of each key, on the line of that value, and each earlier
    value once; and the values are PyYAML's own last ones (safe_load keeps the last)."""
    import yaml

    text = "\n".join(lines) + "\n"
    try:
        reference = yamlsafe._load(text, ArchiveLoader)
    except yamlsafe.YamlProblem:
        return
    assert yamlsafe.load_frontmatter(text) == reference
    if yamlsafe.FastArchiveLoader is not None:
        assert yamlsafe._load(text, yamlsafe.FastArchiveLoader) == reference
    top = [d for d in reference.duplicates if d.key in reference.data]
    assert all(reference.key_lines[d.key] == d.kept_line > d.line for d in top)
    plain = yaml.safe_load(text)
    # YAML 1.1 reads some keys and values as other types (`true`, `1:30`): compare the text ones.
    for key, value in reference.data.items():
        if isinstance(value, str) and isinstance(plain.get(key), str):
            assert plain[key] == value
