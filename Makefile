# padiff developer tasks. Everything runs inside $(VENV), which the first target that needs it builds.
# Override on the command line, e.g. `make VENV=/tmp/venv PYTHON=python3.11 test`
# or `make bench BENCH_ARGS="--depth 2 --seq 32"`.

PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Pinned: an unpinned torch resolves to a multi-GB CUDA build.
FRAMEWORKS := torch==2.13.0 paddlepaddle==3.3.1 safetensors
LINT_PATHS := src tests examples bench
BENCH_ARGS ?=

.PHONY: venv demo test lint bench clean

venv: $(STAMP)

# Re-runs when pyproject.toml changes; the stamp is written only after every install succeeded.
$(STAMP): pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet $(FRAMEWORKS)
	$(VPY) -m pip install --quiet -e '.[test]'
	touch $@

# PYTHONWARNINGS hides paddle's import-time notice about ccache, which has nothing to do with the demo.
demo: $(STAMP)
	PYTHONWARNINGS="ignore:No ccache found" $(VPY) examples/demo.py

test: $(STAMP)
	$(VPY) -m pytest -q -m "not real and not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

bench: $(STAMP)
	$(VPY) bench/overhead.py $(BENCH_ARGS)

# Leaves $(VENV) in place: rebuilding it takes minutes. `rm -rf $(VENV)` does that by hand.
clean:
	rm -rf build dist diff_log .pytest_cache .ruff_cache .hypothesis src/*.egg-info
	find . -path './.venv*' -prune -o -name __pycache__ -type d -exec rm -rf {} +
