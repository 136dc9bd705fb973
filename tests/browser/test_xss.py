"""XSS suite: hostile posts served by a real `datasette serve`, visited in a real
headless Chromium, with a page-level hook that would see any script the payloads run.

The proof is not the HTML text but what the browser did: before any page script
runs, an init script defines a sentinel (`window.__xss`), replaces alert, confirm,
prompt and print with recorders that cannot be overwritten, and records every
`securitypolicyviolation` event; Playwright records every dialog, uncaught page
error, request and navigation. Every payload calls alert/confirm/prompt with its own
number, so a failure names the payload that ran.

Every hostile page is visited twice: with the site's Content-Security-Policy
enforced (what visitors get), and with it bypassed (`bypass_csp`), which proves the
sanitising and escaping alone hold: the CSP is defence in depth, not the only wall.

A second group visits normal pages (sample posts) and proves the CSP does not break
the site: no violation at all, and the SQL editor's CodeMirror initialises, so the
script hashes in newsarchive/site/security.py match Datasette's inline scripts.
"""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import datasette
import pytest
from datasette.utils import tilde_encode
from playwright.sync_api import Error as PlaywrightError

from newsarchive.build.pipeline import build
from newsarchive.site.security import InlineScripts

from ..conftest import DATASETTE_1
from .conftest import browsing, running_server

pytestmark = pytest.mark.browser

PHOTO = "https://images.harbourtimes.test/2024/10/port-alder-city-council.jpg"  # mirrored to /photos/
LOCAL_PHOTO = "/photos/2024/10/port-alder-city-council.jpg"
LEGIT = "Quokka wardens counted forty-one nesting pairs on the breakwater this spring"

# --------------------------------------------------------------------------- payloads
# Each payload, if it ever ran, calls alert/confirm/prompt with its own number.
BODY_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "<svg onload=alert(3)>",
    '<iframe src="javascript:alert(4)"></iframe>',
    "<style>body{display:none} /*xss-style*/</style>",
    "[x5](javascript:alert(5))",
    "[x6](data:text/html;base64,PHNjcmlwdD5hbGVydCg2KTwvc2NyaXB0Pg==)",
    "![x7](javascript:alert(7))",
    '<a href="JaVaScRiPt:alert(8)">x8</a>',
    '"><script>alert(10)</script>',
    "<details open ontoggle=alert(11)>",
    '<a href="&#106;avascript:alert(12)">x12</a>',
    "[x13](&#106;avascript:alert(13))",
    '<a href="&#x6A;&#x61;vascript&colon;alert(14)">x14</a>',
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxNSk8L3NjcmlwdD4="></object>',
    '<base href="/-/xss-base/">',
    '<form action="javascript:alert(16)"><button>x16</button></form>',
    '<meta http-equiv="refresh" content="0;url=/-/xss-meta-refresh">',
    '<img src="x" onerror="&#97;lert(17)">',
    '<a href="java\tscript:alert(18)">x18</a>',
    '<svg><a xlink:href="javascript:alert(19)"><text x="20" y="20">x19</text></a></svg>',
    '<noscript><p title="</noscript><img src=x onerror=alert(20)>">',
    "<body onload=alert(21)>",
    "<input autofocus onfocus=alert(22)>",
    "<video><source onerror=alert(23)></video>",
    '<a href="vbscript:alert(24)">x24</a>',
    '![x25](x" onerror="alert(25))',
    '<div style="background:url(javascript:alert(26))" id="xss-style-attr">x26</div>',
    '<a href="  javascript:alert(27)">x27</a>',
    "<template><img src=x onerror=alert(28)></template>",
    '<embed src="data:text/html;base64,PHNjcmlwdD5hbGVydCgyOSk8L3NjcmlwdD4=">',
    "<select autofocus onfocus=confirm(30)></select>",
    "<img src=x onerror=prompt(31)>",
    '<a href="data:text/html,<script>alert(32)</script>">x32</a>',
    "<p>`<img src=x onerror=alert(33)>`</p>",
    "<scr<script>ipt>alert(34)</script>",
    '<link rel="stylesheet" href="/-/xss-link.css">',
    '<img src=x onerror="window.__xss.calls.push(35)">',
    "[x36](javascript&#58;alert(36))",
    '<a href="jav&#x0A;ascript:alert(37)">x37</a>',
    "<svg><script>alert(38)</script></svg>",
    '<img src="/photos/does-not-exist.jpg" onload=alert(39) onerror=alert(39)>',
]
#: The mXSS classic. Sanitised safely, but its unclosed <table> would make the sanitiser
#: drop every paragraph after it (see test_unclosed_raw_html_does_not_hide_the_rest_of_the_article).
MXSS = "<math><mtext><table><mglyph><style><img src=x onerror=alert(9)>"


