"""Safe, bounded YAML for frontmatter: the values the author meant, nothing executed.

PyYAML's SafeLoader still speaks YAML 1.1, where `no` is False, `01234` is the octal
number 668, `1:30` is the sexagesimal number 90 and an unquoted date becomes a
datetime.  Post authors mean text in all those cases, so this loader resolves plain
scalars with the YAML 1.2 core schema instead (decimal integers only), keeps
timestamps and keys as the text written, rejects unknown tags (`!!python/object`
and friends), refuses duplicate keys, bounds the nodes and nesting it composes, and
measures the expanded size of the node graph before constructing it, so that an
alias bomb (a few hundred bytes that expand to gigabytes) is refused cheaply.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import math
import re
from dataclasses import dataclass

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

#: Most values (scalars, list items, mapping entries) one frontmatter may expand to.
MAX_NODES = 20_000
#: Most characters all expanded scalars may hold together.
MAX_CHARS = 2_000_000
#: Deepest nesting of lists and mappings accepted.
MAX_DEPTH = 32

_DROPPED = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}


class YamlProblem(Exception):
    """A frontmatter problem with the 0-based line inside the YAML text, when known."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


class ArchiveConstructor(yaml.constructor.SafeConstructor):
    """SafeConstructor with text keys, duplicate-key detection and YAML 1.2 numbers.

    `line_offset` is the number of file lines before the YAML text (the `---` fence),
    so that messages which name a second line ("first at line 2") use file lines too.
    """

    line_offset = 0

    def construct_object(self, node, deep=False):
        """A value its explicit tag cannot hold (`!!int abc`, `!!bool maybe`,
        `!!timestamp 2024-02-30`) is a YAML error at its line; PyYAML would raise a
        bare ValueError, KeyError or AttributeError, which says nothing to an author."""
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError):
            shown = node.value if isinstance(node, ScalarNode) else node.id
            if isinstance(shown, str) and len(shown) > 40:
                shown = shown[:40] + "..."
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise ConstructorError(None, None, f"{shown!r} is not a valid {tag} value", node.start_mark) from None

    def key_text(self, node) -> str:
        """The text of a mapping key as written: `1:` is "1", `true:` is "true".

        Constructing keys as values would make `1:` and `true:` (or `1:` and `1.0:`)
        one Python dict key, silently dropping one of the two entries, and would let
        `1:` and `"1":` both through as two JSON keys "1".  Keys are text in the
        database, so they are compared and stored as text.
        """
        if not isinstance(node, ScalarNode):
            raise ConstructorError(
                None, None, f"a {'list' if isinstance(node, SequenceNode) else 'mapping'} is used as a key; "
                "keys must be plain text", node.start_mark,
            )
        self.construct_object(node)  # an unknown tag on a key is refused like anywhere else
        if has_surrogate(node.value):
            raise ConstructorError(None, None, "a key holds a lone surrogate (invalid Unicode escape)", node.start_mark)
        if "\x00" in node.value:
            raise ConstructorError(None, None, "a key holds a NUL character", node.start_mark)
        return node.value

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f"expected a mapping node, but found {node.id}", node.start_mark)
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.key_text(key_node)
            if key in seen:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (first at line {seen[key].line + 1 + self.line_offset})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        self.flatten_mapping(node)
        # Merged (`<<: *base`) pairs come first, so keys written here override them.
        mapping = {}
        for key_node, value_node in node.value:
            mapping[self.key_text(key_node)] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_int(self, node):
        text = self.construct_scalar(node)
        digits = text.replace("_", "")
        if re.fullmatch(r"[-+]?[0-9]+", digits):
            if len(digits.lstrip("+-")) > 19:
                # Past 64 bits (and past Python's 4300-digit int() limit): the digits as written.
                return text
            return int(digits, 10)
        return int(digits, 0)

    def construct_yaml_float(self, node):
        text = self.construct_scalar(node)
        value = text.lower().replace("_", "")
        if value.endswith("nan"):
            return math.nan
        if value.endswith("inf"):
            return -math.inf if value.startswith("-") else math.inf
        number = float(value)
        # `1e400` overflows a double: "Infinity" would not be what was written.
        return text if math.isinf(number) else number


