"""`news-archive`: every command of the archive, from a folder of posts to a public site.

Each command is a thin layer over the module that does the work; the modules that
load Datasette are imported when their command runs, so a build does not wait for it. Expected failures (a
missing folder, a refused build, a missing program) end as one `Error:` line and an
exit code from EXIT_CODES; anything else is a bug and keeps its traceback.
docs/cli.md is the reference.
"""
from __future__ import annotations

import sqlite3
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import click

from . import __version__
from .db.files import open_read_only
from .build import CHECKS, BuildRefused, check_folder
from .build.archive import ArchiveError
from .build.swap import CannotWrite
from .build import build as build_database

OK, FAILED, UNUSABLE, REFUSED, UNWRITTEN = 0, 1, 2, 3, 4
EXIT_CODES = {
    OK: "done",
    FAILED: "posts failed (build --strict, check); a database row or metadata.yml could not be "
    "used (export, package, serve, publish, config); docs/schema.md is out of date (docs --check)",
    UNUSABLE: "nothing done: a bad option, a missing or unusable file or folder, or a program the "
    "command needs is not installed",
    REFUSED: "build refused: the new database was built but not swapped in (shrink guard, failed "
    "checks, another build running); the old one is untouched",
    UNWRITTEN: "build could not write: the disk is full or the database's folder is read-only; the "
    "old database is untouched",
}
#: What a mistyped or unreadable path raises.
PATH_ERRORS = dict.fromkeys((FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError), UNUSABLE)


