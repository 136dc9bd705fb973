#!/usr/bin/env python3
"""The search page and the posts table's search box, with every match ranked by bm25
and with the common-word rule of metadata.yml (docs/browsing.md#common-words).

    .venv/bin/python bench/search_common.py news.db --term ferry --term heritage

Both run in this process through Datasette's own client, configured as `news-archive
serve` configures it; "ranked whole" is the same site with the rule set past any
archive (common_share 1, rank_at_most 10^12). Prints the median of --requests timed
requests of each page (after one untimed), and how many posts each term matches.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsarchive import config  # noqa: E402
from newsarchive.serve import datasette_app  # noqa: E402

WHOLE = {"common_share": 1.0, "rank_at_most": 10 ** 12, "candidates": 2000}


def pages(name: str, term: str) -> list[tuple[str, str]]:
    q = quote(term)
    return [("search page", f"/{name}/search?q={q}"), ("search.json", f"/{name}/search.json?q={q}"),
            ("posts?_search", f"/{name}/posts?_search={q}"), ("posts.json?_search", f"/{name}/posts.json?_search={q}")]


async def timed(app, path: str, requests: int) -> float:
    response = await app.client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        await app.client.get(path)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def app_with(db: Path, workdir: Path, rule: dict | None):
    """The site as served, with `rule` as the metadata's search setting (None: as written)."""
    if rule is None:
        return datasette_app(db, workdir=workdir)
    meta = yaml.safe_load(config.METADATA.read_text(encoding="utf-8"))
    meta["plugins"]["news-archive"]["search"] = rule
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "metadata.yml"
    path.write_text(yaml.safe_dump(meta), encoding="utf-8")
    written, config.METADATA = config.METADATA, path
    try:
        return datasette_app(db, workdir=workdir)
    finally:
        config.METADATA = written


async def main(db: Path, terms: list[str], requests: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        whole = app_with(db, Path(tmp) / "whole", WHOLE)
        rule = app_with(db, Path(tmp) / "rule", None)
        print(f"| page | term | matches | ranked whole | with the rule |\n|---|---|---:|---:|---:|")
        for term in terms:
            data = (await rule.client.get(f"/{db.stem}/search.json?q={quote(term)}")).json()
            for label, path in pages(db.stem, term):
                before, after = await timed(whole, path, requests), await timed(rule, path, requests)
                print(f"| {label} | {term} | {data['total']:,} | {before:.0f} ms | {after:.0f} ms |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--term", action="append", help="search term, may be repeated (default: ferry, heritage)")
    parser.add_argument("--requests", type=int, default=9)
    opts = parser.parse_args()
    if not opts.db.is_file():
        sys.exit(f"{opts.db}: no such database")
    asyncio.run(main(opts.db.resolve(), opts.term or ["ferry", "heritage"], opts.requests))
