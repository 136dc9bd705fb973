"""Pure parsing functions, one behaviour per parametrized case."""
from __future__ import annotations

import subprocess
import sys
from collections import Counter
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it.common.normalize_url import normalizeLink

from newsarchive.parse import Post, PostError, read_post, walk_body
from newsarchive.parse.body import _flatten_if_deep, _link_url
from newsarchive.parse.fields import (
    _SIMPLE_URL, code_timestamp, domain_of, iso_utc, normalize_language, normalize_name, parse_date,
    post_site_path, site_path_key, split_list, url_key,
)
from newsarchive.parse import render as build_render
from newsarchive.text import render as web
from newsarchive.text.credits import collapse, parse_credit
from newsarchive.text.sitegen import read_templates

from .conftest import CORPUS_18F, ROOT, SAMPLE


@pytest.mark.parametrize(
    "caption, kind, name",
    [
        ("Troops at the front line, on Monday. (Photo: Reuters)", "Photo", "Reuters"),
        ("Trump in Osaka, on June 28, 2019.\xa0(File photo: Reuters)", "File photo", "Reuters"),
        ("A farmer (left) and his son [sic] at dawn. (Photo by Somchai Poomlard)", "Photo", "Somchai Poomlard"),
        ("Crowds gather. (PHOTO: AFP)", "Photo", "AFP"),
        ("Flooded streets. (Photos: AP, Reuters)", "Photos", "AP, Reuters"),
        ("A map of the region (Graphic: Harbour Times)", "Graphic", "Harbour Times"),
        ("The bridge in 2019 (2019)", None, None),
        ("The minister (left) speaks", None, None),
        ("No credit at all", None, None),
        ("Spoiler (note: this is not a credit)", None, None),
    ],
)
def test_parse_credit(caption, kind, name):
    assert parse_credit(caption) == (kind, name)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2024-11-20T07:00:34.861Z", "2024-11-20T07:00:34.861Z"),
        ("2024-11-20T14:00:34.861+07:00", "2024-11-20T07:00:34.861Z"),
        ("2014-06-03 11:02:00-04:00", "2014-06-03T15:02:00.000Z"),
        ("2015-12-08 10:00:00 -5", "2015-12-08T15:00:00.000Z"),
        ("2016-03-23 9:00:00 -0400", "2016-03-23T13:00:00.000Z"),
        ("2016-10-11", "2016-10-11T00:00:00.000Z"),
        ("2024-11-20 07:00", "2024-11-20T07:00:00.000Z"),
        ("2024-11-20T07:00:34.861123456Z", "2024-11-20T07:00:34.861Z"),
        ("Wed, 20 Nov 2024 07:00:34 +0000", "2024-11-20T07:00:34.000Z"),
        ("2014-06-03 11:02:00 EST", "2014-06-03T16:02:00.000Z"),
        ("2014-06-03 11:02 PDT", "2014-06-03T18:02:00.000Z"),
        ("October 11, 2016", "2016-10-11T00:00:00.000Z"),
        ("11 Oct 2016", "2016-10-11T00:00:00.000Z"),
    ],
)
def test_parse_date(value, expected):
    assert iso_utc(parse_date(value)) == expected


@pytest.mark.parametrize(
    "value, reason",
    [
        ("2024-02-30", "not a real date"),
        ("2024-13-01T00:00:00Z", "not a real date"),
        ("yesterday", "not a date"),
        (True, "not bool"),
        (["2024-01-01"], "not list"),
    ],
)
def test_parse_date_rejects(value, reason):
    with pytest.raises(ValueError, match=reason):
        parse_date(value)


@pytest.mark.parametrize(
    "code, expected",
    [
        ("ART2411200656CLKM87", "2024-11-20T06:56:00.000Z"),
        ("ART2413400656CLKM87", None),  # month 13
        ("my-post", None),
        (None, None),
    ],
)
def test_code_timestamp(code, expected):
    moment = code_timestamp(code)
    assert (iso_utc(moment) if moment else None) == expected


