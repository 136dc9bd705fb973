"""Who wrote a post: the names its frontmatter gives under `author`, `authors`,
`byline`, `creator` or `contributors`, in the forms static sites write them.

Understood shapes, for any of those keys:
- text: one or more names, split at commas, semicolons, `&` and the word `and`, a
  leading `By` dropped ("By Ana Ruiz and Tom Lee" is two names);
- a mapping with a text `name` (Jekyll's `author: {name: ..., twitter: ...}`);
- a list of those: each text item is one name, unsplit (Hugo's and Eleventy's
  `authors: [ana-ruiz, tom-lee]`), each mapping gives its `name`.
Names keep their case, with runs of white space made one space; a name given twice
counts once, where it first appears. A value of any other shape gives no name and
stays in `extra`, as does a mapping that says more than a name (its other keys have
no column).
"""
from __future__ import annotations

import re
from typing import NamedTuple

from ..text.credits import collapse

#: Frontmatter keys that name a post's people, in the order their names are listed.
AUTHOR_KEYS = ("author", "authors", "byline", "creator", "contributors")

_SEPARATOR = re.compile(r"\s*(?:[,;&]|\band\b)\s*")
_BY = re.compile(r"^by\b[\s:]*", re.IGNORECASE)


class Byline(NamedTuple):
    """A post's people: (name, the key it came from) in order, and the keys whose
    value stays in `extra`."""

    names: list[tuple[str, str]]
    kept: list[str]


def read_bylines(meta: dict) -> Byline:
    names: list[tuple[str, str]] = []
    seen: set[str] = set()
    kept: list[str] = []
    for key in AUTHOR_KEYS:
        value = meta.get(key)
        if value is None:
            continue
        found, keep = _names(value)
        if keep:
            kept.append(key)
        for name in found or ():
            if name not in seen:
                seen.add(name)
                names.append((name, key))
    return Byline(names, kept)


def _names(value) -> tuple[list[str] | None, bool]:
    """(names, whether the value stays in extra too); names None: a shape not understood."""
    if isinstance(value, str):
        return split_names(value), False
    if isinstance(value, dict):
        name = _mapping_name(value)
        return (None, True) if name is None else ([name] if name else [], len(value) > 1)
    if isinstance(value, list):
        names, keep = [], False
        for item in value:
            if isinstance(item, str):
                name = collapse(item)
            elif isinstance(item, dict) and (name := _mapping_name(item)) is not None:
                keep = keep or len(item) > 1
            else:
                return None, True
            if name:
                names.append(name)
        return names, keep
    return None, True


def _mapping_name(value: dict) -> str | None:
    name = value.get("name")
    return collapse(name) if isinstance(name, str) else None


def split_names(text: str) -> list[str]:
    """The names in a byline written as text: "By Ana Ruiz, Tom Lee and Kim Park"."""
    text = _BY.sub("", collapse(text))
    return [name for name in _SEPARATOR.split(text) if name]
