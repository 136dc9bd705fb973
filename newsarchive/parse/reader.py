"""Read one file into a Post: bytes -> text -> frontmatter + body, or a PostError.

Everything here is pure (bytes in, Post or PostError out) so that it can run in a
worker process and be tested with parametrized cases.  Line numbers in errors are
lines of the file as an editor shows them, not of the stripped frontmatter.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from dataclasses import dataclass

import frontmatter

from .yaml_loader import MAX_DEPTH, Duplicate, LineProblem, YamlProblem
from .yamlsafe import load_frontmatter, plain_value

#: Files larger than this are refused: a news post is a few KB; tens of MB means a
#: pasted binary or a dump, and parsing it would stall the whole build.
MAX_BYTES = 5 * 1024 * 1024

#: python-frontmatter's own idea of a YAML fence line (`---`, optionally longer).
YAML_FENCE = frontmatter.YAMLHandler.FM_BOUNDARY
TOML_FENCE = re.compile(r"^\+{3}\s*$")
_YAML_END = re.compile(r"^\.{3}\s*$")
#: Characters an editor does not show, which a fence line may start with.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
_LINE = re.compile(r"[^\r\n]*(\r\n|\r|\n|$)")
#: The fences as re.M patterns, to find the closing one in one search (see read_post).
_FENCE_IN_TEXT = {"---": YAML_FENCE, "+++": re.compile(TOML_FENCE.pattern, re.M)}


class PostError(LineProblem):
    """A post that cannot be built, with the 1-based line in the file when known."""

    def __str__(self):
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclass
class Post:
    """A post as written: its frontmatter values, its body text, and how it was stored."""

    path: str
    sha256: str
    meta: dict
    key_lines: dict  # frontmatter key -> 1-based line in the file
    body: str  # exactly as in the file (original line endings)
    body_line: int  # 1-based line where the body starts
    frontmatter_text: str = ""  # the frontmatter between the fences, as written
    fence: str = "---"
    encoding: str = "utf-8"  # utf-8, utf-8-sig (BOM) or utf-16
    newline: str = "\n"
    fence_lines: tuple = ()  # the opening and closing fence lines as written (`---`, `----  `)
    #: Keys written twice, whose last value `meta` holds: the earlier values, with file lines.
    duplicates: tuple[Duplicate, ...] = ()

    @property
    def body_lf(self) -> str:
        """The body with every line ending as LF, for the Markdown parser."""
        return self.body.replace("\r\n", "\n").replace("\r", "\n")


def _line_at(data: str | bytes, offset: int) -> int:
    """1-based line of `offset`, counting CRLF, CR and LF each as one line break.

    The same rule as `_lines`, so that an error in a file saved with old Mac (CR
    only) line endings names the line an editor shows, not line 1.
    """
    head = data[:offset]
    lf, cr = ("\n", "\r") if isinstance(head, str) else (b"\n", b"\r")
    return head.count(lf) + head.count(cr) - head.count(cr + lf) + 1


def decode(data: bytes) -> tuple[str, str]:
    """Decode post bytes; return (text, encoding) or raise PostError with a line.

    The NUL check applies to every encoding: a UTF-16 file can hold U+0000 too, and
    a NUL in a text column cuts it short for SQLite's functions and the search index.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            # The line of the bad code unit, as an editor that reads UTF-16 shows it.
            good = data[: exc.start - exc.start % 2].decode("utf-16", "replace")
            line = _line_at(good, len(good))
            raise PostError(f"not valid UTF-16 ({exc.reason})", line) from None
    else:
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            start = exc.start + (3 if encoding == "utf-8-sig" else 0)
            line = _line_at(data, start)
            bad = data[start : start + 1].hex()
            raise PostError(
                f"not valid UTF-8 (byte 0x{bad} cannot start or continue a character); "
                "re-save the file as UTF-8",
                line,
            ) from None
    nul = text.find("\x00")
    if nul >= 0:
        line = _line_at(text, nul)
        hint = "a binary file, or UTF-16 without a BOM?" if encoding != "utf-16" else "a binary file?"
        raise PostError(f"contains a NUL character: {hint}", line)
    return text, encoding


def _lines(text: str):
    """Yield (start, end_of_content, end_with_newline) for each line of any ending."""
    pos = 0
    n = len(text)
    while pos < n:
        m = _LINE.match(text, pos)
        yield pos, m.start(1), m.end()
        if m.end() == pos:
            break
        pos = m.end()


