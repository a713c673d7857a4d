# `make run` and `make test` each create the virtual environment when it is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test migrate seed-demo bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bot migrate
	$(BIN)/python -m bot run

test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/ruff check .
	$(BIN)/mypy bot handlers reports storage

migrate: $(STAMP)
	$(BIN)/python -m bot migrate

seed-demo: $(STAMP)
	$(BIN)/python -m bot migrate
	$(BIN)/python -m bot seed-demo

bench: $(STAMP)
	$(BIN)/python bench/bench_similarity_accuracy.py
	$(BIN)/python bench/bench_similarity_speed.py
	$(BIN)/python bench/bench_telegram.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
