"""`python -m newsarchive` is the `news-archive` command."""
from .cli import main

main()