def read_post(path: str, data: bytes) -> Post:
    """Turn one file's bytes into a Post; `path` is only used to name it."""
    if len(data) > MAX_BYTES:
        raise PostError(
            f"file is {len(data) / 1048576:.1f} MB, over the {MAX_BYTES // 1048576} MB cap for one post "
            "(a post that large is a pasted binary or a dump, not an article)"
        )
    sha = hashlib.sha256(data).hexdigest()
    text, encoding = decode(data)
    if not text.strip():
        raise PostError("file is empty")
    spans = _lines(text)
    start, end, after = next(spans)
    first = text[start:end]
    fence_kind = _opening_fence(first)
    close_line, fm_end, body_start = _closing_fence(text, after, spans, fence_kind)
    fm_text = text[after:fm_end]
    meta, key_lines, duplicates = _parse_frontmatter(fence_kind, fm_text.replace("\r\n", "\n").replace("\r", "\n"))
    return Post(
        path=path,
        sha256=sha,
        meta=meta,
        key_lines=key_lines,
        body=text[body_start:],
        body_line=close_line + 1,
        frontmatter_text=fm_text,
        fence=fence_kind,
        encoding=encoding,
        newline=text[end:after] or "\n",
        fence_lines=(first, text[fm_end:body_start].rstrip("\r\n")),
        duplicates=duplicates,
    )


def _opening_fence(first: str) -> str:
    """The fence the first line opens (`---` or `+++`), or a PostError that says why not."""
    if YAML_FENCE.match(first):
        return "---"
    if TOML_FENCE.match(first):
        return "+++"
    message = "no frontmatter: the first line must be '---' (YAML) or '+++' (TOML)"
    visible = first.lstrip(_INVISIBLE)
    if visible != first and (YAML_FENCE.match(visible) or TOML_FENCE.match(visible)):
        # e.g. a second byte-order mark added by a tool that did not see the first.
        message += f"; it starts with an invisible U+{ord(first[0]):04X} character before the fence"
    raise PostError(message, 1)


def _closing_fence(text: str, fm_start: int, spans, fence_kind: str) -> tuple[int, int, int]:
    """(line, start, end with its line break) of the fence that closes the frontmatter
    starting at `fm_start`; `spans` yields the lines after the opening one."""
    if "\r" not in text:
        # LF line endings only: a line is what `^` and `$` see in re.M, so one search
        # finds the closing fence (a loop over lines cost ~30 us a post).
        found = _FENCE_IN_TEXT[fence_kind].search(text, fm_start)
        if found:
            start = found.start()
            next_line = text.find("\n", start)
            return text.count("\n", 0, start) + 1, start, len(text) if next_line < 0 else next_line + 1
    fence_rx = YAML_FENCE if fence_kind == "---" else TOML_FENCE
    dots = None
    for number, (start, end, after) in enumerate(spans, start=2):
        if fence_rx.match(text[start:end]):
            return number, start, after
        if dots is None and fence_kind == "---" and _YAML_END.match(text[start:end]):
            dots = number
    if dots is not None:
        # YAML's own document end; Jekyll and this reader only close with '---'.
        raise PostError(
            f"frontmatter opened with '---' on line 1 is closed with '...' on line {dots}; close it with '---'",
            dots,
        )
    raise PostError(f"frontmatter opened with '{fence_kind}' on line 1 is never closed", 1)


def _parse_frontmatter(fence_kind: str, fm_lf: str) -> tuple[dict, dict, tuple[Duplicate, ...]]:
    """(meta, key_lines, duplicates) of the frontmatter text, with LF line endings;
    lines are file lines."""
    if fence_kind == "+++":
        return _load_toml(fm_lf)
    try:
        parsed = load_frontmatter(fm_lf)
    except YamlProblem as exc:
        line = None if exc.line is None else exc.line + 2
        raise PostError(exc.message, line if line is not None else 2) from None
    key_lines = {k: (v + 2 if v is not None else None) for k, v in parsed.key_lines.items()}
    return parsed.data, key_lines, tuple(d.moved(2) for d in parsed.duplicates)


