"""Headers and limits for a public instance (used by plugins/news_security.py).

The Content-Security-Policy allows scripts only from the site itself plus the exact
inline scripts Datasette's own templates contain (by SHA-256 hash). An inline script
or event handler that slipped into a post would therefore not run even if sanitising
missed it: defence in depth behind the sanitiser (nh3).
"""
from __future__ import annotations

import base64
import ctypes
import functools
import hashlib
import importlib
import json
import re
from html import unescape as html_unescape
from pathlib import Path
from urllib.parse import urlsplit

import datasette as datasette_package
from datasette.version import __version__ as datasette_version

from . import bounded_sql

#: Largest string or blob any SQL expression may build (bytes): a post is capped at
#: 5 MB, so 16 MB leaves room while `randomblob(1e9)` / `zeroblob(1e9)` fail at once.
MAX_VALUE_BYTES = 16 * 1024 * 1024
#: Longest SQL text accepted.
MAX_SQL_BYTES = 100_000

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
#: Any inline script of a rendered page (a <script> with attributes but no src runs too).
_PAGE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?:\s[^>]*)?>(.*?)</script>", re.DOTALL | re.IGNORECASE)
_TEMPLATE_TAG = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.DOTALL)
_TOJSON = re.compile(r"\{\{.*\|\s*tojson(?:\(\s*\d*\s*\))?\s*\}\}", re.DOTALL)
_NAME = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_STATEMENT = re.compile(r"\{%-?\s*(\w+).*?-?%\}", re.DOTALL)
#: What a plain `{{ name }}` may render to inside a dynamic script: a word, number or
#: version, never a call, string or operator that could run code.
_NAME_VALUE = r"[\w.+-]{0,64}"
#: An inline event handler written literally in a template (Datasette 1.0's table.html
#: has `onclick="openColumnChooser()"`).
_EVENT_HANDLER = re.compile(r"""\son[a-z]+=(?:"([^"{}]*)"|'([^'{}]*)')""")


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def _dynamic_pattern(body: str) -> tuple[re.Pattern, list[str]] | None:
    """A regex for what a templated script renders to, and its JSON group names.

    Handles literal text, `{{ expr|tojson }}` (must render to JSON: data, no code),
    `{{ name }}` (a word or number) and `{% if %}/{% elif %}/{% else %}/{% endif %}`.
    Any other template logic: None (the script is not allowed).
    """
    parts: list[str] = []
    json_groups: list[str] = []
    open_ifs: list[bool] = []  # per open if: has an else
    for i, token in enumerate(_TEMPLATE_TAG.split(body)):
        if i % 2 == 0:
            parts.append(re.escape(token))
        elif token.startswith("{{"):
            if _TOJSON.fullmatch(token):
                name = f"j{len(json_groups)}"
                json_groups.append(name)
                parts.append(f"(?P<{name}>.*)")
            elif _NAME.fullmatch(token):
                parts.append(f"(?:{_NAME_VALUE})")
            else:
                return None
        else:
            keyword = _STATEMENT.fullmatch(token)
            keyword = keyword.group(1) if keyword else None
            if keyword == "if":
                open_ifs.append(False)
                parts.append("(?:")
            elif keyword in ("elif", "else") and open_ifs:
                open_ifs[-1] = open_ifs[-1] or keyword == "else"
                parts.append("|")
            elif keyword == "endif" and open_ifs:
                parts.append(")" if open_ifs.pop() else ")?")
            else:
                return None
    if open_ifs:
        return None
    return re.compile("".join(parts), re.DOTALL), json_groups


