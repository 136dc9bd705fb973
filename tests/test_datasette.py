"""The published archive through Datasette's own test client, configured as served."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from datasette.tracer import capture_traces

from newsarchive import config
from newsarchive.build.pipeline import build
from newsarchive.serve import serve_command

from .conftest import DATASETTE_1, ROOT, get, write_posts

HOSTILE = "2024-10/port-alder-council-website-hacked.md"


@pytest.fixture(scope="module")
def db(sample_db):
    conn = sqlite3.connect(sample_db)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()




def _facet_results(data: dict) -> dict:
    """Facet name -> facet, from a table's JSON (1.0 nests them as facet_results.results)."""
    facets = data["facet_results"]
    return facets["results"] if DATASETTE_1 else facets


def test_posts_facets_show_labels_and_sort_newest_first(sample_ds, db):
    if DATASETTE_1:
        # 1.0's table JSON is a minimal envelope: facets only when asked for with
        # _extra, nested as facet_results.results.
        response = get(sample_ds, "/news/posts.json?_size=5&_extra=facet_results")
    else:
        response = get(sample_ds, "/news/posts.json?_size=5&_shape=objects")
    assert response.status_code == 200
    data = response.json()
    labels = {name: {r["label"]: r["count"] for r in facet["results"]} for name, facet in _facet_results(data).items()}
    expected_categories = {
        r["name"]: r["n"] for r in db.execute(
            "select category as name, count(*) n from posts where category is not null group by 1"
        )
    }
    assert labels["category"] == expected_categories
    assert labels["language"] == {r[0]: r[1] for r in db.execute(
        "select language, count(*) from posts where language is not null group by 1")}
    assert set(labels["published_month"]) == {r[0] for r in db.execute("select distinct published_month from posts")}
    dates = [row["published_at"] for row in data["rows"]]
    assert dates == sorted(dates, reverse=True)


def _facet_queries(ds, path):
    """Fetch a page; return it and the facet SQL Datasette ran for it."""
    traces = []

    async def fetch():
        with capture_traces(traces):
            return await ds.client.get(path)

    response = asyncio.run(fetch())
    assert response.status_code == 200
    return response, [t["sql"] for t in traces if "as value, count(*) as count from" in t["sql"]]


def _facet_counts(ds, path):
    extra = "&_extra=facet_results" if DATASETTE_1 else ""
    facets = _facet_results(get(ds, path + extra).json())
    return {name: {r["value"]: r["count"] for r in facet["results"]} for name, facet in facets.items()}


def test_facet_counts_of_an_immutable_database_are_counted_once(sample_db, db, tmp_path, app_for):
    ds = app_for(sample_db, workdir=tmp_path)
    # A page filtered by more than a facet column (the unfiltered one, and one filtered by
    # facet columns alone, read the build's counts: test_summary_pages.py).
    _, first = _facet_queries(ds, "/news/posts?language=en&word_count__gte=0")
    assert len(first) == 3  # category, language, published_month
    _, again = _facet_queries(ds, "/news/posts?language=en&word_count__gte=0")
    assert again == []
    # Kept counts are the database's, for each filter on its own.
    for language, in db.execute("select distinct language from posts where language is not null"):
        expected = {r[0]: r[1] for r in db.execute(
            "select category, count(*) from posts where language = ? and category is not null group by 1",
            [language])}
        path = f"/news/posts.json?language={language}&_facet=category"
        assert _facet_counts(ds, path)["category"] == expected
        assert _facet_counts(ds, path)["category"] == expected  # the kept answer


def test_facet_counts_of_a_mutable_database_are_always_counted(sample_db, tmp_path, app_for):
    ds = app_for(sample_db, workdir=tmp_path, immutable=False)
    for _ in range(2):
        _, queries = _facet_queries(ds, "/news/posts?language=en")
        assert len(queries) == 3