def yaml_str(value: str) -> str:
    """A YAML double-quoted scalar (JSON strings are YAML)."""
    return json.dumps(value, ensure_ascii=False)


def frontmatter(fields: list[tuple[str, object]]) -> str:
    lines = []
    for key, value in fields:
        if isinstance(value, list):
            lines.append(f"{yaml_str(key)}:")
            lines += [f"  - {yaml_str(v)}" for v in value]
        elif isinstance(value, dict):
            lines.append(f"{yaml_str(key)}:")
            lines += [f"  {yaml_str(k)}: {yaml_str(v)}" for k, v in value.items()]
        else:
            lines.append(f"{yaml_str(key)}: {yaml_str(value)}")
    return "---\n" + "\n".join(lines) + "\n---\n"


# Each hostile post: file name -> (legitimate sentence that must stay visible, text).
POST_BODY = "ART2411010900XSSBDY"
POST_META = "ART2411020900XSSMTA"
POST_CAPTIONS = "ART2411030900XSSCAP"
POST_HOSTILE_ID = '"><img src=x onerror=alert(60)>'
POST_PATH_ID = "2024-11-05-<svg onload=alert(61)>"
POST_MXSS = "ART2411060900XSSMXS"
POST_RAW_PHOTO = "ART2411070900XSSRAW"
#: The posts whose row pages carry payloads (every paragraph of real text must show).
PAYLOAD_POSTS = [POST_BODY, POST_META, POST_CAPTIONS, POST_HOSTILE_ID, POST_PATH_ID]

META = {
    "title": '</title><script>alert(40)</script>"><img src=x onerror=alert(41)> Quokka census headline',
    "description": '<svg onload=alert(42)> Quokka census standfirst "><script>alert(43)</script>',
    "category": "<img src=x onerror=alert(44)>",
    "language": "<svg onload=alert(45)>",
    "tags": ["<script>alert(46)</script>", "<img src=x onerror=alert(47)>", "quokka"],
    "categories": ['<iframe src="javascript:alert(48)">', "<details open ontoggle=alert(49)>"],
    "extra_key": "<img src=x onerror=alert(50)>",
    "extra_value": "<script>alert(51)</script>",
    "author": '"><svg onload=alert(52)>',
    "image_alt": '" onerror="alert(53)',
    "image_caption": "<img src=x onerror=alert(54)> Quokka lead caption (Photo: Reuters)",
}
CAPTIONS = [
    "<img src=x onerror=alert(70)> Quokka pair on the breakwater. (Photo: Harbour Times)",
    "</figcaption><script>alert(71)</script> Quokka survey boat. (Photo by <svg onload=confirm`72`>)",
    '"><iframe src=javascript:alert(73)> Quokka chick. (File photo: <details open ontoggle=prompt`74`>)',
]
FIGCAPTION = "<svg onload=alert(75)> Quokka ranger at work (Photo: AFP)"


