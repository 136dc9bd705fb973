"""Parsing: a file's bytes -> a Post -> the rows it contributes.

    reader.py       bytes -> Post (encoding, fences, frontmatter), or PostError with a line
    yamlsafe.py     frontmatter YAML -> the values the author meant (fast paths, plain values)
    yaml_loader.py  the bounded PyYAML loader behind it (YAML 1.2 scalars, no tags, limits)
    body.py         the Markdown walk: body text, first line, photos, links
    bylines.py      who wrote a post: names from author, authors, byline, creator, contributors
    fields.py       field normalisers: dates, URLs and url keys, names, languages, ids
    rows.py         Post -> Record: the posts row and the rows of every other table

The other stages import from here.
"""
from .body import walk_body
from .reader import MAX_BYTES, TOML_FENCE, YAML_FENCE, Post, PostError, read_post
from .rows import ROW_TABLES, Record, extract
from .yaml_loader import ArchiveLoader, has_surrogate

__all__ = [
    "MAX_BYTES", "ROW_TABLES", "TOML_FENCE", "YAML_FENCE", "ArchiveLoader", "Post", "PostError", "Record",
    "extract", "has_surrogate", "read_post", "walk_body",
]
