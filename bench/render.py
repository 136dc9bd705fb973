#!/usr/bin/env python3
"""How long the build takes to render the hostile bodies that once held the site
(docs/security.md#what-is-rendered-where), and what rendering costs a post of the
benchmark corpus against the rest of its parse.

Usage::

    .venv/bin/python bench/render.py [--runs N]              # the hostile bodies
    .venv/bin/python bench/render.py --posts 2000 [--runs N]  # CPU a post, bench corpus
    .venv/bin/python bench/render.py --posts 2000 --corpus DIR  # the same, posts of DIR

Each body goes through newsarchive.parse.render.render_post, as a parser worker runs
it (article and table preview); the best of N runs is printed with the size of what
the build stores. With --posts, the first N posts of the benchmark corpus
(bench/out/nN, as `make bench` generates it) are read and parsed as a parser process
does it (build.workers.parse_task), and the CPU a post (best of N runs, the variants
interleaved so that the machine's load hits all alike) is printed for: the whole
parse, the parse without the relations features (relate.features) and without the
rendering (parse.render), and what each of them adds by that difference (in place,
among the rest of the parse, which costs more than timing either alone in a loop);
the site's request-time renderer (markdown-it-py) on the same posts for scale; then
each part of the features and of the rendering timed alone, beside the regular
expression and the datasketch MinHash the features give the same values as.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from newsarchive.parse import read_post  # noqa: E402
from newsarchive.parse import rows as parse_rows  # noqa: E402
from newsarchive.parse.render import RenderedPost, article_html, preview_html, render_post  # noqa: E402
from newsarchive.text import render as site_render  # noqa: E402

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


def best_of(variants: dict, runs: int) -> dict[str, float]:
    """Each variant's least CPU seconds over `runs` rounds, the variants taking turns
    within a round so that the machine's load hits all alike."""
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(max(1, runs)):
        for name, run in variants.items():
            started = time.process_time()
            run()
            best[name] = min(best[name], time.process_time() - started)
    return best


def per_post(count: int, runs: int, folder: Path | None = None) -> None:
    """CPU a post of the benchmark corpus (or of `folder`) in a parser process, and what its parts add."""
    from newsarchive.build import workers

    if folder is None:
        from bench.run import ensure_corpus
        folder = ensure_corpus(count).path
    tasks = [(str(path.relative_to(folder)), str(path)) for path in sorted(folder.rglob("*.md"))[:count]]
    if not tasks:
        raise SystemExit(f"no posts (*.md) in {folder}")
    posts = [read_post(path, Path(abspath).read_bytes()) for path, abspath in tasks]
    records = [parse_rows.extract(post) for post in posts]  # headlines as the build finds them
    headlines = [r.post["title"] if r.post["title_source"] == "body" else None for r in records]
    real = workers.feature_batch, parse_rows.render_post
    without_features = (lambda posts: [[] for _ in posts], real[1])
    without_rendering = (real[0], lambda *a, **k: RenderedPost("", "", 0))

    def parse_with(parts):
        def run():
            workers.feature_batch, parse_rows.render_post = parts
            try:
                for first in range(0, len(tasks), workers.CHUNK):
                    workers.parse_chunk(tasks[first : first + workers.CHUNK])
            finally:
                workers.feature_batch, parse_rows.render_post = real
        return run

    variants = {
        "parse (as a parser process)": parse_with(real),
        "without the relations features": parse_with(without_features),
        "without rendering": parse_with(without_rendering),
        "without either": parse_with((without_features[0], without_rendering[1])),
        "site renderer (markdown-it-py)": lambda: [(site_render.article_html(p.body, h), site_render.preview_html(p.body))
                                                   for p, h in zip(posts, headlines)],
    }
    best = best_of(variants, runs)
    ms = {name: seconds / len(tasks) * 1000 for name, seconds in best.items()}
    print(f"{len(tasks):,} posts of {folder}, CPU a post (best of {max(1, runs)} runs)")
    for name, value in ms.items():
        print(f"{name:<32} {value:>7.3f} ms")
    whole = ms["parse (as a parser process)"]
    print(f"{'= relations features':<32} {whole - ms['without the relations features']:>7.3f} ms")
    print(f"{'= rendering (parse.render)':<32} {whole - ms['without rendering']:>7.3f} ms")
    parts_alone([r.post["body_text"] for r in records], posts, headlines, runs)


def parts_alone(texts: list, posts: list, headlines: list, runs: int) -> None:
    """Each part of the features and of the rendering timed alone, in a loop over the
    posts (warm caches: less than each costs among the rest of the parse), and the
    regular expression and datasketch the features stand in for."""
    from datasketch import MinHash

    from newsarchive.parse.body import body_events
    from newsarchive.build.workers import CHUNK
    from newsarchive.relate import features

    found = [features.read_words(text) for text in texts]
    sums = [features._shingle_sums(words.hashes) for words in found]
    shingles = [features.shingle_hashes(s) for s in sums]
    word_lists = [features.words(text) for text in texts]
    template = MinHash(num_perm=features.NUM_PERM, seed=features.SEED, hashfunc=int)
    events = [body_events(post.body_lf) for post in posts]

    def datasketch_signature(values):
        minhash = template.copy()
        minhash.update_batch(values.tolist())
        return minhash.hashvalues

    variants = {
        "words: read and hashed": lambda: [features.read_words(t) for t in texts],
        "  (regex words, reference)": lambda: [features.words(t) for t in texts],
        "  (their hashes, reference)": lambda: [features.word_hashes(w) for w in word_lists],
        "shingles": lambda: [features.shingle_hashes(features._shingle_sums(w.hashes)) for w in found],
        "signature (numpy)": lambda: [features.signature(v) for v in shingles],
        "  (datasketch, reference)": lambda: [datasketch_signature(v) for v in shingles],
        "top words": lambda: [features.top_terms(w.hashes, w.long) for w in found],
        "features, a post at a time": lambda: [features.feature_rows("p", t) for t in texts],
        "features, a chunk at a time": lambda: [features.feature_batch([("p", t) for t in texts[i : i + CHUNK]])
                                                for i in range(0, len(texts), CHUNK)],
        "article (write + nh3)": lambda: [article_html(p.body, h, e) for p, h, e in zip(posts, headlines, events)],
        "preview (parse + write + nh3)": lambda: [preview_html(p.body) for p in posts],
    }
    best = best_of(variants, runs)
    print("parts alone, in a loop over the same posts:")
    for name, seconds in best.items():
        print(f"{name:<32} {seconds / len(posts) * 1000:>7.3f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each body (the best is shown)")
    parser.add_argument("--posts", type=int, help="measure CPU a post on this many posts of the benchmark corpus")
    parser.add_argument("--corpus", type=Path, help="with --posts: read the posts from this folder"
                        " (bench/generate.py's output) instead of bench/out/nN")
    args = parser.parse_args()
    if args.corpus and not args.corpus.is_dir():
        parser.error(f"--corpus {args.corpus}: not a folder")
    if args.posts:
        per_post(args.posts, args.runs, args.corpus)
        return 0
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
