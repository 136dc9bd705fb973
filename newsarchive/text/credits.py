"""Photo credits at the end of captions, and the whitespace rule every text field shares."""
from __future__ import annotations

import re

CREDIT = re.compile(
    r"\(\s*(?P<kind>[A-Za-z][A-Za-z ]{0,30}?)\s*(?::|\bby\b)\s*(?P<name>[^()]{1,120}?)\s*\)\s*$",
    re.IGNORECASE,
)
CREDIT_WORDS = {
    "photo", "photos", "picture", "pictures", "image", "images", "graphic", "graphics",
    "illustration", "video", "screenshot", "screengrab", "source", "footage", "handout",
}


def collapse(text: str) -> str:
    """Runs of whitespace (Unicode's, as str.split sees it) as one space, ends trimmed.

    Most text is already so: every whitespace character but the space fails
    isprintable(), which (with no double or edge space) proves it in a third of
    the time of splitting and joining a paragraph.
    """
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def parse_credit(caption: str) -> tuple[str | None, str | None]:
    """Split a trailing `(Photo: Reuters)` / `(File photo: AFP)` / `(Photo by X)` into (kind, name)."""
    m = CREDIT.search(caption)
    if not m:
        return None, None
    kind = collapse(m.group("kind"))
    if kind.split(" ")[-1].lower() not in CREDIT_WORDS or len(kind.split(" ")) > 3:
        return None, None
    name = collapse(m.group("name"))
    if not name:
        return None, None
    return kind[:1].upper() + kind[1:].lower(), name
