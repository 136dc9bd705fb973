"""Relevance order for searches of common words, in bounded time.

FTS5 ranks by bm25 by computing the rank of every match before the first page can be
cut: a word in most of 100,000 posts took over 100 ms, and ten times that at a million.
Counting the matches is cheap (FTS5 walks its lists without scoring), so a search is
counted first. When its matches are more than `common_share` of the posts, or more
than `rank_at_most` posts (CommonRule, settable in metadata.yml under
plugins.news-archive.search), only the `candidates` matches most recently added to the
archive (the highest rowids: a full build adds posts in path order, which is date
order for dated paths) are ranked by bm25; the other matches follow them, most recently
added first. bm25 still scores a candidate against the whole archive, so the
candidates stand in the order a full ranking gives them. The answer says so
(CommonRank).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

#: metadata.yml: plugins -> news-archive -> search.
CONFIG_KEY = "search"


class CommonRuleError(ValueError):
    """A setting of the rule that cannot be read; the message names it."""


@dataclass(frozen=True)
class CommonRule:
    """When a search is too common to rank whole, and how many matches it ranks then."""

    common_share: float = 0.25
    rank_at_most: int = 50_000
    candidates: int = 2_000

    def limit(self, posts: int) -> float:
        """The most matches a search of an archive of `posts` posts ranks whole."""
        return min(self.common_share * posts, self.rank_at_most)

    def applies(self, matches: int, posts: int) -> bool:
        return matches > self.limit(posts) and matches > self.candidates


@dataclass(frozen=True)
class CommonRank:
    """A search ranked among its candidates only: what the answer says about it."""

    matches: int  # of the words, in the whole archive
    posts: int
    rule: CommonRule

    def as_json(self) -> dict:
        return {"candidates": self.rule.candidates, "matches": self.matches, "posts": self.posts,
                "common_share": self.rule.common_share, "rank_at_most": self.rule.rank_at_most,
                "note": self.note}

    @property
    def note(self) -> str:
        share = f"{self.matches / self.posts:.0%}" if self.posts else "all"
        return (f"These words are in {self.matches:,} of {self.posts:,} posts ({share}), too many to rank whole: "
                f"the {self.rule.candidates:,} most recently added matches come first, best match first, "
                f"then the others, most recently added first. A phrase or a rarer word is ranked whole; "
                f"sort by date for the newest first.")


def read_rule(config: Mapping | None) -> CommonRule:
    """The rule from the plugin's configuration (its `search` mapping), defaults where unset."""
    given = (config or {}).get(CONFIG_KEY) or {}
    if not isinstance(given, Mapping):
        raise CommonRuleError(f"metadata.yml: plugins.news-archive.{CONFIG_KEY} is a mapping, not {given!r}.")
    unknown = set(given) - {"common_share", "rank_at_most", "candidates"}
    if unknown:
        raise CommonRuleError(f"metadata.yml: plugins.news-archive.{CONFIG_KEY} has no setting {sorted(unknown)[0]!r}"
                              " (common_share, rank_at_most, candidates).")
    rule = CommonRule()
    share = given.get("common_share", rule.common_share)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        raise CommonRuleError(f"metadata.yml: plugins.news-archive.{CONFIG_KEY}.common_share is a number"
                              f" from 0 to 1, not {share!r}.")
    counts = {}
    for name in ("rank_at_most", "candidates"):
        value = given.get(name, getattr(rule, name))
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CommonRuleError(f"metadata.yml: plugins.news-archive.{CONFIG_KEY}.{name} is a whole number"
                                  f" from 1, not {value!r}.")
        counts[name] = value
    return CommonRule(float(share), **counts)


def rule_of(datasette) -> CommonRule:
    return read_rule(datasette.plugin_config("news-archive"))
