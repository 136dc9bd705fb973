#!/usr/bin/env python3
"""Build a SQLite database from a folder of news posts: `news-archive build` under the
name researchers know.

    python build_db.py POSTS_DIR --db news.db            build, or update incrementally
    python build_db.py POSTS_DIR --db news.db --full     rebuild from scratch

Every option and exit code is the build command's (docs/cli.md); checking a folder,
export, package, serve and publish are `news-archive COMMAND`.
"""
from newsarchive.cli import build

if __name__ == "__main__":
    build.main(prog_name="build_db.py")
