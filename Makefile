# Quick start: `make reports` (run every report, publish the site) and `make test`.
# Both create .venv with the project installed editable and a Jupyter kernel named
# `crmresearch` registered inside it, so papermill, nbval and JupyterLab all use that kernel.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: install reports run publish test lab bench list clean

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

test: $(STAMP)                ## unit tests, statistical proofs, notebook runs (nbval) and an end-to-end publish
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env tests notebooks

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf reports/*/ reports/index.qmd reports/_quarto.yml .pytest_cache
