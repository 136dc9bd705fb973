"""The build: a folder of posts -> a checked database swapped in beside the served one.

    pipeline.py   build() and check_folder(): the stages in order
    options.py    BuildOptions: how to build, as one object
    lock.py       one build of a database at a time
    scan.py       the folder -> post files (SourceFile) and the files passed over
    previous.py   the database being replaced: ours? this version's? its files and problems
    plan.py       its files vs the folder -> to parse, unchanged, restamped, removed
    workers.py    parser processes: Task -> ParseResult | ParseFailure
    write.py      the writer: results -> rows, one post per id
    checks.py     which integrity checks the new database gets
    swap.py       background copy, fsync, the swap, the deferred delete of the old file
    summary.py    what a build reports: Summary, Problem, BuildRefused
    archive.py    archive.yml and the identity options -> the archive table
"""
from .options import CHECKS, BuildOptions
from .pipeline import build, check_folder
from .summary import BuildRefused, Problem, Summary

__all__ = ["CHECKS", "BuildOptions", "BuildRefused", "Problem", "Summary", "build", "check_folder"]
