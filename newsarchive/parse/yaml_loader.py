"""The bounded PyYAML loader behind the frontmatter reader (see yamlsafe).

PyYAML's SafeLoader still speaks YAML 1.1, where `no` is False, `01234` is the octal
number 668, `1:30` is the sexagesimal number 90 and an unquoted date becomes a
datetime.  Post authors mean text in all those cases, so this loader resolves plain
scalars with the YAML 1.2 core schema instead (decimal integers only), keeps
timestamps and keys as the text written, rejects unknown tags (`!!python/object`
and friends), keeps the last value of a key written twice (as PyYAML and Jekyll do)
and notes the earlier ones, bounds the nodes and nesting it composes, and
measures the expanded size of the node graph before constructing it (measure_graph),
so that an alias bomb (a few hundred bytes that expand to gigabytes) is refused cheaply.
"""
from __future__ import annotations

import math
import re
from typing import NamedTuple

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


class LineProblem(Exception):
    """A problem with the line it is on, when known (PostError and YamlProblem say
    whether that line counts in the file or in the frontmatter)."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


class YamlProblem(LineProblem):
    """A frontmatter problem with the 0-based line inside the YAML text, when known."""


class Duplicate(NamedTuple):
    """A key written twice in one mapping (at any depth): the earlier value, replaced
    by the later one. Lines are 0-based in the frontmatter text until the reader makes
    them file lines (TOML frontmatter has these too)."""

    key: str
    line: int
    #: The line of the key whose value is kept: the last one written.
    kept_line: int
    value: object

    @property
    def extra_key(self) -> str:
        """Where posts.extra keeps the earlier value: `title (line 2)`."""
        return f"{self.key} (line {self.line})"

    @property
    def message(self) -> str:
        return (f"key {self.key!r} is written twice, on lines {self.line} and {self.kept_line}: the value on line "
                f"{self.kept_line} is kept, the one on line {self.line} is in extra as {self.extra_key!r}")

    def moved(self, lines: int) -> "Duplicate":
        return self._replace(line=self.line + lines, kept_line=self.kept_line + lines)


def has_surrogate(text: str) -> bool:
    """A lone surrogate: Python's stand-in for bytes that were not UTF-8 (file names)
    or for an invalid escape (YAML); no database text can hold it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class ArchiveConstructor(yaml.constructor.SafeConstructor):
    """SafeConstructor with text keys, YAML 1.2 numbers, and `duplicates`: the earlier
    values of keys written twice, whose last value is kept."""

    def __init__(self):
        super().__init__()
        self.duplicates: list[Duplicate] = []

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
        written: dict[str, list] = {}
        for key_node, value_node in node.value:
            if key_node.tag != "tag:yaml.org,2002:merge":
                written.setdefault(self.key_text(key_node), []).append((key_node, value_node))
        for key, pairs in written.items():
            kept_line = pairs[-1][0].start_mark.line
            for key_node, value_node in pairs[:-1]:
                value = self.construct_object(value_node, deep=deep)
                self.duplicates.append(Duplicate(key, key_node.start_mark.line, kept_line, value))
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
        before `measure_graph` refuses it, and very deep flow nesting (`[[[[...`) would
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
        frontmatter that cannot hold deep nesting (see yamlsafe._fast_path_ok); anything it
        rejects is parsed again by ArchiveLoader, whose messages are the reference.
        """

        def __init__(self, stream):
            CParser.__init__(self, stream)
            ArchiveConstructor.__init__(self)
            ArchiveResolver.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml
    FastArchiveLoader = None


def measure_graph(node) -> None:
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