class Failure(click.ClickException):
    """An expected failure: click prints `Error: <message>` and exits with `code`."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.exit_code = code


@contextmanager
def exits(codes: dict):
    """Turn the exceptions named in `codes` (type -> exit code) into one line and that code."""
    try:
        yield
    except tuple(codes) as exc:
        raise Failure(str(exc), next(code for kind, code in codes.items() if isinstance(exc, kind))) from None


def database(path: Path) -> Path:
    """A DB argument: an existing SQLite file, or one line saying why not."""
    if not path.is_file():
        raise Failure(f"{path}: no such database; build it first (news-archive build POSTS_DIR --db {path.name})", UNUSABLE)
    conn = open_read_only(path)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise Failure(f"{path}: not a SQLite database ({exc})", UNUSABLE) from None
    finally:
        conn.close()
    return path


def servable(path: Path) -> Path:
    """A DB argument Datasette can open: it opens a database through a "file:" URI made
    from the path as it is, so a '#' or '?' in it would end the path there and open (or
    create) another file."""
    database(path)
    held = sorted({mark for mark in "#?" if mark in str(path.resolve())})
    if held:
        raise Failure(f"{path}: Datasette cannot serve a database whose path holds {' or '.join(map(repr, held))};"
                      " move it, or rename the folder, first", UNUSABLE)
    return path


def metadata_errors() -> dict:
    from .config import MetadataError

    return {**PATH_ERRORS, MetadataError: FAILED}


EPILOG = "\b\nExit codes (serve and publish pass on Datasette's own when it fails):\n" + "\n".join(
    textwrap.fill(text, 76, initial_indent=f"  {code}  ", subsequent_indent="     ") for code, text in EXIT_CODES.items()
)


@click.group(epilog=EPILOG)
@click.version_option(__version__, prog_name="news-archive")
def cli():
    """Turn a folder of news posts (Markdown with YAML frontmatter) into a SQLite
    database, and browse, package or publish it with Datasette.

    \b
    Examples:
      news-archive build sample/posts --db news.db
      news-archive serve news.db
    """


# --------------------------------------------------------------------------- build


def identity_options(command):
    """archive.yml's keys as options of build; each wins over the file's (docs/building.md)."""
    for key, text in reversed([
        ("title", "The archive's name (default: the posts folder's name + ' news archive')."),
        ("description", "A sentence or two on what the archive holds."),
        ("license", "The licence of the posts, in words (e.g. CC0 1.0)."),
        ("license-url", "The licence's URL."),
        ("source", "Where the posts come from, in words."),
        ("source-url", "The source's URL."),
        ("base-url", "The site the posts were published on: site-relative photo and link URLs are read against it."),
        ("timezone", "IANA zone the posts' dates written without one are read in (docs/building.md)."),
    ]):
        command = click.option(f"--{key}", key.replace("-", "_"), help=text)(command)
    return click.option("--image-mirror", type=click.Path(path_type=Path, file_okay=False, exists=True),
                        help="A folder holding the base URL's files at their paths, so photos load offline.")(command)


@cli.command()
@click.argument("posts_dir", type=click.Path(path_type=Path))
@click.option("--db", default="news.db", show_default=True, type=click.Path(path_type=Path), help="Database to build or update.")
@click.option("--full", is_flag=True, help="Rebuild from scratch instead of updating.")
@click.option("--strict", is_flag=True, help="Exit 1 when any post failed.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no problem listing.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Parser processes (default: one per core).")
@click.option("--max-shrink", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Refuse to replace a database when the new build would lose more than this share of its posts.")
@click.option("--allow-shrink", is_flag=True, help="Replace the database even when it loses many posts.")
@click.option("--checks", type=click.Choice(CHECKS), default="auto", show_default=True,
              help="Checks before the swap: full (integrity_check, foreign keys, FTS integrity-check re-tokenising "
              "every row), fresh (as full, but the FTS indexes checked for their structure and one entry per row), "
              "quick (quick_check instead of integrity_check), changed (only the rows this build wrote); auto: "
              "fresh for a full build, changed for a small incremental update of a database over 256 MB, else full.")
@click.option("--reprint-threshold", type=click.FloatRange(0.3, 1), default=0.6, show_default=True,
              help="Least similarity (Jaccard of five-word shingles) at which a post is a reprint of an earlier one "
              "(docs/relations.md#reprints); a build at another threshold than the database's finds them again.")
@click.option("--timings", is_flag=True, help="Print how long each stage took.")
@identity_options
def build(posts_dir: Path, db: Path, full, strict, quiet, jobs, max_shrink, allow_shrink, checks, reprint_threshold,
          timings, **identity):
    """Build or update a database from a folder of posts.

    POSTS_DIR is searched recursively for *.md and *.markdown posts. The new
    database is written beside the old one, checked, and swapped in with a rename,
    so a server reading the old one never sees half a build. Posts that fail are
    listed on stderr and recorded in the build_errors table.

    \b
    Examples:
      news-archive build sample/posts --db news.db
      news-archive build sample/posts --db news.db --full --strict
    """
    if db.is_dir():
        raise Failure(f"{db}: is a folder; --db names the database file", UNUSABLE)
    if identity["image_mirror"] is not None:
        identity["image_mirror"] = str(identity["image_mirror"].resolve())
    with exits({**PATH_ERRORS, ArchiveError: UNUSABLE, BuildRefused: REFUSED, CannotWrite: UNWRITTEN}):
        summary = build_database(posts_dir, db, full=full, quiet=quiet, jobs=jobs, max_shrink=max_shrink,
                                 allow_shrink=allow_shrink, checks=checks, identity=identity,
                                 reprint_threshold=reprint_threshold)
    if not quiet:
        for problem in summary.problems:
            click.echo(problem, err=True)
    for note in summary.notes:
        click.echo(f"{db}: {note}")
    state = "" if summary.written else " (database unchanged)"
    click.echo(f"{db}: {summary.line()}{state}")
    if timings:
        click.echo("timings: " + ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in summary.timings.items()))
    sys.exit(FAILED if strict and summary.failed else OK)


@cli.command()
@click.argument("posts_dir", type=click.Path(path_type=Path))
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Parser processes (default: one per core).")
def check(posts_dir: Path, quiet, jobs):
    """List every problem in a folder of posts; write nothing.

    Parses every post in POSTS_DIR and prints one `path:line: message` line per problem, then a count. Exits 1 when
    any post failed, so it can stand in a pre-commit hook or CI.

    \b
    Example:
      news-archive check sample/posts
    """
    with exits({**PATH_ERRORS, ArchiveError: UNUSABLE}):
        summary = check_folder(posts_dir, jobs=jobs, quiet=quiet)
    for problem in summary.problems:
        click.echo(problem)
    click.echo(f"checked {summary.seen} files: {summary.added} good, {summary.failed} failed, {summary.skipped} skipped")
    sys.exit(FAILED if summary.failed else OK)


# --------------------------------------------------------------------------- the database, given back


@cli.command()
@click.argument("db", type=click.Path(path_type=Path))
@click.argument("outdir", type=click.Path(path_type=Path))
def export(db: Path, outdir: Path):
    """Write every post of DB back as its original file.

    Each post lands in OUTDIR at its original relative path, byte for byte where the database
    allows. Nothing is written when any row's path would leave OUTDIR.

    \b
    Example:
      news-archive export news.db posts-again/
    """
    from .export import ExportRefused, export as run_export

    with exits({**PATH_ERRORS, ExportRefused: FAILED}):
        count = run_export(database(db), outdir)
    click.echo(f"{outdir}: exported {count} posts from {db}")


@cli.command()
@click.argument("db", type=click.Path(path_type=Path))
@click.argument("outdir", type=click.Path(path_type=Path))
@click.option("--metadata", type=click.Path(path_type=Path), help="Datasette metadata.yml for titles, licence, "
              "sources and descriptions; a missing file means none  [default: the project's metadata.yml]")
@click.option("--format", "formats", default="csv", show_default=True, metavar="FORMATS",
              help="csv, parquet, or both as csv,parquet: one file per table in each.")
def package(db: Path, outdir: Path, metadata: Path | None, formats: str):
    """Write DB as a Frictionless Data Package (CSV or Parquet, + JSON).

    OUTDIR gets one file per table in each format, the citation network between
    posts (citations.csv, citations.graphml, citations.gexf) and datapackage.json
    describing them, with the titles, licence, sources and column descriptions of the metadata
    file. Parquet files keep the database's column types, for DuckDB, Spark or
    BigQuery (they need pyarrow: pip install 'news-archive[parquet]').

    \b
    Examples:
      news-archive package news.db news-package/
      news-archive package news.db news-package/ --format csv,parquet
    """
    from . import config
    from .package import formats_of, package as run_package
    from .parquet import ParquetUnavailable, ValueMismatch

    with exits({ValueError: UNUSABLE}):
        chosen = formats_of(formats)
    with exits({**metadata_errors(), ParquetUnavailable: UNUSABLE, ValueMismatch: FAILED}):
        descriptor = run_package(database(db), outdir, metadata or config.METADATA, chosen)
    from .graph import RESOURCE_NAMES

    tables = sum(r["name"] not in RESOURCE_NAMES for r in descriptor["resources"]) // len(chosen)
    click.echo(f"{outdir}/datapackage.json: {tables} tables as {', '.join(chosen)} and the citation network "
               f"(citations.csv, .graphml, .gexf) from {db}")


# --------------------------------------------------------------------------- Datasette


@cli.command()
@click.argument("db", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8001, show_default=True, help="Port to listen on.")
@click.option("--print", "print_only", is_flag=True, help="Print the datasette command line and exit.")
def serve(db: Path, host: str, port: int, print_only: bool):
    """Serve DB with Datasette; a new build is served as it lands, with no request lost.

    Serves as production does: the database is opened immutable with an inspect file, with the project's
    metadata, plugins, templates and settings. A Datasette that dies is restarted. Stop it with Ctrl-C.

    \b
    Examples:
      news-archive serve news.db
      news-archive serve news.db --port 8080 --print
    """
    from . import serve as serving

    servable(db)
    with exits({**metadata_errors(), serving.CannotListen: UNUSABLE}):
        if print_only:
            click.echo(" ".join(serving.serve_command(db, host, port)))
            return
        sys.exit(serving.run(db, host, port))


@cli.command()
@click.argument("target", type=click.Choice(("cloudrun", "fly", "package")))
@click.argument("db", type=click.Path(path_type=Path))
@click.option("--name", default="news-archive", show_default=True, help="Service (cloudrun), app (fly) or image tag (package).")
@click.option("--dry-run", is_flag=True, help="Stage the files and print the command; run nothing.")
def publish(target: str, db: Path, name: str, dry_run: bool):
    """Publish DB on Cloud Run or Fly, or as a Docker image.

    Runs `datasette publish` (or `datasette package`) with the same database
    options, plugins, templates, photos and settings as `serve`, staged in
    .DB-publish/ beside DB; the image installs this project. cloudrun needs gcloud
    (logged in, with a project), fly needs flyctl (logged in) and
    datasette-publish-fly, package needs a running Docker; without them it exits 2
    with one line saying what to install. When the datasette command fails, or
    package makes no new image, it exits non-zero.

    \b
    Examples:
      news-archive publish cloudrun news.db --name news-archive
      news-archive publish package news.db --dry-run
    """
    from .publish import PublishFailed, ToolMissing, publish as run_publish

    database(db)
    with exits({**metadata_errors(), ToolMissing: UNUSABLE}):
        try:
            run_publish(target, db, name, dry_run)
        except PublishFailed as exc:
            raise Failure(str(exc), exc.status) from None


@cli.command("config")
@click.argument("outdir", type=click.Path(path_type=Path))
@click.option("--db", "db_name", default="news", show_default=True, help="Database name (the .db file's stem).")
@click.option("--metadata", type=click.Path(path_type=Path), help="The metadata.yml to split  [default: the project's]")
def config_command(outdir: Path, db_name: str, metadata: Path | None):
    """Write Datasette 1.0's metadata.yaml and datasette.yaml.

    Writes both into OUTDIR. metadata.yml is written for Datasette 0.65; 1.0 reads settings, plugins, table
    options and canned queries from datasette.yaml. `serve` does this split by
    itself; this command is for running Datasette 1.0 by hand.

    \b
    Example:
      news-archive config datasette-1/ --db news
    """
    from . import config

    with exits(metadata_errors()):
        for path in config.write_v1(outdir, config.load(metadata or config.METADATA, db_name)):
            click.echo(path)


@cli.command()
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the schema page is out of date.")
def docs(check: bool):
    """Regenerate docs/schema.md (with --check: is it current?).

    The page is made from metadata.yml and the schema the build creates.

    \b
    Examples:
      news-archive docs
      news-archive docs --check
    """
    from . import docs as schema_docs

    sys.exit(schema_docs.run(check))


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="news-archive")
