"""Safe, bounded YAML for frontmatter: the values the author meant, nothing executed.

PyYAML's SafeLoader still speaks YAML 1.1, where `no` is False, `01234` is the octal
number 668, `1:30` is the sexagesimal number 90 and an unquoted date becomes a
datetime.  Post authors mean text in all those cases, so this loader resolves plain
scalars with the YAML 1.2 core schema instead, keeps timestamps as the text written,
rejects unknown tags (`!!python/object` and friends), refuses duplicate keys, and
measures the expanded size of the node graph before constructing it, so that an
alias bomb (a few hundred bytes that expand to gigabytes) is refused cheaply.
"""
from __future__ import annotations

import base64
import datetime as dt
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


class ArchiveLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars and duplicate-key detection."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if isinstance(key_node, ScalarNode) and key_node.value != "<<":
                    key = (key_node.tag, key_node.value)
                    if key in seen:
                        raise ConstructorError(
                            None,
                            None,
                            f"duplicate key {key_node.value!r} (first at line "
                            f"{seen[key].line + 1} of the frontmatter)",
                            key_node.start_mark,
                        )
                    seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        return int(self.construct_scalar(node).replace("_", ""), 0)

    def construct_yaml_float(self, node):
        value = self.construct_scalar(node).lower()
        if value.endswith("nan"):
            return math.nan
        if value.endswith("inf"):
            return -math.inf if value.startswith("-") else math.inf
        return float(value)


ArchiveLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ArchiveLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
ArchiveLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+|0o[0-7]+)$"),
    list("-+0123456789"),
)
ArchiveLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
ArchiveLoader.add_constructor("tag:yaml.org,2002:int", ArchiveLoader.construct_yaml_int)
ArchiveLoader.add_constructor("tag:yaml.org,2002:float", ArchiveLoader.construct_yaml_float)


@dataclass
class Frontmatter:
    """A parsed frontmatter mapping and the 0-based YAML line of each top-level key."""

    data: dict
    key_lines: dict


def _measure(node) -> None:
    """Refuse graphs that expand too far, nest too deep, or refer to themselves.

    Aliases make the node graph a DAG whose expansion can be exponential; memoising
    the expanded size per node keeps this check linear in the size of the source.
    """
    sizes: dict[int, tuple[int, int]] = {}
    in_progress: set[int] = set()

    def visit(n, depth):
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in in_progress:
            raise YamlProblem("an alias refers to itself (recursive structure)", n.start_mark.line)
        if depth > MAX_DEPTH:
            raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", n.start_mark.line)
        in_progress.add(key)
        if isinstance(n, ScalarNode):
            result = (1, len(n.value))
        else:
            children = []
            if isinstance(n, SequenceNode):
                children = n.value
            elif isinstance(n, MappingNode):
                children = [c for pair in n.value for c in pair]
            count, chars = 1, 0
            for child in children:
                c_count, c_chars = visit(child, depth + 1)
                count += c_count
                chars += c_chars
                if count > MAX_NODES or chars > MAX_CHARS:
                    raise YamlProblem(
                        f"expands to more than {MAX_NODES:,} values or {MAX_CHARS:,} characters "
                        "(an alias bomb?)",
                        n.start_mark.line,
                    )
            result = (count, chars)
        in_progress.discard(key)
        sizes[key] = result
        return result

    visit(node, 0)


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
    parts = [p for p in (getattr(exc, "context", None), getattr(exc, "problem", None)) if p]
    text = "; ".join(parts) or str(exc)
    if "could not determine a constructor" in text:
        text = "unsupported YAML tag: " + text.split("tag", 1)[-1].strip(" '")
    return "YAML: " + text


def load_frontmatter(text: str) -> Frontmatter:
    """Parse YAML frontmatter text into a plain mapping, or raise YamlProblem."""
    loader = None
    try:
        loader = ArchiveLoader(text)
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
        _measure(node)
        data = loader.construct_document(node)
        key_lines = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode):
                key_lines.setdefault(key_node.value, key_node.start_mark.line)
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
    clean = {}
    for key, value in data.items():
        name = plain_key(key)
        if name in clean:
            raise YamlProblem(f"duplicate key {name!r} once keys are read as text")
        clean[name] = plain_value(value, key_lines.get(name))
        if name not in key_lines and key in key_lines:
            key_lines[name] = key_lines[key]
    return Frontmatter(clean, {k: key_lines.get(k) for k in clean})


def plain_key(key) -> str:
    """Keys are text in the database; `1:` or `true:` become "1" / "true"."""
    if isinstance(key, str):
        return key
    return plain_value(key, None) if not isinstance(key, (list, dict)) else str(key)


def plain_value(value, line):
    """Turn a constructed YAML value into JSON-safe data without losing what it said."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise YamlProblem("a value holds a lone surrogate (invalid Unicode escape)", line) from None
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
