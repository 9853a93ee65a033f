# vox: every target that needs Python creates .venv first (tools/make_venv.sh).
VENV    ?= .venv
PY      := $(VENV)/bin/python
PROFILE ?=
DEVICE  ?=
CORPUS  ?=
RUN     ?=
RESULTS ?=
FRESH   ?=
RESUME  ?=
RUNS    ?=
NPROC   ?=

RUN_OPTS = $(if $(PROFILE),--profile $(PROFILE)) $(if $(DEVICE),--device $(DEVICE)) \
           $(if $(CORPUS),--corpus $(CORPUS)) $(if $(RUN),--run $(RUN)) \
           $(if $(RESULTS),--results $(RESULTS)) $(if $(FRESH),--fresh) \
           $(if $(RESUME),--resume $(RESUME))

.PHONY: help install install-mpi test exp-% corpus prepare compare check list clean-venv compat-check bench

help:
	@echo "make install                 create .venv with pinned dependencies"
	@echo "make test                    run the test suite (installs first)"
	@echo "make exp-ID [PROFILE=smoke] [DEVICE=@numpy|@cupy:0] [CORPUS=kind:path]"
	@echo "             [RUN=name] [RESULTS=dir] [FRESH=1] [RESUME=snapshot]"
	@echo "                             rerun an experiment by ID (resumes the newest"
	@echo "                             unfinished run unless FRESH=1)"
	@echo "             [NPROC=N]          N > 1: data-parallel over N MPI ranks"
	@echo "                             (mpiexec -n N ... --distributed; make install-mpi)"
	@echo "make install-mpi             add mpi4py + MPICH wheels to .venv (.[mpi])"
	@echo "make list                    list experiment IDs"
	@echo "make corpus                  generate the built-in corpus into the cache"
	@echo "make prepare CORPUS=kind:path check a corpus, cache its features, report"
	@echo "make compare RUNS='a b'      overlay runs' curves, with the blog's figures"
	@echo "make check                   every model against the blog's diagram + errata"
	@echo "make compat-check            check Chainer under Python 3.12 + NumPy 2"
	@echo "make bench [DEVICE=@numpy|@cupy:0]  time, memory, FLOP/s of every experiment -> docs/performance.md"

$(VENV)/.installed: setup.py requirements.txt constraints.txt tools/make_venv.sh
	VENV=$(VENV) bash tools/make_venv.sh

install: $(VENV)/.installed

test: $(VENV)/.installed
	$(PY) -m pytest tests

# NPROC=N: N ranks of `vox run --distributed` (docs/distributed.md).
exp-%: $(VENV)/.installed
	$(if $(filter-out 1,$(NPROC)),$(VENV)/bin/mpiexec -n $(NPROC) )$(PY) -m vox.cli run $* $(RUN_OPTS)$(if $(filter-out 1,$(NPROC)), --distributed)

# mpi4py and MPICH from PyPI wheels: no system MPI needed.
install-mpi: $(VENV)/.installed
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(PY) -m pip --disable-pip-version-check install -q --no-build-isolation -e '.[mpi]'
	$(PY) -c 'import mpi4py.MPI, chainermn; print("vox: mpi4py", mpi4py.__version__, "ready")'

list: $(VENV)/.installed
	$(PY) -m vox.cli list

corpus: $(VENV)/.installed
	$(PY) -m vox.cli corpus

prepare: $(VENV)/.installed
	$(PY) -m vox.cli prepare $(CORPUS)

compare: $(VENV)/.installed
	$(PY) -m vox.cli compare --blog $(RUNS)

check: $(VENV)/.installed
	$(PY) -m vox.cli check --all

bench: $(VENV)/.installed
	$(PY) tools/bench.py $(if $(DEVICE),--device $(DEVICE))

# Feature-set check under Python 3.12 + NumPy 2 without setuptools, in a
# second venv (docs/compat.md); the test suite covers the main venv.
compat-check:
	bash tools/compat_venv.sh

clean-venv:
	rm -rf $(VENV)

