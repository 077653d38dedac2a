# medbench: one bootstrap for everything. `make report` and `make test` work on a fresh
# machine: they create .venv, install torch (pinned, first) and medbench, and register
# a Jupyter kernel inside the venv.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pinned and installed before anything else: an unpinned torch (or monai first) pulls a
# multi-GB CUDA build; 2.13.0 resolves to the local CPU wheel here.
TORCH_VERSION ?= 2.13.0
PROFILE ?= default
JOBS ?= 1
PYTEST_ARGS ?= -n 2
STAMP := $(VENV)/.medbench-installed
# pip prints one harmless line per package for this machine's empty extra indexes.
PIPQUIET := grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: venv report test lint lab benchmarks clean static

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | $(PIPQUIET)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "torch==$(TORCH_VERSION)" 2>&1 | $(PIPQUIET)
	$(BIN)/pip install --quiet -e ".[test,iwpc]" 2>&1 | $(PIPQUIET)
	$(BIN)/python -m ipykernel install --sys-prefix --name medbench --display-name "Python (medbench)"
	$(BIN)/python -c "import torch, monai, medbench; print('torch', torch.__version__, '| monai', monai.__version__, '| medbench', medbench.__version__)"
	touch $(STAMP)

venv: $(STAMP)

## Run every chapter at $(PROFILE) into reports/<timestamp>/ (reports/latest links the newest).
report: venv
	$(BIN)/medbench report --profile $(PROFILE) --jobs $(JOBS)

## Lint (pyflakes: unused imports and variables, undefined names; import order), then the whole
## test suite (unit tests, every chapter at the smoke profile, CLI, browser tests).
test: venv
	$(BIN)/ruff check medbench tests benchmarks notebooks
	bash tests/ui/install_browser.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Lint only.
lint: venv
	$(BIN)/ruff check medbench tests benchmarks notebooks

## JupyterLab on notebooks/ with the venv's kernel.
lab: venv
	cd notebooks && ../$(BIN)/jupyter lab $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

## Benchmarks print ratios measured side by side in one run.
benchmarks: venv
	$(BIN)/python benchmarks/report_suite.py

## Refresh the offline renderers shipped in medbench/static (needs npm): widgets, MathJax,
## the widget icon font (medbench/static/README.md lists sources and licences).
static:
	tmp=$$(mktemp -d) && cd $$tmp && npm init -y >/dev/null && \
	npm install --no-audit --no-fund @jupyter-widgets/html-manager@1.0.15 requirejs@2.3.8 \
	    mathjax@3.2.2 @fortawesome/fontawesome-free@5.15.4 >/dev/null && \
	s=$(CURDIR)/medbench/static && \
	cp node_modules/@jupyter-widgets/html-manager/dist/embed-amd.js node_modules/requirejs/require.js $$s/ && \
	cp node_modules/mathjax/es5/tex-svg-full.js $$s/ && \
	cp node_modules/mathjax/LICENSE $$s/LICENSE-mathjax.txt && \
	cp node_modules/@fortawesome/fontawesome-free/webfonts/fa-solid-900.woff2 $$s/ && \
	cp node_modules/@fortawesome/fontawesome-free/LICENSE.txt $$s/LICENSE-fontawesome.txt && \
	rm -rf $$tmp

clean:
	rm -rf $(VENV) reports .pytest_cache
