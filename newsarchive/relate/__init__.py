"""Relations between posts that no single file states: reprints (near copies of an
earlier post's body) and related posts (the closest in subject).

features.py runs in the parser workers and turns a post's body_text into what the
relations stage needs later (a MinHash signature and its weightiest words);
reprints.py (the method and the pass over every post) and related.py are that stage,
run by the build after the posts are written. An update recomputes only the reprint
groups of the posts it changed (reprint_update.py), from the buckets
reprint_index.py keeps between builds, and only the related lists that can change
(related_update.py), from the vectors it keeps.
"""