def test_plugin_configuration_is_looked_up_once_per_table_not_per_cell(sample_db, tmp_path, monkeypatch, app_for):
    """Every cell of a page goes through datasette-render-markdown's hook, which asks for
    its configuration (on 0.65 a fresh merge of the metadata): the server asks Datasette
    once per plugin and table instead, and answers the same."""
    from datasette.app import Datasette

    lookups = []
    real = Datasette.plugin_config

    def counted(self, *args, **kwargs):
        lookups.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Datasette, "plugin_config", counted)
    ds = app_for(sample_db, workdir=tmp_path)  # started (and wrapped) at its first request
    page = get(ds, "/news/posts?_size=50")
    assert page.status_code == 200 and page.text.count("<tr") > 20
    first = len(lookups)
    assert first > 0
    assert get(ds, "/news/posts?_size=50&_sort_desc=word_count").status_code == 200
    cells = 50 * 24
    assert len(lookups) - first < cells / 20, "the second page asked for the configuration for every cell"
    for plugin, table in [("datasette-render-markdown", "posts"), ("news-archive", "posts"), ("news-archive", None),
                          ("news-archive", "images"), ("no-such-plugin", "posts")]:
        assert ds.plugin_config(plugin, database="news", table=table) == real(ds, plugin, database="news", table=table)


def test_table_search_box_uses_fts(sample_ds, db):
    rows = get(sample_ds, "/news/posts.json?_search=harbour&_shape=array&_col=title").json()
    expected = db.execute(
        "select count(*) from posts_fts where posts_fts match 'harbour'").fetchone()[0]
    assert len(rows) == expected > 0
    # Escaped search: FTS syntax in the box is taken literally, never an error.
    response = get(sample_ds, '/news/posts.json?_search=%22unbalanced&_shape=array')
    assert response.status_code == 200


def test_canned_queries_with_parameters(sample_ds, db):
    reuters = get(sample_ds, "/news/photos_by_credit.json?_shape=array&credit=Reuters").json()
    expected = db.execute(
        "select count(*) from post_images join captions on captions.id = caption_id"
        " where captions.credit = 'Reuters'").fetchone()[0]
    assert len(reuters) == expected > 0
    assert all(r["caption"].rstrip().endswith("Reuters)") for r in reuters)

    cited = db.execute(
        "select target_post_id, count(distinct post_id) n from links where target_post_id is not null"
        " group by 1 order by n desc limit 1").fetchone()
    citing = get(sample_ds, f"/news/posts_citing.json?_shape=array&post_id={cited['target_post_id']}").json()
    assert len({r["id"] for r in citing}) == cited["n"]

    per_month = get(sample_ds, "/news/posts_per_month.json?_shape=array&from_month=2024-10&to_month=2024-11").json()
    assert {r["month"] for r in per_month} == {"2024-10", "2024-11"}
    assert sum(r["posts"] for r in per_month) == db.execute(
        "select count(*) from posts where published_month between '2024-10' and '2024-11'").fetchone()[0]
    everything = get(sample_ds, "/news/posts_per_month.json?_shape=array&from_month=&to_month=").json()
    assert sum(r["posts"] for r in everything) == db.execute(
        "select count(*) from posts where published_month is not null").fetchone()[0]


def test_canned_queries_have_descriptions_and_named_parameters():
    queries = config.load()["databases"]["news"]["queries"]
    assert set(queries) == {"photos_by_credit", "posts_by_author", "posts_by_tag", "posts_citing", "posts_per_month",
                            "photo_reuse", "most_cited", "citing_chain"}
    for name, query in queries.items():
        assert query.get("title") and query.get("description"), name
        assert ":" in query["sql"], f"{name} has no named parameter"


