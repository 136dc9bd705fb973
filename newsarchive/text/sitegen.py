"""Posts written for a static-site generator, read as the site would render them.

Jekyll and Eleventy (Liquid), Hugo (shortcodes) and WordPress exports (`[caption]`)
run their templates before the Markdown; a post's links, photos and text are what
that produces, so the build (parse.body.walk_body) and the article page read the
body through read_templates first. Pure functions, linear in the size of the body
whatever it holds.
"""
from __future__ import annotations

import html
import re

#: What only a static-site generator's templates write: Liquid (Jekyll, Eleventy)
#: site/page variables, URL filters and post tags, and Hugo shortcodes (`{{< >}}`,
#: `{{% %}}`). `{{ x }}` alone is not enough: Jinja, Handlebars, Vue and Angular
#: examples in a post say that too.
_TEMPLATE_HINT = re.compile(
    r"\{\{-?\s*(?:site|page|include)\.\w"
    r"|\|\s*(?:relative_url|absolute_url|url|prepend|append)\b[^{}|]*\}\}"
    r"|\{%-?\s*(?:raw|endraw|include|include_relative|image\w*|figure|post_url|link|comment|highlight|assign|capture)\b"
    r"|\{\{[<%]\s*/?\s*\w"
)
#: One Hugo shortcode `{{< ... >}}` / `{{% ... %}}`, Liquid output `{{ ... }}` or
#: Liquid tag `{% ... %}`. None holds braces (nor the hint above a `|` after its
#: filter): each try stops at the next brace, so a scan of any text is linear.
_TEMPLATE_TAG = re.compile(
    r"\{\{<(?P<hugo>[^{}]*?)>\}\}|\{\{%(?P<hugo_md>[^{}]*?)%\}\}"
    r"|\{\{-?(?P<out>[^{}]*?)-?\}\}"
    r"|\{%-?(?P<tag>(?:[^{}%]|%(?!\}))*?)-?%\}"
)
_TEMPLATE_STRING = re.compile(r"""\s*(["'])(.*?)\1\s*(?:\|[^{}]*)?$""", re.S)
_TEMPLATE_ARG = re.compile(r"""(?:([A-Za-z_][\w-]*)\s*[=:]\s*)?(["'])(.*?)\2|(?:([A-Za-z_][\w-]*)\s*=\s*)?([^\s"'=]+)""", re.S)
_IMAGE_FILE = re.compile(r"\.(?:jpe?g|png|gif|webp|svg|avif|tiff?|bmp)(?:[?#].*)?$", re.I)
_IMAGE_TAG_WORDS = ("image", "img", "figure", "photo", "picture")


def read_templates(markdown: str) -> str:
    """The body of a Jekyll, Eleventy, Hugo or WordPress-exported post as its site
    would render it, as far as the post itself tells.

    Templates run before Markdown there, so `[team]({{ "/about/" | url }})` is a link
    to /about/ and `{{ site.baseurl }}/a.png` an image at /a.png. Liquid string
    literals read as themselves (whatever filters follow), values only the site knows
    (`site.baseurl`, `page.image`) as nothing, `{% raw %}` blocks as written,
    comments not at all. Image shortcodes and includes (`{% image "a.jpg" "alt" %}`,
    `{% include figure.html src="a.jpg" caption="..." %}`, Hugo's `{{< figure
    src="a.jpg" caption="..." >}}`) become `<img>` (a `<figure>` with its caption), so
    their photos and captions are found like any other; Hugo's `ref`/`relref` and
    Jekyll's `post_url`/`link` read as the path of what they name; every other tag or
    shortcode reads as nothing (the text between an opening and closing shortcode
    stays). WordPress's `[caption]` wraps a photo in a figure with its caption (see
    _wordpress_captions). A post without any construct only these templates use (see
    _TEMPLATE_HINT) is returned unchanged: the stored `body` never is.
    """
    if "[caption" in markdown:
        markdown = _wordpress_captions(markdown)
    if "{{" not in markdown and "{%" not in markdown:
        return markdown
    if not _TEMPLATE_HINT.search(markdown):
        return markdown
    out, pos, inside = [], 0, None  # inside: "raw" or "comment" while in one
    for m in _TEMPLATE_TAG.finditer(markdown):
        tag = m.group("tag")
        name, params = _name_and_params(tag or "")
        if inside is not None:
            if name == "end" + inside:
                if inside == "raw":
                    out.append(markdown[pos : m.start()])
                pos, inside = m.end(), None
            continue
        out.append(markdown[pos : m.start()])
        pos = m.end()
        hugo = m.group("hugo") if m.group("hugo") is not None else m.group("hugo_md")
        if hugo is not None:
            out.append(_shortcode(hugo))
        elif tag is None:
            string = _TEMPLATE_STRING.match(m.group("out"))
            out.append(string.group(2) if string else "")
        elif name in ("raw", "comment"):
            inside = name
        elif name in ("post_url", "link"):
            out.append(_post_url(params))
        else:
            out.append(_template_image(name, params))
    # An unclosed raw or comment block: Liquid would refuse the post; its words stay.
    out.append(markdown[pos:])
    return "".join(out)


