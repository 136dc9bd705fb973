"""The build: a folder of posts -> a checked database swapped in beside the served one.

    pipeline.py   build() and check_folder(): the stages in order
    options.py    BuildOptions: how to build, as one object
    lock.py       one build of a database at a time
    scan.py       the folder -> post files, into the FileList, and the files passed over
    filelist.py   FileList: the build's files and the plan's decision for each, on disk
    previous.py   the database being replaced: ours? this version's? its problems
    plan.py       its files vs the folder (in SQL) -> to parse, unchanged, restamped, removed
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
