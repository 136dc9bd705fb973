"""A public instance that holds: value-size caps on every connection, security headers,
and the SQL time limit, through Datasette's own test client configured as served."""
from __future__ import annotations

import base64
import hashlib
import re
import time
from urllib.parse import quote

import pytest

from newsarchive.site.security import InlineScripts, security_headers

from .conftest import DATASETTE_1, get
from .served import raw_get, serving


def sqlite_modules():
    """The standard library's sqlite3, and pysqlite3 where it is installed (pyproject.toml
    installs it on Linux x86-64: Datasette then serves with its newer SQLite)."""
    import sqlite3

    modules = [sqlite3]
    try:
        import pysqlite3.dbapi2

        modules.append(pysqlite3.dbapi2)
    except ImportError:
        pass
    return modules


@pytest.mark.parametrize("module", sqlite_modules(), ids=lambda m: m.__name__)
def test_every_sqlite_module_gets_the_caps(module):
    """pysqlite3 has no Connection.setlimit: its caps go through sqlite3_limit directly."""
    from newsarchive.site.security import limit_connection

    conn = module.connect(":memory:")
    limit_connection(conn, max_value_bytes=1000, max_sql_bytes=200)
    assert conn.execute("select length(zeroblob(1000))").fetchone() == (1000,)
    with pytest.raises(module.Error, match="too big"):
        conn.execute("select zeroblob(1001)")
    with pytest.raises(module.Error, match="too big|too large"):
        conn.execute("select 1 " + " " * 250)
    conn.execute("select 1 " + " " * 150)
    # Each connection has its own caps.
    assert module.connect(":memory:").execute("select length(zeroblob(2000))").fetchone() == (2000,)


def test_datasette_serves_with_the_newest_sqlite_installed():
    from datasette.utils import sqlite as datasette_sqlite

    newest = sqlite_modules()[-1]
    assert datasette_sqlite.sqlite3.sqlite_version == newest.sqlite_version


@pytest.mark.parametrize(
    "sql",
    [
        "select length(randomblob(1000000000))",
        "select length(zeroblob(1000000000))",
        "select length(replace(hex(zeroblob(10000000)), '0', '0000000000'))",
    ],
)
def test_huge_values_are_refused_at_once(sample_ds, sql):
    started = time.monotonic()
    response = get(sample_ds, "/news.json?sql=" + quote(sql))
    assert time.monotonic() - started < 5
    assert response.status_code == 400
    assert "too big" in response.json()["error"]


def test_normal_large_values_still_work(sample_ds):
    data = get(sample_ds, "/news.json?_shape=array&sql=select+length(zeroblob(1000000))+as+n").json()
    assert data == [{"n": 1000000}]


@pytest.mark.parametrize(
    "sql",
    [
        "with recursive c(x) as (select 1 union all select x+1 from c) select count(*) from c",
        "select count(*) from posts a, posts b, posts c, posts d, posts e, posts f where a.word_count + f.word_count > b.word_count",
    ],
)
def test_runaway_query_is_cut_by_the_time_limit(sample_ds, sql):
    started = time.monotonic()
    response = get(sample_ds, "/news.json?sql=" + quote(sql))
    elapsed = time.monotonic() - started
    # The same 400 in both versions; 0.65 says "interrupted", 1.0 "SQL query took too long".
    message = "took too long" if DATASETTE_1 else "interrupted"
    assert response.status_code == 400 and message in response.text.lower()
    assert elapsed < 3.0 + 2.0