#: WordPress's caption shortcode, open or close; posts exported from WordPress keep it.
#: (Its attributes hold no bracket, so each try stops at the next one: linear.)
_WP_CAPTION = re.compile(r"\[caption\b(?P<attrs>[^\][]*)\](?![(\[])|\[/caption\]")  # not a [caption](link)
_CLOSING_A = re.compile(r"\s*</a\s*>", re.I)


def _wordpress_captions(markdown: str) -> str:
    """`[caption ...]<img src="a.jpg"> The text (Photo: AP)[/caption]` as a `<figure>`
    whose figcaption is the text (or the shortcode's `caption="..."`), so the photo
    gets its caption and credit; with no `<img>` inside, only the wrapper goes. An
    opening without its closing is left as written."""
    out, pos, opened = [], 0, None  # opened: the open shortcode's match
    for m in _WP_CAPTION.finditer(markdown):
        if m.group("attrs") is not None:
            opened = m  # an earlier opening never closed stays as it is
            continue
        if opened is None:  # a stray close
            continue
        out.append(markdown[pos : opened.start()])
        inner = markdown[opened.end() : m.start()]
        end = _end_of_last_img(inner)
        if end:
            # The photo (and the link around it) first, the caption after them.
            closing_link = _CLOSING_A.match(inner, end)
            end = closing_link.end() if closing_link else end
            head, tail = inner[:end], inner[end:]
            named = _template_args(opened.group("attrs"), bare=False)[0]
            caption = named.get("caption") or " ".join(tail.split())
            figcaption = f"<figcaption>{caption}</figcaption>" if caption else ""
            out.append(f"\n\n<figure>{head.strip()}{figcaption}</figure>\n\n")
        else:
            out.append(inner)
        pos, opened = m.end(), None
    out.append(markdown[pos:])
    return "".join(out)


_DATED_POST = re.compile(r"(?:.*/)?(\d{4})-(\d{2})-(\d{2})-([^/]+?)(?:\.(?:md|markdown|html))?$")


def _post_url(params: str) -> str:
    """Jekyll's `{% post_url 2015-07-08-openfec-api %}` / `{% link _posts/2015-07-08-x.md %}`:
    the post's URL, `/2015/07/08/openfec-api/` (the default permalink; a link to
    anything else reads as the path written)."""
    target = params.strip().strip("\"'")
    dated = _DATED_POST.match(target)
    if dated:
        return "/{}/{}/{}/{}/".format(*dated.groups())
    return target


def _end_of_last_img(html_text: str) -> int:
    """Where the last complete `<img ...>` tag ends, or 0: one pass from the end."""
    lowered = html_text.lower()
    start = len(lowered)
    while (start := lowered.rfind("<img", 0, start)) >= 0:
        after = lowered[start + 4 : start + 5]
        if after in ("", ">", "/") or after.isspace():
            end = lowered.find(">", start)
            return end + 1 if end >= 0 else 0
    return 0


def _name_and_params(tag: str) -> tuple[str, str]:
    """`image "a.jpg" "alt"` -> ("image", '"a.jpg" "alt"'): the name in lower case."""
    parts = tag.split(None, 1)
    return (parts[0].lower() if parts else ""), (parts[1] if len(parts) > 1 else "")


def _shortcode(inner: str) -> str:
    """What a Hugo shortcode reads as (see read_templates)."""
    name, params = _name_and_params(inner)
    if not name or name.startswith("/"):
        return ""  # a closing shortcode
    if name in ("ref", "relref"):
        positional = _template_args(params, bare=True)[1]
        return positional[0] if positional else ""
    return _template_image(name, params, bare=True)


def _template_args(params: str, bare: bool) -> tuple[dict, list]:
    """Named and positional arguments; unquoted ones only if `bare` (in Hugo they are
    text, in Liquid variables whose values only the site knows)."""
    named, positional = {}, []
    for key, quote, quoted, bare_key, bare_value in _TEMPLATE_ARG.findall(params):
        if quote:
            key, value = key, quoted
        elif bare:
            key, value = bare_key, bare_value
        else:
            continue
        if key:
            named[key.lower()] = value
        else:
            positional.append(value)
    return named, positional


def _template_image(name: str, params: str, bare: bool = False) -> str:
    """`<img>` (or a captioned `<figure>`) for an image shortcode or include, else ""."""
    named, positional = _template_args(params, bare)
    src = next((named[k] for k in ("src", "url", "image", "path", "file") if named.get(k)), None)
    rest = positional
    if src is None and positional and (any(w in name for w in _IMAGE_TAG_WORDS) or _IMAGE_FILE.search(positional[0])):
        src, rest = positional[0], positional[1:]
    if not src or not src.strip():
        return ""
    alt = next((named[k] for k in ("alt", "title", "description") if named.get(k)), None)
    if alt is None and rest:
        alt = rest[-1]
    img = f'<img src="{html.escape(src.strip())}" alt="{html.escape(alt or "")}">'
    caption = named.get("caption")
    if caption:
        # An HTML block of its own, so the figcaption is read as the photo's caption.
        return f"\n\n<figure>{img}<figcaption>{html.escape(caption)}</figcaption></figure>\n\n"
    return img