def hostile_posts() -> dict[str, str]:
    body_paragraphs = [f"{LEGIT}, said the {i}th warden.\n\n{payload}\n" for i, payload in enumerate(BODY_PAYLOADS)]
    posts = {
        # Every payload in a post body, each between paragraphs of real text.
        "2024-11/body.md": frontmatter([
            ("code", POST_BODY), ("title", "Quokka census body payloads"), ("date", "2024-11-01T09:00:00.000Z"),
            ("category", "news"), ("language", "en"),
            ("origin_url", "https://www.harbourtimes.test/news/9100001/quokka-census"),
            ("image", PHOTO),
        ]) + "\n".join(body_paragraphs) + f"\n{LEGIT}, the council said at the end.\n",
        # Payloads in every frontmatter field: title, description, category, language,
        # tags/categories, lead photo alt and caption, unknown keys and values (extra).
        "2024-11/meta.md": frontmatter([
            ("code", POST_META), ("title", META["title"]), ("description", META["description"]),
            ("date", "2024-11-02T09:00:00.000Z"), ("category", META["category"]), ("language", META["language"]),
            ("origin_url", "javascript:alert(55)"), ("image", PHOTO),
            ("image_alt", META["image_alt"]), ("image_caption", META["image_caption"]),
            ("tags", META["tags"]), ("categories", META["categories"]),
            (META["extra_key"], META["extra_value"]), ("author", META["author"]),
            ("nested", {"<svg onload=alert(56)>": "<script>alert(57)</script>"}),
        ]) + f"\n{LEGIT}, said the frontmatter warden.\n\n"
        # a link to the body post: this post is listed as citing it, hostile title and all
        "See [the census <img src=x onerror=alert(58)>](https://www.harbourtimes.test/news/9100001/quokka-census).\n",
        # Payloads in photo captions (alt text), credits and a raw-HTML figcaption.
        "2024-11/captions.md": frontmatter([
            ("code", POST_CAPTIONS), ("title", ""), ("date", "2024-11-03T09:00:00.000Z"), ("category", "news"),
            ("image", "javascript:alert(59)"),
        ]) + "\n# \n\nQuokka photo essay <img src=x onerror=alert(62)>\n\n"
        + "".join(f"![{c}]({PHOTO})\n\n{c}\n\n{LEGIT}, said caption warden {i}.\n\n" for i, c in enumerate(CAPTIONS))
        + f'<figure><img src="{LOCAL_PHOTO}" alt="x"><figcaption>{FIGCAPTION}</figcaption></figure>\n\n'
        + f"{LEGIT}, said the figure warden.\n",
        # A hostile post id (from `code`) ...
        "2024-11/hostile-id.md": frontmatter([
            ("code", POST_HOSTILE_ID), ("title", "Quokka hostile id"), ("date", "2024-11-04T09:00:00.000Z"),
        ]) + f"\n{LEGIT}, said the id warden.\n",
        # ... and one from the file name (no `code`): the id is the path without `.md`.
        f"{POST_PATH_ID}.md": frontmatter([("title", "Quokka hostile path")])
        + f"\n{LEGIT}, said the path warden.\n",
        "2024-11/mxss.md": frontmatter([
            ("code", POST_MXSS), ("title", "Quokka mXSS"), ("date", "2024-11-06T09:00:00.000Z"),
        ]) + f"\n{LEGIT}, said the first mXSS warden.\n\n{MXSS}\n\n{LEGIT}, said the last mXSS warden.\n",
        # A photo in raw HTML, from the mirrored host (no payload: the mirror gap).
        "2024-11/raw-photo.md": frontmatter([
            ("code", POST_RAW_PHOTO), ("title", "Quokka raw HTML photo"), ("date", "2024-11-07T09:00:00.000Z"),
        ]) + f'\n{LEGIT}, said the photo warden.\n\n<figure><img src="{PHOTO}" alt="A quokka"><figcaption>A quokka (Photo: AFP)</figcaption></figure>\n',
    }
    return posts | lead_payload_posts()


#: Each body payload (and the mXSS one) first in a body of its own, so that it reaches
#: the table preview; listed in October, after the posts above on the posts page.
LEAD_PAYLOADS = [*BODY_PAYLOADS, MXSS]


def lead_post_id(n: int) -> str:
    return f"ART241001{n:04d}LEAD"


def lead_payload_posts() -> dict[str, str]:
    return {
        f"2024-10/lead-{n:02d}.md": frontmatter([
            ("code", lead_post_id(n)), ("title", f"Quokka lead payload {n}"),
            ("date", f"2024-10-01T{n // 60:02d}:{n % 60:02d}:00.000Z"),
        ]) + f"\n{payload}\n\n{LEGIT}, said lead warden {n}.\n"
        for n, payload in enumerate(LEAD_PAYLOADS)
    }


# --------------------------------------------------------------------------- the hook
# Runs in every frame before any of the page's own scripts.
SENTINEL = """(() => {
    const sentinel = {calls: [], csp: []};
    Object.defineProperty(window, '__xss', {value: sentinel, writable: false, configurable: false});
    for (const name of ['alert', 'confirm', 'prompt', 'print']) {
        const recorder = function (...args) { sentinel.calls.push(`${name}(${args.map(String).join(', ')})`); };
        Object.defineProperty(window, name, {value: recorder, writable: false, configurable: false});
    }
    document.addEventListener('securitypolicyviolation', e => sentinel.csp.push(
        `${e.effectiveDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber} ` +
        `${JSON.stringify(e.sample || '')}`), true);
})();"""

#: Where Datasette runs arbitrary SQL: 1.0 redirects /news?sql= to /news/-/query?sql=.
SQL_PAGE = "/news/-/query" if DATASETTE_1 else "/news"
#: A failing query: 0.65 answers 400, 1.0 200 with the error on the page.
SQL_ERROR_STATUS = 200 if DATASETTE_1 else 400
#: The SQL editor: CodeMirror 5 on Datasette 0.65, CodeMirror 6 (window.editor) on 1.0.
EDITOR = ".CodeMirror, .cm-editor"
EDITOR_TEXT = """() => {
    const cm5 = document.querySelector('.CodeMirror');
    if (cm5 && cm5.CodeMirror) return cm5.CodeMirror.getValue();
    if (window.editor && window.editor.state) return window.editor.state.doc.toString();
    return null;
}"""

#: Inline event handlers Datasette's own templates write (1.0: the column chooser's
#: `openColumnChooser()`), the only ones the CSP lets run (by hash); none in 0.65.
DATASETTE_HANDLERS = InlineScripts(Path(datasette.__file__).parent / "templates").handler_texts

