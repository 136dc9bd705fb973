"""SQL functions whose cost is string length x pattern length, registered under their
own names so that one call cannot outlast the time limit.

Datasette's time limit is a progress handler, which SQLite only calls between steps:
`instr(hex(zeroblob(800000)), hex(zeroblob(400000))||'1')` is one step of 16-21 s in
SQLite's own instr (it compares the needle at every offset). The replacements give the
same answers in time linear in their arguments where Python can (str.find, str.replace
and str.count are linear for any needle), and otherwise hand the call to SQLite's own
function on a plain connection once `len(a) * len(b)` is under MAX_STEPS. Every call
also stops once the query is past its time limit, so that a row of many calls stops
too. A refusal is an error saying which bound was passed.

Replaced: instr(X,Y), replace(X,Y,Z), like(P,X), like(P,X,E) (the LIKE operator),
glob(P,X) (GLOB), trim/ltrim/rtrim(X,Y), unhex(X,Y). Their one-argument forms are
linear and stay SQLite's. Text that is not valid UTF-8 (only SQL can make it:
char() of a surrogate, a blob cast to text) reaches these functions as NULL, the
driver's rule for the arguments of a Python function.
"""
from __future__ import annotations

import threading

from .limits import Refused, current_job

#: Longest LIKE or GLOB pattern, in bytes (SQLITE_LIMIT_LIKE_PATTERN_LENGTH; SQLite's
#: default is 50,000).
MAX_PATTERN_BYTES = 2_000
#: Largest len(a) * len(b) handed to SQLite's own function: its slowest (trim, LIKE
#: with `_`) does 100-200 million such steps a second, so one call stays under 0.2 s.
MAX_STEPS = 20_000_000

_native = threading.local()


def _refuse(message: str) -> Refused:
    job = current_job()
    return job.refuse(message) if job is not None else Refused(message)


def _check_time() -> None:
    job = current_job()
    if job is not None and job.over_time():
        raise _refuse("SQL query took too long: it passed the time limit inside a string function")


def _text(value) -> str | None:
    """The argument as SQLite's text would be, when Python spells it the same: text,
    and integers; None for reals and blobs, which go to SQLite's own function."""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return None


def _size(value) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 32


class Native:
    """SQLite's own functions, on a plain in-memory connection of the same driver (one
    per thread), with the value caps of the served connections."""

    def __init__(self, module, limit_connection, max_value_bytes: int):
        self.module = module
        self.limit_connection = limit_connection
        #: Longest text a replacement may build (characters: never fewer than its bytes).
        self.max_chars = max_value_bytes

    def call(self, name: str, *args):
        steps = _size(args[0]) * max(1, _size(args[1]))
        if steps > MAX_STEPS:
            raise _refuse(
                f"{name}() refused: {_size(args[0]):,} x {_size(args[1]):,} characters is past the bound of "
                f"{MAX_STEPS:,} for one call (shorten the text or the pattern)"
            )
        conn = getattr(_native, "conn", None)
        if conn is None or getattr(_native, "module", None) is not self.module:
            conn = self.module.connect(":memory:", check_same_thread=False)
            conn.text_factory = lambda b: str(b, "utf-8", "replace")
            self.limit_connection(conn, self.max_chars, bounded=False)
            _native.conn, _native.module = conn, self.module
        placeholders = ", ".join("?" * len(args))
        try:
            return conn.execute(f"select {name}({placeholders})", args).fetchone()[0]
        except self.module.Error as error:  # e.g. "ESCAPE expression must be a single character"
            raise _refuse(str(error)) from None


def _ascii_lower(text: str) -> str:
    """Lower case as SQLite's LIKE folds it: ASCII letters only (UTF-8 never holds an
    ASCII byte inside a multi-byte character, so bytes.lower does exactly that)."""
    if text.isascii():
        return text.lower()
    return text.encode("utf-8", "surrogatepass").lower().decode("utf-8", "surrogatepass")


def _matches(parts: list[str], value: str) -> bool:
    """Does value match the literal parts joined by `%` (LIKE) or `*` (GLOB)?

    The first part is a prefix, the last a suffix, and the ones between are found
    leftmost, in order, between them: with literal parts the leftmost choice never
    loses a match. Linear in len(value), whatever the pattern.
    """
    if len(parts) == 1:
        return value == parts[0]
    first, *middle, last = parts
    end = len(value) - len(last)
    if end < len(first) or not value.startswith(first) or not value.endswith(last):
        return False
    position = len(first)
    for part in middle:
        if part:
            found = value.find(part, position, end)
            if found < 0:
                return False
            position = found + len(part)
    return True


