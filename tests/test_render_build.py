"""The article and preview the build stores (post_html), checked on real posts against
what is known without the renderer: markdown-it-py's reading of each body (another
CommonMark parser), the photos and titles the build recorded, and an HTML parser.

The 18F blog (Jekyll posts: template tags, tables, raw HTML, captioned photos) and
the sample (the specimen's photo-then-caption shape, headline as first line) are
built as a user builds them; a few hostile bodies beside them.
"""
from __future__ import annotations

import re
import sqlite3
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple

import pytest
from markdown_it import MarkdownIt

from newsarchive.build.pipeline import build
from newsarchive.text.credits import collapse
from newsarchive.text.render import ALL_TAGS, ATTRIBUTES, PREVIEW_CHARS, PREVIEW_MAX
from newsarchive.text.sitegen import read_templates

from .conftest import CORPUS_18F, SAMPLE, write_posts

#: CommonMark with the two extensions posts use, as an independent reading of a body.
MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
#: Attributes the stored HTML may hold beyond the allow-list: nh3 adds rel to links,
#: and the preview's photos and wrapper carry a fixed style.
#: The sanitiser keeps lang and title on any tag (its defaults).
ADDED = {"a": {"rel"}, "img": {"style"}, "div": {"style"}, "*": {"lang", "title"}}


class Element(NamedTuple):
    """One start tag of stored HTML: its name, attributes and the tags open around it."""

    tag: str
    attrs: dict
    open_around: tuple


class Outline(HTMLParser):
    """The elements of some HTML in order, the text of each paragraph and heading, and
    the tags open around each piece of text."""

    VOID = {"img", "br", "hr"}

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.blocks: list[tuple[str, str]] = []  # (tag, text) of each p, h1..h6, figcaption(.class of its figure)
        self.figure_class = None
        self.text_in: list[tuple[str, tuple]] = []  # (text, open tags)
        self.stack: list[str] = []
        self.current: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append(Element(tag, dict(attrs), tuple(self.stack)))
        if tag == "figure":
            self.figure_class = dict(attrs).get("class")
        if tag not in self.VOID:
            self.stack.append(tag)
        if re.fullmatch(r"p|h[1-6]|figcaption", tag):
            self.current = []

    def handle_endtag(self, tag):
        if re.fullmatch(r"p|h[1-6]|figcaption", tag) and self.current is not None:
            name = f"{tag}.{self.figure_class}" if tag == "figcaption" and self.figure_class else tag
            self.blocks.append((name, collapse("".join(self.current))))
            self.current = None
        if tag in self.stack:
            del self.stack[len(self.stack) - 1 - self.stack[::-1].index(tag):]

    def handle_data(self, data):
        if self.current is not None:
            self.current.append(data)
        if data.strip():
            self.text_in.append((data, tuple(self.stack)))

    def text(self) -> str:
        return collapse(" ".join(text for text, _ in self.text_in))


def markdown_it_counts(body: str) -> Counter:
    """Paragraphs holding only a photo, GFM tables and strikethroughs, as markdown-it reads the body."""
    tokens = MD.parse(read_templates(body))
    counts = Counter()
    for n, token in enumerate(tokens):
        if token.type == "inline" and tokens[n - 1].type == "paragraph_open" and not tokens[n - 1].hidden:
            kids = [c for c in token.children if c.type not in ("softbreak", "hardbreak") and not (c.type == "text" and not c.content.strip())]
            counts["photo paragraphs"] += len(kids) == 1 and kids[0].type == "image"
        counts["tables"] += token.type == "table_open"
        counts["strikethroughs"] += sum(c.type == "s_open" for c in token.children or [])
    return counts


