# Two commands for a fresh clone (see README.md):
#   make demo   sets up .venv and runs catsel on sample_data/ (results in runs/sample/)
#   make test   sets up .venv and runs the whole test suite
# and, for developers:
#   make quick  the tests without the slow ones (notebooks, browsers, other backends, Dask): about two minutes
#   make docs   the API reference and the executed notebooks as HTML in build/docs/ (warnings are errors)
PYTHON ?= python3
VENV ?= .venv
# Keras backend extra: cpu (tensorflow-cpu, default), tensorflow (GPU-capable), jax or torch
BACKEND ?= cpu
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(BACKEND)

.PHONY: setup demo test quick docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(BACKEND),notebooks,scale,brain,hub-vision,test,docs]"
	# keras-hub for hub: presets, without the tensorflow-text (and second TensorFlow) it asks for its text models
	$(BIN)/python -m pip install --quiet --no-deps "keras-hub>=0.21"
	touch $@

demo: $(STAMP)
	$(BIN)/catsel run sample_data --out runs/sample

test: $(STAMP)
	$(BIN)/python -m pytest

quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs build/docs

clean:
	rm -rf $(VENV) runs build .pytest_cache docs/notebooks docs/api/catsel.md
