# Everything runs from the repository's own virtual environment, .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WORKDIR ?= workdir
CONFIG ?= train/configs/default.py
# Passed through to the benchmarks, e.g. make bench BENCH_ARGS="--quick".
BENCH_ARGS ?=
# make study: where its runs and report go, and extra arguments, e.g.
# STUDY_ARGS="--seeds=0-4" or STUDY_ARGS="--config.num_epochs=100".
STUDY_DIR ?= workdir/study
STUDY_ARGS ?=

.PHONY: install test train study bench bench-peers clean

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

# Does CutMix help? Baseline, CutMix and MixUp on 5% of the digits, 10 seeds
# each, one run at a time (resumable), then $(STUDY_DIR)/study.md, study.png
# and cam.png. 35 minutes of CPU time on a 2-core CPU (108 minutes of wall
# time when measured, on a machine shared with other jobs).
study: $(STAMP)
	$(PY) -m train.study --config=train/configs/digits_low_data.py \
	  --methods=none,cutmix,mixup --seeds=0-9 --workdir=$(STUDY_DIR) $(STUDY_ARGS)

# The peers (timm on a CPU PyTorch) are installed here only, never for the tests.
bench-peers: $(STAMP)
	$(PY) -m pip install "torch==2.13.0" || echo "torch 2.13.0 is not available: timm rows will say 'not installed'"
	$(PY) -m pip install --no-deps timm || echo "timm is not available: its rows will say 'not installed'"

bench: bench-peers
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
