#!/usr/bin/env python3
"""Build a SQLite database from a folder of news posts (Markdown with YAML frontmatter).

    python build_db.py POSTS_DIR --db news.db        build, or update incrementally
    python build_db.py POSTS_DIR --db news.db --full rebuild from scratch
    python build_db.py POSTS_DIR --check             list every problem, write nothing
    python build_db.py export DB OUTDIR              write every post back as its original file
    python build_db.py package DB OUTDIR             write a Frictionless Data Package (CSV + JSON)

A first argument of `export` or `package` is a subcommand; to build from a folder
with one of those names, write it as ./export.

Exit codes: 0 built (problems are recorded in build_errors); 1 with --strict or
--check when any post failed; 2 bad arguments; 3 the new database was not swapped in.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from newsarchive.build import BuildRefused, build, check_folder

SUBCOMMANDS = ("export", "package")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build_db.py",
        description="Turn a folder of news posts into a normalized SQLite database.",
    )
    parser.add_argument("posts_dir", metavar="POSTS_DIR", help="folder searched recursively for *.md / *.markdown posts")
    parser.add_argument("--db", default="news.db", help="database to build or update (default: news.db)")
    parser.add_argument("--full", action="store_true", help="rebuild from scratch instead of updating")
    parser.add_argument("--check", action="store_true", help="validate the folder and list every problem; write nothing")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any post failed")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no problem listing")
    parser.add_argument("--jobs", "-j", type=int, default=None, help="parser processes (default: one per core)")
    parser.add_argument(
        "--max-shrink", type=float, default=0.2,
        help="refuse to replace a database when the new build would lose more than this share of its posts (default 0.2)",
    )
    parser.add_argument("--timings", action="store_true", help="print how long each stage took")
    parser.add_argument("--allow-shrink", action="store_true", help="replace the database even when it loses many posts")
    parser.add_argument(
        "--checks", choices=("auto", "full", "fresh", "quick", "changed"), default="auto",
        help="checks before the swap: full (integrity_check, foreign keys, FTS integrity-check re-tokenising "
        "every row), fresh (as full, but the FTS indexes checked for their structure and one entry per row), "
        "quick (quick_check instead of integrity_check), changed (only the rows this build wrote); auto "
        "(default): fresh for a full build, changed for a small incremental update of a database over "
        "256 MB, else full",
    )
    return parser


def subcommand_parser(name: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"build_db.py {name}")
    parser.add_argument("db", metavar="DB", help="database built by build_db.py")
    parser.add_argument("outdir", metavar="OUTDIR", help="folder to write into (created if missing)")
    if name == "export":
        parser.description = "Write every post of DB back as a Markdown file at its original relative path."
    else:
        parser.description = "Write DB as a Frictionless Data Package: one CSV per table and datapackage.json."
        parser.add_argument(
            "--metadata", default=str(Path(__file__).resolve().with_name("metadata.yml")),
            help="Datasette metadata.yml for titles, licence, sources and descriptions (default: the project's)",
        )
    return parser


def run_subcommand(name: str, argv: list[str]) -> int:
    """export / package: parse the arguments and hand over to the module that does it."""
    args = subcommand_parser(name).parse_args(argv)
    try:
        if name == "export":
            from newsarchive.export import export

            count = export(args.db, args.outdir)
            print(f"{args.outdir}: exported {count} posts from {args.db}")
        else:
            from newsarchive.package import package

            descriptor = package(args.db, args.outdir, args.metadata)
            print(f"{args.outdir}/datapackage.json: {len(descriptor['resources'])} tables from {args.db}")
    except FileNotFoundError as exc:
        print(f"build_db.py {name}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"build_db.py {name}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return run_subcommand(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.check:
            summary = check_folder(args.posts_dir, jobs=args.jobs, quiet=args.quiet)
            for problem in summary.problems:
                print(problem)
            print(f"checked {summary.seen} files: {summary.added} good, {summary.failed} failed, {summary.skipped} skipped")
            return 1 if summary.failed else 0
        summary = build(
            args.posts_dir, args.db, full=args.full, quiet=args.quiet, jobs=args.jobs,
            max_shrink=args.max_shrink, allow_shrink=args.allow_shrink, checks=args.checks,
        )
    except FileNotFoundError as exc:
        print(f"build_db.py: {exc}", file=sys.stderr)
        return 2
    except BuildRefused as exc:
        print(f"build_db.py: {exc}", file=sys.stderr)
        return 3
    if not args.quiet:
        for problem in summary.problems:
            print(problem, file=sys.stderr)
    for note in summary.notes:
        print(f"{args.db}: {note}")
    state = "" if summary.written else " (database unchanged)"
    print(f"{args.db}: {summary.line()}{state}")
    if args.timings:
        print("timings: " + ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in summary.timings.items()))
    return 1 if args.strict and summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