class InlineScripts:
    """Which inline <script> blocks of Datasette's templates the CSP allows.

    `hashes`: scripts known before any request: literal ones, and ones whose only
    template logic is `{{ name }}`, hashed for each value that name can take (`known`
    gives a name's values, e.g. the Datasette version, or "" on 1.0's error pages,
    which render without it; any other name is taken as a boolean, as
    DATASETTE_ALLOW_FACET is). Datasette 0.65's templates need nothing more.

    `patterns`: scripts that carry per-page data (Datasette 1.0: `window._datasetteTableData
    = {{ table_page_data|tojson }};`, the SQL editor's schema, ...). Their hashes can only
    be computed from the rendered page: `page_hashes(html)` returns the hashes of the
    page's inline scripts that match one of these patterns exactly, every `tojson`
    part being valid JSON. A script that slipped into a post matches none of them (or is
    a pure data assignment to one of Datasette's own variables), so it still does not run.
    """

    def __init__(self, templates_dir: Path, known: dict[str, str | list[str]] | None = None):
        known = known or {}
        hashes: set[str] = set()
        self.patterns: list[tuple[re.Pattern, list[str]]] = []
        for template in sorted(Path(templates_dir).glob("*.html")):
            for body in _INLINE_SCRIPT.findall(template.read_text(encoding="utf-8")):
                tags = _TEMPLATE_TAG.findall(body)
                if all(_NAME.fullmatch(tag) for tag in tags):
                    variants = [body]
                    for name in dict.fromkeys(_NAME.findall(body)):
                        value = known.get(name, ["true", "false"])
                        values = [value] if isinstance(value, str) else list(value)
                        variants = [
                            re.sub(r"\{\{\s*" + name + r"\s*\}\}", lambda m, v=value: v, variant)
                            for variant in variants
                            for value in values
                        ]
                    hashes.update(_sha256_source(variant) for variant in variants)
                else:
                    compiled = _dynamic_pattern(body)
                    if compiled is not None and all(compiled[0] != p for p, _ in self.patterns):
                        self.patterns.append(compiled)
        self.hashes = sorted(hashes)
        #: The templates' literal inline event handlers, and their hashes, allowed with
        #: 'unsafe-hashes' (only these exact handler texts run; none in 0.65).
        self.handler_texts = sorted(
            {
                html_unescape(a or b)
                for template in sorted(Path(templates_dir).glob("*.html"))
                for a, b in _EVENT_HANDLER.findall(template.read_text(encoding="utf-8"))
            }
        )
        self.handler_hashes = sorted({_sha256_source(text) for text in self.handler_texts})

    def page_hashes(self, html: str) -> list[str]:
        """Hashes of the inline scripts of a rendered page that match a dynamic pattern."""
        if not self.patterns:
            return []
        out = set()
        for body in _PAGE_SCRIPT.findall(html):
            source = _sha256_source(body)
            if source in self.hashes or source in out:
                continue
            for pattern, json_groups in self.patterns:
                match = pattern.fullmatch(body)
                if match and all(_is_json(match.group(g)) for g in json_groups):
                    out.add(source)
                    break
        return sorted(out)


def _is_json(text: str | None) -> bool:
    if text is None:  # a branch of an {% if %} that was not taken
        return True
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def content_security_policy(script_hashes: list[str], handler_hashes: list[str] = ()) -> str:
    script_src = ["'self'", *script_hashes]
    if handler_hashes:
        script_src += ["'unsafe-hashes'", *handler_hashes]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src " + " ".join(script_src),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' https: data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(script_hashes: list[str], handler_hashes: list[str] = ()) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(script_hashes, handler_hashes).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
    ]


def datasette_scripts() -> InlineScripts:
    """The inline scripts of the installed Datasette's templates.

    base.html (1.0) says `window.datasetteVersion = '{{ datasette_version }}'`; error
    pages render it without the variable, as ''.
    """
    templates = Path(datasette_package.__file__).parent / "templates"
    return InlineScripts(templates, known={"datasette_version": [datasette_version, ""]})


