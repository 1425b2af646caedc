# The course's commands. Each one sets up what it needs first (idempotent, see scripts/setup.sh).
#   make course   run every notebook headless on the offline defaults -> build/executed/, web models -> html/models/
#   make test     unit tests + browser tests, then `pytest --nbval notebooks/`
#   make nbval-portable  nbval as on another machine (1 thread, older SIMD, another Face2Emoji model)
#   make lab      open JupyterLab on notebooks/
#   make serve    serve html/ on http://127.0.0.1:8000/
#   make bench    run the benchmark scripts in benchmarks/
#   make exercises regenerate notebooks/exercises/ from the solution notebooks
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup course test unit nbval nbval-portable lab serve bench exercises clean

setup:
	@bash scripts/setup.sh

course: setup
	@start=$$(date +%s); \
	$(PY) scripts/run_notebooks.py || exit 1; \
	echo; echo "All notebooks ran in $$(( $$(date +%s) - start )) s. Executed copies: build/executed/"; \
	echo "Web models exported to html/models/ (the pages load them from there)."; \
	echo "Next:"; \
	echo "  make lab     # or: .venv/bin/jupyter lab notebooks/"; \
	echo "  make serve   # or: .venv/bin/python -m aiffel_lib.serve   -> http://127.0.0.1:8000/"

test: setup
	@start=$$(date +%s); \
	source $(VENV)/bin/activate && \
	pytest tests/ && \
	pytest --nbval notebooks/ && \
	echo "make test: everything passed in $$(( $$(date +%s) - start )) s"

# The two halves of `make test`, for quicker loops.
unit: setup
	@source $(VENV)/bin/activate && pytest tests/

nbval: setup
	@source $(VENV)/bin/activate && pytest --nbval notebooks/

# The committed outputs hold on any machine: a fresh copy of the repository, one thread,
# an older CPU's SIMD kernels, another Face2Emoji model, `make course` then nbval in reverse
# order (scripts/nbval_portable.py says what exactly). About 12 min on 2 cores.
nbval-portable: setup
	@$(PY) scripts/nbval_portable.py

# JupyterLab refuses to start as root unless told (containers, CI): say so only then.
lab: setup
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

serve: setup
	$(PY) -m aiffel_lib.serve

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

exercises: setup
	$(PY) -m aiffel_lib.exercises build

clean:
	rm -rf build/ html/models/ notebooks/output/