def _load_toml(text: str) -> tuple[dict, dict, tuple[Duplicate, ...]]:
    """Parse TOML frontmatter with the same bounds the YAML loader applies.

    tomllib recurses into nested arrays and inline tables and calls int() on any
    run of digits, so a hostile file raises RecursionError or ValueError (over
    Python's 4300-digit limit): both become a PostError with a line here. A key
    written twice in one table, which TOML forbids, keeps its last value as YAML's do.
    """
    duplicates = ()
    try:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            if not str(exc).startswith("Cannot overwrite a value"):
                raise
            last_wins = _toml_last_wins(text)
            if last_wins is None:
                raise
            text, duplicates = last_wins
            data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+)", str(exc))
        line = int(m.group(1)) + 1 if m else 2
        raise PostError(f"TOML: {str(exc).split(' (at line')[0]}", line) from None
    except RecursionError:
        raise PostError(f"TOML: nested too deeply to parse (over {MAX_DEPTH} levels)", 2) from None
    except ValueError as exc:
        long_number = re.search(r"\d{4000,}", text)
        if long_number is None:
            raise PostError(f"TOML: {exc}", 2) from None
        line = text.count("\n", 0, long_number.start()) + 2
        raise PostError("TOML: a number too long to read (thousands of digits)", line) from None
    key_lines = {}
    for number, line in enumerate(text.split("\n"), start=2):
        m = re.match(r"\s*([A-Za-z0-9_-]+)\s*=", line)
        if m:
            key_lines.setdefault(m.group(1), number)
    try:
        meta = {k: plain_value(_toml_plain(v, key_lines.get(k)), key_lines.get(k)) for k, v in data.items()}
        duplicates = tuple(d._replace(value=plain_value(_toml_plain(d.value, d.line), d.line)) for d in duplicates)
    except YamlProblem as exc:
        raise PostError(exc.message, exc.line) from None
    return meta, {k: key_lines.get(k) for k in meta}, duplicates


#: A TOML line that starts a key's value (`key =`, `"a b" =`, `a.b =`) or a table (`[a]`, `[[a]]`).
_TOML_KEY = re.compile(r"""\s*((?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"\n]*"|'[^'\n]*'))*)\s*=""")
_TOML_TABLE = re.compile(r"\s*\[")
_TOML_KEY_PART = re.compile(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)')


def _toml_last_wins(text: str) -> tuple[str, list[Duplicate]] | None:
    """The TOML text with each key written twice in one table kept at its last
    statement only (the earlier ones blanked, so lines keep their numbers), and the
    earlier values; None when no such key explains tomllib's refusal.

    A statement runs from a line that starts a key or a table to the next one, and
    grows over the next until it parses on its own, so a multi-line string or array
    holding `x = 1` is one statement.
    """
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if _TOML_KEY.match(line) or _TOML_TABLE.match(line)]
    written: dict[tuple, list] = {}
    table: tuple = ()
    index = 0
    while index < len(starts):
        first, index = starts[index], index + 1
        while True:
            end = starts[index] if index < len(starts) else len(lines)
            statement = "\n".join(lines[first:end])
            if index >= len(starts) or _parses(statement) is not None:
                break
            index += 1
        key = _TOML_KEY.match(lines[first])
        if key is None:
            table = (first, lines[first].strip())  # each `[[a]]` begins a table of its own
            continue
        parts = tuple(next(p for p in m.groups() if p is not None) for m in _TOML_KEY_PART.finditer(key.group(1)))
        written.setdefault((table, parts), []).append((first, end, statement, key.group(1)))
    duplicates = []
    for (_, parts), statements in written.items():
        kept_line = statements[-1][0] + 2
        for first, end, statement, name in statements[:-1]:
            value = _parses(statement)
            if value is None:
                return None
            for part in parts:
                value = value[part]
            duplicates.append(Duplicate(name, first + 2, kept_line, value))
            lines[first:end] = [""] * (end - first)
    if not duplicates:
        return None
    return "\n".join(lines), sorted(duplicates, key=lambda d: d.line)


def _parses(statement: str) -> dict | None:
    try:
        return tomllib.loads(statement)
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None


def _toml_plain(value, line, depth=0):
    """TOML values as plain data, refused past MAX_DEPTH like YAML frontmatter."""
    if depth > MAX_DEPTH:
        raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", line)
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return [_toml_plain(v, line, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _toml_plain(v, line, depth + 1) for k, v in value.items()}
    return value
