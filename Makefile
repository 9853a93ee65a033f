# vox: every target that needs Python creates .venv first (tools/make_venv.sh).
# PYTHON=, NUMPY=1|2 and CUPY=14 choose what goes into it (make help).
VENV    ?= .venv
PYTHON  ?=
NUMPY   ?=
CUPY    ?=
# SYSTEM_PYTHON=python3: use that interpreter as it is, no venv (a machine
# whose Python already has the dependencies, e.g. the GPU machines with
# tools/gpu_check.sh's bundle on PYTHONPATH).
ifdef SYSTEM_PYTHON
PY        := $(SYSTEM_PYTHON)
INSTALLED :=
else
PY        := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
endif
PROFILE ?=
DEVICE  ?=
CORPUS  ?=
RUN     ?=
RESULTS ?=
FRESH   ?=
RESUME  ?=
RUNS    ?=
BENCH_OPTS ?=
NPROC   ?=

# Not into the recipes' environment either: exporting a command-line
# variable expands it, which would run a $(shell ...) in its value.
unexport PROFILE DEVICE CORPUS RUN RESULTS FRESH RESUME RUNS NPROC BENCH_OPTS

# $(call quote,text): text as one single-quoted shell word.
# $(call arg,VAR): VAR's value, unexpanded ($(value): a `$(...)` in it is
# neither a make function nor a shell command), as one shell word.
quote = '$(subst ','\'',$(1))'
arg = $(call quote,$(value $(1)))

.PHONY: help install install-mpi test exp-% exp- corpus prepare compare check list clean-venv compat-check bench \
        cupy14-check gpu-bundle

help:
	@echo "make install [PYTHON=python3.13] [NUMPY=1|2] [CUPY=14] [VENV=dir]"
	@echo "                             create .venv with pinned dependencies: the newest"
	@echo "                             Python 3.11-3.13 on PATH; NumPy 1.26.4 on 3.11/3.12"
	@echo "                             (the faithful route), NumPy 2 on 3.13 or with NUMPY=2"
	@echo "make test                    run the test suite (installs first)"
	@echo "make exp-ID [PROFILE=smoke] [DEVICE=@numpy|@cupy:0] [CORPUS=kind:path]"
	@echo "             [RUN=name] [RESULTS=dir] [FRESH=1] [RESUME=snapshot]"
	@echo "                             rerun an experiment by ID: experiments/ID/train.py"
	@echo "                             (resumes the newest unfinished run unless FRESH=1)"
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
	@echo "make cupy14-check            the CuPy 14 route on a CPU (.venv-cupy14: Python 3.12,"
	@echo "                             NumPy 2, cupy-cuda13x 14.2.0): CuPy-name tests, device error"
	@echo "make gpu-bundle              wheels a GPU machine lacks -> gpu-bundle/ (tools/gpu_check.sh)"

$(VENV)/.installed: setup.py requirements.txt constraints.txt constraints-numpy2.txt tools/make_venv.sh
	VENV=$(VENV) PYTHON=$(PYTHON) NUMPY=$(NUMPY) CUPY=$(CUPY) bash tools/make_venv.sh

install: $(INSTALLED)

test: $(INSTALLED)
	$(PY) -m pytest tests

# experiments/<ID>/train.py with the variables as its options; NPROC=N:
# N ranks of it with --distributed (docs/distributed.md).  tools/exp.sh
# checks NPROC and FRESH and says when MPI is missing.
exp-%: $(INSTALLED)
	@bash tools/exp.sh $(call quote,$(PY)) $(call arg,VENV) $(call quote,$*) \
	  $(call arg,NPROC) $(call arg,PROFILE) $(call arg,DEVICE) \
	  $(call arg,CORPUS) $(call arg,RUN) $(call arg,RESULTS) \
	  $(call arg,FRESH) $(call arg,RESUME)

exp-:
	@echo "vox: error: give an experiment ID: make exp-ID (make list shows the IDs)" >&2; exit 2

# mpi4py and MPICH from PyPI wheels: no system MPI needed.  The venv's own
# pins (the first word of .installed: constraints.txt or -numpy2.txt).
install-mpi: $(VENV)/.installed
	PIP_CONSTRAINT=$(CURDIR)/$(firstword $(shell cat $(VENV)/.installed 2>/dev/null) constraints.txt) $(PY) -m pip --disable-pip-version-check install -q --no-build-isolation -e '.[mpi]'
	$(PY) -c 'import mpi4py.MPI, chainermn; print("vox: mpi4py", mpi4py.__version__, "ready")'

list: $(INSTALLED)
	$(PY) -m vox.cli list

corpus: $(INSTALLED)
	$(PY) -m vox.cli corpus

prepare: $(INSTALLED)
	$(PY) -m vox.cli prepare $(call arg,CORPUS)

compare: $(INSTALLED)
	@runs=$(call arg,RUNS); set -f; $(PY) -m vox.cli compare --blog $$runs

check: $(INSTALLED)
	$(PY) -m vox.cli check --all

bench: $(INSTALLED)
	$(PY) tools/bench.py $(if $(value DEVICE),--device $(call arg,DEVICE)) $(BENCH_OPTS)

# Feature-set check under Python 3.12 + NumPy 2 without setuptools, in a
# second venv (docs/compat.md); the test suite covers the main venv.
compat-check:
	bash tools/compat_venv.sh

# The CuPy 14 route as far as a CPU goes: CuPy imports, Chainer loads it
# (cuBLAS from the nvidia-cublas wheel), and DEVICE=@cupy:0 stops at the
# missing device in one line (tests/test_cupy_names.py).
CUPY14_VENV ?= .venv-cupy14
cupy14-check:
	$(MAKE) install VENV=$(CUPY14_VENV) PYTHON=$(or $(PYTHON),python3.12) NUMPY=2 CUPY=14
	$(CUPY14_VENV)/bin/python -m pytest tests/test_cupy_names.py tests/test_device.py -q

# Every wheel a GPU machine (Python 3.12, NumPy 2, CuPy 14, no package
# index) lacks, into gpu-bundle/; tools/gpu_check.sh installs and uses it.
gpu-bundle:
	bash tools/gpu_bundle.sh

clean-venv:
	rm -rf $(VENV)