class ArchiveResolver(yaml.resolver.Resolver):
    """YAML 1.2 core-schema resolution of plain scalars (see the module docstring)."""


ArchiveResolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ArchiveResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
ArchiveResolver.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    # Decimal only: `0o17` or `0x1F` in a post is a code or a colour, and the number
    # (15, 31) would not say what was written; they stay text like `01234`.
    re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"),
    list("-+0123456789"),
)
ArchiveResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
ArchiveConstructor.add_constructor("tag:yaml.org,2002:int", ArchiveConstructor.construct_yaml_int)
ArchiveConstructor.add_constructor("tag:yaml.org,2002:float", ArchiveConstructor.construct_yaml_float)




class ArchiveLoader(
    yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
    ArchiveConstructor, ArchiveResolver,
):
    """The pure-Python loader: bounded while composing, so any input is safe."""

    _composed = 0
    _depth = 0

    def __init__(self, stream):
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        ArchiveConstructor.__init__(self)
        ArchiveResolver.__init__(self)

    def compose_node(self, parent, index):
        """Count and nest-check nodes while they are composed, not afterwards.

        A 5 MB frontmatter of plain values would otherwise take a minute to compose
        before `_measure` refuses it, and very deep flow nesting (`[[[[...`) would
        end in a RecursionError with no line.  Stopping at the limit keeps the cost
        bounded by the limits, whatever the size of the file.
        """
        self._composed += 1
        if self._composed > MAX_NODES:
            raise YamlProblem(
                f"frontmatter holds more than {MAX_NODES:,} values (a post's frontmatter holds a few dozen)",
                self.peek_event().start_mark.line,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH + 1:
                raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark.line)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1



if yaml.__with_libyaml__:

    from yaml._yaml import CParser

    class FastArchiveLoader(CParser, ArchiveConstructor, ArchiveResolver):
        """libyaml's parser with our constructor and resolver: about ten times faster.

        libyaml composes in C without our node and depth bounds, so it only gets
        frontmatter that cannot hold deep nesting (see _fast_path_ok); anything it
        rejects is parsed again by ArchiveLoader, whose messages are the reference.
        """

        def __init__(self, stream):
            CParser.__init__(self, stream)
            ArchiveConstructor.__init__(self)
            ArchiveResolver.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml
    FastArchiveLoader = None

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
    """A parsed frontmatter mapping and the 0-based YAML line of each top-level key."""

    data: dict
    key_lines: dict


def _measure(node) -> None:
    """Refuse graphs that expand too far, nest too deep, or refer to themselves.

    Aliases make the node graph a DAG whose expansion can be exponential; memoising
    the expanded size per node keeps this check linear in the size of the source.
    The memo also keeps each node's height, because an alias can place a deep
    anchored value deep inside another one: `compose_node` only sees the nesting
    as written, and the constructed value would otherwise nest past MAX_DEPTH.
    """
    sizes: dict[int, tuple[int, int, int]] = {}
    in_progress: set[int] = set()

    def visit(n, depth, parent=None):
        key = id(n)
        if key in sizes:
            result = sizes[key]
            if depth + result[2] > MAX_DEPTH:
                # Reported where the alias is used (its parent), not where the anchor is.
                where = parent if parent is not None else n
                raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels (through an alias)", where.start_mark.line)
            return result
        if key in in_progress:
            raise YamlProblem("an alias refers to itself (recursive structure)", n.start_mark.line)
        if depth > MAX_DEPTH:
            raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", n.start_mark.line)
        in_progress.add(key)
        if isinstance(n, ScalarNode):
            result = (1, len(n.value), 0)
        else:
            children = []
            if isinstance(n, SequenceNode):
                children = n.value
            elif isinstance(n, MappingNode):
                children = [c for pair in n.value for c in pair]
            count, chars, height = 1, 0, 0
            for child in children:
                c_count, c_chars, c_height = visit(child, depth + 1, n)
                count += c_count
                chars += c_chars
                height = max(height, c_height + 1)
                if count > MAX_NODES or chars > MAX_CHARS:
                    raise YamlProblem(
                        f"expands to more than {MAX_NODES:,} values or {MAX_CHARS:,} characters "
                        "(an alias bomb?)",
                        n.start_mark.line,
                    )
            result = (count, chars, height)
        in_progress.discard(key)
        sizes[key] = result
        return result

    try:
        visit(node, 0)
    finally:
        # visit refers to itself through its closure cell: a cycle that would keep it
        # and its memo alive until a collection, and the build's writer parses with
        # the collector paused. Emptying the cell frees them now.
        del visit


