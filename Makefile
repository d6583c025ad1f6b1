# One entry point for users and CI. `make run` installs (once) and runs the pipeline;
# `make test` installs (once) and runs the whole test suite (CI); `make test-quick` skips
# the tests marked slow (end-to-end runs). VENV may point elsewhere.
VENV ?= .venv
PYTHON ?= python3
CORES ?= all
BIN := $(VENV)/bin

.PHONY: install run digits photo-tiles test test-quick lint dag rulegraph report clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -r requirements.txt
	# the cbir package itself, editable: its dependencies are the pins above, its build backend too
	$(BIN)/pip install --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/snakemake --cores $(CORES)

# The README's "Your own images" example: scikit-learn's digits as an image folder, default settings.
digits: install
	test -d resources/digits || $(BIN)/python examples/export_digits.py resources/digits
	$(BIN)/snakemake --cores $(CORES) --configfile config/digits.yaml

# The colour example: tiles of the photographs bundled in scikit-image and scikit-learn.
photo-tiles: install
	test -d resources/photo_tiles || $(BIN)/python examples/export_photo_tiles.py resources/photo_tiles
	$(BIN)/snakemake --cores $(CORES) --configfile config/photo_tiles.yaml

test: install
	$(BIN)/pytest -m ''

test-quick: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check workflow
	$(BIN)/pytest -q tests/test_workflow.py -k "lint or snakefmt"

dag: install
	$(BIN)/snakemake all --dag | dot -Tsvg > dag.svg

rulegraph: install
	$(BIN)/snakemake all robustness calibrate --rulegraph mermaid-js

report: install
	$(BIN)/snakemake --report report.zip

clean:
	rm -rf results logs .snakemake

# Slurm (see README, "On a Slurm cluster"). slurm-preflight: can every job of the workflow start on this
# cluster through profiles/slurm (ARGS: more snakemake arguments, e.g. --configfile config/paper.yaml)?
# slurm-check: as root on a scratch Debian machine, a throwaway single-node Slurm runs a tiny config
# through the profile and the results are compared with a local run (minutes; leaves no daemon behind).
.PHONY: slurm-check slurm-preflight

slurm-check: install
	$(BIN)/python cluster/slurm_check.py

slurm-preflight: install
	$(BIN)/python cluster/slurm_preflight.py $(ARGS)