#: What a live XSS vector would look like in the DOM after parsing (checked in the page,
#: not in the HTML text): handlers (other than Datasette's own), dangerous resolved URL
#: schemes, embedding elements, <base>, meta refresh, the hostile <style>, scripts other
#: than Datasette's and the site's own files (/-/static/, /-/news-static/).
DOM_VECTORS = """(allowedHandlers) => {
    const found = [];
    const describe = el => '<' + el.tagName.toLowerCase() + '>';
    for (const el of document.querySelectorAll('*')) {
        for (const attr of el.attributes) {
            if (attr.name.toLowerCase().startsWith('on') && !allowedHandlers.includes(attr.value)) {
                found.push(`${describe(el)} ${attr.name}=${attr.value}`);
            }
        }
    }
    const bad = url => /^(javascript|data|vbscript):/i.test(url);
    for (const el of document.querySelectorAll('a[href], area[href]')) {
        if (bad(el.protocol)) found.push(`${describe(el)} href=${el.getAttribute('href')}`);
    }
    for (const el of document.querySelectorAll('img[src], source[src], form[action], input[formaction], button[formaction]')) {
        const url = el.src || el.action || el.formAction || '';
        if (bad(url)) found.push(`${describe(el)} url=${url}`);
    }
    for (const el of document.querySelectorAll('svg a, svg [href]')) {
        const href = el.getAttribute('href') || el.getAttribute('xlink:href') || '';
        if (/script:/i.test(href.replace(/\\s/g, ''))) found.push(`${describe(el)} svg href=${href}`);
    }
    for (const el of document.querySelectorAll('iframe, frame, object, embed, base, meta[http-equiv], video, audio, math, mglyph')) {
        found.push(describe(el) + ' ' + el.outerHTML.slice(0, 120));
    }
    for (const el of document.querySelectorAll('style')) {
        if (el.textContent.includes('xss-style')) found.push('<style> ' + el.textContent.slice(0, 80));
    }
    for (const el of document.querySelectorAll('[style*="javascript" i], [id^="xss"]')) found.push(describe(el) + ' ' + el.outerHTML.slice(0, 120));
    for (const el of document.scripts) {
        const ours = ['/-/static/', '/-/news-static/'].some(prefix => el.src.startsWith(location.origin + prefix));
        if (/alert|confirm|prompt|__xss/.test(el.textContent) || (el.src && !ours)) {
            found.push('<script> ' + (el.src || el.textContent.slice(0, 80)));
        }
    }
    return found;
}"""


class Hooked:
    """A Browse whose page carries the sentinel and records requests and navigations."""

    def __init__(self, browse, csp: bool):
        self.browse = browse
        self.page = browse.page
        self.csp = csp
        self.requests: list[str] = []
        self.navigations: list[str] = []
        self.problems: list[str] = []
        self.page.add_init_script(SENTINEL)
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("framenavigated", lambda frame: frame.parent_frame is None and self.navigations.append(frame.url))

    def visit(self, path: str, status: int | tuple[int, ...] = 200, visible: tuple[str, ...] = (), dom: bool = True):
        """Open path, let every handler and timer fire, then record what went wrong."""
        browse, page = self.browse, self.page
        browse.dialogs.clear()
        browse.errors.clear()
        self.requests.clear()
        self.navigations.clear()
        url = browse.base + path
        problems = []
        for _ in range(3):  # nothing left over (a pending refresh) from the last page
            try:
                page.goto("about:blank")
                break
            except PlaywrightError:  # interrupted by the last page's own navigation
                page.wait_for_timeout(200)
        self.navigations.clear()
        try:
            response = page.goto(url, wait_until="load")
        except PlaywrightError as error:  # e.g. interrupted by a navigation the page started
            self._record(path, [f"navigation failed: {str(error).splitlines()[0]}"])
            return None
        if response is None or response.status not in ((status,) if isinstance(status, int) else status):
            problems.append(f"HTTP {response and response.status}, expected {status}")
        if response is not None:
            headers = response.headers
            if headers.get("x-content-type-options") != "nosniff":
                problems.append("no X-Content-Type-Options: nosniff")
            if "frame-ancestors 'none'" not in headers.get("content-security-policy", ""):
                problems.append("no Content-Security-Policy with frame-ancestors 'none'")
        # <details ontoggle>, autofocus handlers, meta refresh and timers get their chance.
        page.wait_for_timeout(250)
        try:
            self._inspect(problems, response.url if response else url, visible, dom)
        except PlaywrightError as error:  # the page went away while being inspected
            problems.append(f"navigated away: {self.navigations} ({str(error).splitlines()[0]})")
        self._record(path, problems)
        return response

    def _inspect(self, problems, url, visible, dom):
        browse, page = self.browse, self.page
        fetched = [u for u in self.requests if "/-/xss-" in u or urlsplit(u).scheme not in ("http", "https")]
        if fetched:
            problems.append(f"payload requests: {fetched}")
        if len(self.navigations) > 1 or page.url != url:
            # A meta refresh, a script or a <base> sent the page elsewhere: that is the finding.
            problems.append(f"navigated away: {self.navigations}")
            return
        sentinel = page.evaluate("window.__xss")
        if sentinel["calls"]:
            problems.append(f"script ran: {sentinel['calls']}")
        if browse.dialogs:
            problems.append(f"dialogs: {browse.dialogs}")
        if browse.errors:
            problems.append(f"page errors: {browse.errors}")
        if sentinel["csp"]:
            problems.append(f"CSP violations: {sentinel['csp']}")
        if dom:
            vectors = page.evaluate(DOM_VECTORS, DATASETTE_HANDLERS)
            if vectors:
                problems.append(f"live vectors in the DOM: {vectors}")
        for text in visible:
            if page.get_by_text(text).filter(visible=True).count() == 0:
                problems.append(f"legitimate content not visible: {text!r}")

    def _record(self, path, problems):
        if problems:
            mode = "CSP enforced" if self.csp else "CSP bypassed"
            self.problems.append(f"{path} ({mode}):\n    " + "\n    ".join(problems))


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    posts = folder / "posts"
    for name, text in hostile_posts().items():
        path = posts / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    db = folder / "news.db"
    summary = build(posts, db, quiet=True)
    assert summary.failed == 0 and summary.posts == len(hostile_posts()), summary
    return db