@pytest.mark.parametrize("path", ["/", "/news/posts", "/news/posts.json", "/news/search?q=harbour", "/news.db"])
def test_security_headers_on_every_response(sample_ds, path):
    response = get(sample_ds, path)
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    script_src = next(part for part in csp.split("; ") if part.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src


@pytest.mark.parametrize(
    "path",
    ["/", "/news", "/news/posts", "/news/images", "/news?sql=select+1", "/news/search?q=harbour", "/news/nosuch", "/news/posts?_sort=nosuch"],
)
def test_every_inline_script_datasette_sends_is_allowed_by_hash(sample_ds, path):
    response = get(sample_ds, path)
    csp = response.headers["content-security-policy"]
    script_src = next(part for part in csp.split("; ") if part.startswith("script-src")).split()
    for body in re.findall(r"<script(?:\s[^>]*)?>(.*?)</script>", response.text, re.DOTALL):
        if not body:  # <script src=...></script>
            continue
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src, f"inline script not allowed by CSP: {body[:80]!r}"
    # Inline event handlers (Datasette 1.0's column chooser button) are allowed by hash too.
    for handler in re.findall(r'\son[a-z]+="([^"]*)"', response.text):
        digest = base64.b64encode(hashlib.sha256(handler.encode()).digest()).decode()
        assert "'unsafe-hashes'" in script_src and f"'sha256-{digest}'" in script_src, handler


def test_csp_allows_datasettes_data_scripts_but_no_other_script(tmp_path):
    """Datasette 1.0 pages carry inline scripts with per-page JSON: only a script of the
    exact shape of one in Datasette's templates, every `tojson` part valid JSON, gets
    its hash into the page's CSP; anything else (a script that slipped into a post)
    does not, even if it starts like one of Datasette's."""
    (tmp_path / "page.html").write_text(
        "<script>window._data = {{ page_data|tojson }};</script>\n"
        "<script>\n{% if columns %}const schema = {{ columns|tojson(2) }};{% else %}const schema = {};{% endif %}\nstart(schema);\n</script>\n"
        "<script>window.version = '{{ datasette_version }}';</script>\n"
        "<script>FLAG = {{ flag }};</script>\n"
        "<script>{% for x in xs %}{{ x }}{% endfor %}</script>\n"
        '<button onclick="openChooser()">columns</button>\n',
        encoding="utf-8",
    )
    scripts = InlineScripts(tmp_path, known={"datasette_version": ["1.2.3", ""]})

    def source(body):
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"

    for static in ("window.version = '1.2.3';", "window.version = '';", "FLAG = true;", "FLAG = false;"):
        assert source(static) in scripts.hashes
    assert scripts.handler_hashes == [source("openChooser()")]
    allowed = [
        'window._data = {"a": [1, "x\\u003c/script\\u003e"], "b": null};',
        '\nconst schema = {\n  "posts": [\n    "id"\n  ]\n};\nstart(schema);\n',
        "\nconst schema = {};\nstart(schema);\n",
    ]
    refused = [
        "alert(1)",
        'window._data = {"a": alert(1)};',
        "window._data = {};alert(1);",
        "window._data = 1;\nalert(1);",
        "\nconst schema = {};alert(1);\nstart(schema);\n",
        "\nconst schema = fetch('//evil');\nstart(schema);\n",
        "window.version = '1.2.3';alert(1)",
        "FLAG = alert(1);",
    ]
    html = "".join(f"<script>{body}</script>" for body in allowed + refused) + '<script src="/x.js"></script>'
    assert scripts.page_hashes(html) == sorted(source(body) for body in allowed)
    headers = dict(security_headers(scripts.hashes + scripts.page_hashes(html), scripts.handler_hashes))
    script_src = next(p for p in headers[b"content-security-policy"].decode().split("; ") if p.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src and "'unsafe-hashes'" in script_src


@pytest.mark.parametrize("sql", [
    "select length(printf('%.*c', 1000000000, 'x')) as n", "select format('%d', 1) as n", "select PRINTF('x') as n",
    "select snippet(posts_fts, 2, '[', ']', '...', 10) as n from posts_fts where posts_fts match 'harbour'",
    "select \"HIGHLIGHT\"(posts_fts, 2, '[', ']') as n from posts_fts where posts_fts match 'harbour'",
])
def test_functions_the_time_limit_cannot_stop_are_refused(sample_ds, sql):
    """printf's padding, and FTS5's snippet() and highlight() over a whole column, are each
    one step the time limit cannot interrupt: refused outright."""
    started = time.monotonic()
    response = get(sample_ds, "/news.json?_shape=array&sql=" + quote(sql))
    assert time.monotonic() - started < 2
    assert response.status_code == 400
    assert "not authorized" in response.text


# ------------------------------------------------------------------ redirects stay on the site
#: Request targets a redirect could turn into a URL of another site, as a browser reads
#: it (a backslash is a slash, tabs are dropped): sent raw, since HTTP clients rewrite them.
OFF_SITE_TARGETS = [b"/\\evil.example/", b"/\\/evil.example/", b"//evil.example/", b"/%5Cevil.example/",
                    b"/%2F%2Fevil.example/", b"/%5C%5Cevil.example/", b"/news//evil.example/",
                    b"/\\evil.example/news/", b"/%09/evil.example/"]


def _leaves_the_site(location: str, port: int) -> bool:
    """Whether a browser at http://127.0.0.1:port/ sent this Location goes to another host:
    WHATWG URL parsing as browsers do it, written out independently of the code under test."""
    seen = re.sub(r"[\t\n\r]", "", location).strip("".join(map(chr, range(0x21)))).replace("\\", "/")
    if seen.startswith("//"):
        return seen[2:].split("/")[0] != f"127.0.0.1:{port}"
    scheme = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):(.*)", seen)
    if scheme is None:
        return False
    rest = scheme.group(2)
    if scheme.group(1).lower() not in ("http", "https"):
        return True
    return rest.startswith("//") and rest[2:].split("/")[0] != f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def served(sample_db):
    with serving(sample_db, sample_db.parent / "security-serve.log") as port:
        yield port


@pytest.mark.parametrize("target", OFF_SITE_TARGETS, ids=lambda t: t.decode())
def test_no_redirect_leaves_the_site(served, target):
    status, headers = raw_get(served, target)
    if b" 30" in status[:13]:
        assert not _leaves_the_site(headers["location"], served), (target, headers["location"])


def test_the_trailing_slash_redirect_still_redirects(served):
    status, headers = raw_get(served, b"/\\evil.example/")
    assert status.split()[1] == b"302" and headers["location"] == "/evil.example"
    status, headers = raw_get(served, b"/news/posts/")
    assert headers["location"] == "/news/posts"