@pytest.mark.parametrize("table", ["posts", "posts_flat", "photos", "captions", "links", "images", "post_images"])
def test_csv_and_json_for_tables_and_views(sample_ds, db, table):
    count = db.execute(f"select count(*) from [{table}]").fetchone()[0]
    response = get(sample_ds, f"/news/{table}.csv?_stream=on&_size=max")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain") or "csv" in response.headers["content-type"]
    rows = list(csv.reader(io.StringIO(response.text)))
    columns = [r[1] for r in db.execute(f"pragma table_info([{table}])")]
    assert rows[0][: len(columns)] == columns or set(columns) <= set(rows[0])
    assert len(rows) - 1 == count
    array = get(sample_ds, f"/news/{table}.json?_shape=array&_size=max").json()
    assert len(array) == min(count, 1000)


def test_full_csv_stream_of_posts_includes_every_body(sample_ds, db):
    text = get(sample_ds, "/news/posts.csv?_stream=on&_col=body").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == db.execute("select count(*) from posts").fetchone()[0]
    assert {r["body"] for r in rows} == {r[0] for r in db.execute("select body from posts")}


def test_sql_query_url_and_csv(sample_ds):
    data = get(sample_ds, "/news.json?sql=select+count(*)+as+n+from+posts&_shape=array").json()
    assert data == [{"n": 30}] or data[0]["n"] > 0
    csv_text = get(sample_ds, "/news.csv?sql=select+id,title+from+posts+order+by+id+limit+3").text
    assert csv_text.splitlines()[0] == "id,title"


def test_post_row_page_reads_like_the_article(sample_ds, db):
    post = db.execute(
        "select id, title, published_at from posts where image_count >= 3 and link_count >= 1"
        " and id in (select target_post_id from links) order by id limit 1").fetchone()
    html = get(sample_ds, f"/news/posts/{post['id']}").text
    assert f"<h1>{post['title']}</h1>" in html.replace("&#39;", "'").replace("&#34;", '"')
    assert post["published_at"][:10] in html
    inline = db.execute("select count(*) from post_images where post_id = ?", [post["id"]]).fetchone()[0]
    assert html.count('<figure class="news-photo">') == inline
    assert html.count('<span class="credit">') >= 1
    assert "/photos/" in html, "photos are served from the local mirror"
    assert "Posts that cite this post" in html and "Links in this post" in html
    citing = db.execute("select distinct post_id from links where target_post_id = ?", [post["id"]]).fetchall()
    for (citing_id,) in citing:
        assert f"/news/posts/{citing_id}" in html


def test_hostile_post_is_sanitised_in_cells_and_article(sample_ds, db):
    (post_id,) = db.execute("select id from posts where path = ?", [HOSTILE]).fetchone()
    for path in (f"/news/posts/{post_id}", f"/news/posts?id={post_id}"):
        html = get(sample_ds, path).text
        body = html.split('<div class="body">', 1)[-1]
        assert "<script>alert" not in body
        assert "onerror" not in body.lower()
        assert not re.search(r"""(href|src)\s*=\s*["']?\s*javascript:""", body, re.IGNORECASE)


def test_arbitrary_sql_does_not_render_markdown(sample_ds):
    html = get(sample_ds, "/news?sql=select+%27**bold**+%3Cb%3Ex%3C/b%3E%27+as+body,+%27*x*%27+as+note_markdown").text
    assert "<strong>bold</strong>" not in html and "<em>x</em>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_thumbnails_and_safe_links(sample_ds, db):
    html = get(sample_ds, "/news/images?_size=5").text
    assert 'class="news-thumb"' in html and 'src="/photos/' in html
    html = get(sample_ds, "/news/posts?_size=3&_col=origin_url").text
    assert 'rel="nofollow noopener noreferrer"' in html


def test_home_page_has_an_offline_chart(sample_ds):
    html = get(sample_ds, "/").text
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="news-chart"' in html
    assert html.count("<rect") > 5
    assert "<script src=\"http" not in html


