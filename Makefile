# Quick start: `make reports` (run every report, publish the site) and `make test`.
# Both create .venv with the project installed editable and a Jupyter kernel named
# `crmresearch` registered inside it, so papermill, nbval and JupyterLab all use that kernel.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: install reports run publish test test-all lab bench list clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name crmresearch --display-name "Python 3 (crmresearch)"
	touch $(STAMP)

install: $(STAMP)

reports: run publish          ## run every parameter set (skipping fresh ones), then publish the site

run: $(STAMP)
	$(BIN)/crmresearch run --all -j $(JOBS)

publish: $(STAMP)
	$(BIN)/crmresearch publish

list: $(STAMP)
	$(BIN)/crmresearch list

# `make test`: everything not marked `slow` (unit tests, statistical proofs at sizes that still
# discriminate, every notebook's fast variant run once and published by the shared fixture) and
# nbval on the tutorials and on one report notebook as committed. `make test-all` adds the `slow`
# tests (full-size studies, end-to-end runs of the other variants, the engine and Spark report
# comparisons) and nbval over every notebook at its committed defaults.
test: $(STAMP)                ## the everyday suite (under 10 minutes on 2 cores; see README)
	$(BIN)/python -m pytest -m "not slow" --nbval-lax --nbval-current-env tests notebooks/tutorials notebooks/00_crm_overview.ipynb

test-all: $(STAMP)            ## the whole suite: `make test`, the slow tests and nbval on every notebook
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env tests notebooks

# As root (a container, a VM) Jupyter refuses to start without --allow-root, and there is rarely a
# browser to open; LAB_ARGS adds options of your own, e.g. `make lab LAB_ARGS="--port 8890"`.
lab: $(STAMP)                 ## JupyterLab on notebooks/, with the crmresearch kernel
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root --no-browser) $(LAB_ARGS) notebooks/

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf reports/*/ reports/index.qmd reports/_quarto.yml .pytest_cache
