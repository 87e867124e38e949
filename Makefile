# Everything runs from the repository's own virtual environment, .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WORKDIR ?= workdir
CONFIG ?= train/configs/default.py
# Passed through to the benchmarks, e.g. make bench BENCH_ARGS="--quick".
BENCH_ARGS ?=

.PHONY: install test train bench bench-peers clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[train,notebook,bench,test]"
	$(PY) -m ipykernel install --sys-prefix --name cutmix-jax --display-name "cutmix-jax (.venv)"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

train: $(STAMP)
	$(PY) -m train.main --config=$(CONFIG) --workdir=$(WORKDIR)

# The peers (timm on a CPU PyTorch) are installed here only, never for the tests.
bench-peers: $(STAMP)
	$(PY) -m pip install "torch==2.13.0" || echo "torch 2.13.0 is not available: timm rows will say 'not installed'"
	$(PY) -m pip install --no-deps timm || echo "timm is not available: its rows will say 'not installed'"

bench: bench-peers
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
