"""Headers and limits for a public instance (used by plugins/news_security.py).

The Content-Security-Policy allows scripts only from the site itself plus the exact
inline scripts Datasette's own templates contain (by SHA-256 hash). An inline script
or event handler that slipped into a post would therefore not run even if sanitising
missed it: defence in depth behind bleach.
"""
from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

#: Largest string or blob any SQL expression may build (bytes): a post is capped at
#: 5 MB, so 16 MB leaves room while `randomblob(1e9)` / `zeroblob(1e9)` fail at once.
MAX_VALUE_BYTES = 16 * 1024 * 1024
#: Longest SQL text accepted.
MAX_SQL_BYTES = 100_000

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_TEMPLATE_VAR = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def inline_script_hashes(templates_dir: Path) -> list[str]:
    """CSP hash sources for the inline <script> blocks of Datasette's templates.

    A block holding `{{ name }}` is hashed for both `true` and `false` (the one such
    block, DATASETTE_ALLOW_FACET, is a boolean); blocks with other template logic
    are left out and would be refused by the browser.
    """
    hashes = set()
    for template in sorted(Path(templates_dir).glob("*.html")):
        for body in _INLINE_SCRIPT.findall(template.read_text(encoding="utf-8")):
            if "{%" in body:
                continue
            variants = [body]
            if _TEMPLATE_VAR.search(body):
                variants = [_TEMPLATE_VAR.sub(value, body) for value in ("true", "false")]
            for variant in variants:
                digest = base64.b64encode(hashlib.sha256(variant.encode("utf-8")).digest()).decode()
                hashes.add(f"'sha256-{digest}'")
    return sorted(hashes)


def content_security_policy(script_hashes: list[str]) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(script_hashes),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' https: data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(script_hashes: list[str]) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-security-policy", content_security_policy(script_hashes).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
    ]


def limit_connection(conn, max_value_bytes: int = MAX_VALUE_BYTES, max_sql_bytes: int = MAX_SQL_BYTES) -> None:
    """Cap what one SQL statement can allocate (Python 3.11+ sqlite3.Connection.setlimit)."""
    import sqlite3

    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max_value_bytes)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, max_sql_bytes)
