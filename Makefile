# Set-up and the two Quickstart commands. `make demo` and `make test` each create the virtual
# environment on first use. TORCH picks the torch build installed before the package: the
# default is the CPU wheel; on a GPU machine use e.g. `make test TORCH=torch`.
# PINS is the tested set every dependency is held to (pip -c): the versions results/ were made
# with. `make install PINS=` installs from pyproject.toml's ranges alone (the newest releases).
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH ?= torch==2.13.0
PINS ?= docker/constraints.txt

.PHONY: install demo test test-slow lint bench figures pins clean

$(VENV)/.installed: pyproject.toml $(PINS)
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q $(if $(PINS),-c $(PINS)) -e ".[test,cluster]"
	touch $@

install: $(VENV)/.installed

# The pins from the installed environment (after `make install PINS=` and `make test` pass on
# newer releases): pip freeze without gcttt itself and torch's local label, under the file's header.
pins: install
	{ sed '/^[^#]/,$$d' docker/constraints.txt; $(PY) -m pip freeze --exclude-editable | sed 's/+[a-z0-9.]*$$//'; } \
		> docker/constraints.txt.new
	mv docker/constraints.txt.new docker/constraints.txt

demo: install
	$(PY) sweeps/horizon_sweep.py --check-against results/demo

# Every table (docs/results, the README's generated blocks) and figure (docs/figures) from results/ alone.
figures: install
	$(PY) analysis/make_figures.py

# Two processes, one test file each at a time: the end-to-end sweep tests wait on Ray and
# subprocesses for half their time, and every test sizes its Ray session for 2 CPUs.
test: install
	$(PY) -m pytest -q -n 2 --dist loadfile

# pytest exits 5 when it selects no test; a checkout without slow tests is not a failure.
test-slow: install
	$(PY) -m pytest -q -m slow || [ $$? -eq 5 ]

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(PY) bench/bench_updates.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