def test_every_column_has_a_description(db):
    meta = config.load()["databases"]["news"]["tables"]
    objects = db.execute(
        "select name from sqlite_master where type in ('table','view') and name not like '%_fts%' and name != 'sqlite_stat1'"
    ).fetchall()
    for (name,) in objects:
        assert name in meta and meta[name].get("description"), f"{name} has no description"
        columns = [r[1] for r in db.execute(f"pragma table_info([{name}])")]
        assert set(meta[name].get("columns", {})) == set(columns), name
        assert all(meta[name]["columns"].values()), name


def test_serve_command_is_production_like(sample_db):
    command = serve_command(sample_db, "127.0.0.1", 8123)
    joined = " ".join(command)
    assert command[1:4] == ["-m", "datasette", "serve"]
    assert f"-i {sample_db.resolve()}" in joined and "--inspect-file" in joined
    assert "-h 127.0.0.1 -p 8123" in joined
    settings = ("sql_time_limit_ms", "max_returned_rows", "allow_csv_stream", "suggest_facets")
    if DATASETTE_1:
        # 1.0: settings, plugins, table options and canned queries live in datasette.yaml.
        import yaml

        options = command[command.index("serve") + 1:]
        metadata = yaml.safe_load(open(options[options.index("-m") + 1], encoding="utf-8"))
        datasette_yaml = yaml.safe_load(open(options[options.index("-c") + 1], encoding="utf-8"))
        assert set(settings) <= set(datasette_yaml["settings"]) and "--setting" not in joined
        assert set(datasette_yaml["databases"][sample_db.stem]["queries"]) == set(config.load()["databases"]["news"]["queries"])
        assert datasette_yaml["databases"][sample_db.stem]["tables"]["posts"]["facets"]
        assert "settings" not in metadata and "queries" not in metadata["databases"][sample_db.stem]
        assert metadata["databases"][sample_db.stem]["tables"]["posts"]["columns"]
    else:
        for setting in settings:
            assert f"--setting {setting}" in joined
    assert "--plugins-dir" in joined and "--template-dir" in joined and "--static photos:" in joined


def test_posts_table_shows_the_opening_of_each_body_rendered(sample_ds, db):
    html = get(sample_ds, "/news/posts?_size=10&_columns=all").text  # body is not a reading column
    assert html.count("… read the whole post") >= 5
    assert "<p>" in html and "](" not in html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    first = db.execute("select id, body_text from posts order by published_at desc, id limit 1").fetchone()
    opening = first["body_text"].split("\n")[0][:40]
    assert opening.replace("'", "&#39;").replace('"', "&#34;")[:20] in html


@pytest.mark.parametrize(
    "text, limit, expected, cut",
    [
        ("short", 600, "short", False),
        ("a" * 10 + "\n\n" + "b" * 10 + "\n\n" + "c", 12, "a" * 10 + "\n\n" + "b" * 10, True),
        ("a" * 20, 5, "a" * 20, False),
        ("x\r\n\r\ny" + "z" * 10 + "\r\n\r\nw", 2, "x\n\ny" + "z" * 10, True),
    ],
)
def test_markdown_preview(text, limit, expected, cut):
    from newsarchive.site.cells import markdown_preview

    assert markdown_preview(text, limit) == (expected, cut)


def test_csv_stream_pages_through_a_table_1000_rows_at_a_time(tmp_path, app_for):
    """posts shows 20 rows per HTML page; a CSV stream must not page by 20 (see
    plugins/news_csv.py): every query of the stream asks for max_returned_rows + 1."""
    count = 1_050
    posts = write_posts(tmp_path / "posts", {
        f"p{i:04d}.md": f"---\ntitle: Post {i}\ndate: 2024-01-01T00:00:{i % 60:02d}Z\n---\nBody {i}.\n"
        for i in range(count)
    })
    db_path = tmp_path / "news.db"
    build(posts, db_path, quiet=True)
    ds = app_for(db_path)

    async def stream():
        traces = []
        with capture_traces(traces):
            response = await ds.client.get("/news/posts.csv?_stream=on&_col=title")
        return response, traces

    response, traces = asyncio.run(stream())
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == count
    assert {r["title"] for r in rows} == {f"Post {i}" for i in range(count)}
    page_limits = [
        int(m.group(1)) for t in traces
        if re.search(r"\bfrom\s+posts\b", t["sql"], re.I) and "count(" not in t["sql"].lower()
        for m in [re.search(r"\blimit\s+(\d+)", t["sql"], re.I)] if m
    ]
    # Two pages (1.0 runs the first page's query once more); 0.65 without the plugin
    # ran 53 queries here, most of them asking for 21 rows.
    assert 2 <= len(page_limits) <= 3, page_limits
    assert set(page_limits) == {1001}, page_limits


