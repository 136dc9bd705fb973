# Two commands do everything (see README):
#   make run    set up, build news.db from sample/posts/ and serve it on http://127.0.0.1:8001/
#   make test   set up (Python packages and Debian's chromium) and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
POSTS ?= sample/posts
DB ?= news.db
PORT ?= 8001

.PHONY: run setup build serve test browser bench clean

run: build
	$(PY) -m newsarchive.serve $(DB) --port $(PORT)

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

build: setup
	$(PY) build_db.py $(POSTS) --db $(DB)

serve: setup
	$(PY) -m newsarchive.serve $(DB) --port $(PORT)

browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: setup browser
	$(PY) -m pytest

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(DB) $(DB).inspect.json .pytest_cache artifacts
