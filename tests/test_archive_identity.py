"""An archive's own identity (archive.yml -> the `archive` table) on the home page, in
datapackage.json and in publish's staged metadata; site-relative photo and link URLs
read against its base URL and loaded from its mirror folder. Datasette 0.65 and 1.0."""
from __future__ import annotations

import json
import re
import shutil
import struct
import zlib
from pathlib import Path
from urllib.parse import urljoin

import pytest
from click.testing import CliRunner

from newsarchive.build.pipeline import build
from newsarchive.cli import cli
from newsarchive.package import package
from newsarchive.publish import publish_command
from newsarchive.site.cells import mirror_images, mirror_url, thumbnail
from newsarchive.site.identity import MIRROR_MOUNT, identity_of, mirrored_file, photo_mirror

from .conftest import CORPUS_18F, SAMPLE, get, rows

POSTS_18F = CORPUS_18F / "content" / "posts"
CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"
ARCHIVE_YML = f"""\
title: 18F blog
description: Posts of 18F, the US General Services Administration's digital services agency.
license: CC0 1.0
license_url: {CC0}
source: 18F/18f.gsa.gov on GitHub
source_url: https://github.com/18F/18f.gsa.gov
base_url: https://18f.gsa.gov/
image_mirror: ../mirror
"""
FBOPEN = "2014-05-11-18f-shows-what-is-possible-in-government-with-fbopen"
FBOPEN_LOGO = "/assets/blog/fbopen/fbopen-pilot-logo.png"