@pytest.mark.parametrize(
    "url, key",
    [
        ("https://www.bangkokpost.com/world/2905487/united-states-will", "bangkokpost.com/2905487"),
        ("http://bangkokpost.com/world/2905487/another-slug/", "bangkokpost.com/2905487"),
        ("https://www.bangkokpost.com/world/2905487", "bangkokpost.com/2905487"),
        ("https://example.org/About/Us/?q=1#top", "example.org/about/us"),
        ("https://example.org/2024/11/20/slug/", "example.org/2024/11/20/slug"),
        ("/relative/path", None),
        ("mailto:someone@example.org", None),
        (None, None),
    ],
)
def test_url_key(url, key):
    assert url_key(url) == key


@pytest.mark.parametrize(
    "url, domain",
    [("https://www.BangkokPost.com/x", "bangkokpost.com"), ("http://en.wikipedia.org/wiki/X", "en.wikipedia.org"), ("/x", None), ("http://[::1", None)],
)
def test_domain_of(url, domain):
    assert domain_of(url) == domain


@pytest.mark.parametrize(
    "value, expected",
    [("EN", "en"), (" en ", "en"), ("es_pr", "es-PR"), ("es-PR", "es-PR"), ("zh-hant-tw", "zh-Hant-TW"), ("TH", "th")],
)
def test_normalize_language(value, expected):
    assert normalize_language(value) == expected


@pytest.mark.parametrize("value", ["WORLD", " world ", "World", "wOrLd\t"])
def test_normalize_name(value):
    assert normalize_name(value) == "world"


@pytest.mark.parametrize(
    "value, expected",
    [
        (["Election", "economy", "election"], ["election", "economy"]),
        ("news, Local News", ["news", "local news"]),
        ("news politics", ["news", "politics"]),
        (None, []),
        ([1, None, {"a": 1}], ["1"]),
    ],
)
def test_split_list(value, expected):
    assert split_list(value) == expected


def test_walk_body_keeps_each_caption_once_and_finds_the_headline():
    body = (
        "\n# \n\nThe real headline\n\n"
        "![Smoke rises [sic] over the port (left). (Photo: AFP)](https://img.test/a.jpg)\n\n"
        "Smoke rises [sic] over the port (left). (Photo: AFP)\n\n"
        "Text with [a link](https://example.org/1 \"t\") and <a href=\"https://raw.test/\">raw <b>html</b></a>.\n"
    )
    parts = walk_body(body)
    assert parts.first_line == "The real headline"
    assert [(i.url, i.caption) for i in parts.images] == [
        ("https://img.test/a.jpg", "Smoke rises [sic] over the port (left). (Photo: AFP)")
    ]
    assert parts.text.count("Smoke rises") == 1
    assert [(l.url, l.text) for l in parts.links] == [("https://example.org/1", "a link"), ("https://raw.test/", "raw html")]
    assert "#" not in parts.text and "](" not in parts.text


def test_walk_body_html_figures_scripts_and_code():
    body = (
        "<figure><img src=\"/a.png\" alt=\"alt text\"><figcaption>The caption (Photo: AP)</figcaption></figure>\n\n"
        "<script>alert('x')</script>\n\n"
        "```\ncode here\n```\n"
    )
    parts = walk_body(body)
    assert [(i.url, i.alt, i.caption) for i in parts.images] == [("/a.png", "alt text", "The caption (Photo: AP)")]
    assert "alert" not in parts.text
    assert "code here" in parts.text


