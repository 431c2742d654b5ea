# Two commands on a fresh machine:  `make demo`  and  `make test`  (see README.md).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
export SMALLCAPS_DATA_DIR ?= $(CURDIR)/data

.PHONY: demo test lint ui install clean browser-deps postgres-deps ui-screenshots

# Bytecode is compiled at install time: machines that set PYTHONDONTWRITEBYTECODE would otherwise
# compile every imported module again in each process (about 3 s of CPU per start of the code location).
$(BIN)/.installed: pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) (Python 3.11)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $@

install: $(BIN)/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/smallcaps demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The browser test drives Debian's Chromium (never a Playwright browser download). As root (CI) a
# missing /usr/bin/chromium is installed; otherwise say how, and the test skips (outside CI).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "the browser test needs Debian's chromium: sudo apt-get install chromium"; fi; \
	fi

# The Postgres tests start their own cluster from Debian's PostgreSQL binaries (initdb in a temporary
# folder). As root (CI) a missing package is installed; otherwise say how, and those tests skip.
postgres-deps:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
	  else echo "the Postgres tests need Debian's postgresql: sudo apt-get install postgresql"; fi; \
	fi

# The suite (slow tests excluded), then the models' validity check, the docs' slow snippets (on a
# demo lake they build once: docs/testing.md), the Postgres and S3 tests (their own servers), and
# the browser test alone (marked slow; it starts its own dagster dev and must not share the two
# cores with the suite).
test: lint browser-deps postgres-deps
	$(BIN)/pytest -q -n 2 --durations=15
	$(BIN)/pytest -q -m validity --durations=5
	$(BIN)/pytest -q -m slow smallcaps_assets_tests/docs --durations=5
	$(BIN)/pytest -q -m 'postgres or s3' --durations=5
	$(BIN)/pytest -q -m browser --durations=5

# The browser test, writing its screenshots into docs/ui/ (committed; docs/operations.md).
ui-screenshots: install browser-deps
	SMALLCAPS_UI_SCREENSHOTS=$(CURDIR)/docs/ui $(BIN)/pytest -q -m browser

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf $(VENV) $(DAGSTER_HOME) data/*/ data/*.duckdb*
