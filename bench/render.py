#!/usr/bin/env python3
"""How long the build takes to render the hostile bodies that once held the site
(docs/security.md#what-is-rendered-where), and an ordinary post for scale.

Usage::

    .venv/bin/python bench/render.py [--runs N]

Each body goes through newsarchive.text.render.render_post, as a parser worker runs
it (article and table preview); the best of N runs is printed with the size of what
the build stores.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from newsarchive.text.render import render_post  # noqa: E402

#: The bodies of the hostile visitor (the same as tests/test_stored_html.py builds).
BODIES = {
    "96 KB of unclosed <i>": "<i>" * (96 * 1024 // 3),
    "160 KB of `<b>x `": "<b>x " * (160 * 1024 // 5),
    "2,000 links in a paragraph": " ".join(f"[link {n}](https://links.test/{n})" for n in range(2000)),
    "20,000 photos": "\n".join(f"![photo {n}](https://photos.test/{n}.jpg)" for n in range(20000)),
    "4 MB on one line": "quokka " * (4 * 1024 * 1024 // 7),
    "an ordinary post (sample)": "",
}


def sample_body() -> str:
    path = next(iter(sorted((Path(__file__).resolve().parent.parent / "sample" / "posts").rglob("*.md"))))
    return path.read_text(encoding="utf-8").split("\n---\n", 1)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each body (the best is shown)")
    args = parser.parse_args()
    BODIES["an ordinary post (sample)"] = sample_body()
    print(f"{'body':<28} {'chars':>9} {'best s':>8} {'article':>9} {'preview':>8}")
    for name, body in BODIES.items():
        best, rendered = None, None
        for _ in range(max(1, args.runs)):
            started = time.perf_counter()
            rendered = render_post(body)
            took = time.perf_counter() - started
            best = took if best is None else min(best, took)
        print(f"{name:<28} {len(body):>9,} {best:>8.3f} {len(rendered.article):>9,} {len(rendered.preview):>8,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
