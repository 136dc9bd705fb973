"""Turn a folder of news posts into a normalized SQLite database for Datasette."""

__version__ = "0.1.0"
