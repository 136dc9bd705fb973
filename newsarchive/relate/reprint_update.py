"""The reprints stage of a build: the groups of the posts that changed since the last
pass recomputed, the rest left as they are; the same rows as a full pass
(reprints.find_reprints) over the same posts.

Why that holds: an edge of the groups (a pair of candidates that passes the estimate
and the exact comparison) depends on its two posts and, for a pair found in a
bucket over LARGE_BUCKET posts, on that bucket's members. So the only edges that can
appear or vanish are those of a changed post and the pairs of the large buckets a
changed post entered or left. The groups that held a changed post, or an end of a
vanished pair, are dissolved and their posts' edges found again from the stored
buckets (reprint_index); every other group keeps its edges, and can only be joined
by an edge found from a dissolved group's side. A joined group keeps its rows unless
its original changes.

A build with another threshold (or method) than the stored one, or whose changes
exceed FULL_SHARE of the posts, runs the full pass instead.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..db.bookkeeping import store_settings, stored_settings
from .features import NUM_PERM, jaccard
from . import reprints
from .reprint_index import (SETTINGS_KEY, Buckets, Changes, IndexWriter, PostBands, changed_posts, ids_of, post_number,
                            post_rows, replace_posts)
from .reprints import (Bodies, ReprintRow, band_keys, banding, bucket_pairs, find_reprints, language_codes, likely,
                       originals_first, root, settings, similarity, store_reprints)

#: Past this share of the posts changed, the full pass is the cheaper: at 100,000
#: posts an update of 1,000 posts took 5.0 s and the full pass 6.8 s (docs/relations.md).
FULL_SHARE = 0.01


@dataclass
class ReprintsPass:
    """What the stage did: `mode` full, incremental or unchanged; how many posts had
    changed; how many posts' candidates were looked up (`visited`: every post in a
    full pass) and how many candidate pairs were compared; groups written; rows
    written or deleted; and a note for the build's summary."""

    mode: str
    changed: int = 0
    visited: int = 0
    candidates: int = 0
    groups: int = 0
    rows_written: int = 0
    notes: list[str] = field(default_factory=list)


def refresh_reprints(conn: sqlite3.Connection, threshold: float) -> ReprintsPass:
    """Bring the reprints table (and its index) up to date with the posts."""
    wanted, stored = settings(threshold), stored_settings(conn, SETTINGS_KEY)
    if stored != wanted:
        return full_pass(conn, threshold, _why_full(stored, wanted))
    changes = changed_posts(conn)
    if not changes:
        return ReprintsPass("unchanged")
    (posts,) = conn.execute("SELECT count(*) FROM _reprint_posts").fetchone()
    if len(changes) > FULL_SHARE * max(posts, 1):
        return full_pass(conn, threshold, None, len(changes))
    return update_reprints(conn, threshold, changes)


def _why_full(stored: dict | None, wanted: dict) -> str | None:
    if stored is None:
        return None  # a new database
    if stored.get("threshold") != wanted["threshold"]:
        return (f"reprints recomputed in full: the threshold is {wanted['threshold']}, "
                f"the database's were found at {stored.get('threshold')}")
    return "reprints recomputed in full: the database's were found with another method"


def full_pass(conn: sqlite3.Connection, threshold: float, note: str | None = None, changed: int | None = None
              ) -> ReprintsPass:
    """Every group found again and the index written afresh (reprints.find_reprints)."""
    rows = find_reprints(conn, threshold, IndexWriter(conn))
    store_settings(conn, settings(threshold), SETTINGS_KEY)
    (posts,) = conn.execute("SELECT count(*) FROM _reprint_posts").fetchone()
    return ReprintsPass("full", posts if changed is None else changed, posts, 0,
                        len({row.original_post_id for row in rows}), store_reprints(conn, rows),
                        [note] if note else [])


def reprints_outdated(conn: sqlite3.Connection, threshold: float) -> bool:
    """Whether the database holds reprints found with other settings: then a build must
    not leave it as it is, even with no file changed."""
    return stored_settings(conn, SETTINGS_KEY) not in (None, settings(threshold))


# --------------------------------------------------------------------------- the update


