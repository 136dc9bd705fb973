# Two commands do everything (see README):
#   make run    set up, build news.db from sample/posts/ and serve it on http://127.0.0.1:8001/
#   make test   set up (Python packages and Debian's chromium) and run the whole test suite
#               on Datasette 0.65, then the Datasette-facing tests on Datasette 1.0 (test-v1)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
NEWS := $(VENV)/bin/news-archive
# A second virtualenv with the same project and the Datasette 1.0 alpha forced in over
# the 0.65 pin (pip reports the broken pin: expected). `make run-v1` serves with it.
VENV_V1 ?= .venv-v1
PY_V1 := $(VENV_V1)/bin/python
NEWS_V1 := $(VENV_V1)/bin/news-archive
DATASETTE_V1 ?= 1.0a41
# The tests that go through Datasette, run on both versions.
V1_TESTS ?= tests/test_datasette.py tests/test_security.py tests/test_search_bounded.py tests/test_concordance_bounded.py tests/test_search_common.py tests/test_hostile_sql.py tests/test_docs.py tests/test_words.py tests/test_summary_pages.py tests/test_startup.py \
	tests/test_serve.py tests/browser/test_pages.py tests/browser/test_xss.py \
	tests/test_article.py tests/browser/test_article_page.py tests/test_readable_ids.py tests/test_stored_html.py \
	tests/test_posts_page.py tests/browser/test_posts_page.py tests/test_search.py tests/browser/test_search_page.py \
	tests/test_archive_identity.py tests/browser/test_archive_photos.py \
	tests/test_instruments.py tests/browser/test_instruments_pages.py \
	tests/test_provenance.py tests/browser/test_provenance_page.py \
	tests/browser/test_related_page.py \
	tests/test_nginx.py tests/test_loadtest.py
POSTS ?= sample/posts
DB ?= news.db
PORT ?= 8001
# serve and publish write their generated files beside the database, in .NAME-serve/ and .NAME-publish/.
SIDE = $(dir $(DB)).$(basename $(notdir $(DB)))

.PHONY: run run-v1 setup setup-v1 build serve test test-v1 browser nginx bench bench-scale clean

run: build
	$(NEWS) serve $(DB) --port $(PORT)

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup-v1: $(VENV_V1)/.installed-$(DATASETTE_V1)

$(VENV_V1)/.installed-$(DATASETTE_V1): pyproject.toml
	$(PYTHON) -m venv $(VENV_V1)
	$(PY_V1) -m pip install --quiet --upgrade pip
	$(PY_V1) -m pip install --quiet -e '.[test]'
	$(PY_V1) -m pip install --quiet 'datasette==$(DATASETTE_V1)'
	@echo "(pip's complaint that news-archive requires datasette<0.66 is expected: $(VENV_V1) overrides the pin on purpose)"
	$(PY_V1) -c "import datasette.version as v, datasette_render_markdown; assert v.__version__ == '$(DATASETTE_V1)', v.__version__"
	rm -f $(VENV_V1)/.installed-*
	touch $@

run-v1: build setup-v1
	$(NEWS_V1) serve $(DB) --port $(PORT)

build: setup
	$(NEWS) build $(POSTS) --db $(DB)

serve: setup
	$(NEWS) serve $(DB) --port $(PORT)

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Debian's nginx, for tests/test_nginx.py (two replicas behind it; run as a subprocess, never as a service).
nginx:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || { \
	  echo "installing Debian's nginx for the scale-out test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }

test: setup browser nginx
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-v1

test-v1: setup-v1 browser
	$(PY_V1) -m pytest $(V1_TESTS)

bench: setup
	$(PY) bench/run.py

# Figures 2-4 at 100,000 and at SCALE_POSTS posts, row beside row; the table says how long the run took
# (make bench-scale SCALE_POSTS=200000 for a shorter run).
SCALE_POSTS ?= 1000000
bench-scale: setup
	$(PY) bench/run.py --scale $(SCALE_POSTS)

clean:
	rm -rf $(VENV) $(VENV_V1) $(DB) $(DB).lock $(SIDE)-serve $(SIDE)-publish .pytest_cache artifacts
