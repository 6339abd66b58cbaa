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

.PHONY: venv demo test lint bench clean test-models fuzz browser test-browser upstream

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
	$(VPY) -m pytest -q -m "not real and not browser"

# The HTML report opened in a real headless Chromium (tests/browser/): Debian's `chromium` package, driven
# by playwright through its executable_path (playwright's own browser download is not used). Installs
# what is missing, as root or through sudo; the screenshots are kept in $(BROWSER_ARTIFACTS).
CHROMIUM ?= /usr/bin/chromium
PLAYWRIGHT := playwright==1.65.2
BROWSER_ARTIFACTS ?= build/browser
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

browser: $(STAMP)
	test -x $(CHROMIUM) || ($(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium)
	$(VPY) -c "import playwright" 2>/dev/null || $(VPY) -m pip install --quiet $(PLAYWRIGHT)

test-browser: browser
	PADIFF_CHROMIUM=$(CHROMIUM) PADIFF_BROWSER_ARTIFACTS=$(BROWSER_ARTIFACTS) \
		$(VPY) -m pytest -q -m browser tests/browser

# Many more random twin pairs than `make test` checks (tests/gen.py), e.g. `make fuzz FUZZ_CASES=5000
# FUZZ_SEED0=1000`; a failure prints its seed and spec.
FUZZ_CASES ?= 1000
FUZZ_SEED0 ?= 0
fuzz: $(STAMP)
	PADIFF_FUZZ_CASES=$(FUZZ_CASES) PADIFF_FUZZ_SEED0=$(FUZZ_SEED0) $(VPY) -m pytest -q tests/test_generated.py

# Real third-party models (torchvision <-> paddle.vision, transformers <-> paddleformers), in a venv of
# their own: torchvision needs a newer torch than $(VENV). paddleformers pulls in paddlecodec, which
# shadows torchcodec and breaks `import transformers`, so it is removed again.
MODELS_VENV ?= .venv-models
MODELS_PY := $(MODELS_VENV)/bin/python
MODELS_STAMP := $(MODELS_VENV)/.installed
MODELS_PACKAGES := torch==2.14.1 torchvision==0.29.1 paddlepaddle==3.3.1 safetensors transformers paddleformers

$(MODELS_STAMP): pyproject.toml
	test -x $(MODELS_PY) || $(PYTHON) -m venv $(MODELS_VENV)
	$(MODELS_PY) -m pip install --quiet --upgrade pip
	$(MODELS_PY) -m pip install --quiet $(MODELS_PACKAGES)
	$(MODELS_PY) -m pip uninstall --quiet -y paddlecodec
	$(MODELS_PY) -m pip install --quiet -e '.[test]'
	touch $@

test-models: $(MODELS_STAMP)
	PYTHONWARNINGS="ignore:No ccache found" $(MODELS_PY) -m pytest -q -m real tests/real

# padiff 0.2.0 from PyPI beside the current tree (bench/upstream.py), in a venv of its own. Its wheel
# declares only numpy, no framework, so it gets $(VENV)'s pinned frameworks; it imports yaml undeclared.
UPSTREAM_VENV ?= .venv-upstream
UPSTREAM_PY := $(UPSTREAM_VENV)/bin/python
UPSTREAM_STAMP := $(UPSTREAM_VENV)/.installed
UPSTREAM_PACKAGES := padiff==0.2.0 pyyaml $(FRAMEWORKS)

$(UPSTREAM_STAMP):
	test -x $(UPSTREAM_PY) || $(PYTHON) -m venv $(UPSTREAM_VENV)
	$(UPSTREAM_PY) -m pip install --quiet --upgrade pip
	$(UPSTREAM_PY) -m pip install --quiet $(UPSTREAM_PACKAGES)
	touch $@

upstream: $(UPSTREAM_STAMP)

# mypy checks src/padiff with the settings in pyproject.toml (every function annotated).
lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

# Issue 14's rows (transformer twin, a cell in a loop, a failing run, one large pair; torchvision CNNs,
# eval and train, in $(MODELS_VENV); padiff 0.2.0 on the twin and the loop in $(UPSTREAM_VENV)) go to
# $(BENCH_OUT) as JSON and into bench/RESULTS.md (bench/results.py), each with its target; the other
# benchmarks print only.
BENCH_OUT ?= build/bench

bench: $(STAMP) $(MODELS_STAMP) $(UPSTREAM_STAMP)
	mkdir -p $(BENCH_OUT)
	$(VPY) bench/overhead.py --json $(BENCH_OUT)/overhead.json $(BENCH_ARGS)
	$(VPY) bench/overhead.py --memory-budget 67108864 --json $(BENCH_OUT)/overhead_spill.json $(BENCH_ARGS)
	$(VPY) bench/overhead.py --depth 6 --json $(BENCH_OUT)/overhead_depth6.json
	$(VPY) bench/overhead.py --depth 24 --json $(BENCH_OUT)/overhead_depth24.json
	$(VPY) bench/loops.py --json $(BENCH_OUT)/loops.json
	$(VPY) bench/failing.py --json $(BENCH_OUT)/failing.json
	$(VPY) bench/chunked.py --json $(BENCH_OUT)/chunked.json
	PYTHONWARNINGS="ignore:No ccache found" $(MODELS_PY) bench/cnn.py --json $(BENCH_OUT)/cnn.json
	$(VPY) bench/upstream.py --python $(UPSTREAM_PY) --json $(BENCH_OUT)/upstream.json
	$(VPY) bench/results.py $(BENCH_OUT)
	$(VPY) bench/align.py
	$(VPY) bench/dump.py
	$(VPY) bench/judge.py

# Leaves $(VENV) in place: rebuilding it takes minutes. `rm -rf $(VENV)` does that by hand.
clean:
	rm -rf build dist diff_log .pytest_cache .ruff_cache .hypothesis src/*.egg-info
	find . -path './.venv*' -prune -o -name __pycache__ -type d -exec rm -rf {} +
