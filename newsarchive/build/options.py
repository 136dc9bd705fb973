"""How to build: the options of build(), as one object."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

#: The checks a new database can get before it is swapped in: `auto` picks one of the
#: others (build.checks.choose_checks); `full` every check; `fresh` the same, with the
#: cheaper FTS check fit for indexes filled in bulk; `changed` only the rows the build
#: wrote; `quick` SQLite's quick_check instead of its integrity_check.
CHECKS = ("auto", "full", "fresh", "changed", "quick")


@dataclass(frozen=True)
class BuildOptions:
    #: Rebuild from scratch instead of updating the database.
    full: bool = False
    #: No progress bar.
    quiet: bool = False
    #: Parser processes; None: one a core.
    jobs: int | None = None
    #: The share of its posts a database may lose to a build before the build is refused.
    max_shrink: float = 0.2
    #: Replace the database even when it loses more than max_shrink of its posts.
    allow_shrink: bool = False
    #: One of CHECKS.
    checks: str = "auto"
    #: The least similarity (Jaccard of word shingles, 0 to 1) at which a post is a
    #: reprint of an earlier one (newsarchive.relate.reprints).
    reprint_threshold: float = 0.6
    #: archive.yml's keys given as options (None: not given); they win over the file's.
    identity: dict | None = None
    #: A test hook, called with the name of each stage the build finishes ("copied",
    #: "inserted", "committed", "checked"), to kill the build at chosen points and
    #: show the previous database survives.
    stop_after: Callable[[str], None] | None = None

    @property
    def workers(self) -> int:
        return self.jobs or os.cpu_count() or 1

    def reached(self, stage: str) -> None:
        if self.stop_after is not None:
            self.stop_after(stage)
