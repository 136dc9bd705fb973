"""The database: one declaration of every table, the writes, the checks."""