def test_javascript_links_are_not_links():
    parts = walk_body("[click](javascript:alert(3)) and [ok](https://ok.test/)")
    assert [l.url for l in parts.links] == ["https://ok.test/"]


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        # A photo whose caption is not repeated keeps it, wherever the photo is.
        ("Intro.\n\n![A harbour at dusk](/a.jpg)\n\nNext.", ["Intro.", "A harbour at dusk", "Next."]),
        # The specimen's repeat of the caption is dropped: the caption appears once.
        ("Intro.\n\n![Cap (Photo: AP)](/a.jpg)\n\nCap (Photo: AP)\n\nNext.", ["Intro.", "Cap (Photo: AP)", "Next."]),
        # A setext heading is a line of its own, not glued to the next paragraph.
        ("How it works\n------------\n\nIt works.", ["How it works", "It works."]),
        # Tight nested list items are a line each.
        ("- one\n  - two\n- three", ["one", "two", "three"]),
        # Table cells, code (inline and fenced) and entities are text.
        ("| h | i |\n|---|---|\n| 1 | 2 |\n\nRun `make` &amp; wait.\n\n```\nx = 1\n```", ["h", "i", "1", "2", "Run make & wait.", "x = 1"]),
        # What markdown-it refuses as a link or a photo stays as written.
        ("[click](javascript:alert(3)) ![p](vbscript:x) <javascript:y>", ["[click](javascript:alert(3)) ![p](vbscript:x) <javascript:y>"]),
    ],
)
def test_walk_body_lines(body, lines):
    assert walk_body(body).text.split("\n") == lines


@pytest.mark.parametrize(
    ("body", "links", "images"),
    [
        ("<a@b.test> <https://x.test/a> [r][1]\n\n[1]: /ref", ["mailto:a@b.test", "https://x.test/a", "/ref"], []),
        ("[ü](<https://bücher.test/straße?q=ä ö>)", ["https://xn--bcher-kva.test/stra%C3%9Fe?q=%C3%A4%20%C3%B6"], []),
        ('![alt ![inner](/i.png) *em*](/o.png "t")', [], [("/o.png", "alt inner em")]),
        ("[![photo](/p.png)](https://x.test/) [x](data:text/html,1) ![ok](data:image/png;base64,AA)",
         ["https://x.test/"], [("/p.png", "photo"), ("data:image/png;base64,AA", "ok")]),
    ],
)
def test_walk_body_links_and_photos_as_markdown_it_writes_them(body, links, images):
    parts = walk_body(body)
    assert [l.url for l in parts.links] == links
    assert [(i.url, i.alt) for i in parts.images] == images


_URLISH = st.from_regex(
    r"(?:(?:https?|HTTP|ftp|mailto|[a-z0-9.+-]{1,4}):)?(?://)?[A-Za-z0-9.:@\-]{0,12}"
    r"(?:[/?#][A-Za-z0-9;/?:@&=+$,\-_.!~*'()#%\[\] ]{0,20})?",
    fullmatch=True,
)


@given(_URLISH | st.text(max_size=30))
@settings(max_examples=2000, deadline=None)
def test_link_url_shortcut_agrees_with_markdown_it(url):
    assert _link_url(url) == normalizeLink(url)


@given(st.text(max_size=60) | st.from_regex(r"[ a-z\t\n\xa0\u2028\x1c\x85]{0,30}", fullmatch=True))
@settings(max_examples=1000, deadline=None)
def test_collapse_shortcut_agrees_with_split_and_join(text):
    assert collapse(text) == " ".join(text.split())


@given(st.from_regex(r"(?:[A-Za-z][A-Za-z0-9+.-]{0,3}:)?(?://)?[A-Za-z0-9.:@%\[\]-]{0,10}[/?#]?[A-Za-z0-9/?#:@%.\t-]{0,12}", fullmatch=True))
@settings(max_examples=2000, deadline=None)
def test_simple_url_shortcut_reads_as_urlsplit_does(url):
    simple = _SIMPLE_URL.fullmatch(url)
    if simple:
        parts = urlsplit(url)
        assert (simple.group(1).lower(), simple.group(2) or "") == (parts.hostname, parts.path)


def _markdown_it_destinations(markdown: str) -> tuple[Counter, Counter]:
    """Link hrefs and photo srcs as the article page's markdown-it-py parses them."""
    links, photos = Counter(), Counter()
    stack = list(web._MD.parse(_flatten_if_deep(read_templates(markdown))))
    while stack:
        token = stack.pop()
        if token.type == "link_open":
            links[token.attrGet("href")] += 1
        elif token.type == "image":
            photos[token.attrGet("src")] += 1
        elif token.children:
            stack.extend(token.children)
    return links, photos