@pytest.fixture(scope="module")
def hostile_server(hostile_db):
    with running_server(hostile_db) as base:
        yield base


@pytest.fixture(scope="module")
def hdb(hostile_db):
    conn = sqlite3.connect(f"file:{hostile_db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


@pytest.fixture(params=[True, False], ids=["csp-enforced", "csp-bypassed"])
def hooked(request, browser, hostile_server):
    """A hooked page on the hostile server: with the site's CSP, and with it bypassed
    (then only sanitising and escaping stand between a payload and the page)."""
    with browsing(browser, hostile_server, bypass_csp=not request.param) as browse:
        yield Hooked(browse, csp=request.param)


def row_path(post_id: str) -> str:
    from datasette.utils import tilde_encode

    return f"/news/posts/{tilde_encode(post_id)}"


# --------------------------------------------------------------------------- hostile pages
#: An arbitrary SQL query returning the payloads as columns, including columns whose
#: names our render_cell hook and datasette-render-markdown treat specially.
HOSTILE_SQL = """select '<script>alert(80)</script> **Quokka SQL body**' as body,
  '<img src=x onerror=alert(81)> **Quokka SQL markdown**' as x_markdown,
  '[x](javascript:alert(82))' as description_markdown,
  'javascript:alert(83)' as url,
  '/photos/x.jpg" onerror="alert(84)' as image_url,
  'javascript:alert(85)' as lead_image_url,
  'https://news.test/" onmouseover="alert(86)' as origin_url,
  '\u27e6<img src=x onerror=alert(87)>\u27e7 Quokka snippet' as snippet,
  1 as "<img src=x onerror=alert(88)>",
  2 as "</style><script>alert(95)</script>",
  posts.title, posts.body as post_body, posts.extra, posts.frontmatter
from posts where id in ('ART2411010900XSSBDY', 'ART2411020900XSSMTA')
-- </textarea><script>alert(89)</script>"""

REFLECTED = '"><script>alert(90)</script><img src=x onerror=alert(91)>'


def test_hostile_table_and_search_pages_run_no_script(hooked, hdb):
    (category,) = hdb.execute("select name from categories where name like '<img%'").fetchone()
    (language,) = hdb.execute("select code from languages where code like '<svg%'").fetchone()
    visit = hooked.visit
    visit("/", visible=("Posts per month by category",))
    visit("/news", visible=("posts",))
    visit("/news/posts", visible=(LEGIT, "Quokka census headline"))
    visit("/news/posts?" + urlencode({"category": category}), visible=("Quokka census headline",))
    visit("/news/posts?" + urlencode({"language": language, "_facet": "language"}), visible=("Quokka census headline",))
    # A search that matches the payloads (they are in body_text, title, description).
    visit("/news/posts?_search=alert", visible=(LEGIT, "Quokka census headline"))
    visit("/news/posts?_search=onerror+quokka", visible=("Quokka census headline",))
    visit("/news/posts?_search=" + quote(REFLECTED))  # reflected in the search box
    visit("/news/search?q=alert", visible=("Quokka census headline",))
    visit("/news/search?q=quokka+census", visible=("Quokka census headline",))
    visit("/news/search?q=" + quote(REFLECTED), status=400)  # its quote is left open: the page says so
    visit("/news/posts_flat", visible=("Quokka census headline",))
    visit("/news/posts.json?_shape=array&_trace=1", dom=True)  # no trace_debug: plain JSON
    assert not hooked.problems, "\n".join(hooked.problems)
    hooked.browse.assert_offline()


def test_hostile_row_pages_run_no_script(hooked, hdb):
    page = hooked.page
    titles = dict(hdb.execute("select id, title from posts"))
    assert len(titles) == len(hostile_posts()) and set(PAYLOAD_POSTS) <= set(titles)
    for post_id in PAYLOAD_POSTS + [POST_MXSS]:
        title = titles[post_id]
        before = len(hooked.problems)
        hooked.visit(row_path(post_id), visible=(LEGIT,))
        if len(hooked.problems) > before:
            continue  # already failing (perhaps no longer on the page): reported below
        # The article is there and its headline is the title as text, payload and all.
        headlines = page.locator("article.news-article > h1").all_inner_texts()
        if headlines != [title]:
            hooked.problems.append(f"{row_path(post_id)}: headline {headlines} != {title!r}")
        # Every legitimate paragraph of the body is still shown.
        body = hdb.execute("select body from posts where id = ?", [post_id]).fetchone()[0]
        wanted = body.count(LEGIT) if post_id != POST_MXSS else 1  # the paragraph before it
        shown = "".join(page.locator("article.news-article .body").all_inner_texts()).count(LEGIT)
        if shown < wanted:
            hooked.problems.append(f"{row_path(post_id)}: {shown} of {wanted} legitimate paragraphs shown")
    # The frontmatter payloads are shown as text where they belong.
    hooked.visit(row_path(POST_META), visible=("Quokka census standfirst",))
    page_text = "".join(page.locator("article.news-article").all_inner_texts())
    for text in (META["description"], META["category"]):
        if text not in page_text:
            hooked.problems.append(f"{row_path(POST_META)}: {text!r} not shown as text")
    assert not hooked.problems, "\n".join(hooked.problems)
    page.locator("details.news-row-data > summary").click()  # "All columns": extra, frontmatter
    page.wait_for_timeout(100)
    assert page.evaluate("window.__xss.calls") == []
    columns = page.locator("details.news-row-data").inner_text()
    for text in (META["extra_value"], META["author"], META["extra_key"]):
        if json.dumps(text)[1:-1] not in columns and text not in columns:
            hooked.problems.append(f"{row_path(POST_META)}: {text!r} not shown as text in All columns")
    assert not hooked.problems, "\n".join(hooked.problems)
    hooked.browse.assert_offline()


def test_hostile_captions_tags_and_photos_run_no_script(hooked, hdb):
    (tag,) = hdb.execute("select name from tags where name like '<script>%'").fetchone()
    (category,) = hdb.execute("select name from categories where name like '<img%'").fetchone()
    (credit,) = hdb.execute("select name from credits where name like '<svg%'").fetchone()
    visit = hooked.visit
    visit("/news/photos", visible=("Quokka pair on the breakwater",))
    visit("/news/photos?_facet=credit&_facet=credit_kind", visible=("Quokka pair on the breakwater",))
    visit("/news/captions", visible=("Quokka pair on the breakwater",))
    visit("/news/captions?_search=quokka", visible=("Quokka pair on the breakwater",))
    visit("/news/credits", visible=("Harbour Times",))
    visit("/news/post_images", visible=("Quokka photo essay",))
    visit("/news/images")
    visit("/news/tags", visible=("quokka",))
    visit(f"/news/tags/{tilde_encode(tag)}")
    visit("/news/post_tags?" + urlencode({"tag": tag, "_facet": "tag"}), visible=("Quokka census headline",))
    visit("/news/categories", visible=("news",))
    visit(f"/news/categories/{tilde_encode(category)}")
    visit("/news/languages", visible=("en",))
    visit("/news/links", visible=("the census",))
    visit("/news/photos_by_credit?credit=" + quote(credit), visible=("Quokka photo essay",))
    visit(f"/news/posts_citing?post_id={POST_BODY}", visible=("Quokka census headline",))
    assert not hooked.problems, "\n".join(hooked.problems)
    hooked.browse.assert_offline()


def test_hostile_sql_query_page_runs_no_script(hooked):
    page = hooked.page
    hooked.visit(f"{SQL_PAGE}?sql=" + quote(HOSTILE_SQL), visible=("Quokka census headline", "Quokka snippet"))
    # The SQL editor holds the query as text, comment payload included.
    value = page.evaluate(EDITOR_TEXT)
    if value != HOSTILE_SQL:
        hooked.problems.append(f"the SQL editor does not hold the query: {value!r}")
    # body and x_markdown are not rendered as Markdown for arbitrary SQL: shown as text.
    cells = page.locator("table.rows-and-columns tbody tr").first.locator("td").all_inner_texts()
    for expected in ("<script>alert(80)</script> **Quokka SQL body**", "<img src=x onerror=alert(81)> **Quokka SQL markdown**"):
        if expected not in cells:
            hooked.problems.append(f"not shown as text: {expected!r} in {cells[:3]}")
    headers = page.locator("table.rows-and-columns th").all_inner_texts()
    if not any("<img src=x onerror=alert(88)>" in h for h in headers):
        hooked.problems.append(f"hostile column name not shown as text: {headers}")
    # The query and a row page as CSV debug pages (HTML: the CSV inside a <textarea>).
    hooked.visit("/news.csv?_trace=1&sql=" + quote(HOSTILE_SQL))
    hooked.visit("/news/posts.csv?_trace=1&_stream=on")
    # Errors that repeat what was asked for.
    hooked.visit("/news/posts?_sort=" + quote(REFLECTED), status=(400, 500))  # Datasette says 500
    hooked.visit("/news/" + quote(REFLECTED), status=(400, 404))
    hooked.visit(f"{SQL_PAGE}?sql=" + quote(f"select {REFLECTED}"), status=SQL_ERROR_STATUS)
    hooked.visit("/news/posts/" + quote(REFLECTED), status=404)
    assert not hooked.problems, "\n".join(hooked.problems)
    hooked.browse.assert_offline()


# --------------------------------------------------------------------------- JSON and CSV
DATA_PAGES = [
    "/news/posts.json",
    "/news/posts.json?_shape=array",
    "/news/posts.json?_shape=array&_search=alert",
    "/news/posts.csv",
    "/news/posts.csv?_stream=on",
    f"/news/posts/{POST_META}.json",
    "/news/photos.csv",
    "/news/captions.json?_shape=array",
    "/news/tags.csv",
    "/news/search.json?_shape=array&q=alert",
    "/news/search.csv?q=alert",
    "/news.json?_shape=array&sql=" + quote(HOSTILE_SQL),
    "/news.csv?sql=" + quote(HOSTILE_SQL),
    # Output that begins like an HTML document, to tempt a sniffing browser.
    "/news.csv?sql=" + quote("""select '<script>alert(92)</script>' as "<!DOCTYPE html><html><body><img src=x onerror=alert(93)>" """),
    "/news.json?_shape=arrayfirst&sql=" + quote("select '<html><script>alert(94)</script>'"),
]


@pytest.mark.parametrize("path", DATA_PAGES)
def test_json_and_csv_opened_as_pages_are_not_html(hooked, path):
    response = hooked.visit(path, dom=False)
    page = hooked.page
    content_type = response.headers.get("content-type", "")
    kind = "application/json" if ".json" in path else "text/plain"
    assert content_type.split(";")[0].strip() == kind, content_type
    assert response.headers.get("x-content-type-options") == "nosniff"
    # Chromium shows it as text: no element of the payloads exists, their text does.
    assert page.evaluate("document.contentType") == kind
    elements = page.evaluate(
        "Array.from(document.querySelectorAll('script, img, svg, iframe, object, embed, details, style:not(:empty)'))"
        ".filter(el => !el.closest('template')).map(el => el.outerHTML.slice(0, 80))"
    )
    assert elements == [], elements
    text = page.evaluate("document.body.innerText")
    assert "alert(" in text and "quokka" in text.lower() or "alert(9" in text, text[:300]
    assert not hooked.problems, "\n".join(hooked.problems)
    hooked.browse.assert_offline()


# --------------------------------------------------------------------------- normal pages
def test_normal_pages_have_no_csp_violation_and_codemirror_starts(browse):
    """The CSP breaks nothing: Datasette's inline scripts are allowed by their hashes."""
    hooked = Hooked(browse, csp=True)
    page = hooked.page
    hooked.visit("/news/posts", visible=("Harbour",))
    # table.html's inline script ran (DATASETTE_ALLOW_FACET) and table.js added the column menus.
    assert page.evaluate("typeof DATASETTE_ALLOW_FACET") == "boolean"
    page.locator("th.col-title svg").first.click()
    assert page.locator(".dropdown-menu").first.is_visible()
    hooked.visit(f"{SQL_PAGE}?sql=select+1", visible=("Custom SQL query",))
    # _codemirror_foot.html's inline window.onload turned the textarea into an editor.
    assert page.locator(EDITOR).count() == 1
    assert page.evaluate(EDITOR_TEXT) == "select 1"
    page.locator(EDITOR).click()
    page.keyboard.press("End")
    page.keyboard.type(" + 1 as two")
    page.get_by_role("button", name="Run SQL").click()
    page.wait_for_load_state("load")
    assert page.locator("table.rows-and-columns td").first.inner_text().strip() == "2"
    for path in ("/", "/news", "/news/search?q=harbour", "/news/photos", "/news/posts_per_month?from_month=&to_month=",
                 "/news/posts/ART2410150804RAYAQN", "/news/captions", "/-/versions",
                 *(() if DATASETTE_1 else ("/-/metadata",))):  # 1.0 has no /-/metadata page
        hooked.visit(path)
    assert not hooked.problems, "\n".join(hooked.problems)
    browse.assert_offline()


# --------------------------------------------------------------------------- known gaps
def test_payloads_first_in_a_body_run_no_script_in_the_preview_or_the_article(hooked, hdb):
    """The payload is the start of the body, so the table's preview holds it (the
    stored post_html.preview, shown on the posts page) as well as the article."""
    ids = [lead_post_id(n) for n in range(len(LEAD_PAYLOADS))]
    previews = dict(hdb.execute(
        f"select post_id, preview from post_html where post_id in ({', '.join('?' for _ in ids)})", ids))
    assert sorted(previews) == ids
    for n, post_id in enumerate(ids):
        assert f"said lead warden {n}." in previews[post_id], post_id  # the text after the payload
    hooked.visit("/news/posts?" + urlencode({"_columns": "all", "_size": 100, "title__startswith": "Quokka lead payload"}),
                 visible=tuple(f"{LEGIT}, said lead warden {n}." for n in range(len(ids))))
    for n, post_id in enumerate(ids):
        hooked.visit(row_path(post_id), visible=(f"{LEGIT}, said lead warden {n}.",))
    assert not hooked.problems, "\n".join(hooked.problems)
    hooked.browse.assert_offline()


@pytest.fixture
def enforced(browser, hostile_server):
    with browsing(browser, hostile_server) as browse:
        yield Hooked(browse, csp=True)


def test_unclosed_raw_html_does_not_hide_the_rest_of_the_article(enforced):
    enforced.visit(row_path(POST_MXSS), visible=(f"{LEGIT}, said the first mXSS warden",))
    assert not enforced.problems, "\n".join(enforced.problems)  # the payload itself is harmless
    assert f"{LEGIT}, said the last mXSS warden" in enforced.page.locator("article.news-article .body").inner_text()


def test_raw_html_photos_in_the_article_load_from_the_mirror(enforced):
    enforced.visit(row_path(POST_RAW_PHOTO), visible=(LEGIT,))
    assert not enforced.problems, "\n".join(enforced.problems)
    enforced.browse.assert_offline()


# --------------------------------------------------------------------------- the hook itself
CONTROL = ("<!doctype html><title>control</title><p>control page</p>"
           "<script>alert(101)</script><img src=x onerror=alert(102)><details open ontoggle=confirm(103)>")


@pytest.mark.parametrize("csp", [True, False], ids=["csp-enforced", "csp-bypassed"])
def test_the_hook_sees_a_script_that_runs_and_a_csp_violation(browser, hostile_server, csp):
    """Control: the same hook on a page served with the payloads unescaped. With the CSP
    bypassed the sentinel records every call and no dialog opens; with our CSP, nothing
    runs and every blocked script is recorded as a violation: so a clean result above
    means no script ran, not that the hook was blind."""
    from newsarchive.site.security import content_security_policy

    with browsing(browser, hostile_server, bypass_csp=not csp) as browse:
        Hooked(browse, csp=csp)  # installs the hook
        headers = {"content-type": "text/html; charset=utf-8"}
        if csp:
            headers["content-security-policy"] = content_security_policy([])
        browse.page.route(f"{hostile_server}/-/hook-control", lambda route: route.fulfill(status=200, headers=headers, body=CONTROL))
        browse.page.goto(f"{hostile_server}/-/hook-control", wait_until="load")
        browse.page.wait_for_timeout(250)
        sentinel = browse.page.evaluate("window.__xss")
        assert browse.dialogs == []
        if csp:
            assert sentinel["calls"] == []
            assert len(sentinel["csp"]) == 3 and all(v.startswith("script-src") for v in sentinel["csp"]), sentinel["csp"]
        else:
            assert sorted(sentinel["calls"]) == ["alert(101)", "alert(102)", "confirm(103)"]
            assert sentinel["csp"] == []
        assert len(browse.page.evaluate(DOM_VECTORS, DATASETTE_HANDLERS)) >= 2  # onerror, ontoggle
        browse.assert_offline()