def test_a_jekyll_post_renders_as_its_site_shows_it(tmp_path, app_for):
    """Liquid in a Jekyll/Eleventy body: the article page and the table cell show the
    shortcode's photo and the filtered link, not template syntax."""
    posts = write_posts(tmp_path / "posts", {"2015-03-17-team.md": (
        "---\ntitle: Our team\ndate: 2015-03-17\n---\n\n"
        'Meet [the team]({{ "/about/" | url }}).\n\n'
        '{% image "assets/blog/team.jpg" "The whole team" %}\n\n'
        "{% raw %}Write {{ site.baseurl }} in templates.{% endraw %}\n"
    )})
    # Site-relative URLs are shown read against the site the posts were published on.
    (posts / "archive.yml").write_text("base_url: https://blog.example.org\n", encoding="utf-8")
    db_path = tmp_path / "news.db"
    build(posts, db_path, quiet=True)
    ds = app_for(db_path)
    for path in ("/news/posts/2015-03-17-team", "/news/posts?_col=body"):
        html = get(ds, path).text
        body = html.split('<div class="body">', 1)[-1] if "<div" in html else html
        assert 'href="https://blog.example.org/about/"' in body, path
        assert 'src="https://blog.example.org/assets/blog/team.jpg"' in body and 'alt="The whole team"' in body, path
        assert "{% image" not in body and "| url }}" not in body, path
        assert "Write {{ site.baseurl }} in templates." in body, path


#: What a Datasette process loads of this package: every plugin, as Datasette loads a
#: plugins folder, and every module of newsarchive.site. Prints the modules it added to
#: those Datasette itself loads.
_LOAD_THE_SITE = textwrap.dedent("""
    import importlib, json, pkgutil, sys
    from pathlib import Path

    import datasette.app
    from datasette.utils import module_from_path

    before = set(sys.modules)
    plugins = sorted(Path(sys.argv[1]).glob("*.py"))
    for path in plugins:
        module_from_path(str(path), name=path.name)
    import newsarchive.site
    site = [info.name for info in pkgutil.iter_modules(newsarchive.site.__path__, "newsarchive.site.")]
    for name in site:
        importlib.import_module(name)
    print(json.dumps({"datasette_loaded": sorted(before), "added": sorted(set(sys.modules) - before),
                      "plugins": len(plugins), "site": site}))
""")


def test_serving_loads_nothing_of_the_parser():
    """Every Datasette process imports the plugins and newsarchive.site; neither may pull
    in the parser (newsarchive.parse, pyromark), the frontmatter YAML, or the project's
    settings loader (newsarchive.config, which reads YAML)."""
    done = subprocess.run([sys.executable, "-c", _LOAD_THE_SITE, str(ROOT / "plugins")],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = json.loads(done.stdout)
    assert loaded["plugins"] >= 10 and "newsarchive.site.article" in loaded["site"]
    forbidden = ["pyromark", "newsarchive.parse", "newsarchive.config"]
    if "yaml" not in loaded["datasette_loaded"]:
        forbidden.append("yaml")
    pulled_in = [name for name in loaded["added"] if any(name == f or name.startswith(f + ".") for f in forbidden)]
    assert pulled_in == []