def _pattern_bytes(pattern: str) -> None:
    if len(pattern) > MAX_PATTERN_BYTES or len(pattern.encode("utf-8", "surrogatepass")) > MAX_PATTERN_BYTES:
        raise _refuse(f"LIKE or GLOB pattern too complex: longer than {MAX_PATTERN_BYTES:,} bytes")


class Bounded:
    """The bounded functions, each falling back on SQLite's own (`native`)."""

    def __init__(self, native: Native):
        self.native = native

    def instr(self, haystack, needle):
        _check_time()
        if haystack is None or needle is None:
            return None
        if isinstance(haystack, bytes) and isinstance(needle, bytes):
            return haystack.find(needle) + 1
        h, n = _text(haystack), _text(needle)
        if h is None or n is None:
            return self.native.call("instr", haystack, needle)
        return h.find(n) + 1

    def replace(self, value, old, new):
        _check_time()
        if value is None or old is None:
            return None
        v, o, n = _text(value), _text(old), _text(new)
        if v is None or o is None or (n is None and new is not None):
            return self.native.call("replace", value, old, new)
        if not o:  # SQLite 3.51: the value as text, whatever the replacement
            return v
        if n is None:
            return None
        if len(v) + v.count(o) * (len(n) - len(o)) > self.native.max_chars:
            raise OverflowError("string or blob too big")  # the driver reports SQLITE_TOOBIG
        return v.replace(o, n)

    def like(self, pattern, value):
        _check_time()
        if pattern is None or value is None:
            return None
        p, v = _text(pattern), _text(value)
        if p is None or v is None or "_" in p:
            return self.native.call("like", pattern, value)
        _pattern_bytes(p)
        return int(_matches(_ascii_lower(p).split("%"), _ascii_lower(v)))

    def like_escape(self, pattern, value, escape):
        _check_time()
        if isinstance(pattern, str):
            _pattern_bytes(pattern)
        return self.native.call("like", pattern, value, escape)

    def glob(self, pattern, value):
        _check_time()
        if pattern is None or value is None:
            return None
        p, v = _text(pattern), _text(value)
        if p is None or v is None or "?" in p or "[" in p:
            return self.native.call("glob", pattern, value)
        _pattern_bytes(p)
        return int(_matches(p.split("*"), v))

    def trimmer(self, name: str, strip):
        """trim/ltrim/rtrim(X, Y): Python's strip looks each character up in the set,
        so the set is made distinct first and its size bounded."""

        def trim(value, chars):
            _check_time()
            if value is None or chars is None:
                return None
            v, c = _text(value), _text(chars)
            if v is None or c is None:
                return self.native.call(name, value, chars)
            distinct = c if len(v) * len(c) <= MAX_STEPS else "".join(set(c))
            if len(v) * len(distinct) > MAX_STEPS:
                raise _refuse(
                    f"{name}() refused: {len(v):,} characters x a set of {len(distinct):,} is past the bound of "
                    f"{MAX_STEPS:,} for one call"
                )
            return strip(v, distinct)

        return trim

    def unhex(self, value, ignored):
        _check_time()
        return self.native.call("unhex", value, ignored)

    def functions(self) -> dict[tuple[str, int], object]:
        """(name, number of arguments) -> the bounded function."""
        return {
            ("instr", 2): self.instr,
            ("replace", 3): self.replace,
            ("like", 2): self.like,
            ("like", 3): self.like_escape,
            ("glob", 2): self.glob,
            ("trim", 2): self.trimmer("trim", str.strip),
            ("ltrim", 2): self.trimmer("ltrim", str.lstrip),
            ("rtrim", 2): self.trimmer("rtrim", str.rstrip),
            ("unhex", 2): self.unhex,
        }


def install(conn, native: Native) -> None:
    """Register the bounded functions on a connection, over SQLite's own (unhex only
    where SQLite has it: 3.41 and later)."""
    has_unhex = native.module.sqlite_version_info >= (3, 41)
    for (name, narg), fn in Bounded(native).functions().items():
        if name != "unhex" or has_unhex:
            conn.create_function(name, narg, fn, deterministic=True)
