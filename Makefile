# Everything runs from the repository's own virtual environment, .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := train,notebook,bench,test,docs,dev
WORKDIR ?= workdir
# The embedded default: the offline digits preset (about a minute on 2 cores).
CONFIG ?= train/configs/default.py
# Passed through to the benchmarks, e.g. make bench BENCH_ARGS="--quick".
BENCH_ARGS ?=
# Passed through to pytest, e.g. make test PYTEST_ARGS="-x -k cutmix".
PYTEST_ARGS ?=
# pytest-xdist workers: one per core by default; JOBS=0 runs in one process.
# loadfile keeps each test file on one worker, so a session fixture that
# several tests share (the 8-device sharding worker, the KS draws, the wheel)
# is built once. (--dist loadgroup with xdist_group marks split the groups
# across workers with pytest-xdist 3.8 here, building those fixtures twice.)
JOBS ?= auto
XDIST := -n $(JOBS) --dist loadfile

# `make test-min`: the library's tests on the lowest versions pyproject.toml
# declares, in a virtual environment of their own.
VENV_MIN := .venv-min
MIN_STAMP := $(VENV_MIN)/.installed
# The library's tests: those that import nothing but cutmix_jax, its core
# dependencies and the `test` extra (jax, numpy, pytest, scipy, chex, optax),
# and the doctests of cutmix_jax. tests/test_min_versions.py keeps it complete.
LIBRARY_TESTS := \
	cutmix_jax \
	tests/test_api.py \
	tests/test_axes.py \
	tests/test_core.py \
	tests/test_distributions.py \
	tests/test_edges.py \
	tests/test_one_of.py \
	tests/test_provenance.py \
	tests/test_public_types.py \
	tests/test_resizemix.py \
	tests/test_sharding.py \
	tests/test_transforms.py \
	tests/test_transmix.py \
	tests/test_validation.py

# make study: where its runs and report go, and extra arguments, e.g.
# STUDY_ARGS="--seeds=0-4" or STUDY_ARGS="--config.num_epochs=100".
STUDY_DIR ?= workdir/study
STUDY_ARGS ?=

.PHONY: install test test-suite test-lib lint format docs test-min train study bench bench-peers clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[$(EXTRAS)]"
	$(PY) -m ipykernel install --sys-prefix --name cutmix-jax --display-name "cutmix-jax (.venv)"
	touch $(STAMP)

# CI's command: lint first (half a minute), then the whole suite on every
# core (the 25 slowest tests listed at its end), then the library's tests on
# the floor versions. One after the other, so each prints its progress as it
# goes; both run even if the first fails. From a fresh clone, both installs
# included, CI took 684 to 1273 s for the last eleven trees, over 900 on a
# slow day of its host (CONTRIBUTING.md).
test: lint
	@status=0; \
	$(MAKE) --no-print-directory test-suite PYTEST_ARGS="--durations=25 $(PYTEST_ARGS)" || status=1; \
	$(MAKE) --no-print-directory test-min || status=1; \
	exit $$status

# The whole test suite, on the versions .venv has.
test-suite: $(STAMP)
	$(PY) -m pytest $(XDIST) $(PYTEST_ARGS)

# The library's own tests (LIBRARY_TESTS) without the whole-program `slow`
# ones and the `statistical` laws (make test runs both): the quick check while
# working on cutmix_jax/: about 90 s on 2 idle cores when the compiled
# programs are in .cache/jax (tests/conftest.py), 2.5 minutes without.
test-lib: $(STAMP)
	$(PY) -m pytest $(XDIST) -m "not slow and not statistical" $(PYTEST_ARGS) $(LIBRARY_TESTS)

# Format check, lint and type check, each reporting all it finds; `make format`
# fixes the first and the import order.
lint: $(STAMP)
	@status=0; \
	$(VENV)/bin/pyink --check . || status=1; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/mypy || status=1; \
	exit $$status

format: $(STAMP)
	$(VENV)/bin/ruff check --select I,E401 --fix .
	$(VENV)/bin/pyink .

# The API site, into docs/_build/html; warnings are errors, as in the test.
docs: $(STAMP)
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

$(MIN_STAMP): pyproject.toml tools/min_requirements.py | $(STAMP)
	rm -rf $(VENV_MIN)
	$(PYTHON) -m venv $(VENV_MIN)
	$(PY) tools/min_requirements.py > $(VENV_MIN)/requirements.txt
	$(VENV_MIN)/bin/python -m pip install -e . -r $(VENV_MIN)/requirements.txt
	touch $(MIN_STAMP)

# The library's tests on the floor versions, less the `statistical` ones (KS
# and chi-square tests of the samplers' laws on draws of thousands): those
# check the library's formulas, which no version of JAX or NumPy changes (and
# JAX tests its own samplers); every other property runs here, the 8-device
# sharding checks included. About 3 minutes on 2 cores (AMD host).
test-min: $(MIN_STAMP)
	$(VENV_MIN)/bin/python -m pip list 2>/dev/null | grep -E "^(jax|jaxlib|numpy) "
	$(VENV_MIN)/bin/python -m pytest -p no:cacheprovider $(XDIST) -m "not statistical" $(PYTEST_ARGS) $(LIBRARY_TESTS)

train: $(STAMP)
	$(PY) -m train.main --config=$(CONFIG) --workdir=$(WORKDIR)
	@echo "make train: the pictures are $(WORKDIR)/curves.png and $(WORKDIR)/cutmix_samples.png"

# Does mixing help? Baseline, CutMix, MixUp and ResizeMix on 5% of the
# digits, 20 seeds each, one run at a time (resumable), then
# $(STUDY_DIR)/study.md, study.png and cam.png. About 40 minutes on a quiet
# 2-core CPU (80 runs of about 27 s, then the CAMs of all 80 models).
study: $(STAMP)
	$(PY) -m experiments.low_data.main --config=experiments/low_data/config.py \
	  --methods=none,cutmix,mixup,resizemix --seeds=0-19 --workdir=$(STUDY_DIR) $(STUDY_ARGS)

# The peers (timm on a CPU PyTorch) are installed here only, never for the tests.
bench-peers: $(STAMP)
	$(PY) -m pip install "torch==2.13.0" || echo "torch 2.13.0 is not available: timm rows will say 'not installed'"
	$(PY) -m pip install --no-deps timm || echo "timm is not available: its rows will say 'not installed'"

bench: bench-peers
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(VENV_MIN) .cache *.egg-info .pytest_cache .mypy_cache .ruff_cache docs/_build docs/_autosummary