@pytest.mark.skipif(not CORPUS_18F.exists(), reason=f"real corpus not found at {CORPUS_18F}")
def test_build_records_every_link_and_photo_the_article_page_shows():
    """The build (pulldown-cmark) and the page (markdown-it-py) read Markdown alike.

    Raw HTML links and photos are the build's extra (the page shows them as HTML),
    so every Markdown destination markdown-it-py finds must be among the build's.
    """
    paths = sorted(SAMPLE.rglob("*.md")) + sorted((CORPUS_18F / "content" / "posts").glob("*.md"))
    checked = 0
    for path in paths:
        try:
            body = read_post(path.name, path.read_bytes()).body_lf
        except PostError:
            continue
        links, photos = _markdown_it_destinations(body)
        parts = walk_body(body)
        assert not links - Counter(l.url for l in parts.links), path
        assert not photos - Counter(i.url for i in parts.images), path
        checked += 1
    assert checked > 500


@pytest.mark.parametrize(
    "markdown, read",
    [
        # URL filters and site variables: what the site would link to.
        ('[team]({{ "/about/" | url }})', "[team](/about/)"),
        ("[post]({{ '/2015/07/08/openfec-api/' | relative_url }})", "[post](/2015/07/08/openfec-api/)"),
        ("![x]({{ site.baseurl }}/assets/a.png)", "![x](/assets/a.png)"),
        ('<img src="{{site.baseurl}}/a.png">', '<img src="/a.png">'),
        # A string literal reads as itself whatever the filter; unknown values as nothing.
        ('{{ "maya" | team_link }} wrote {{ page.title }}.', "maya wrote ."),
        # Image shortcodes and includes become <img>, alt last or named.
        ('{% image "assets/t.jpg" "The team" %}', '<img src="assets/t.jpg" alt="The team">'),
        ('{% image_with_class "a.png" "width-210px" "A drawing" %}', '<img src="a.png" alt="A drawing">'),
        ('{% include figure.html src="/f.jpg" caption="A & B" %}',
         '\n\n<figure><img src="/f.jpg" alt=""><figcaption>A &amp; B</figcaption></figure>\n\n'),
        ('{% include figure.html src=page.photo %}', ""),
        # Hugo shortcodes: figures, refs, and the text between paired shortcodes.
        ('{{< figure src="/img/a.jpg" alt="Harbour" caption="The harbour (Photo: AFP)" >}}',
         '\n\n<figure><img src="/img/a.jpg" alt="Harbour"><figcaption>The harbour (Photo: AFP)</figcaption></figure>\n\n'),
        ("{{< figure src=a.png >}}", '<img src="a.png" alt="">'),
        ('[the post]({{< ref "posts/other.md" >}})', "[the post](posts/other.md)"),
        ("{{< youtube w7Ft2ymGmfc >}} after", " after"),
        ("{{% notice tip %}}Use **bold**.{{% /notice %}}", "Use **bold**."),
        ("{{< highlight go >}}fmt.Println(1){{< /highlight >}}", "fmt.Println(1)"),
        # WordPress's [caption] shortcode: the photo (and its link) in a figure with the text as caption.
        ('[caption id="attachment_1" width="640"]<img src="a.jpg" alt="" /> Crowds. (Photo: AP)[/caption]',
         '\n\n<figure><img src="a.jpg" alt="" /><figcaption>Crowds. (Photo: AP)</figcaption></figure>\n\n'),
        ('[caption id="" caption="Old form"]<a href="big.jpg"><img src="b.jpg" /></a>[/caption]',
         '\n\n<figure><a href="big.jpg"><img src="b.jpg" /></a><figcaption>Old form</figcaption></figure>\n\n'),
        ("[caption]![Alt](c.jpg) Text[/caption]", "![Alt](c.jpg) Text"),
        ('[caption]<img src="d.jpg"> A <em>big</em> crowd[/caption]',
         '\n\n<figure><img src="d.jpg"><figcaption>A <em>big</em> crowd</figcaption></figure>\n\n'),
        ("[caption id=x] never closed", "[caption id=x] never closed"),
        ("A [caption](https://example.org) link.", "A [caption](https://example.org) link."),
        ('{% include photo.html url="/p.webp" %}', '<img src="/p.webp" alt="">'),
        ('{% include related.html %} text', " text"),
        # Jekyll's links to posts: the default permalink of the post they name.
        ("[before]({% post_url 2015-07-08-openfec-api %})", "[before](/2015/07/08/openfec-api/)"),
        ("[x]({% link _posts/2016-07-26-a-post.md %}) [y]({% link about.md %})", "[x](/2016/07/26/a-post/) [y](about.md)"),
        # raw blocks as written, comments gone, whitespace control understood.
        ("{% raw %}{{ site.url }} {% image 'x.jpg' %}{% endraw %}!", "{{ site.url }} {% image 'x.jpg' %}!"),
        ("a {%- comment -%} {{ page.x }} {%- endcomment -%} b", "a  b"),
        ("{% raw %} never closed {{ site.url }}", " never closed {{ site.url }}"),
        # No Liquid-only construct: left alone (Vue, Jinja and Handlebars say {{ x }} too).
        ("Vue renders {{ message }} here.", "Vue renders {{ message }} here."),
        ("A set {1, 2} and {{ name }}.", "A set {1, 2} and {{ name }}."),
        ("No templates at all.", "No templates at all."),
    ],
)
def test_read_templates(markdown, read):
    assert read_templates(markdown) == read