def with_security_headers(app, scripts: InlineScripts):
    """An ASGI app that sends every HTTP response of `app` with security_headers.

    Datasette 0.65: every inline script is known in advance, one header for all.
    Datasette 1.0 pages carry inline scripts with per-page JSON data: an HTML response
    is held until complete, and those scripts (only those matching Datasette's own
    templates) are added to its CSP by hash.
    """
    headers = security_headers(scripts.hashes, scripts.handler_hashes)

    async def secured(scope, receive, send):
        if scope["type"] != "http":
            return await app(scope, receive, send)
        held = {}

        async def send_with_headers(event):
            if event["type"] == "http.response.start":
                event = _redirect_on_site(event, scope)
                if scripts.patterns and _is_html(event):
                    held.update(start=event, body=[])
                    return
                event = _with_headers(event, headers)
            elif event["type"] == "http.response.body" and held:
                held["body"].append(event.get("body", b""))
                if event.get("more_body"):
                    return
                body = b"".join(held["body"])
                extra = scripts.page_hashes(body.decode("utf-8", "replace"))
                start = held.pop("start")
                held.clear()
                await send(_with_headers(start, security_headers(scripts.hashes + extra, scripts.handler_hashes)))
                event = {"type": "http.response.body", "body": body, "more_body": False}
            await send(event)

        return await app(scope, receive, send_with_headers)

    return secured


#: What a browser drops from a URL before reading it (WHATWG URL: tab and newlines
#: anywhere, C0 controls and spaces at either end).
_URL_DROPPED = re.compile(r"[\t\n\r]")
_URL_EDGES = "".join(map(chr, range(0x21)))


def on_site_location(location: str, host: str | None = None) -> str:
    """A redirect's Location that stays on this site: `location` itself when a browser
    would read it as a path here (or an absolute URL of `host`), else its path alone.

    Browsers read a backslash as a slash, so Datasette's trailing-slash redirect of
    `/\\evil.example/` to `/\\evil.example` would send them to evil.example.
    """
    seen = _URL_DROPPED.sub("", location).strip(_URL_EDGES).replace("\\", "/")
    parts = urlsplit(seen)
    if not parts.scheme and not parts.netloc and not seen.startswith("//"):
        return location
    if parts.scheme in ("http", "https") and host and parts.netloc.lower() == host.lower():
        return location
    if not parts.scheme:  # `//host/path`: the same path, as a path of this site
        return "/" + seen.lstrip("/")
    path = "/" + parts.path.lstrip("/")
    return path + (f"?{parts.query}" if parts.query else "") + (f"#{parts.fragment}" if parts.fragment else "")


def _redirect_on_site(event, scope):
    if not 300 <= event.get("status", 200) < 400:
        return event
    headers = event.get("headers", [])
    host = next((v.decode("latin-1") for n, v in scope.get("headers", []) if n.lower() == b"host"), None)
    fixed = [
        (name, on_site_location(value.decode("latin-1"), host).encode("latin-1") if name.lower() == b"location" else value)
        for name, value in headers
    ]
    return dict(event, headers=fixed) if fixed != list(headers) else event


def _with_headers(event, headers):
    names = {name.lower() for name, _ in event.get("headers", [])}
    extra = [(n, v) for n, v in headers if n not in names]
    return dict(event, headers=list(event.get("headers", [])) + extra)


def _is_html(event) -> bool:
    return any(name.lower() == b"content-type" and value.startswith(b"text/html") for name, value in event.get("headers", []))


#: SQL functions refused on a public instance, each a single step Datasette's time
#: limit (which interrupts between steps) cannot stop. printf()/format() pad to any
#: width: `printf('%.*c', 1000000000, 'x')` holds a CPU for seconds. FTS5's snippet()
#: and highlight() work over a row's whole column, snippet() in time that grows with
#: the square of its matches (a 4 MB post of one word: over five minutes); the search
#: page and the concordance make theirs from a bounded window (site.local_fts).
DENIED_FUNCTIONS = frozenset({"printf", "format", "snippet", "highlight"})


#: sqlite3_limit() categories (sqlite3.h; the same numbers in every SQLite version).
SQLITE_LIMIT_LENGTH, SQLITE_LIMIT_SQL_LENGTH, SQLITE_LIMIT_LIKE_PATTERN_LENGTH = 0, 1, 8