@pytest.fixture(scope="module")
def corpus_dbs(tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("render-build")
    dbs = []
    for name, folder in (("18f", CORPUS_18F), ("sample", SAMPLE)):
        db = out / f"{name}.db"
        summary = build(folder, db, quiet=True)
        assert summary.failed == 0
        dbs.append(db)
    return dbs


def stored_posts(dbs):
    for db in dbs:
        conn = sqlite3.connect(db)
        conn.row_factory = sqlite3.Row
        yield from conn.execute(
            "select p.id, p.body, p.title, p.title_source, h.article, h.preview, h.preview_cut,"
            " (select json_group_array(i.url) from post_images pi join images i on i.id = pi.image_id"
            "  where pi.post_id = p.id) as image_urls"
            " from posts p join post_html h on h.post_id = p.id")
        conn.close()


def test_every_photo_alone_in_its_paragraph_is_a_figure_of_a_recorded_photo(corpus_dbs):
    import json

    figures_seen = 0
    for post in stored_posts(corpus_dbs):
        outline = Outline(post["article"])
        figures = [e for e in outline.elements if e.tag == "figure"]
        if "<figure" not in read_templates(post["body"]):  # the body's own figures (or its templates')
            assert len(figures) == markdown_it_counts(post["body"])["photo paragraphs"], post["id"]
        recorded = set(json.loads(post["image_urls"]))
        for element in outline.elements:
            if element.tag == "img" and "figure" in element.open_around and element.attrs["src"]:
                assert element.attrs["src"] in recorded, post["id"]  # ("" is a URL only the site knows)
        figures_seen += len(figures)
    assert figures_seen > 100


def test_each_caption_shows_once_and_the_headline_is_not_repeated(corpus_dbs):
    headlines = 0
    for post in stored_posts(corpus_dbs):
        blocks = Outline(post["article"]).blocks
        for (tag, text), (next_tag, next_text) in zip(blocks, blocks[1:]):
            # The body's own <figure> markup is shown as written; photos in Markdown fold their caption in.
            if tag == "figcaption.news-photo" and text:
                assert not (next_tag == "p" and next_text == text), (post["id"], text)
        if post["title_source"] == "body":
            headlines += 1
            assert not blocks or blocks[0][1] != collapse(post["title"]), post["id"]
            assert collapse(post["title"]) in collapse(post["body"])
    assert headlines >= 20


def test_tables_and_template_tags_read_as_the_site_would(corpus_dbs):
    tables = templated = 0
    for post in stored_posts(corpus_dbs):
        body, article = post["body"], post["article"]
        if "<table" not in body:
            expected = markdown_it_counts(body)["tables"]
            assert article.count("<table>") == expected, post["id"]
            tables += expected
        if re.search(r"\{\{-?\s*site\.|\{%-?\s*(include|link|post_url)\b", body) and "{% raw" not in body:
            templated += 1
            text = Outline(article).text()
            assert "{{" not in text and "{%" not in text, post["id"]
    assert tables >= 5 and templated >= 20


def test_stored_html_holds_only_allowed_tags_and_attributes(corpus_dbs):
    for post in stored_posts(corpus_dbs):
        for html in (post["article"], post["preview"]):
            for element in Outline(html).elements:
                if element.tag == "div" and not element.open_around:
                    continue  # the preview's wrapper
                assert element.tag in ALL_TAGS, (post["id"], element.tag)
                allowed = ATTRIBUTES.get(element.tag, set()) | ADDED.get(element.tag, set()) | ADDED["*"]
                assert set(element.attrs) <= allowed, (post["id"], element)


def test_the_preview_is_the_opening_whatever_the_shape(corpus_dbs):
    for post in stored_posts(corpus_dbs):
        shown = Outline(post["preview"]).text()
        assert len(shown) <= PREVIEW_MAX
        if len(post["body"]) <= PREVIEW_CHARS:
            assert post["preview_cut"] == 0
        if not post["preview_cut"]:
            assert len(post["body"]) <= PREVIEW_MAX


HOSTILE = {
    "unclosed-bold": "Some <b>bold that never closes\n\nThe next paragraph.\n\nThe end.",
    "unclosed-table": "<table><tr><td>a cell\n\nThe next paragraph.\n\nThe end.",
    "unclosed-div-photo": "<div><span>raw\n\nThe next paragraph.\n\n![A harbour (Photo: AP)](https://e.test/a.jpg)\n\nA harbour (Photo: AP)\n\nThe end.",
    "script-and-links": "<script>alert(1)</script>\n\n[x](javascript:alert(2)) <img src=x onerror=alert(3)>\n\nThe end.",
    "struck-table": "A ~~withdrawn~~ figure.\n\n| port | ships |\n|:-----|------:|\n| Alder | 4 |\n\nThe end.",
    "one-long-line": "quokka " * 2000,
}


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("render-hostile")
    write_posts(folder / "posts", {f"2024/{name}.md": f"---\ntitle: {name}\n---\n{body}\n" for name, body in HOSTILE.items()})
    db = folder / "news.db"
    assert build(folder / "posts", db, quiet=True).failed == 0
    return db


def hostile_rows(db):
    conn = sqlite3.connect(db)
    rows = {pid: (article, preview, cut) for pid, article, preview, cut in conn.execute(
        "select post_id, article, preview, preview_cut from post_html")}
    conn.close()
    return rows


def test_nothing_after_an_unclosed_tag_ends_up_inside_it(hostile_db):
    rows = hostile_rows(hostile_db)
    for name in ("unclosed-bold", "unclosed-table", "unclosed-div-photo"):
        for html in rows[f"2024/{name}"][:2]:
            outline = Outline(html)
            around = [stack for text, stack in outline.text_in if "The next paragraph" in text]
            assert around and set(around[0]) <= {"p", "div"}, (name, around)
            assert "b" not in around[0] and "table" not in around[0]
    outline = Outline(rows["2024/unclosed-div-photo"][0])
    assert [e.tag for e in outline.elements].count("figure") == 1
    assert ("figcaption.news-photo", "A harbour (Photo: AP)") in outline.blocks
    assert ("p", "A harbour (Photo: AP)") not in outline.blocks


def test_hostile_markup_is_gone_and_tables_and_strikethrough_show(hostile_db):
    rows = hostile_rows(hostile_db)
    article = rows["2024/script-and-links"][0]
    tags = {e.tag for e in Outline(article).elements}
    assert tags <= ALL_TAGS and "script" not in tags and "alert(1)" not in article
    assert "onerror" not in article and "javascript:" not in re.sub(r">[^<]*<", "><", article)
    struck = Outline(rows["2024/struck-table"][0])
    assert [e.tag for e in struck.elements if e.tag in ("del", "table", "th", "td")] == ["del", "table", "th", "th", "td", "td"]
    article, preview, cut = rows["2024/one-long-line"]
    assert cut == 1 and len(Outline(preview).text()) <= PREVIEW_MAX


#: Bodies whose first line (the title the build takes) is a list item, or a quote, and
#: one whose headline paragraph comes first with a list item reading the same after it.
LIST_FIRST = {
    "tight": ("- Harbour reopens\n- Ferries resume\n\nThe port said so.", ["Harbour reopens", "Ferries resume"]),
    "loose": ("- Harbour reopens\n\n- Ferries resume\n\nThe port said so.", ["Harbour reopens", "Ferries resume"]),
    "nested": ("1. Harbour reopens\n   - Ferries resume\n\nThe port said so.", ["Harbour reopens", "Ferries resume"]),
    "headline-then-list": ("Harbour reopens\n\n- Harbour reopens\n- Ferries resume", ["Harbour reopens", "Ferries resume"]),
    # A list item does not use the headline up: a paragraph repeating it after the list
    # is dropped, after a tight list and after a loose one alike.
    "tight-then-headline": ("- Harbour reopens\n- Ferries resume\n\nHarbour reopens\n\nThe port said so.",
                            ["Harbour reopens", "Ferries resume"]),
    "loose-then-headline": ("- Harbour reopens\n\n- Ferries resume\n\nHarbour reopens\n\nThe port said so.",
                            ["Harbour reopens", "Ferries resume"]),
}


def test_a_list_item_reading_as_the_headline_is_kept(tmp_path):
    posts = {f"2024/{name}.md": f"---\ndate: 2024-05-01\n---\n{body}\n" for name, (body, _) in LIST_FIRST.items()}
    posts["2024/quote.md"] = "---\ndate: 2024-05-01\n---\n> Harbour reopens\n\nThe port said so.\n"
    db = tmp_path / "news.db"
    assert build(write_posts(tmp_path / "posts", posts), db, quiet=True).failed == 0
    conn = sqlite3.connect(db)
    stored = {pid: (title, source, article) for pid, title, source, article in conn.execute(
        "select p.id, p.title, p.title_source, h.article from posts p join post_html h on h.post_id = p.id")}
    conn.close()
    for name, (body, items) in LIST_FIRST.items():
        title, source, article = stored[f"2024/{name}"]
        assert (title, source) == ("Harbour reopens", "body")
        outline = Outline(article)
        in_items = [collapse(text) for text, around in outline.text_in if "li" in around]
        assert in_items == items, (name, article)
        # Outside the list, the headline shows only above the article, never as a block of it.
        assert ("Harbour reopens", ("p",)) not in outline.text_in, (name, article)
    title, source, article = stored["2024/quote"]
    assert (title, source) == ("Harbour reopens", "body")
    assert [text for text, around in Outline(article).text_in if "blockquote" in around] == ["Harbour reopens"]


#: Bodies whose first block is not a top-level paragraph: a list item, a quote, a
#: nested list, or an empty heading before them, each reading as the headline; and
#: one whose first top-level paragraph does.
HEADLINE_SHAPES = [body for body, _ in LIST_FIRST.values()] + [
    "> Harbour reopens\n\nThe port said so.",
    "> - Harbour reopens\n\nHarbour reopens\n\nThe port said so.",
    "#\n\n1. Harbour reopens\n   - Harbour reopens\n\nThe port said so.",
    "Harbour reopens\n\n- Harbour reopens\n\n> Harbour reopens",
]


@pytest.mark.parametrize("body", HEADLINE_SHAPES)
def test_the_site_fallback_drops_the_headline_where_the_build_does(body):
    """The site's request-time renderer (markdown-it-py) and the build's keep and drop
    the same blocks: the same text in the same list items, quotes and paragraphs."""
    from newsarchive.parse.render import article_html as build_article
    from newsarchive.text.render import article_html as site_article

    def shown(html: str) -> list[tuple[str, tuple]]:
        return [(collapse(text), tuple(tag for tag in around if tag in ("li", "blockquote", "p")))
                for text, around in Outline(html).text_in]

    built, site = shown(build_article(body, "Harbour reopens")), shown(site_article(body, "Harbour reopens"))
    assert built == site
    # The headline is left out at most once.
    assert sum(text == "Harbour reopens" for text, _ in built) >= body.count("Harbour reopens") - 1