#: Characters YAML 1.1 (and so PyYAML) reads as line breaks but editors and this
#: reader do not: inside a value they would silently split it into a new key.
_YAML_ONLY_BREAKS = re.compile("[\x85\u2028\u2029]")
_BREAK_NAMES = {"\x85": "NEXT LINE", "\u2028": "LINE SEPARATOR", "\u2029": "PARAGRAPH SEPARATOR"}


def has_surrogate(text: str) -> bool:
    """A lone surrogate: Python's stand-in for bytes that were not UTF-8 (file names)
    or for an invalid escape (YAML); no database text can hold it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


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


def load_frontmatter(text: str, line_offset: int = 0) -> Frontmatter:
    """Parse YAML frontmatter text into a plain mapping, or raise YamlProblem.

    `line_offset` (file lines before the YAML text) is only used in messages that
    name a second line; YamlProblem.line stays 0-based within `text`.
    """
    simple = _simple_mapping(text)
    if simple is not None:
        return simple
    if _fast_path_ok(text):
        try:
            return _load(text, line_offset, FastArchiveLoader)
        except Exception:
            pass  # the pure-Python loader decides, and words the message
    return _load(text, line_offset, ArchiveLoader)


def _load(text: str, line_offset: int, loader_class) -> Frontmatter:
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
        loader.line_offset = line_offset
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise YamlProblem(f"nested too deeply to parse (over {MAX_DEPTH} levels)") from None
        if node is None:
            return Frontmatter({}, {})
        if not isinstance(node, MappingNode):
            kind = "a list" if isinstance(node, SequenceNode) else "a single value"
            raise YamlProblem(
                f"frontmatter is {kind}, not a mapping of keys to values", node.start_mark.line
            )
        flat = _flat_text_mapping(node)
        if flat is not None:
            data, key_lines = flat
            return Frontmatter({k: plain_value(v, key_lines[k]) for k, v in data.items()}, key_lines)
        _measure(node)
        # Before construction, which prepends merged (`<<:`) pairs to node.value.
        key_lines = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key_lines.setdefault(key_node.value, key_node.start_mark.line)
        data = loader.construct_document(node)
        clean = {}
        for key, value in data.items():
            name = plain_key(key)
            if name in clean:
                raise YamlProblem(f"duplicate key {name!r} once keys are read as text", key_lines.get(name))
            clean[name] = plain_value(value, key_lines.get(name))
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
    return Frontmatter(clean, {k: key_lines.get(k) for k in clean})


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


def plain_key(key) -> str:
    """Keys are text in the database; `1:` or `true:` become "1" / "true".

    ArchiveLoader already gives YAML keys as the text written; this covers keys of
    other sources (TOML) and keeps the promise that a key is always a str.
    """
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    value = plain_value(key, None) if not isinstance(key, (list, dict)) else key
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


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
        out = {}
        for k, v in value.items():
            name = plain_key(k)
            if name in out:
                raise YamlProblem(f"duplicate key {name!r} once keys are read as text", line)
            out[name] = plain_value(v, line)
        return out
    return str(value)
