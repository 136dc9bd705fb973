"""Safe, bounded YAML for frontmatter: the values the author meant, nothing executed.

load_frontmatter reads most frontmatter (a key and a text value a line) without a
YAML parser; the rest goes to libyaml with the archive's constructor and resolver
when it cannot nest deep enough to strain libyaml, else to the pure-Python
ArchiveLoader, whose limits hold for any input and whose messages are the reference
(see yaml_loader for what the loader reads differently from PyYAML's). Either way
the values come out as plain JSON-safe data (plain_value), which TOML frontmatter
goes through too.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import math
import re
from dataclasses import dataclass

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .yaml_loader import (
    MAX_DEPTH, MAX_NODES, ArchiveLoader, ArchiveResolver, Duplicate, FastArchiveLoader, YamlProblem, has_surrogate,
    measure_graph,
)

#: Frontmatter this small, with this few flow brackets, cannot nest deep enough to
#: strain libyaml's recursive composer (block nesting costs indentation per level).
FAST_MAX_CHARS = 65_536
FAST_MAX_BRACKETS = 64


def _fast_path_ok(text: str) -> bool:
    return (
        FastArchiveLoader is not None
        and len(text) <= FAST_MAX_CHARS
        and text.count("[") + text.count("{") <= FAST_MAX_BRACKETS
    )


@dataclass
class Frontmatter:
    """A parsed frontmatter mapping, the 0-based YAML line of each top-level key (of
    its last value, where a key is written twice), and the earlier values of keys
    written twice, in line order."""

    data: dict
    key_lines: dict
    duplicates: tuple[Duplicate, ...] = ()


#: Characters YAML 1.1 (and so PyYAML) reads as line breaks but editors and this
#: reader do not: inside a value they would silently split it into a new key.
_YAML_ONLY_BREAKS = re.compile("[\x85\u2028\u2029]")
_BREAK_NAMES = {"\x85": "NEXT LINE", "\u2028": "LINE SEPARATOR", "\u2029": "PARAGRAPH SEPARATOR"}


def _problem_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is not None:
        return mark.line
    # ReaderError (a character YAML does not allow) carries a character offset.
    position = getattr(exc, "position", None)
    return position


def _describe(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return f"character {char!r} (U+{ord(char):04X}) is not allowed in YAML frontmatter"
    problem = getattr(exc, "problem", None) or ""
    if "'\\t'" in problem:
        # PyYAML says "found character '\t' that cannot start any token".
        return "YAML: a tab character where YAML allows only spaces (indent with spaces, not tabs)"
    parts = [p for p in (getattr(exc, "context", None), problem) if p]
    text = "; ".join(parts) or str(exc)
    if "could not determine a constructor" in text:
        text = "unsupported YAML tag: " + text.split("tag", 1)[-1].strip(" '")
    return "YAML: " + text


_STR = "tag:yaml.org,2002:str"

#: One line of the simplest frontmatter, the specimen's: a plain key, then a
#: double-quoted value with no escape but \" and \\ and no character YAML refuses
#: or reads as a break, or a plain value of one word (no `#`, no trailing `:`),
#: then spaces.
_QUOTABLE = r'[^"\\\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]*'
_SIMPLE_LINE = re.compile(
    rf'([A-Za-z_][A-Za-z0-9_-]*): +(?:"({_QUOTABLE}(?:\\["\\]{_QUOTABLE})*)"'
    r"|([A-Za-z0-9_][A-Za-z0-9_.:+/-]*(?<!:))) *"
)
#: The two escapes _SIMPLE_LINE lets through: \" and \\.
_SIMPLE_ESCAPE = re.compile(r'\\(["\\])')
_RESOLVER = ArchiveResolver()


@functools.lru_cache(maxsize=4096)
def _plain_is_text(word: str) -> bool:
    """Whether a plain scalar reads as text (keys and words like `post` repeat across posts)."""
    return _RESOLVER.resolve(ScalarNode, word, (True, False)) == _STR


def _simple_mapping(text: str) -> Frontmatter | None:
    """Frontmatter read without a YAML parser when every line is a _SIMPLE_LINE.

    That is most frontmatter, and what it means is plain: the quoted text as written,
    or the word with the tag our resolver gives it. Anything else (a number, true,
    null, a duplicate key, a comment, a list, another line ending) returns None for
    the YAML parser to decide; a property test checks that both read alike.
    """
    data, lines = {}, {}
    for number, line in enumerate(text.split("\n")):
        m = _SIMPLE_LINE.fullmatch(line)
        if m is None:
            if line.strip(" "):
                return None
            continue
        key, quoted, word = m.groups()
        if key in data or not _plain_is_text(key):
            return None
        if quoted is None:
            if not _plain_is_text(word):
                return None
            quoted = word
        elif "\\" in quoted:
            quoted = _SIMPLE_ESCAPE.sub(r"\1", quoted)
        data[key] = quoted
        lines[key] = number
        if 2 * len(data) + 1 > MAX_NODES:  # the parser refuses it, and says why
            return None
    if not data:
        return None
    return Frontmatter(data, lines)


def load_frontmatter(text: str) -> Frontmatter:
    """Parse YAML frontmatter text into a plain mapping, or raise YamlProblem (its
    line 0-based within `text`)."""
    simple = _simple_mapping(text)
    if simple is not None:
        return simple
    if _fast_path_ok(text):
        try:
            return _load(text, FastArchiveLoader)
        except Exception:
            pass  # the pure-Python loader decides, and words the message
    return _load(text, ArchiveLoader)


def _load(text: str, loader_class) -> Frontmatter:
    """Frontmatter read with `loader_class`; any failure is a YamlProblem with its line."""
    odd_break = _YAML_ONLY_BREAKS.search(text)
    if odd_break:
        char = odd_break.group()
        raise YamlProblem(
            f"character U+{ord(char):04X} ({_BREAK_NAMES[char]}) in the frontmatter: YAML would read it as a "
            "line break and split the value; delete it (or write it as an escape in a double-quoted string)",
            text.count("\n", 0, odd_break.start()),
        )
    loader = None
    try:
        loader = loader_class(text)
        return _read_mapping(loader)
    except YamlProblem:
        raise
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) if exc.position is not None else None
        raise YamlProblem(_describe(exc), line) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(_describe(exc), _problem_line(exc)) from None
    except RecursionError:
        raise YamlProblem(f"nested too deeply to parse (over {MAX_DEPTH} levels)") from None
    finally:
        if loader is not None:
            loader.dispose()


def _read_mapping(loader) -> Frontmatter:
    """The document's top-level mapping as plain values, each key with its line."""
    node = loader.get_single_node()
    if node is None:
        return Frontmatter({}, {})
    if not isinstance(node, MappingNode):
        kind = "a list" if isinstance(node, SequenceNode) else "a single value"
        raise YamlProblem(f"frontmatter is {kind}, not a mapping of keys to values", node.start_mark.line)
    flat = _flat_text_mapping(node)
    if flat is not None:
        data, key_lines = flat
        return Frontmatter({k: plain_value(v, key_lines[k]) for k, v in data.items()}, key_lines)
    measure_graph(node)
    # Before construction, which prepends merged (`<<:`) pairs to node.value. A key
    # written twice is on the line of its last value, the one kept.
    key_lines = {}
    for key_node, _ in node.value:
        if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key_lines[key_node.value] = key_node.start_mark.line
    data = loader.construct_document(node)
    duplicates = sorted(loader.duplicates, key=lambda d: d.line)
    return Frontmatter(
        {key: plain_value(value, key_lines.get(key)) for key, value in data.items()},
        {key: key_lines.get(key) for key in data},
        tuple(d._replace(value=plain_value(d.value, d.line)) for d in duplicates),
    )


