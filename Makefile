# One command per routine task. `make run` and `make test` set up .venv first on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test test-fast lint bench reliability clean

setup: $(STAMP)

# torch first and pinned: an unpinned torch (or one pulled in by onnx2torch) is a multi-GB download.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m pip check
	touch $(STAMP)

# The main job: convert, verify, evaluate every float variant, quantize, and the report; then, in a
# terminal, the explorer on the warm cache (a non-interactive run, as in CI, stops after the report).
run: setup
	$(BIN)/r8 info --no-cuda-check
	$(BIN)/r8 convert
	$(BIN)/r8 verify
	$(BIN)/r8 eval
	$(BIN)/r8 report
	@if [ -t 0 ] && [ -t 1 ] && [ -z "$$CI" ]; then exec $(BIN)/r8-tui; \
	else echo "not a terminal: skipping r8-tui (run .venv/bin/r8-tui to open the explorer)"; fi

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check engine cli tui tests benchmarks
	$(BIN)/mypy engine

bench: setup
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

# kill -9, cache damage, bad inputs, full disk, security: prints the figures in README
reliability: setup
	$(BIN)/python scripts/reliability.py

clean:
	rm -rf cache .pytest_cache