def png(width: int = 160, height: int = 100) -> bytes:
    """A red PNG of width x height: signature, IHDR, IDAT, IEND."""
    raw = b"".join(b"\x00" + b"\xcc\x22\x22" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def make_18f(root: Path, archive_yml: str | None = ARCHIVE_YML) -> Path:
    """The 18F blog copied under root/posts (with archive_yml), and a mirror folder of
    PNGs at every site path its photos use."""
    posts = root / "posts"
    shutil.copytree(POSTS_18F, posts)
    if archive_yml is not None:
        (posts / "archive.yml").write_text(archive_yml, encoding="utf-8")
    (root / "mirror").mkdir()
    return posts


def fill_mirror(mirror: Path, db: Path) -> list[str]:
    """A PNG at the site path of every site-relative photo the database lists
    (`/assets/a.png` and `assets/a.png` alike)."""
    urls = [url for (url,) in rows(db, "select url from images")]
    paths = sorted({urljoin("/", url) for url in urls if not re.match(r"[a-z][a-z0-9+.-]*:|//", url, re.I)})
    for path in paths:
        target = mirror / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(png())
    return paths


def built_18f(root: Path) -> Path:
    """The 18F blog with ARCHIVE_YML built into root/news.db, its mirror filled."""
    db = root / "news.db"
    build(make_18f(root), db, quiet=True)
    fill_mirror(root / "mirror", db)
    return db


@pytest.fixture(scope="module")
def blog(tmp_path_factory):
    return built_18f(tmp_path_factory.mktemp("18f"))


@pytest.fixture(scope="module")
def blog_app(blog):
    from newsarchive.serve import datasette_app

    return datasette_app(blog)


def home_words(app) -> tuple[str, str]:
    html = get(app, "/").text
    title = re.search(r"<h1>(.*?)</h1>", html, re.S).group(1).strip()
    footer = re.search(r"<footer.*?</footer>", html, re.S).group(0)
    return title, footer


# --------------------------------------------------------------------------- identity


def test_identity_is_stored_in_the_database(blog):
    identity = identity_of(blog)
    assert identity["title"] == "18F blog"
    assert identity["license"] == "CC0 1.0" and identity["license_url"] == CC0
    assert identity["base_url"] == "https://18f.gsa.gov"  # the trailing slash dropped
    assert Path(identity["image_mirror"]) == (blog.parent / "mirror").resolve()


def test_home_page_shows_the_archives_title_and_licence(blog_app):
    title, footer = home_words(blog_app)
    assert title == "18F blog"
    assert f'<a href="{CC0}">CC0 1.0</a>' in footer
    assert "18F/18f.gsa.gov on GitHub" in footer
    assert "Harbour Times" not in get(blog_app, "/").text


def test_data_package_carries_the_archives_identity(blog, tmp_path):
    descriptor = package(blog, tmp_path / "pkg", ROOT_METADATA)
    on_disk = json.loads((tmp_path / "pkg" / "datapackage.json").read_text(encoding="utf-8"))
    assert descriptor == on_disk
    assert on_disk["title"] == "18F blog"
    assert on_disk["licenses"] == [{"title": "CC0 1.0", "path": CC0}]
    assert on_disk["sources"] == [{"title": "18F/18f.gsa.gov on GitHub", "path": "https://github.com/18F/18f.gsa.gov"}]


def test_publish_stages_the_archives_identity(blog, tmp_path):
    command = publish_command("package", blog, "eighteen-f", tmp_path / "stage")
    metadata = json.loads((tmp_path / "stage" / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["title"] == "18F blog"
    assert (metadata["license"], metadata["license_url"]) == ("CC0 1.0", CC0)
    assert command[command.index("-m") + 1] == str(tmp_path / "stage" / "metadata.json")


def test_publish_dry_run_prints_the_command_and_stages_the_identity(blog):
    result = CliRunner().invoke(cli, ["publish", "package", str(blog), "--dry-run"])
    assert result.exit_code == 0, result.output
    staged = blog.parent / f".{blog.stem}-publish" / "metadata.json"
    assert json.loads(staged.read_text(encoding="utf-8"))["title"] == "18F blog"


ROOT_METADATA = SAMPLE.parent.parent / "metadata.yml"


def test_without_archive_yml_a_neutral_title_and_no_licence(tmp_path, app_for):
    posts = tmp_path / "18f-blog"
    shutil.copytree(POSTS_18F, posts)
    db = tmp_path / "news.db"
    build(posts, db, quiet=True)
    assert identity_of(db) == {"title": "18f-blog news archive"}
    title, footer = home_words(app_for(db))
    assert title == "18f-blog news archive"
    assert "license" not in footer.lower() and "Harbour Times" not in footer
    descriptor = package(db, tmp_path / "pkg", ROOT_METADATA)
    assert descriptor["title"] == "18f-blog news archive"
    assert "licenses" not in descriptor


def test_the_sample_keeps_its_own_name(sample_db):
    identity = identity_of(sample_db)
    assert identity["title"] == "Harbour Times news archive"
    assert identity["license"].startswith("CC BY 4.0")


@pytest.mark.parametrize("text, message", [
    ("title: x\nlicence: CC0\n", "unknown key 'licence'"),
    ("- title\n", "must be a mapping"),
    ("base_url: 18f.gsa.gov\n", "base_url must be an http(s) URL"),
    ("timezone: Mars/Olympus\n", "not an IANA zone name"),
    ("image_mirror: no-such-folder\n", "image_mirror 'no-such-folder' is not a folder"),
    ("title: [a, b]\n", "title must be text"),
])
def test_a_bad_archive_yml_stops_the_build_with_one_line(tmp_path, text, message):
    posts = tmp_path / "posts"
    shutil.copytree(SAMPLE, posts)
    (posts / "archive.yml").write_text(text, encoding="utf-8")
    db = tmp_path / "news.db"
    for command in (["build", str(posts), "--db", str(db)], ["check", str(posts)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: {posts / 'archive.yml'}"), lines
        assert message in lines[0]
    assert not db.exists() and not list(tmp_path.glob("news.db*"))


def test_options_win_over_the_file_and_a_changed_file_updates_the_table(tmp_path):
    posts = tmp_path / "posts"
    shutil.copytree(SAMPLE, posts)
    db = tmp_path / "news.db"
    runner = CliRunner()
    result = runner.invoke(cli, ["build", str(posts), "--db", str(db), "-q", "--title", "Port Alder papers",
                                 "--license", "CC0 1.0"])
    assert result.exit_code == 0, result.output
    identity = identity_of(db)
    assert (identity["title"], identity["license"]) == ("Port Alder papers", "CC0 1.0")
    assert identity["description"].startswith("Every post")  # the file's, not overridden

    # Only archive.yml changed: the update rewrites the table and no post.
    (posts / "archive.yml").write_text("title: Harbour Times, renamed\n", encoding="utf-8")
    result = runner.invoke(cli, ["build", str(posts), "--db", str(db), "-q"])
    assert result.exit_code == 0, result.output
    assert "database unchanged" not in result.output
    assert f"unchanged {len(list(posts.rglob('*.md')))}" in result.output
    assert identity_of(db) == {"title": "Harbour Times, renamed"}
    result = runner.invoke(cli, ["build", str(posts), "--db", str(db), "-q"])
    assert "database unchanged" in result.output
    assert rows(db, "select count(*), max(mode) from builds") == [(2, "incremental")]


# --------------------------------------------------------------------------- URLs


SITE = {"base_url": "https://18f.gsa.gov", "image_mirror": "/somewhere"}


@pytest.mark.parametrize("url, shown", [
    ("/assets/a.png", MIRROR_MOUNT + "assets/a.png"),
    ("assets/a.png", MIRROR_MOUNT + "assets/a.png"),
    ("../img/a.png", MIRROR_MOUNT + "img/a.png"),
    ("/news.json?sql=select+1", MIRROR_MOUNT + "news.json?sql=select+1"),
    ("https://18f.gsa.gov/b.png", MIRROR_MOUNT + "b.png"),
    ("https://example.org/c.png", "https://example.org/c.png"),
    ("https://images.harbourtimes.test/x.jpg", "/photos/x.jpg"),
])
def test_site_relative_photos_are_read_against_the_base_url(url, shown):
    mirror = photo_mirror(SITE, {"https://images.harbourtimes.test/": "/photos/"})
    assert mirror_url(url, mirror) == shown
    without_mirror = photo_mirror({"base_url": "https://18f.gsa.gov"}, None)
    assert mirror_url(url, without_mirror) == shown.replace(MIRROR_MOUNT, "https://18f.gsa.gov/").replace(
        "/photos/", "https://images.harbourtimes.test/")


@pytest.mark.parametrize("url", ["/news.json?sql=select+1", "assets/a.png", "../img/a.png", "/assets/a.png"])
def test_without_a_base_url_a_site_relative_photo_is_never_loaded_from_this_site(url):
    assert mirror_url(url, {"https://images.harbourtimes.test/": "/photos/"}) is None
    assert "<img" not in thumbnail(url, {})
    html = mirror_images(f'<p><img src="{url}" alt="x"></p>', {})
    assert 'src=""' in html and url not in html


def test_article_page_and_photos_view_show_photos_from_the_mirror(blog, blog_app):
    article = get(blog_app, f"/news/posts/{FBOPEN}").text
    sources = re.findall(r'<img[^>]*\bsrc="([^"]*)"', article)
    assert sources and all(src.startswith(MIRROR_MOUNT) for src in sources), sources
    assert MIRROR_MOUNT + FBOPEN_LOGO.lstrip("/") in sources
    photos = get(blog_app, f"/news/photos?post_id={FBOPEN}").text
    assert f'src="{MIRROR_MOUNT}{FBOPEN_LOGO.lstrip("/")}"' in photos
    served = get(blog_app, MIRROR_MOUNT + FBOPEN_LOGO.lstrip("/"))
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert served.content == png()
    for outside in ("..%2F..%2Fnews.db", "%2E%2E/%2E%2E/news.db", "%2Fetc%2Fpasswd"):
        assert get(blog_app, MIRROR_MOUNT + outside).status_code == 404, outside
    identity = identity_of(blog)
    assert mirrored_file(identity, "../news.db") is None and mirrored_file(identity, "/etc/passwd") is None
    assert mirrored_file(identity, FBOPEN_LOGO) is not None
    assert get(blog_app, MIRROR_MOUNT + "assets/none.png").status_code == 404


def test_site_relative_links_point_at_the_archives_site(blog, blog_app):
    relative = rows(blog, "select post_id, url from links where url like '/_%/%' and url not like '//%' limit 1")
    assert relative, "the 18F blog links to its own pages"
    post_id, url = relative[0]
    page = get(blog_app, f"/news/links?post_id={post_id}").text
    assert f'href="https://18f.gsa.gov{url}"' in page.replace("&amp;", "&") or \
        f'href="https://18f.gsa.gov{url}"' in page
    assert f'href="{url}"' not in page
    article = get(blog_app, f"/news/posts/{post_id}").text
    assert f'href="https://18f.gsa.gov{url}"' in article and f'href="{url}"' not in article


def test_the_stored_text_stays_exact(blog):
    (body,) = rows(blog, "select body from posts where id = ?", [FBOPEN])[0]
    assert FBOPEN_LOGO in body
    assert (FBOPEN_LOGO,) in rows(blog, "select url from images")
    assert "18f.gsa.gov" + FBOPEN_LOGO not in body
