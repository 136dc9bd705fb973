"""The database: one declaration of every table, the writes, the checks.

    schema.py       every table, index, view and FTS index, declared once; the DDL,
                    INSERT statements and row types derived from it
    write.py        posts in and out: their rows, orphaned lookups, link targets
    bookkeeping.py  _files, builds, build_errors: what the build keeps about itself
    check.py        the integrity checks a new database passes before it is swapped in
    files.py        opening a database file read-only, whatever its path holds
"""