def _flat_text_mapping(node: MappingNode) -> tuple[dict, dict] | None:
    """Keys to text, read straight off the composed nodes; None for anything else.

    Most frontmatter is exactly this (the specimen is), and the constructor's
    generality (merges, tags, aliases to collections, per-node method dispatch) costs
    more than libyaml's parse. Whatever this passes over (a duplicate key, a key no
    database could store, a number, a list) takes the general path below, which
    decides and words the message.
    """
    pairs = node.value
    if 2 * len(pairs) + 1 > MAX_NODES:
        return None
    data, lines = {}, {}
    for key_node, value_node in pairs:
        if (
            key_node.__class__ is not ScalarNode
            or value_node.__class__ is not ScalarNode
            or key_node.tag != _STR
            or value_node.tag != _STR
        ):
            return None
        key = key_node.value
        if key in data or "\x00" in key or has_surrogate(key):
            return None
        data[key] = value_node.value
        lines[key] = key_node.start_mark.line
    return data, lines


def plain_value(value, line):
    """Turn a constructed YAML value into JSON-safe data without losing what it said."""
    if isinstance(value, str):
        if has_surrogate(value):
            raise YamlProblem("a value holds a lone surrogate (invalid Unicode escape)", line)
        if "\x00" in value:
            # A NUL written as an escape ("\0"): SQLite's text functions and the
            # full-text index stop reading at it, so the rest would vanish from search.
            raise YamlProblem("a value holds a NUL character (a \"\\0\" escape?)", line)
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        # SQLite and JSON consumers cannot hold integers past 64 bits: keep the digits.
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (set, frozenset)):
        return [plain_value(v, line) for v in sorted(value, key=repr)]
    if isinstance(value, (list, tuple)):
        return [plain_value(v, line) for v in value]
    if isinstance(value, dict):
        # Keys are text already: ArchiveConstructor.key_text reads YAML's as written, TOML's are.
        return {k: plain_value(v, line) for k, v in value.items()}
    return str(value)
