# Set-up and entry points. `make demo` and `make test` work from nothing on a fresh machine:
# they create .venv, install the CPU build of torch first (override TORCH_SPEC for a GPU
# build), then the package with its extras.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.xladjust-installed
export XLADJUST_SHARED_DATA ?= $(abspath ../shared/data)

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e '.[offline,eflomal,dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/xladjust run configs/demo.yaml

lint: setup
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q -ra

bench: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