def test_liquid_photo_in_a_figure_takes_the_figcaption():
    parts = walk_body(
        "<figure>\n{% image \"assets/t.jpg\" \"The team\" %}\n"
        "<figcaption>The team at work (Photo: 18F)</figcaption>\n</figure>\n\n"
        "Read [about us]({{ \"/about/\" | url }}).\n"
    )
    assert [(i.url, i.alt, i.caption) for i in parts.images] == [("assets/t.jpg", "The team", "The team at work (Photo: 18F)")]
    assert [(link.url, link.text) for link in parts.links] == [("/about/", "about us")]
    assert "{" not in parts.text



@pytest.mark.parametrize(
    "url, key",
    [
        ("/2015/07/08/openfec-api/", "/2015/07/08/openfec-api"),
        ("/2015/07/08/OpenFEC-API.html", "/2015/07/08/openfec-api"),
        ("/about/index.html#team", "/about"),
        ("/search?q=x", "/search"),
        ("/", None),
        ("//cdn.example.org/x", None),
        ("https://example.org/x", None),
        ("#top", None),
        (None, None),
    ],
)
def test_site_path_key(url, key):
    assert site_path_key(url) == key


@pytest.mark.parametrize(
    "path, meta, site_path",
    [
        ("2015-07-08-openfec-api.md", {}, "/2015/07/08/openfec-api/"),
        ("_posts/2015-02-24-guide.markdown", {"date": "2015-03-03"}, "/2015/03/03/guide/"),
        ("2014-06-03-x.md", {"date": "2014-06-03 23:02:00 -0400"}, "/2014/06/03/x/"),
        ("2014-06-03-x.md", {"date": "June 4, 2014"}, "/2014/06/03/x/"),
        ("2016-01-01-x.md", {"permalink": "/about/"}, "/about/"),
        ("2016-01-01-x.md", {"permalink": "/blog/:title/"}, "/2016/01/01/x/"),
        ("news/ART1.md", {}, None),
        ("2016-01-01-.md", {}, None),
    ],
)
def test_post_site_path(path, meta, site_path):
    post = Post(path=path, sha256="", meta=meta, key_lines={}, body="", body_line=1, frontmatter_text="",
                fence="---", encoding="utf-8", newline="\n")
    assert post_site_path(post) == site_path


