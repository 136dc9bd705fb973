"""The build's renderer skips the sanitiser for its own markup (newsarchive.parse.render):
what it writes for a body without raw HTML must be exactly what nh3 would write.

Two checks. A property over generated Markdown (links and photos with odd URLs,
titles, tables, code, lists, entities, unicode, a NUL or CR, raw HTML now and then):
every block the writer passes unsanitised (WRITTEN) comes out of the sanitiser
unchanged, and the article and preview equal what sanitising every block gives, run
by run, the blocks holding raw HTML alone. Then the same equality on every post of
the benchmark generator's corpus and of the 18F blog, as the build renders them.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.generate import render_post as generated_post
from newsarchive.parse import read_post
from newsarchive.parse import rows as parse_rows
from newsarchive.parse.render import (RAW, WRITTEN, article_blocks, article_html, preview_blocks, preview_html,
                                      render_post)
from newsarchive.text.render import markdown_preview, preview_wrap, sanitise, sanitise_blocks

from .conftest import CORPUS_18F

URLS = st.sampled_from([
    "https://example.org/a?b=1&c=2#x", "http://Example.COM:8080/path", "HTTPS://news.test", "/relative/a b.jpg",
    "photo.jpg", "#anchor", "?q=1", "", "//cdn.test/x.png", "mailto:desk@news.test", "mailto://odd",
    "ftp://files.test/a", "tel:+4412345", "http://1.2.3.4/", "http://1.2.3.999/", "http://0x7f/", "https://xn--bcher-kva.test/",
    "https://bücher.test/é", "http://user:pw@host.test/", "http://host.test:99999/", "http://-bad-.test/",
    "http://a..b/", "javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:image/png;base64,AAAA", "data:text/html,x",
    "vbscript:x", "file:///etc/passwd", "http://[::1]/", "http://[bad/", "https://a.b/\"q\"'<>", "h\tttp://x",
    "https://t.test/%zz%41", "x:y", "a/b:c", "https://e.test/\u00a0nbsp", "//", "http:", "http:/x", "\\\\x",
])
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
WORDS = st.sampled_from([
    "harbour", "&amp;", "&nbsp;", "&#0;", "&#x27;", "&quot;", "&lt;b&gt;", "a & b", "1 < 2 > 0", "\u00a0", "'q'",
    '"q"', "\x00", "\r", "\x0b", "\x1f", "\ufeff", "\U0001F600", "ผู้ว่า", "\u2028", "*", "**", "_", "~~", "`",
    "\\", "<b>", "<br>", "</i>", "<!-- c -->", "<script>x</script>", "<http://auto.test/a>", "<desk@news.test>",
    "<ftp://auto.test>", " ", "\n", "  \n", "\t",
]) | TEXT


#: What attribute values (alt text, titles) are escaped for, each alone or among words.
ATTRIBUTE_CHARS = st.sampled_from(["", "&nbsp;", "\u00a0", '\\"', "'", "&amp;", "&lt;", ">", "\x00", "&#13;", "\n"])
ATTRIBUTE_TEXT = st.one_of(ATTRIBUTE_CHARS, st.tuples(WORDS, ATTRIBUTE_CHARS, WORDS).map("".join))


@st.composite
def inline(draw) -> str:
    kind = draw(st.sampled_from(["word", "word", "word", "link", "image", "em", "code", "ref"]))
    text = draw(WORDS)
    if kind == "link":
        title = draw(st.one_of(st.just(""), ATTRIBUTE_TEXT.map(lambda t: f' "{t}"'), st.just(" 'it''s'")))
        return f"[{text}](<{draw(URLS)}>{title})"
    if kind == "image":
        return f"![{draw(ATTRIBUTE_TEXT)}]({draw(URLS).replace(' ', '%20')})"
    if kind == "em":
        return draw(st.sampled_from(["*{}*", "**{}**", "***{}***", "~~{}~~", "*a **{}** b*"])).format(text or "x")
    if kind == "code":
        return f"`{text}`"
    if kind == "ref":
        return f"[{text or 'r'}][r]"
    return text


@st.composite
def block(draw) -> str:
    line = "".join(draw(st.lists(inline(), min_size=1, max_size=6)))
    kind = draw(st.sampled_from(["para", "para", "heading", "list", "olist", "quote", "code", "fence", "table",
                                 "photo", "rule", "html", "nested"]))
    if kind == "heading":
        return f"{'#' * draw(st.integers(1, 6))} {line}"
    if kind == "list":
        return "\n".join(f"- {line}" for _ in range(draw(st.integers(1, 3))))
    if kind == "olist":
        return "\n".join(f"{draw(st.integers(0, 12))}. {line}" for _ in range(draw(st.integers(1, 3))))
    if kind == "quote":
        return f"> {line}\n>\n> - {line}"
    if kind == "code":
        return f"    {line}\n    <b>&amp;"
    if kind == "fence":
        return f"```py\n{line}\n\n&nbsp; <i>\n```"
    if kind == "table":
        return f"| a | {line.replace(chr(10), ' ')} |\n|:--|--:|\n| `x` | {line.replace(chr(10), ' ')} |"
    if kind == "photo":
        return f"![{line.replace(chr(10), ' ')}]({draw(URLS).replace(' ', '%20')})\n\n{line}"
    if kind == "rule":
        return "***"
    if kind == "html":
        return draw(st.sampled_from(["<div>\n<b>open", "<table><tr><td>x", "<p onclick=x>y</p>", "<!-- c -->"]))
    if kind == "nested":
        return f"1. {line}\n   > {line}\n   > ```\n   > {line}\n   > ```"
    return line


MARKDOWN = st.lists(block(), min_size=1, max_size=6).map("\n\n".join).map(lambda md: md + "\n\n[r]: /ref 'ref title'")


def sanitised_run_by_run(blocks: list[tuple[str, int]]) -> str:
    """The blocks as the renderer sanitised them before it skipped its own markup:
    every run of blocks without the body's own HTML sanitised together, each block
    with it alone (text.render.sanitise_blocks)."""
    return sanitise_blocks((html, kind == RAW) for html, kind in blocks)


def assert_fixed_points(blocks: list[tuple[str, int]]):
    for html, kind in blocks:
        if kind == WRITTEN:
            assert sanitise(html) == html


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MARKDOWN, st.booleans())
def test_the_writers_own_markup_is_what_the_sanitiser_writes(markdown, with_headline):
    headline = markdown.split("\n", 1)[0].lstrip("# ") if with_headline else None
    article = article_blocks(markdown, headline)
    assert_fixed_points(article)
    assert article_html(markdown, headline) == sanitised_run_by_run(article)
    text, cut = markdown_preview(markdown)
    preview = preview_blocks(text)
    assert_fixed_points(preview)
    assert preview_html(markdown) == (preview_wrap(sanitised_run_by_run(preview)), cut)


def test_the_property_meets_every_kind_of_block():
    """The generated Markdown reaches all three kinds, and the URLs the sanitiser
    drops are caught (CHECK) rather than written as kept."""
    kinds = {kind for html, kind in article_blocks("[a](ftp://x.test)\n\nplain *text*\n\n<div>raw")}
    assert kinds == {0, 1, 2}
    assert sanitise('<a href="ftp://x.test">a</a>') != '<a href="ftp://x.test" rel="noopener noreferrer">a</a>'


def corpus_posts():
    """(label, post) for a sample of the benchmark generator's corpus and every 18F post."""
    for i in range(400):
        meta, text = generated_post(i, 400)
        yield f"generated {i}", read_post(f"g{i}.md", text.encode())
    assert CORPUS_18F.is_dir(), f"the 18F corpus is expected at {CORPUS_18F}"
    for path in sorted(CORPUS_18F.rglob("*.md")):
        yield path.name, read_post(str(path), path.read_bytes())


def test_stored_html_of_the_corpora_is_what_sanitising_every_block_gives():
    written = total = 0
    for label, post in corpus_posts():
        record = parse_rows.extract(post)
        headline = record.post["title"] if record.post["title_source"] == "body" else None
        body = post.body_lf
        rendered = render_post(body, headline)
        assert rendered.warning is None, label
        blocks = article_blocks(body, headline)
        assert rendered.article == sanitised_run_by_run(blocks), label
        text, cut = markdown_preview(body)
        assert (rendered.preview, bool(rendered.preview_cut)) == (preview_wrap(sanitised_run_by_run(preview_blocks(text))), cut), label
        assert_fixed_points(blocks)
        written += sum(len(html) for html, kind in blocks if kind == WRITTEN)
        total += sum(len(html) for html, kind in blocks)
    # The skip is the common case: most of the markup is our own.
    assert written / total > 0.9, (written, total)
