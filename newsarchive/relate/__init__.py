"""Relations between posts that no single file states: reprints (near copies of an
earlier post's body) and related posts (the closest in subject).

features.py runs in the parser workers and turns a post's body_text into what the
relations stage needs later (a MinHash signature and its weightiest words);
reprints.py and related.py are that stage, run by the build after the posts are
written (stage.py)."""
