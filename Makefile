# Two commands for a fresh clone (see README.md):
#   make demo   sets up .venv and runs catsel on sample_data/ (results in runs/sample/)
#   make test   sets up .venv and runs the whole test suite
PYTHON ?= python3
VENV ?= .venv
# Keras backend extra: cpu (tensorflow-cpu, default), tensorflow (GPU-capable), jax or torch
BACKEND ?= cpu
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(BACKEND)

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(BACKEND),notebooks,test]"
	touch $@

demo: $(STAMP)
	$(BIN)/catsel run sample_data --out runs/sample

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs build .pytest_cache