def test_hugo_figure_is_a_photo_with_its_caption_and_credit():
    parts = walk_body(
        "Before.\n\n{{< figure src=\"/img/harbour.jpg\" alt=\"Harbour\" caption=\"The harbour at dawn (Photo: AFP)\" >}}\n\nAfter.\n"
    )
    assert [(i.url, i.alt, i.caption) for i in parts.images] == [("/img/harbour.jpg", "Harbour", "The harbour at dawn (Photo: AFP)")]
    assert parse_credit(parts.images[0].caption) == ("Photo", "AFP")
    assert "{{" not in parts.text and "The harbour at dawn (Photo: AFP)" in parts.text


def test_wordpress_caption_gives_the_photo_its_caption_and_credit():
    parts = walk_body(
        '[caption id="attachment_9" align="alignnone" width="640"]<a href="https://ex.org/big.jpg">'
        '<img class="size-large" src="https://ex.org/a.jpg" alt="" width="640" /></a> Protesters outside parliament.'
        " (File photo: Reuters)[/caption]\n\nThe story.\n"
    )
    assert [(i.url, i.caption) for i in parts.images] == [("https://ex.org/a.jpg", "Protesters outside parliament. (File photo: Reuters)")]
    assert parse_credit(parts.images[0].caption) == ("File photo", "Reuters")
    assert [link.url for link in parts.links] == ["https://ex.org/big.jpg"]
    assert parts.text == "Protesters outside parliament. (File photo: Reuters)\nThe story."


@pytest.mark.parametrize("markdown", [
    "Some <b>bold that never closes\n\nThe next paragraph.\n\n- a list\n\nThe end.",
    "<table><tr><td>a cell, no closing tags\n\nThe next paragraph.\n\nThe end.",
    "Before.\n\n<div><span>raw\n\nThe next paragraph.\n\n![A photo (Photo: Reuters)](https://e.test/a.jpg)\n\nThe end.",
])
@pytest.mark.parametrize("article_html", [build_render.article_html, web.article_html], ids=["build", "site"])
def test_an_unclosed_tag_stays_in_its_own_block(markdown, article_html):
    """Blocks holding raw HTML are sanitised alone, the rest in runs: nothing after an
    unclosed tag ends up inside it, and the same sanitiser passes each run whole; in
    the build's renderer and in the site's."""
    import re

    html = str(article_html(markdown))
    for tag in ("b", "td", "table", "span", "div"):
        opened = re.search(fr"<{tag}\b", html)
        if opened:
            close = html.index(f"</{tag}>", opened.start())
            assert "The next paragraph" not in html[opened.start():close], html
    assert html.rstrip().endswith("<p>The end.</p>")


def test_articles_sanitised_in_runs_read_as_sanitised_block_by_block():
    """The same HTML, apart from white space between blocks, as one sanitiser call per
    block, over every post of the 18F blog and the sample."""
    import re

    squeeze = lambda html: re.sub(r"\s+", " ", html).strip()  # noqa: E731
    bodies = [body for folder in (CORPUS_18F, SAMPLE) for p in sorted(folder.rglob("*.md"))
              if (body := _body(p)) is not None]
    assert len(bodies) > 500
    for body in bodies:
        tokens = web._MD.parse(read_templates(body))
        one_by_one = "".join(web.sanitise(web._MD.renderer.render(b, web._MD.options, {}))
                             for b in web._top_level_blocks(tokens))
        assert squeeze(web._sanitise_blocks(web._top_level_blocks(tokens))) == squeeze(one_by_one)


def _body(path):
    try:
        return read_post(str(path), path.read_bytes()).body
    except PostError:
        return None


def test_text_helpers_load_neither_the_markdown_parser_nor_yaml():
    """newsarchive.text is shared with the served site, whose processes must not load the parser."""
    code = (
        "import importlib, pkgutil, sys, newsarchive.text as text\n"
        "for module in pkgutil.iter_modules(text.__path__):\n"
        "    importlib.import_module('newsarchive.text.' + module.name)\n"
        "print(sorted(name for name in ('pyromark', 'yaml', 'frontmatter', 'newsarchive.parse') if name in sys.modules))\n"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]"
