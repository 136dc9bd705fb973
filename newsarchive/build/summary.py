"""What a build reports: a Summary of counts, problems and timings, or BuildRefused."""
from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One recorded problem: `path:line: message`, at level error, warning (the post
    was built) or skipped."""

    path: str
    line: int | None
    message: str
    level: str = "error"

    def __str__(self):
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: warning: {self.message}" if self.level == "warning" else f"{where}: {self.message}"

    def row(self) -> tuple:
        """As the database records it (build_errors, current_errors): path, line, level, message."""
        return (self.path, self.line, self.level, self.message)

    @classmethod
    def from_row(cls, row: tuple) -> "Problem":
        path, line, level, message = row
        return cls(path, line, message, level)


@dataclass
class Summary:
    seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    skipped: int = 0
    posts: int = 0
    problems: list = field(default_factory=list)
    seconds: float = 0.0
    written: bool = False
    timings: dict = field(default_factory=dict)  # stage -> seconds, for benchmarks
    notes: list = field(default_factory=list)  # what the build decided on its own (a rebuild in full)

    def lap(self, stage: str, since: float) -> float:
        now = time.monotonic()
        self.timings[stage] = self.timings.get(stage, 0.0) + now - since
        return now

    def fail(self, problem: Problem) -> None:
        self.failed += 1
        self.problems.append(problem)

    def warn(self, problems: list[Problem]) -> None:
        """Problems of posts that were built: listed and recorded, not counted as failures."""
        self.problems.extend(problems)

    def sort_problems(self) -> None:
        self.problems.sort(key=lambda p: (p.path, p.line or 0))

    def line(self) -> str:
        return (
            f"seen {self.seen}, added {self.added}, updated {self.updated}, unchanged {self.unchanged}, "
            f"removed {self.removed}, failed {self.failed}, skipped {self.skipped}; "
            f"{self.posts} posts in {self.seconds:.1f} s"
        )


class BuildRefused(Exception):
    """The new database was built but not swapped in (shrink guard or failed checks),
    or no build was started (another one is running, the database is not ours)."""