def update_reprints(conn: sqlite3.Connection, threshold: float, changes: Changes) -> ReprintsPass:
    """The index and the groups brought up to date with `changes` (see the module's
    docstring for why what this recomputes is enough)."""
    bands, rows = banding(threshold)
    changed_ids = set(changes.added) | set(changes.edited) | set(changes.removed)
    before = post_rows(conn, changes.edited + changes.removed)
    now = current_bands(conn, changes.added + changes.edited, bands, rows)
    touched = _touch_buckets(conn, before, now, {post_number(p) for p in changed_ids})
    replace_posts(conn, list(before), list(now.values()))

    seeds = changed_ids | touched.lost_ends
    dissolved = _old_groups(conn, seeds)
    region = seeds | {post for members in dissolved.values() for post in members}
    present = _present(conn, region)
    pairs = _candidates(conn, present) | touched.new_pairs
    edges, compared = _edges(conn, pairs, threshold)

    parent: dict[str, str] = {post: post for post in present}
    for a, b in edges:
        parent[root(parent, a)] = root(parent, b)
    joined = _old_groups(conn, {post for edge in edges for post in edge} - region)
    for members in joined.values():
        first = next(iter(members))
        for post in members:
            parent[root(parent, post)] = root(parent, first)
    new_rows = _rows(conn, parent, joined)
    affected = region | set(parent)
    written = _store_rows(conn, affected, new_rows)
    return ReprintsPass("incremental", len(changes), len(present), compared,
                        len({row.original_post_id for row in new_rows}), written)


def current_bands(conn: sqlite3.Connection, post_ids: list[str], bands: int, rows: int) -> dict[str, PostBands]:
    """The index rows of these posts as they are now (their signatures banded)."""
    found = conn.execute(
        "SELECT f.post_id, coalesce(p.language, ''), p.sha256, p.published_at, f.signature FROM json_each(?) j"
        " CROSS JOIN _post_features f ON f.post_id = j.value CROSS JOIN posts p ON p.id = f.post_id",
        (json.dumps(sorted(post_ids)),),
    ).fetchall()
    if not found:
        return {}
    matrix = np.frombuffer(b"".join(row[4] for row in found), dtype="<u4").reshape(len(found), NUM_PERM)
    keys = band_keys(matrix, language_codes([row[1] for row in found]), bands, rows)
    return {row[0]: PostBands(row[0], post_number(row[0]), row[2], row[3], row[1], k.tobytes())
            for row, k in zip(found, keys)}


class Touched(NamedTuple):
    """Of the buckets past LARGE_BUCKET posts the changed posts left or entered, the
    pairs of unchanged posts that vanished (their ends) or appeared."""

    lost_ends: set[str]
    new_pairs: set[tuple[str, str]]


