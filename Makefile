# Set-up and entry points. `make demo` and `make test` work from nothing on a fresh machine:
# they create .venv, install the CPU build of torch first (override TORCH_SPEC for a GPU
# build), then the package with its extras.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.xladjust-installed
# A second venv with the lowest versions pyproject.toml allows for what loading a
# checkpoint depends on (.ci/lowest.txt): checkpoints must load there too.
LOW_VENV ?= .venv-low
LOW_STAMP := $(LOW_VENV)/.xladjust-installed
PORTABLE := $(CURDIR)/build/portable
export XLADJUST_SHARED_DATA ?= $(abspath ../shared/data)

.PHONY: setup demo test test-fast test-lowest lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/xladjust run configs/demo.yaml

lint: setup
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest -q -ra

# While editing: the unit tests that need no model at all (no offline model, no tiny
# checkpoint, no training run), under a minute. `make test` is what CI runs.
FAST_TESTS := $(addprefix tests/test_,$(addsuffix .py,layers core_config_io config_docs modes word_pooling formatting stages registry \
	align_readers align_tokenize align_symmetrize align_extraction align_scoring \
	adjust_objectives adjust_optim adjust_data probes_math probes_pairs probes_cells probes_headline landscape landscape_seeds \
	tasks_metrics tasks_readers tasks_significance reference_settings_doc))

test-fast: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" $(FAST_TESTS)

$(LOW_STAMP): pyproject.toml .ci/lowest.txt
	$(PYTHON) -m venv $(LOW_VENV)
	$(LOW_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOW_VENV)/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	$(LOW_VENV)/bin/python -m pip install --quiet -e '.[hub,tasks,dev]' -c .ci/lowest.txt
	touch $(LOW_STAMP)

# Checkpoints written with the newest versions load with the lowest, and the other way round.
test-lowest: setup $(LOW_STAMP)
	rm -rf $(PORTABLE)
	$(BIN)/python tests/helpers_checkpoints.py $(PORTABLE)/newest
	XLADJUST_CHECKPOINTS_FROM=$(PORTABLE)/newest $(LOW_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/test_checkpoints_portable.py
	$(LOW_VENV)/bin/python tests/helpers_checkpoints.py $(PORTABLE)/lowest
	XLADJUST_CHECKPOINTS_FROM=$(PORTABLE)/lowest $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_checkpoints_portable.py
	$(BIN)/python -c "import transformers as t, sentence_transformers as s; print('newest:', t.__version__, s.__version__)"
	$(LOW_VENV)/bin/python -c "import transformers as t, sentence_transformers as s; print('lowest:', t.__version__, s.__version__)"

bench: setup
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(LOW_VENV) build *.egg-info