def limit_connection(conn, max_value_bytes: int = MAX_VALUE_BYTES, max_sql_bytes: int = MAX_SQL_BYTES,
                     bounded: bool = True) -> None:
    """Cap what one SQL statement can allocate, refuse the functions whose work the
    time limit cannot interrupt, and (bounded) put the bounded string functions of
    newsarchive.site.bounded_sql in place of SQLite's own."""
    import sqlite3

    set_limit(conn, SQLITE_LIMIT_LENGTH, max_value_bytes)
    set_limit(conn, SQLITE_LIMIT_SQL_LENGTH, max_sql_bytes)
    set_limit(conn, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, bounded_sql.MAX_PATTERN_BYTES)

    def authorize(action, arg1, arg2, database, source):
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    conn.set_authorizer(authorize)
    if bounded:
        module = importlib.import_module(type(conn).__module__)
        bounded_sql.install(conn, bounded_sql.Native(module, limit_connection, max_value_bytes))


def set_limit(conn, category: int, value: int) -> None:
    """sqlite3_limit() on a connection of the standard library's sqlite3 or of pysqlite3.

    Python 3.11's sqlite3 has Connection.setlimit. pysqlite3 (the newer SQLite that
    Datasette and sqlite-utils use when it is installed: see pyproject.toml) has no
    such method, so its library's sqlite3_limit is called on the connection's handle,
    the first field after the object header of every pysqlite-derived Connection. A
    wrong guess must not leave a public instance uncapped: the limit is read back,
    and a value one byte over it must be refused, or the connection is refused.
    """
    setlimit = getattr(conn, "setlimit", None)
    if setlimit is not None:
        setlimit(category, value)
        return
    limit = _library_limit(type(conn))
    handle = ctypes.c_void_p.from_address(id(conn) + object.__basicsize__).value
    if not handle:
        raise RuntimeError(f"cannot cap {type(conn).__module__} connections: no database handle")
    limit(handle, category, value)
    if limit(handle, category, -1) != value or not _refuses(conn, category, value):
        raise RuntimeError(f"cannot cap {type(conn).__module__} connections: sqlite3_limit did not take")


@functools.lru_cache(maxsize=None)
def _library_limit(connection_type):
    limit = _library(connection_type.__module__).sqlite3_limit
    limit.argtypes, limit.restype = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int], ctypes.c_int
    return limit


def _library(module_name: str):
    """The SQLite library a driver module runs on: pysqlite3.dbapi2's is in the extension
    pysqlite3._sqlite3; the standard library's sqlite3 links it from _sqlite3."""
    package = module_name.split(".")[0]
    extension = "_sqlite3" if package == "sqlite3" else package + "._sqlite3"
    return ctypes.CDLL(importlib.import_module(extension).__file__)


def cap_sqlite_heap(module, max_bytes: int) -> int:
    """sqlite3_hard_heap_limit64 for the whole process: past it, SQLite's allocations fail
    and the query with them ("out of memory"). The value caps bound one value, not a
    row: a row of many 16 MB columns is built whole inside SQLite (and copied into
    Python) before any Python code sees it. Returns the limit in force."""
    limit = _library(module.__name__).sqlite3_hard_heap_limit64
    limit.argtypes, limit.restype = [ctypes.c_int64], ctypes.c_int64
    limit(max_bytes)
    return limit(-1)


def _refuses(conn, category: int, value: int) -> bool:
    """Does the connection refuse a value (or statement) one byte over the limit?"""
    try:
        if category == SQLITE_LIMIT_LENGTH:
            conn.execute("SELECT zeroblob(?)", (value + 1,)).fetchall()
        elif category == SQLITE_LIMIT_LIKE_PATTERN_LENGTH:
            conn.execute("SELECT '' LIKE hex(zeroblob(?))", ((value + 2) // 2,)).fetchall()
        else:
            conn.execute("SELECT 1" + " " * (value + 1 - len("SELECT 1"))).fetchall()
    except Exception as exc:  # the module's DataError/OperationalError: "too big" / "too long" / "too complex"
        return any(word in str(exc) for word in ("too big", "too long", "too complex"))
    return False