def _keys(rows: Iterable[PostBands]) -> tuple[np.ndarray, np.ndarray]:
    """Every bucket key of these posts, and the post (number) of each."""
    rows = list(rows)
    keys = np.frombuffer(b"".join(row.keys for row in rows), dtype="<i8").astype(np.int64)
    return keys, np.repeat(np.array([row.number for row in rows], dtype=np.int64), len(keys) // max(len(rows), 1))


def _touch_buckets(conn, before: dict[str, PostBands], now: dict[str, PostBands], changed: set[int]) -> Touched:
    """Move the changed posts out of the buckets they were in and into those they are
    in now, and say what that did to the pairs of large buckets."""
    old_keys, leaving = _keys(before.values())
    new_keys, entering = _keys(now.values())
    index = Buckets(conn, np.r_[old_keys, new_keys].tolist())
    keys = np.unique(np.r_[old_keys, new_keys]).tolist()
    was = {key: index.members(key) for key in keys}
    index.replace(np.unique(leaving), old_keys, new_keys, entering)
    known = {row.number: row.post_id for row in (*before.values(), *now.values())}
    lost, new = set(), set()
    for key in keys:
        old, posts = was[key], index.members(key)
        if max(len(old), len(posts)) > reprints.LARGE_BUCKET:
            pairs_before, pairs_now = (_unchanged_pairs(conn, p, changed, known) for p in (old, posts))
            lost |= {post for pair in pairs_before - pairs_now for post in pair}
            new |= pairs_now - pairs_before
    return Touched(lost, new)


def _unchanged_pairs(conn, numbers: np.ndarray, changed: set[int], known: dict[int, str]) -> set[tuple[str, str]]:
    """The candidate pairs of one bucket (reprints.bucket_pairs) between unchanged
    posts. `known`: the ids of changed posts by number (a new one is not stored yet)."""
    ids = known | ids_of(conn, [n for n in numbers.tolist() if n not in known])
    ordered = sorted(ids[n] for n in numbers.tolist())
    pairs = bucket_pairs(np.arange(len(ordered), dtype=np.int64), np.array([0] if ordered else [], dtype=np.int64))
    return {(ordered[a], ordered[b]) for a, b in pairs.tolist()
            if post_number(ordered[a]) not in changed and post_number(ordered[b]) not in changed}


def _old_groups(conn: sqlite3.Connection, post_ids: set[str]) -> dict[str, set[str]]:
    """The stored groups holding any of these posts: original -> its posts, itself
    included (a post in no group is left out)."""
    originals = {row[0] for row in conn.execute(
        "SELECT coalesce(r.original_post_id, j.value) FROM json_each(?) j LEFT JOIN reprints r ON r.post_id = j.value",
        (json.dumps(sorted(post_ids)),),
    )}
    groups: dict[str, set[str]] = {}
    for original, post_id in conn.execute(
        "SELECT r.original_post_id, r.post_id FROM json_each(?) j CROSS JOIN reprints r ON r.original_post_id = j.value",
        (json.dumps(sorted(originals)),),
    ):
        groups.setdefault(original, {original}).add(post_id)
    return groups


def _present(conn: sqlite3.Connection, post_ids: set[str]) -> set[str]:
    """Those of the posts the stage compares now (in `_post_features`)."""
    return {row[0] for row in conn.execute(
        "SELECT f.post_id FROM json_each(?) j CROSS JOIN _post_features f ON f.post_id = j.value",
        (json.dumps(sorted(post_ids)),),
    )}


def _candidates(conn: sqlite3.Connection, posts: set[str]) -> set[tuple[str, str]]:
    """Every candidate pair of these posts, from the stored buckets: each pair as the
    full pass forms it (reprints.bucket_pairs), ids in order."""
    rows = post_rows(conn, posts)
    keys = _keys(rows.values())[0].tolist()
    index = Buckets(conn, keys)
    found = {key: index.members(key) for key in keys}
    ids = ids_of(conn, {n for members in found.values() for n in members.tolist()})
    pairs = set()
    for post in posts:
        for key in np.frombuffer(rows[post].keys, "<i8").tolist():
            members = sorted(ids[n] for n in found[key].tolist())
            if len(members) > reprints.LARGE_BUCKET:
                place = members.index(post)
                # The next, the one before, the first, and every post if it is the first.
                near = {members[i] for i in (place - 1, place + 1) if 0 <= i < len(members)}
                near |= set(members[1:]) if place == 0 else {members[0]}
            else:
                near = set(members)
            pairs |= {(min(post, other), max(post, other)) for other in near if other != post}
    return pairs


def _edges(conn: sqlite3.Connection, pairs: set[tuple[str, str]], threshold: float) -> tuple[list, int]:
    """The pairs whose signatures estimate near the threshold and whose bodies reach it."""
    ordered = sorted(pairs)
    if not ordered:
        return [], 0
    posts = sorted({post for pair in ordered for post in pair})
    signature = dict(conn.execute(
        "SELECT f.post_id, f.signature FROM json_each(?) j CROSS JOIN _post_features f ON f.post_id = j.value",
        (json.dumps(posts),),
    ))
    a = np.frombuffer(b"".join(signature[p] for p, _ in ordered), dtype="<u4").reshape(len(ordered), NUM_PERM)
    b = np.frombuffer(b"".join(signature[q] for _, q in ordered), dtype="<u4").reshape(len(ordered), NUM_PERM)
    bodies = Bodies(conn)
    edges = [(p, q) for (p, q), keep in zip(ordered, likely(a, b, threshold).tolist())
             if keep and jaccard(bodies.by_id(p), bodies.by_id(q)) >= threshold]
    return edges, len(ordered)


def _rows(conn, parent: dict[str, str], joined: dict[str, set[str]]) -> list[ReprintRow]:
    """The rows of every group the update formed. A joined group whose original stays
    its original keeps its similarities (the same two bodies); the rest are computed."""
    groups: dict[str, list[str]] = {}
    for post in list(parent):
        groups.setdefault(root(parent, post), []).append(post)
    kept = dict(conn.execute(
        "SELECT r.post_id || char(0) || r.original_post_id, r.similarity FROM json_each(?) j"
        " CROSS JOIN reprints r ON r.original_post_id = j.value", (json.dumps(sorted(joined)),),
    ))
    bodies, out = Bodies(conn), []
    for members in groups.values():
        if len(members) < 2:
            continue
        original, *copies = originals_first(conn, members)
        for post in copies:
            known = kept.get(f"{post}\0{original}")
            out.append(ReprintRow(post, original, known if known is not None
                                  else similarity(bodies.by_id(post), bodies.by_id(original))))
    return out


def _store_rows(conn: sqlite3.Connection, affected: set[str], rows: list[ReprintRow]) -> int:
    """Make the reprints of the affected posts exactly `rows`, writing only what differs."""
    old = set(conn.execute(
        "SELECT r.post_id, r.original_post_id, r.similarity FROM json_each(?) j CROSS JOIN reprints r"
        " ON r.post_id = j.value", (json.dumps(sorted(affected)),),
    ))
    new = set(map(tuple, rows))
    conn.executemany("DELETE FROM reprints WHERE post_id = ?", [(row[0],) for row in old - new])
    conn.executemany("INSERT INTO reprints (post_id, original_post_id, similarity) VALUES (?, ?, ?)",
                     sorted(new - old))
    return len(old - new) + len(new - old)
