# The two commands a newcomer needs: `make serve` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

export RNNLAB_HOST ?= 127.0.0.1
export RNNLAB_PORT ?= 8000
export RNNLAB_DATA_DIR ?= ./var

.PHONY: serve test test-fast lint typecheck mutate bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes; the stamp files record what is installed.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

serve: $(VENV)/.installed
	$(BIN)/rnnlab serve

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m "not slow"

$(VENV)/.installed-mutate: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,mutate]'
	touch $(VENV)/.installed $(VENV)/.installed-dev $@

# Mutation testing of models/, service/jobs/ and the service's pure parts (docs/mutation.md)
# against the fast in-process tests ([tool.mutmut] in pyproject.toml). Not part of `make test`:
# run it before calling a change to those parts done, and look at each surviving mutant
# (`$(BIN)/mutmut show <name>`). Some modules only:
# make mutate MUTANTS='models.optim* service.jobs.queue*'
MUTANTS ?=
mutate: $(VENV)/.installed-mutate
	$(BIN)/mutmut run $(foreach pattern,$(MUTANTS),"$(pattern)")
	$(BIN)/mutmut results

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check rnnlab service models tests bench migrations
	$(BIN)/ruff format --check rnnlab service models tests bench migrations
	$(MAKE) typecheck

# mypy reads imports as paths: it is shown the folders where the wheel puts them (rnnlab/service,
# rnnlab/models, rnnlab/migrations), as links in build/typecheck, and checks rnnlab.service.
typecheck: $(VENV)/.installed-dev
	rm -rf build/typecheck && mkdir -p build/typecheck/rnnlab
	cp rnnlab/__init__.py build/typecheck/rnnlab/
	for folder in service models migrations; do ln -s ../../../$$folder build/typecheck/rnnlab/$$folder; done
	cd build/typecheck && ../../$(BIN)/mypy --config-file ../../pyproject.toml -p rnnlab.service

# Benchmarks get their own environment: torch (a reference only, never a dependency) goes there
# and not into the test venv. The OpenBLAS variables some machines set slow numpy's BLAS ~1.8x
# and leave torch alone, so the comparisons run without them (tests and CI keep them).
BENCH_VENV ?= .venv-bench
BENCH := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BENCH_VENV)/bin/python

$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -e '.[bench,scale]'
	$(BENCH_VENV)/bin/python -m pip install --quiet torch==2.13.0 || echo "torch unavailable: its comparisons will be skipped"
	touch $@

bench: $(BENCH_VENV)/.installed
	@command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null 2>&1 || echo "wrk unavailable: the serving benchmark will say it skipped"
	$(BENCH) bench/startup.py
	$(BENCH) bench/binary_addition.py
	$(BENCH) bench/next_word.py --epochs 3 --repeat 1 --paired-steps 200
	$(BENCH) bench/teaching.py
	$(BENCH) bench/scale.py
	$(BENCH) bench/serving.py
	$(BENCH) bench/scale_out.py
	$(BENCH) bench/predict_backends.py
	$(BENCH) bench/upload_memory.py
	$(BENCH) bench/watchers.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) var mutants build .pytest_cache .ruff_cache .mypy_cache
