# The README's two commands: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.citeqa-installed
DEV_STAMP := $(VENV)/.citeqa-dev-installed
DEMO_DIR ?= .citeqa-demo
QUESTION ?= Why did Pashinyan skip the summit?

# Only the test extras build llama-cpp-python from source (the product runs on ik_llama.cpp's
# prebuilt wheel); its native build emits AMX code that these VMs forbid ("Illegal instruction").
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup dev engine browser demo test test-fast lint format clean

# What running citeqa needs (the page included): prebuilt wheels only, nothing compiles.
setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[ui]'
	touch $@

# What testing needs on top: pytest, ruff, the eval extras, llama-cpp-python (a source build).
dev: $(DEV_STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/citeqa ingest --data-dir $(DEMO_DIR) examples/articles
	$(BIN)/citeqa ask --data-dir $(DEMO_DIR) "$(QUESTION)"

# ik_llama.cpp compiled for this CPU where it has AVX-512 with VNNI: 1.16x the wheel's AVX2
# library's prompt tokens/s on a Sapphire Rapids Xeon, 1.09x on AMD Zen 4; ~6 min to build on 2
# cores, so not part of `make demo`. Elsewhere it says so and does nothing; once built it is not
# built again.
engine: setup
	$(BIN)/citeqa engine --build --if-supported

# Browser tests drive Debian's Chromium (Playwright's own browser download does not work offline).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint browser engine
	$(BIN)/pytest -ra

# Lint and the unit tests: no model, no server, no browser (the end-to-end tier is `test`).
test-fast: lint
	$(BIN)/pytest -ra -q -m "not models" -p no:cacheprovider

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
