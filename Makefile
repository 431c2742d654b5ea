# Two commands on a fresh machine:  `make demo`  and  `make test`  (see README.md).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/dagster_home
export SMALLCAPS_DATA_DIR ?= $(CURDIR)/data

.PHONY: demo test lint ui install clean

$(BIN)/.installed: pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY) (Python 3.11)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
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

test: lint
	$(BIN)/pytest -q -n 2 --durations=15

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml

clean:
	rm -rf $(VENV) $(DAGSTER_HOME) data/*/ data/*.duckdb*
